use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::*;

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(Phase, u8, String)>>,
    cancelled: Mutex<Vec<Uuid>>,
}

impl ProgressSink for Recorder {
    fn deliver(&self, event: &ProgressEvent) {
        let entry = (event.phase, event.progress, event.message.clone());
        self.seen.lock().unwrap().push(entry);
    }
    fn cancelled(&self, session_id: Uuid) {
        self.cancelled.lock().unwrap().push(session_id);
    }
}

impl Recorder {
    fn progress(&self) -> Vec<u8> {
        self.seen.lock().unwrap().iter().map(|e| e.1).collect()
    }
}

fn tracker() -> (ProgressTracker, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let tracker = ProgressTracker::new(recorder.clone(), TrackerSettings::default());
    (tracker, recorder)
}

async fn settle(duration: Duration) {
    tokio::time::sleep(duration).await;
    tokio::task::yield_now().await;
}

#[tokio::test(start_paused = true)]
async fn updates_inside_the_window_are_held_and_the_newest_sent_at_its_end() {
    let (tracker, recorder) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    for progress in [5, 10, 20, 30] {
        tracker.emit_progress(
            id,
            Phase::Loading,
            progress,
            format!("{progress}"),
            None,
            None,
        );
    }
    assert_eq!(recorder.progress(), [5]);
    settle(Duration::from_millis(499)).await;
    assert_eq!(recorder.progress(), [5]);
    settle(Duration::from_millis(2)).await;
    assert_eq!(recorder.progress(), [5, 30]);
    settle(Duration::from_secs(2)).await;
    assert_eq!(recorder.progress(), [5, 30], "nothing new, nothing sent");
}

#[tokio::test(start_paused = true)]
async fn at_most_two_events_a_second_under_a_flood() {
    let (tracker, recorder) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    for step in 0..300u32 {
        tracker.emit_progress(
            id,
            Phase::Loading,
            (step / 3) as u8,
            String::new(),
            None,
            None,
        );
        settle(Duration::from_millis(10)).await;
    }
    let delivered = recorder.progress().len();
    assert!((6..=7).contains(&delivered), "{delivered} events in 3 s");
}

#[tokio::test(start_paused = true)]
async fn progress_never_goes_down_and_is_clamped() {
    let (tracker, recorder) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    tracker.emit_progress(id, Phase::Loading, 50, String::new(), None, None);
    settle(Duration::from_secs(1)).await;
    tracker.emit_progress(id, Phase::Loading, 30, String::new(), None, None);
    settle(Duration::from_secs(1)).await;
    tracker.emit_progress(id, Phase::Processing, 250, String::new(), None, None);
    assert_eq!(recorder.progress(), [50, 50, 100]);
}

#[tokio::test(start_paused = true)]
async fn terminal_events_are_never_throttled_and_end_the_session() {
    let (tracker, recorder) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    tracker.emit_progress(id, Phase::Loading, 10, "a".into(), None, None);
    tracker.emit_progress(id, Phase::Loading, 60, "b".into(), None, None);
    tracker.emit_progress(id, Phase::Complete, 100, "done".into(), None, None);
    settle(Duration::from_secs(1)).await;
    tracker.emit_progress(id, Phase::Loading, 100, "late".into(), None, None);
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (Phase::Loading, 10, "a".into()),
            (Phase::Complete, 100, "done".into())
        ]
    );
    let state = tracker.latest(id).unwrap();
    assert_eq!(state.ended, Some(Ending::Completed));
    assert_eq!(state.event.unwrap().eta, Some(0));
}

#[tokio::test(start_paused = true)]
async fn finished_sessions_are_dropped_after_the_retention_time() {
    let (tracker, _) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    tracker.complete_session(id, false);
    assert_eq!(tracker.active_sessions(), 0);
    settle(Duration::from_secs(299)).await;
    assert!(tracker.latest(id).is_some());
    settle(Duration::from_secs(2)).await;
    assert!(tracker.latest(id).is_none());
    assert_eq!(tracker.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_only_running_sessions() {
    let (tracker, recorder) = tracker();
    let id = Uuid::new_v4();
    assert_eq!(tracker.request_cancel(id), Err(SessionError::Unknown));
    let token = tracker.create_session(id).unwrap();
    assert_eq!(tracker.create_session(id), Err(SessionError::InUse));
    tracker.request_cancel(id).unwrap();
    assert!(token.is_cancelled());
    tracker.session_cancelled(id);
    assert_eq!(*recorder.cancelled.lock().unwrap(), [id]);
    assert_eq!(tracker.request_cancel(id), Err(SessionError::Finished));
    let state = tracker.latest(id).unwrap();
    assert_eq!(state.ended, Some(Ending::Cancelled));
    assert_eq!(state.event.unwrap().phase, Phase::Error);
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_reported_eta_and_end_at_zero() {
    let (tracker, _) = tracker();
    let id = Uuid::new_v4();
    tracker.create_session(id).unwrap();
    tracker.emit_progress(id, Phase::Parsing, 0, String::new(), None, None);
    assert_eq!(tracker.latest(id).unwrap().event.unwrap().eta, None);
    settle(Duration::from_secs(1)).await;
    tracker.emit_progress(id, Phase::Loading, 25, String::new(), Some(30), None);
    assert_eq!(tracker.latest(id).unwrap().event.unwrap().eta, Some(30));
    tracker.emit_progress(id, Phase::Complete, 100, String::new(), Some(7), None);
    assert_eq!(tracker.latest(id).unwrap().event.unwrap().eta, Some(0));
}

#[test]
fn counts_in_messages_have_thousands_separators() {
    assert_eq!(super::grouped(0), "0");
    assert_eq!(super::grouped(999), "999");
    assert_eq!(super::grouped(33_680), "33,680");
    assert_eq!(super::grouped(1_234_567), "1,234,567");
}
