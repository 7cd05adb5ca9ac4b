//! The dashboard's trends: one point per completed import, written in its commit, equal to the
//! dashboard's counts right after it (import-semantics §7).

use vulnimport::domain::Outcome;
use vulnimport::import::ImportSummary;
use vulnimport::store::{self, TrendPoint};

use crate::helpers::TestDb;

const HEADER: &str = "hostname,ip_address,cve,plugin_id,plugin_name,severity\n";
const A: &str = "web01,10.0.0.1,CVE-2024-0001,1001,Apache,high";
const B: &str = "web01,10.0.0.1,CVE-2024-0002,1002,OpenSSL,critical";
const C: &str = "db01,10.0.1.1,CVE-2024-0003,1003,MySQL,medium";
const D: &str = "db01,10.0.1.1,CVE-2024-0004,1004,Kernel,low";
const E: &str = "mail01,10.0.2.1,CVE-2023-0005,1005,Postfix,info";

fn export(rows: &[&str]) -> String {
    let mut text = HEADER.to_owned();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn trends(db: &TestDb) -> Vec<TrendPoint> {
    db.store.import_trends(104).unwrap()
}

/// The newest point is the import's, with the dashboard's counts as they are now.
fn assert_newest_point(db: &TestDb, summary: &ImportSummary, backfill: bool) {
    assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
    let point = trends(db).pop().expect("a point");
    assert_eq!(point.session_id, summary.session_id);
    assert_eq!(point.backfill, backfill);
    assert_eq!(
        point.open_by_severity,
        db.store.finding_stats().unwrap().open_by_severity
    );
    let counts = summary.counts;
    assert_eq!(
        (point.new, point.resolved, point.reopened),
        (counts.new, counts.resolved, counts.reopened)
    );
}

#[test]
fn every_completed_import_leaves_the_counts_after_it() {
    let db = TestDb::new();
    assert_eq!(trends(&db), [], "no import, no point");

    let first = db.import_text(&export(&[A, B, C]), "2026-01-05");
    assert_newest_point(&db, &first, false);

    let resolving = db.import_text(&export(&[A, C]), "2026-01-12");
    assert_eq!(resolving.counts.resolved, 1);
    assert_newest_point(&db, &resolving, false);

    let reopening = db.import_text(&export(&[A, B, C, D]), "2026-01-19");
    assert_eq!((reopening.counts.reopened, reopening.counts.new), (1, 1));
    assert_newest_point(&db, &reopening, false);

    // Refused when it writes its record: everything it applied, its point too, rolls back.
    db.database.refuse(
        "UPDATE OF outcome",
        "imports",
        "NEW.outcome = 'completed' AND NEW.scan_date = '2026-01-26'",
    );
    let failed = db.import_text(&export(&[A]), "2026-01-26");
    assert_eq!(failed.outcome, Outcome::Failed, "{failed:?}");
    assert_eq!(trends(&db).len(), 3, "a failed import has no point");
    assert_newest_point(&db, &reopening, false);

    let backfill = db.import_text(&export(&[A, E]), "2026-01-02");
    assert_eq!(backfill.counts.new, 1);
    assert_newest_point(&db, &backfill, true);

    let same_date = db.import_text(&export(&[A, B, C, D, E]), "2026-01-19");
    assert_newest_point(&db, &same_date, false);

    let points = trends(&db);
    let dates: Vec<String> = points.iter().map(|p| p.scan_date.to_string()).collect();
    assert_eq!(
        dates,
        [
            "2026-01-05",
            "2026-01-12",
            "2026-01-19",
            "2026-01-02",
            "2026-01-19"
        ],
        "oldest import first"
    );
    let open: Vec<u64> = points
        .iter()
        .map(|p| {
            let s = p.open_by_severity;
            s.critical + s.high + s.medium + s.low + s.info
        })
        .collect();
    assert_eq!(open, [3, 2, 4, 5, 5]);
    let limited = db.store.import_trends(2).unwrap();
    assert_eq!(limited, points[3..], "the last imports, oldest first");
}

#[test]
fn an_upgraded_database_starts_with_its_newest_import() {
    let db = TestDb::new();
    if db.database.is_postgres() {
        eprintln!("skipped: PostgreSQL's schema starts at its version 1, which has the trends");
        return;
    }
    db.import_text(&export(&[A, B, C]), "2026-01-05");
    let newest = db.import_text(&export(&[A, D]), "2026-01-12");
    let stats = db.store.finding_stats().unwrap();
    // The database as version 3 left it: no trends (nor the later retries' column).
    db.database.execute(
        "DROP TABLE import_trends;
         ALTER TABLE imports DROP COLUMN retry_of;
         PRAGMA user_version = 3;",
        "",
    );

    let reopened = store::open(&db.url()).unwrap();
    let points = reopened.import_trends(104).unwrap();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].session_id, newest.session_id);
    assert_eq!(points[0].open_by_severity, stats.open_by_severity);
}
