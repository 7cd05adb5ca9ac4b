//! Each export format, multi-CVE cells, normalisation and encodings, through a real import.

use vulnimport::domain::{Outcome, Scope};
use vulnimport::progress::Phase;

use crate::helpers::{Recorder, TestDb, gzip, sample, zip_of};

#[test]
fn tenable_io_sample_with_asset_ids_keys_on_asset_plugin_and_cve() {
    let db = TestDb::new();
    let summary = db.import(&sample("test-scenario-2-with-cve.csv"), "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.new), (3, 3));
    let finding = db.finding("test-asset-001|235488|CVE-2025-20155");
    assert_eq!(finding.hostname.as_deref(), Some("server01"));
    assert_eq!(finding.ip.as_deref(), Some("192.168.1.100"));
    assert_eq!(finding.severity, "high");
    assert_eq!(
        (finding.first_seen.as_str(), finding.state.as_str()),
        ("2026-01-05", "active")
    );
}

#[test]
fn out_of_range_scores_are_missing_and_counted_as_warnings() {
    let db = TestDb::new();
    let summary = db.import(&sample("test-import.csv"), "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed);
    assert_eq!((summary.counts.rows, summary.counts.records), (20, 20));
    assert_eq!(
        summary.counts.warnings, 20,
        "every VPR in the sample is above 10"
    );
    let finding = db.finding("192.168.1.10|CVE-2023-0001");
    assert_eq!((finding.vpr, finding.severity.as_str()), (None, "critical"));
    let problems = db.database.value("SELECT problems FROM imports").unwrap();
    assert!(problems.contains("\"line\":2"), "{problems}");
    assert!(problems.contains("95.5"), "{problems}");
}

#[test]
fn multi_cve_cells_give_one_finding_per_cve() {
    let db = TestDb::new();
    let summary = db.import(&sample("multi-cve-test.csv"), "2026-01-05");
    assert_eq!((summary.counts.rows, summary.counts.records), (5, 13));
    assert_eq!(summary.counts.new, 13);
    for key in [
        "10.1.1.101|CVE-2024-1234",
        "10.1.1.101|CVE-2024-5678",
        "10.1.1.102|CVE-2024-7777",
        "10.1.1.102|CVE-2024-8888",
        "10.1.1.102|CVE-2024-9999",
        "10.1.1.104|CVE-2024-3333",
        "10.1.1.105|CVE-2024-8888",
    ] {
        assert_eq!(db.finding(key).state, "active");
    }
}

#[test]
fn the_same_cve_on_several_devices_is_several_findings() {
    let db = TestDb::new();
    let summary = db.import(&sample("test-multiple-devices-same-cve.csv"), "2026-01-05");
    assert_eq!((summary.counts.records, summary.counts.new), (5, 5));
    let hosts: Vec<String> = db.findings().into_iter().map(|f| f.host).collect();
    assert!(hosts.contains(&"device-web-01.company.local".to_owned()));
}

#[test]
fn nessus_export() {
    let db = TestDb::new();
    let text = "Plugin ID,CVE,CVSS v3.0 Base Score,Risk,Host,Protocol,Port,Name,Synopsis,Description,Solution,Plugin Publication Date\n\
        19506,,,None,10.0.0.5,tcp,0,Nessus Scan Information,Info,\"Scan details\",n/a,2005/08/26\n\
        97833,CVE-2017-0144,8.1,Critical,FILE01.corp.example,tcp,445,MS17-010,SMB,\"EternalBlue\",Patch,2017/03/14\n\
        97833,CVE-2017-0145,8.1,Critical,FILE01.corp.example,tcp,445,MS17-010,SMB,\"EternalBlue\",Patch,2017/03/14\n";
    let summary = db.import_text(text, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!(
        serde_json::to_value(summary.format).unwrap(),
        serde_json::json!("nessus")
    );
    let info = db.finding("10.0.0.5|19506");
    assert_eq!(
        (info.ip.as_deref(), info.severity.as_str()),
        (Some("10.0.0.5"), "info")
    );
    let smb = db.finding("file01.corp.example|CVE-2017-0144");
    assert_eq!(smb.hostname.as_deref(), Some("file01.corp.example"));
    assert_eq!((smb.severity.as_str(), smb.cvss), ("critical", Some(8.1)));
    assert_eq!(db.findings().len(), 3);
}

#[test]
fn qualys_export_with_numeric_severities() {
    let db = TestDb::new();
    let text = "IP,DNS,NetBIOS,OS,QID,Title,Severity,Port,Protocol,CVE ID,Vendor Reference,Threat,Solution,CVSS Base,CVSS3.1 Base,Published\n\
        10.1.2.3,web1.example,WEB1,Linux,38173,SSL Certificate Expired,2,443,tcp,,,Expired cert,Renew,5.0,5.3,2010-01-01\n\
        10.1.2.3,web1.example,WEB1,Linux,370371,OpenSSL Vuln,5,443,tcp,\"CVE-2022-3602, CVE-2022-3786\",,Overflow,Upgrade,7.5,9.8,2022-11-01\n";
    let summary = db.import_text(text, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!(summary.counts.records, 3);
    assert_eq!(
        serde_json::to_value(summary.format).unwrap(),
        serde_json::json!("qualys")
    );
    assert_eq!(db.finding("10.1.2.3|38173").severity, "low");
    assert_eq!(db.finding("10.1.2.3|CVE-2022-3786").severity, "critical");
}

#[test]
fn windows_1252_with_semicolons_and_cr_line_endings() {
    let db = TestDb::new();
    let mut bytes = b"hostname;ip_address;cve;plugin_name;severity\r".to_vec();
    bytes.extend_from_slice(b"Caf\xe9-Srv;10.9.9.9;CVE-2024-0001;Caf\xe9 \x93quoted\x94;High\r");
    let path = db.write("excel.csv", &bytes);
    let summary = db.import(&path, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!(
        serde_json::to_value(summary.encoding).unwrap(),
        serde_json::json!("windows-1252")
    );
    let finding = db.finding("10.9.9.9|CVE-2024-0001");
    assert_eq!(finding.hostname.as_deref(), Some("café-srv"));
    let title = db.database.value("SELECT title FROM definitions").unwrap();
    assert_eq!(title, "Café “quoted”");
}

#[test]
fn utf8_bom_and_crlf() {
    let db = TestDb::new();
    let summary = db.import_text(
        "\u{feff}hostname,cve,severity\r\nsrv-ü,CVE-2024-0002,medium\r\n",
        "2026-01-05",
    );
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!(db.finding("srv-ü|CVE-2024-0002").severity, "medium");
}

#[test]
fn phases_run_in_order_with_monotonic_integer_progress() {
    let db = TestDb::new();
    let recorder = Recorder::default();
    let request = db.request(&sample("test-dates-small.csv"), "2026-01-05", Scope::Full);
    let summary = db.import_with(request, &recorder);
    assert_eq!(summary.outcome, Outcome::Completed);
    assert_eq!(
        recorder.phases(),
        [
            Phase::Parsing,
            Phase::Loading,
            Phase::Processing,
            Phase::Finalizing,
            Phase::Complete
        ]
    );
    let progress = recorder.progress();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!((progress[0], *progress.last().unwrap()), (0, 100));
    let events = recorder.events.lock().unwrap();
    let (_, _, message, data) = events.last().unwrap();
    assert!(message.starts_with("Import complete"), "{message}");
    assert_eq!(data.as_ref().unwrap()["new"], 9);
}

#[test]
fn the_same_file_gives_the_same_rows_in_any_database() {
    let (first, second) = (TestDb::new(), TestDb::new());
    for db in [&first, &second] {
        db.import(&sample("multi-cve-test.csv"), "2026-01-05");
        db.import(&sample("test-dates-small.csv"), "2026-01-06");
    }
    assert_eq!(first.snapshot(), second.snapshot());
}

#[test]
fn gzip_export_imports_with_progress_over_the_compressed_bytes() {
    let db = TestDb::new();
    let plain = std::fs::read(sample("multi-cve-test.csv")).unwrap();
    let path = db.write("scan.csv.gz", gzip(&plain));
    let recorder = Recorder::default();
    let summary = db.import_with(db.request(&path, "2026-01-05", Scope::Full), &recorder);
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.new), (5, 13));
    let size = std::fs::metadata(&path).unwrap().len();
    let events = recorder.events.lock().unwrap();
    let read: Vec<u64> = events
        .iter()
        .filter_map(|(_, _, _, data)| data.as_ref()?.get("bytesRead")?.as_u64())
        .collect();
    assert!(read.windows(2).all(|w| w[0] <= w[1]), "{read:?}");
    assert_eq!(read.last(), Some(&size), "ends at the compressed size");
    assert!(
        events
            .iter()
            .filter_map(|(_, _, _, data)| data.as_ref()?.get("totalBytes")?.as_u64())
            .all(|total| total == size)
    );
}

#[test]
fn the_one_csv_of_a_zip_imports() {
    let db = TestDb::new();
    let plain = std::fs::read(sample("multi-cve-test.csv")).unwrap();
    let path = db.write(
        "scan.zip",
        zip_of(&[("readme.txt", b"exported"), ("scan.csv", &plain)]),
    );
    let summary = db.import(&path, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.new), (5, 13));
    let again = TestDb::new();
    again.import(&sample("multi-cve-test.csv"), "2026-01-05");
    assert_eq!(
        db.findings().len(),
        again.findings().len(),
        "the same findings as the plain file"
    );
}

#[test]
fn a_five_megabyte_field_imports_and_later_rows_keep_their_lines() {
    let db = TestDb::new();
    let output = "Plugin output line\n".repeat((5 << 20) / 19);
    let breaks = output.matches('\n').count() as u64;
    let mut text = format!("hostname,cve,description\nweb01,CVE-2024-0001,\"{output}\"\n");
    for i in 0..10 {
        text.push_str(&format!("host{i},CVE-2024-100{i},short\n"));
    }
    text.push_str(",CVE-2024-0003,no host\n");
    let summary = db.import_text(&text, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.new), (12, 11));
    assert_eq!(summary.rejected_rows[0].line, 13 + breaks);
    let description = (db.database)
        .value("SELECT description FROM definitions WHERE length(description) > 100")
        .unwrap();
    assert_eq!(description.len(), output.trim_end().len());
}
