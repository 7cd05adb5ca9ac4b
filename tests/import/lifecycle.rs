//! Deduplication and lifecycle (import-semantics §2, §3, §5).

use vulnimport::domain::{Outcome, Scope};

use crate::helpers::{Recorder, TestDb};

const HEADER: &str = "hostname,ip_address,cve,plugin_id,plugin_name,severity\n";

fn export(rows: &[&str]) -> String {
    let mut text = HEADER.to_owned();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const A: &str = "web01.site-a.example,10.0.0.1,CVE-2024-0001,1001,Apache,high";
const B: &str = "web01.site-a.example,10.0.0.1,CVE-2024-0002,1002,OpenSSL,critical";
const C: &str = "db01.site-b.example,10.0.1.1,CVE-2024-0003,1003,MySQL,medium";

#[test]
fn duplicates_in_a_file_collapse_and_the_last_row_wins() {
    let db = TestDb::new();
    let summary = db.import_text(
        &export(&[
            "web01,10.0.0.1,CVE-2024-0001,1001,Apache,low",
            A,
            "web01,10.0.0.1,CVE-2024-0001,1001,Apache,critical",
        ]),
        "2026-01-05",
    );
    let counts = summary.counts;
    assert_eq!(
        (counts.rows, counts.records, counts.duplicates, counts.new),
        (3, 3, 2, 1)
    );
    assert_eq!(db.finding("10.0.0.1|CVE-2024-0001").severity, "critical");
}

#[test]
fn absent_findings_resolve_and_return_reopened() {
    let db = TestDb::new();
    let first = db.import_text(&export(&[A, B, C]), "2026-01-05");
    assert_eq!((first.counts.new, first.counts.resolved), (3, 0));

    let second = db.import_text(&export(&[A, C]), "2026-01-12");
    let counts = second.counts;
    assert_eq!((counts.new, counts.updated, counts.resolved), (0, 2, 1));
    let b = db.finding("10.0.0.1|CVE-2024-0002");
    assert_eq!(b.state, "resolved");
    assert_eq!(b.resolved_date.as_deref(), Some("2026-01-12"));
    assert_eq!(b.last_seen, "2026-01-05", "resolving keeps last_seen");
    let a = db.finding("10.0.0.1|CVE-2024-0001");
    assert_eq!(
        (a.first_seen.as_str(), a.last_seen.as_str()),
        ("2026-01-05", "2026-01-12")
    );

    let third = db.import_text(&export(&[A, B, C]), "2026-01-19");
    let counts = third.counts;
    assert_eq!(
        (counts.new, counts.updated, counts.reopened, counts.resolved),
        (0, 2, 1, 0)
    );
    let b = db.finding("10.0.0.1|CVE-2024-0002");
    assert_eq!((b.state.as_str(), b.resolved_date), ("reopened", None));
    assert_eq!(b.last_seen, "2026-01-19");

    let fourth = db.import_text(&export(&[A, B, C]), "2026-01-26");
    assert_eq!((fourth.counts.updated, fourth.counts.reopened), (3, 0));
    assert_eq!(
        db.finding("10.0.0.1|CVE-2024-0002").state,
        "reopened",
        "still open"
    );

    let changes: Vec<(i64, String)> = (db.database)
        .query("SELECT import_id, change FROM import_changes ORDER BY import_id")
        .into_iter()
        .map(|row| {
            (
                row[0].as_deref().unwrap().parse().unwrap(),
                row[1].clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [(2, "resolved".into()), (3, "reopened".into())]);
    let added = (db.database).query("SELECT added_from_id, added_to_id FROM imports WHERE id = 1");
    assert_eq!(added, [[Some("1".to_owned()), Some("3".to_owned())]]);
}

#[test]
fn scope_hosts_resolves_only_the_hosts_in_the_file() {
    let db = TestDb::new();
    db.import_text(&export(&[A, B, C]), "2026-01-05");
    let request = db.request(
        &db.write("site-a.csv", export(&[A])),
        "2026-01-12",
        Scope::Hosts,
    );
    let summary = db.import_with(request, &Recorder::default());
    assert_eq!(summary.counts.resolved, 1);
    assert_eq!(db.finding("10.0.0.1|CVE-2024-0002").state, "resolved");
    assert_eq!(
        db.finding("10.0.1.1|CVE-2024-0003").state,
        "active",
        "other site untouched"
    );
}

#[test]
fn a_backfill_never_changes_newer_state() {
    let db = TestDb::new();
    db.import_text(&export(&[A, B]), "2026-01-12");
    db.import_text(&export(&[A]), "2026-01-19");
    assert_eq!(db.finding("10.0.0.1|CVE-2024-0002").state, "resolved");
    let before_b = db.finding("10.0.0.1|CVE-2024-0002");

    let backfill = db.import_text(&export(&[A, B, C]), "2026-01-05");
    assert!(backfill.backfill);
    let counts = backfill.counts;
    assert_eq!(
        (counts.new, counts.updated, counts.reopened, counts.resolved),
        (1, 1, 0, 0),
        "C is new, A is open and updated, resolved B counts nowhere"
    );
    let a = db.finding("10.0.0.1|CVE-2024-0001");
    assert_eq!(
        (a.first_seen.as_str(), a.last_seen.as_str()),
        ("2026-01-05", "2026-01-19")
    );
    let b = db.finding("10.0.0.1|CVE-2024-0002");
    assert_eq!(b.state, "resolved", "a backfill never reopens");
    assert_eq!(b.resolved_date, before_b.resolved_date);
    let c = db.finding("10.0.1.1|CVE-2024-0003");
    assert_eq!(
        (
            c.state.as_str(),
            c.first_seen.as_str(),
            c.last_seen.as_str()
        ),
        ("active", "2026-01-05", "2026-01-05")
    );

    let next = db.import_text(&export(&[A]), "2026-01-26");
    assert_eq!(
        next.counts.resolved, 1,
        "the next regular import resolves C"
    );
    assert_eq!(db.finding("10.0.1.1|CVE-2024-0003").state, "resolved");
}

#[test]
fn a_backfill_does_not_overwrite_newer_values() {
    let db = TestDb::new();
    db.import_text(&export(&[A]), "2026-01-12");
    db.import_text(
        &export(&["web01.site-a.example,10.0.0.1,CVE-2024-0001,1001,Apache,low"]),
        "2026-01-05",
    );
    assert_eq!(db.finding("10.0.0.1|CVE-2024-0001").severity, "high");
}

#[test]
fn failed_imports_do_not_move_the_newest_scan_date() {
    let db = TestDb::new();
    db.import_text(&export(&[A, B]), "2026-01-05");
    let failed = db.import_text("hostname,cve\n", "2026-02-01");
    assert_eq!(failed.outcome, Outcome::Failed);
    let regular = db.import_text(&export(&[A]), "2026-01-12");
    assert!(!regular.backfill);
    assert_eq!(regular.counts.resolved, 1);
}
