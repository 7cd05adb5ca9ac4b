//! An import is applied whole or not at all: cancel, a database error, a killed process.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vulnimport::domain::{Definition, KeyTier, Outcome, Record, Scope, Severity};
use vulnimport::progress::Phase;
use vulnimport::store::{self, ImportReport, NewImport, StoreError};

use crate::helpers::{Recorder, TestDb, date, large_export, sample};

fn cancel_during(phase: Phase, percent: u8) {
    let db = TestDb::new();
    db.import(&sample("test-dates-small.csv"), "2026-01-05");
    let before = db.snapshot();
    let recorder = Recorder::cancelling_at(phase, percent);
    let request = db.request(&large_export(), "2026-01-12", Scope::Full);
    let summary = db.import_with(request, &recorder);
    let stopped_after = recorder.cancel_requested.lock().unwrap().unwrap().elapsed();

    assert_eq!(summary.outcome, Outcome::Cancelled, "{summary:?}");
    assert!(
        *recorder.cancelled.lock().unwrap(),
        "watchers told of the cancel"
    );
    assert!(
        stopped_after < Duration::from_secs(1),
        "took {stopped_after:?} to stop"
    );
    assert_eq!(db.snapshot(), before, "final tables changed");
    assert_eq!(db.outcome(summary.session_id).0, "cancelled");
    // The phase it stopped in shows the time spent there, in the summary as in the record.
    let spent = match phase {
        Phase::Loading => summary.timings.loading,
        _ => summary.timings.processing,
    };
    assert!(spent > 0, "{:?}", summary.timings);
    let record = db
        .store
        .import_by_session(summary.session_id)
        .unwrap()
        .unwrap();
    assert_eq!(record.timings, summary.timings);
    assert!(
        !recorder.phases().contains(&Phase::Complete),
        "{:?}",
        recorder.phases()
    );
    let next = db.import(&sample("test-import.csv"), "2026-01-12");
    assert_eq!(
        next.outcome,
        Outcome::Completed,
        "the database is usable after"
    );
}

#[test]
fn cancel_while_loading_applies_nothing() {
    cancel_during(Phase::Loading, 30);
}

#[test]
fn cancel_while_processing_applies_nothing() {
    cancel_during(Phase::Processing, 70);
}

#[test]
fn a_database_error_mid_apply_applies_nothing() {
    let db = TestDb::new();
    db.import(&sample("test-dates-small.csv"), "2026-01-05");
    db.database
        .refuse("INSERT", "findings", "NEW.hostname = 'poison'");
    let before = db.snapshot();
    let mut text = String::from("hostname,cve\n");
    for i in 0..5_000 {
        text.push_str(&format!("host{i},CVE-2024-{i:04}\n"));
    }
    text.push_str("poison,CVE-2024-9999\n");
    let summary = db.import_text(&text, "2026-01-12");
    assert_eq!(summary.outcome, Outcome::Failed);
    let error = summary.error.unwrap();
    assert!(error.contains("nothing was changed"), "{error}");
    assert!(
        !error.contains("disk says no"),
        "internal details stay in the log"
    );
    assert_eq!(db.snapshot(), before);
    assert_eq!(db.outcome(summary.session_id).0, "failed");
}

#[test]
fn a_killed_import_lasts_the_time_it_ran_not_the_downtime() {
    let db = TestDb::new();
    let started = Instant::now();
    let mut child = db.start_cli_import(Stdio::null());
    // The import notes its phase times as it loads: once loading has been noted, kill it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.noted_loading_ms() == 0 {
        assert!(Instant::now() < deadline, "no phase time was noted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let ran = started.elapsed();
    // The server is down a while before it starts again and marks the import.
    std::thread::sleep(Duration::from_millis(1500));
    let reopened = store::open(&db.url()).unwrap();
    assert_eq!(reopened.recover_interrupted().unwrap(), 1);

    let record = reopened.list_imports(1, 1).unwrap().items.remove(0);
    assert_eq!(record.outcome, Outcome::Interrupted);
    assert_eq!(record.duration_ms, Some(record.timings.total()));
    assert!(
        record.duration_ms.unwrap() <= ran.as_millis() as u64,
        "{:?} counts more than the {ran:?} it ran",
        record.duration_ms
    );
}

#[test]
fn a_killed_process_leaves_nothing_and_is_marked_interrupted() {
    let db = TestDb::new();
    db.import(&sample("test-dates-small.csv"), "2026-01-05");
    let before = db.snapshot();
    let mut child = db.start_cli_import(Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before the kill"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(db.snapshot(), before, "final tables changed");
    let reopened = store::open(&db.url()).unwrap();
    assert_eq!(reopened.recover_interrupted().unwrap(), 1);
    let outcomes: Vec<String> = (db.database)
        .query("SELECT outcome FROM imports ORDER BY id")
        .into_iter()
        .map(|mut row| row.remove(0).unwrap())
        .collect();
    assert_eq!(outcomes, ["completed", "interrupted"]);
    let next = db.import(&sample("test-import.csv"), "2026-01-12");
    assert_eq!(next.outcome, Outcome::Completed);
}

#[test]
fn a_cancel_stops_a_long_apply_within_a_second() {
    let db = TestDb::new();
    let cancel = CancellationToken::new();
    let import = NewImport {
        session_id: Uuid::new_v4(),
        file_name: "long.csv".into(),
        file_size: 0,
        scan_date: date("2026-01-05"),
        scope: Scope::Full,
        started_by: "test".into(),
        retry_of: None,
    };
    let mut run = db.store.begin_import(&import, &cancel).unwrap();
    let definition = Arc::new(Definition::new(
        Some("1001"),
        Some("A long apply"),
        None,
        None,
        None,
        None,
    ));
    let records: Vec<Record> = (0..300_000)
        .map(|i| Record {
            key: format!("host{i}|CVE-2024-0001"),
            tier: KeyTier::HostCve,
            host: format!("host{i}"),
            asset_id: None,
            hostname: Some(format!("host{i}")),
            ip: None,
            cve: Some("CVE-2024-0001".into()),
            plugin_id: Some("1001".into()),
            severity: Severity::High,
            vpr: Some(7.0),
            cvss: None,
            port: Some(443),
            protocol: Some("tcp".into()),
            os: None,
            definition: definition.clone(),
        })
        .collect();
    for chunk in records.chunks(20_000) {
        run.stage(chunk).unwrap();
    }
    // The cancel comes while the apply's statements run, not between them.
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            cancel.cancel();
            Instant::now()
        })
    };
    let applied = run.apply(&mut |_, _, _| {});
    let stopped = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert!(matches!(applied, Err(StoreError::Cancelled)), "{applied:?}");
    let took = stopped.saturating_duration_since(cancelled_at);
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    run.abandon(Outcome::Cancelled, &ImportReport::default())
        .unwrap();
    assert!(db.findings().is_empty());
    assert_eq!(db.outcome(import.session_id).0, "cancelled");
}
