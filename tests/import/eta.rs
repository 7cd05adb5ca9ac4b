//! The time estimate carried by progress reports (progress-protocol, "The ETA").

use vulnimport::domain::Scope;

use crate::helpers::{Recorder, TestDb, large_export};

#[test]
fn the_time_estimate_waits_for_a_basis_then_learns_from_past_imports() {
    let db = TestDb::new();
    let first = Recorder::default();
    db.import_with(
        db.request(&large_export(), "2026-01-05", Scope::Full),
        &first,
    );
    let etas = first.etas.lock().unwrap().clone();
    // A first import: no estimate before a tenth of the file is loaded, then one to the end.
    assert_eq!(etas[0], None);
    let from = etas.iter().position(Option::is_some).unwrap();
    assert!(etas[from..].iter().all(Option::is_some));
    assert_eq!(etas.last(), Some(&Some(0)));
    // The next import has the first one's rates from its first event.
    let again = Recorder::default();
    db.import_with(
        db.request(&large_export(), "2026-01-12", Scope::Full),
        &again,
    );
    assert!(again.etas.lock().unwrap().iter().all(Option::is_some));
}
