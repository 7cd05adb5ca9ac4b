//! Bad files fail with an actionable message and change nothing; bad rows are reported.

use vulnimport::domain::Outcome;

use vulnimport::domain::Scope;

use crate::helpers::{TestDb, gzip, sample, zip_of};

/// Imports `bytes` into a database holding a sample, expects failure, and checks nothing changed.
fn fails_with(bytes: &[u8], expected: &str) {
    let db = TestDb::new();
    db.import(&sample("test-dates-small.csv"), "2026-01-05");
    let before = db.snapshot();
    let path = db.write("bad.csv", bytes);
    let summary = db.import(&path, "2026-01-12");
    assert_eq!(summary.outcome, Outcome::Failed, "{summary:?}");
    let error = summary.error.unwrap();
    assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    assert_eq!(db.snapshot(), before, "final tables changed");
    let (outcome, recorded) = db.outcome(summary.session_id);
    assert_eq!(
        (outcome.as_str(), recorded.as_deref()),
        ("failed", Some(error.as_str()))
    );
}

#[test]
fn empty_file() {
    fails_with(b"", "the file is empty");
    fails_with(b"\n\r\n  \n", "the file is empty");
}

#[test]
fn header_only() {
    fails_with(b"hostname,cve,severity\n", "header but no data rows");
}

#[test]
fn binary_file() {
    fails_with(b"\xde\xad\xbe\xef\0\0\0\rIHDR", "binary, not CSV");
    fails_with(
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        "the file is a PNG image, not CSV",
    );
    fails_with(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3",
        "the file is a PDF document, not CSV",
    );
}

#[test]
fn excel_workbook() {
    let workbook = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/worksheets/sheet1.xml", b"<worksheet/>"),
    ]);
    fails_with(&workbook, "the file is an Excel workbook (xlsx), not CSV");
    fails_with(
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0",
        "an Excel 97-2003 workbook (xls)",
    );
}

#[test]
fn zips_without_exactly_one_csv() {
    let two = zip_of(&[("a.csv", b"hostname\nx\n"), ("b.csv", b"hostname\ny\n")]);
    fails_with(
        &two,
        "a zip archive holding 2 CSV files (a.csv, b.csv); import them one at a time",
    );
    let none = zip_of(&[("scan.xml", b"<scan/>"), ("scan.nessus", b"<x/>")]);
    fails_with(&none, "a zip archive holding 2 files, none of them a CSV");
    fails_with(
        &gzip(b"%PDF-1.7\n"),
        "a gzip-compressed file holding a PDF document",
    );
}

#[test]
fn a_field_over_the_limit_rejects_its_row_only() {
    let db = TestDb::new();
    let big = "x\n".repeat(600);
    let mut text = String::from("hostname,cve,description\n");
    for i in 0..10 {
        text.push_str(&format!("host{i},CVE-2024-000{i},fine\n"));
    }
    text.push_str(&format!(
        "big,CVE-2024-1000,\"{big}\"\nafter,CVE-2024-1001,ok\n"
    ));
    let path = db.write("big.csv", &text);
    let mut request = db.request(&path, "2026-01-05", Scope::Full);
    request.max_field_bytes = 1000;
    let summary = db.import_with(request, &Default::default());
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.rejected), (12, 1));
    assert_eq!(summary.rejected_rows[0].line, 12);
    assert_eq!(
        summary.rejected_rows[0].reason,
        "field longer than 1000 bytes"
    );
    assert_eq!(db.finding("after|CVE-2024-1001").state, "active");
}

#[test]
fn an_unclosed_quote_past_the_limit_fails_the_import() {
    let mut text = String::from("hostname,cve\nweb01,\"CVE-2024-0001\n");
    for i in 0..200 {
        text.push_str(&format!("host{i},CVE-2024-{i:04}\n"));
    }
    let db = TestDb::new();
    let path = db.write("stray.csv", &text);
    let mut request = db.request(&path, "2026-01-05", Scope::Full);
    request.max_field_bytes = 1000;
    let summary = db.import_with(request, &Default::default());
    assert_eq!(summary.outcome, Outcome::Failed, "{summary:?}");
    let error = summary.error.unwrap();
    assert!(
        error.contains("a quoted field opened on line 2 is not closed"),
        "{error}"
    );
    assert!(db.findings().is_empty());
}

#[test]
fn no_recognisable_columns_lists_the_headers_found() {
    fails_with(b"colour,size\nred,2\n", "\"colour\", \"size\"");
    fails_with(b"colour,size\nred,2\n", "no host column");
}

#[test]
fn too_many_malformed_rows_fail_with_their_lines() {
    let mut text = String::from("hostname,cve\n");
    for i in 0..8 {
        text.push_str(&format!("host{i},CVE-2024-000{i}\n"));
    }
    text.push_str("broken\n,CVE-2024-9999\n");
    let db = TestDb::new();
    let summary = db.import_text(&text, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Failed);
    let error = summary.error.unwrap();
    assert!(error.contains("2 of 10 rows"), "{error}");
    assert!(
        error.contains("line 10: expected 2 fields, found 1"),
        "{error}"
    );
    assert!(error.contains("line 11: no host"), "{error}");
    assert!(db.findings().is_empty());
    let problems = db.database.value("SELECT problems FROM imports").unwrap();
    assert!(problems.contains("\"line\":10"), "{problems}");
    assert!(problems.contains("\"line\":11"), "{problems}");
}

#[test]
fn exactly_ten_percent_bad_rows_still_completes() {
    let mut text = String::from("hostname,cve\n");
    for i in 0..8 {
        text.push_str(&format!("host{i},CVE-2024-000{i}\n"));
    }
    text.push_str("host9,\"CVE-2024-1\nhost10,CVE-2024-0010\n");
    let db = TestDb::new();
    let summary = db.import_text(&text, "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    assert_eq!((summary.counts.rows, summary.counts.rejected), (10, 1));
    assert_eq!(summary.rejected_rows[0].line, 10);
    assert!(summary.rejected_rows[0].reason.contains("never closed"));
    assert_eq!(
        db.findings().len(),
        9,
        "the row after the bad quote is kept"
    );
}

#[test]
fn unreadable_file() {
    let db = TestDb::new();
    let summary = db.import(&db.dir.path().join("missing.csv"), "2026-01-05");
    assert_eq!(summary.outcome, Outcome::Failed);
    assert!(summary.error.unwrap().contains("cannot read the file"));
}

#[test]
fn utf32_is_refused_clearly() {
    fails_with(&[0xFF, 0xFE, 0, 0, b'h', 0, 0, 0], "UTF-32");
}
