//! The `vulnimport import` command: JSON summary, exit status, Ctrl-C.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestDb, sample};

fn vulnimport(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vulnimport"))
        .args(args)
        .args(["--database", &db.url()])
        .output()
        .unwrap()
}

#[test]
fn json_summary_and_success_status() {
    let db = TestDb::new();
    let file = sample("multi-cve-test.csv");
    let output = vulnimport(
        &db,
        &[
            "import",
            file.to_str().unwrap(),
            "--json",
            "--scan-date",
            "2026-01-05",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in [
        "outcome",
        "rows",
        "records",
        "rejected",
        "duplicates",
        "new",
        "updated",
        "reopened",
        "resolved",
        "durationMs",
    ] {
        assert!(summary.get(key).is_some(), "{key} missing from {summary}");
    }
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(
        (summary["rows"].as_u64(), summary["records"].as_u64()),
        (Some(5), Some(13))
    );
}

#[test]
fn failure_exits_non_zero_with_the_reason() {
    let db = TestDb::new();
    let file = db.write("header-only.csv", "hostname,cve\n");
    let output = vulnimport(&db, &["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["outcome"], "failed");
    assert!(summary["error"].as_str().unwrap().contains("no data rows"));

    let output = vulnimport(&db, &["import", "/nonexistent/scan.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open /nonexistent/scan.csv"));
}

#[test]
fn ctrl_c_cancels_cleanly() {
    let db = TestDb::new();
    db.import(&sample("test-dates-small.csv"), "2026-01-05");
    let before = db.snapshot();
    let child = db.start_cli_import(Stdio::piped());
    std::thread::sleep(Duration::from_millis(200));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["outcome"], "cancelled");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn max_field_bytes_applies_to_a_local_import() {
    let db = TestDb::new();
    let mut text = String::from("hostname,cve,description\n");
    for i in 0..10 {
        text.push_str(&format!("host{i},CVE-2024-000{i},fine\n"));
    }
    text.push_str(&format!("big,CVE-2024-1000,{}\n", "x".repeat(200)));
    let file = db.write("scan.csv", &text);
    let output = vulnimport(
        &db,
        &[
            "import",
            file.to_str().unwrap(),
            "--json",
            "--max-field-bytes",
            "100",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["rejected"], 1, "{summary}");
    assert_eq!(
        summary["rejectedRows"][0]["reason"],
        "field longer than 100 bytes"
    );
}
