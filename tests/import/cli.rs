//! The `vulnimport import` command: JSON summary, exit status, Ctrl-C. The `vulnimport export`
//! command: formats, filters, an import's changes, files written whole, refusals.

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

/// Two imports of the sample a month apart, the second without one host: its findings resolved.
fn two_imports(db: &TestDb) -> (String, String) {
    let text = std::fs::read_to_string(sample("test-import.csv")).unwrap();
    let full = db.write("full.csv", &text);
    let without_web_server: String = text
        .lines()
        .filter(|line| !line.starts_with("web-server-01,"))
        .map(|line| format!("{line}\n"))
        .collect();
    let partial = db.write("partial.csv", without_web_server);
    let first = db.import(&full, "2026-01-05");
    let second = db.import(&partial, "2026-02-05");
    assert!(second.counts.resolved > 0, "{second:?}");
    (first.session_id.to_string(), second.session_id.to_string())
}

#[test]
fn export_writes_every_finding_of_the_filters_in_order() {
    let db = TestDb::new();
    let (first, second) = two_imports(&db);
    let folder = &db.write("unused", "").with_file_name("out");
    std::fs::create_dir(folder).unwrap();

    let csv_path = folder.join("all.csv");
    let output = vulnimport(&db, &["export", "--output", csv_path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!("Exported 20 findings to {}", csv_path.display())
    );
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 20);
    let severity = headers.iter().position(|h| h == "severity").unwrap();
    let rank = |s: &str| {
        ["info", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == s)
    };
    let ranks: Vec<_> = rows.iter().map(|row| rank(&row[severity])).collect();
    assert!(ranks.windows(2).all(|pair| pair[0] >= pair[1]), "{ranks:?}");
    // No partial file is left beside it.
    let names: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["all.csv"]);

    // JSON on standard output, filtered and ordered.
    let output = vulnimport(
        &db,
        &[
            "export",
            "--format",
            "json",
            "--state",
            "open",
            "--severity",
            "CRITICAL",
            "--sort",
            "host",
            "--ascending",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let items: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|item| item["severity"] == "critical" && item["state"] != "resolved")
    );
    let hosts: Vec<String> = items
        .iter()
        .map(|item| {
            item["hostname"]
                .as_str()
                .or(item["ip"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = hosts.clone();
    sorted.sort();
    assert_eq!(hosts, sorted);

    // What one import changed.
    let resolved = vulnimport(
        &db,
        &[
            "export", "--format", "json", "--import", &second, "--change", "resolved",
        ],
    );
    let resolved: Vec<Value> = serde_json::from_slice(&resolved.stdout).unwrap();
    assert!(!resolved.is_empty());
    assert!(
        resolved
            .iter()
            .all(|item| item["hostname"] == "web-server-01" && item["state"] == "resolved")
    );
    let added = vulnimport(
        &db,
        &[
            "export", "--format", "json", "--import", &first, "--change", "added",
        ],
    );
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&added.stdout)
            .unwrap()
            .len(),
        20
    );
}

#[test]
fn export_refusals_say_why_and_write_nothing() {
    let db = TestDb::new();
    two_imports(&db);
    let refused = |args: &[&str], code: i32, says: &str| {
        let output = vulnimport(&db, args);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    };
    refused(&["export", "--state", "gone"], 2, "\"gone\" is not one of");
    refused(
        &["export", "--severity", "urgent"],
        2,
        "is not critical, high",
    );
    refused(&["export", "--format", "xml"], 2, "invalid value 'xml'");
    refused(&["export", "--change", "added"], 2, "--import");
    let unknown = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    refused(
        &["export", "--import", unknown, "--change", "added"],
        1,
        "no import with session id",
    );
    let missing = db
        .write("x", "")
        .with_file_name("no-such-folder")
        .join("out.csv");
    refused(
        &["export", "--output", missing.to_str().unwrap()],
        1,
        "cannot write in",
    );
    assert!(!missing.exists());
}
