//! The progress tracker: one session per import, weighted phases, throttled delivery with a
//! trailing edge, cancellation and cleanup.
//!
//! An import reports through a [`ProgressReporter`], with its own estimate of the time left
//! ([`Eta`]); the tracker turns reports into
//! [`ProgressEvent`]s and hands them to a [`ProgressSink`] (a terminal progress bar, or Socket.IO
//! rooms). Within a session progress never goes down. At most one event per throttle window
//! (500 ms) is delivered; a report inside the window is kept and delivered when the window ends,
//! so the newest state is never lost. Terminal events (`complete`, `error`) and cancellations are
//! delivered at once. A finished session stays queryable for the retention time (5 minutes), then
//! it is dropped; the import's record in the database outlives it.

mod eta;
mod event;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::lock;

pub use eta::{Eta, PastImport, Rates};
pub use event::{Phase, ProgressEvent};

/// A count as progress messages write it, with thousands separators: `33,680`.
pub fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Where delivered events go.
pub trait ProgressSink: Send + Sync + 'static {
    fn deliver(&self, event: &ProgressEvent);
    /// The import has stopped after a cancel request and its partial data is gone.
    fn cancelled(&self, session_id: Uuid);
}

/// What an import calls as it works.
pub trait ProgressReporter: Send + Sync {
    /// `eta`: whole seconds left, `None` while there is no basis for an estimate.
    fn report(
        &self,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    );
    fn cancelled(&self);
}

/// A reporter that reports nowhere (benchmarks compare against it).
pub struct NoProgress;

impl ProgressReporter for NoProgress {
    fn report(&self, _: Phase, _: u8, _: String, _: Option<u64>, _: Option<Value>) {}
    fn cancelled(&self) {}
}

#[derive(Debug, Clone, Copy)]
pub struct TrackerSettings {
    /// Minimum time between two delivered non-terminal events of one session.
    pub throttle: Duration,
    /// How long a finished session stays in memory.
    pub retention: Duration,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            throttle: Duration::from_millis(500),
            retention: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no import with this session id is known")]
    Unknown,
    #[error("this import has already finished")]
    Finished,
    #[error("this session id is already in use")]
    InUse,
}

#[derive(Clone)]
pub struct ProgressTracker {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Mutex<HashMap<Uuid, Arc<Mutex<Session>>>>,
    /// Finished sessions in the order they finished.
    expiring: Mutex<VecDeque<Expiry>>,
    expiry_added: Notify,
    sink: Arc<dyn ProgressSink>,
    settings: TrackerSettings,
    runtime: Handle,
}

/// When a finished session is to be dropped.
type Expiry = (Instant, Uuid, Arc<Mutex<Session>>);

/// One import's progress state.
pub struct Session {
    pub id: Uuid,
    pub started: Instant,
    latest: Option<ProgressEvent>,
    last_delivery: Option<Instant>,
    undelivered: bool,
    timer_armed: bool,
    ended: Option<Ending>,
    cancel: CancellationToken,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Failed,
    Cancelled,
}

/// A session's newest event and how it ended, if it has.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub event: Option<ProgressEvent>,
    pub ended: Option<Ending>,
}

impl ProgressTracker {
    /// Must be created inside a Tokio runtime: trailing deliveries and cleanup run on it.
    pub fn new(sink: Arc<dyn ProgressSink>, settings: TrackerSettings) -> Self {
        let runtime = Handle::current();
        let inner = Arc::new(Inner {
            sessions: Mutex::default(),
            expiring: Mutex::default(),
            expiry_added: Notify::new(),
            sink,
            settings,
            runtime: runtime.clone(),
        });
        runtime.spawn(drop_expired(Arc::clone(&inner)));
        ProgressTracker { inner }
    }

    /// Registers a session; its token is cancelled when someone asks to cancel the import.
    pub fn create_session(&self, id: Uuid) -> Result<CancellationToken, SessionError> {
        let mut sessions = lock(&self.inner.sessions);
        if sessions.contains_key(&id) {
            return Err(SessionError::InUse);
        }
        let cancel = CancellationToken::new();
        sessions.insert(
            id,
            Arc::new(Mutex::new(Session {
                id,
                started: Instant::now(),
                latest: None,
                last_delivery: None,
                undelivered: false,
                timer_armed: false,
                ended: None,
                cancel: cancel.clone(),
            })),
        );
        tracing::debug!(session = %id, "progress session created");
        Ok(cancel)
    }

    /// Records a progress update and delivers it, subject to the throttle. `complete` and
    /// `error` end the session and are delivered at once (with an `eta` of 0 and none). Updates
    /// to unknown or finished sessions are ignored.
    pub fn emit_progress(
        &self,
        id: Uuid,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    ) {
        let Some(entry) = self.session(id) else {
            return;
        };
        let mut session = lock(&entry);
        if session.ended.is_some() {
            return;
        }
        let previous = session.latest.as_ref().map_or(0, |event| event.progress);
        let progress = progress.min(100).max(previous);
        let eta = match phase {
            Phase::Complete => Some(0),
            Phase::Error => None,
            _ => eta,
        };
        session.latest = Some(ProgressEvent::new(id, phase, progress, message, eta, data));
        let now = Instant::now();
        if phase.is_terminal() {
            self.deliver(&mut session, now);
            session.ended = Some(if phase == Phase::Complete {
                Ending::Completed
            } else {
                Ending::Failed
            });
            drop(session);
            self.schedule_removal(id, &entry);
            return;
        }
        let window_open = session
            .last_delivery
            .is_none_or(|last| now >= last + self.inner.settings.throttle);
        if window_open {
            self.deliver(&mut session, now);
        } else {
            session.undelivered = true;
            if !session.timer_armed {
                session.timer_armed = true;
                let due = session.last_delivery.unwrap_or(now) + self.inner.settings.throttle;
                let tracker = self.clone();
                let entry = Arc::clone(&entry);
                self.inner.runtime.spawn(async move {
                    tokio::time::sleep_until(due).await;
                    let mut session = lock(&entry);
                    session.timer_armed = false;
                    if session.undelivered && session.ended.is_none() {
                        tracker.deliver(&mut session, Instant::now());
                    }
                });
            }
        }
    }

    /// Ends a session that did not end with a terminal event of its own, then schedules its
    /// removal after the retention time.
    pub fn complete_session(&self, id: Uuid, success: bool) {
        let Some(entry) = self.session(id) else {
            return;
        };
        if lock(&entry).ended.is_some() {
            return;
        }
        let (phase, message) = if success {
            (Phase::Complete, "Import complete")
        } else {
            (Phase::Error, "Import failed")
        };
        self.emit_progress(id, phase, 100, message.into(), None, None);
    }

    /// Asks a running import to stop.
    pub fn request_cancel(&self, id: Uuid) -> Result<(), SessionError> {
        let entry = self.session(id).ok_or(SessionError::Unknown)?;
        let session = lock(&entry);
        if session.ended.is_some() {
            return Err(SessionError::Finished);
        }
        session.cancel.cancel();
        tracing::info!(session = %id, "cancel requested");
        Ok(())
    }

    /// The import stopped on a cancel request and rolled back: tell the watchers, end the session.
    /// Its newest state becomes an `error`-type event saying so (kept for status queries, not
    /// sent as progress: watchers get `importCancelled`).
    pub fn session_cancelled(&self, id: Uuid) {
        let Some(entry) = self.session(id) else {
            return;
        };
        {
            let mut session = lock(&entry);
            if session.ended.is_some() {
                return;
            }
            let progress = session.latest.as_ref().map_or(0, |event| event.progress);
            session.latest = Some(ProgressEvent::new(
                id,
                Phase::Error,
                progress,
                "The import was cancelled; nothing was changed".into(),
                None,
                Some(serde_json::json!({ "outcome": "cancelled" })),
            ));
            session.undelivered = false;
            session.ended = Some(Ending::Cancelled);
            self.inner.sink.cancelled(id);
        }
        self.schedule_removal(id, &entry);
    }

    /// The newest state of a session still in memory.
    pub fn latest(&self, id: Uuid) -> Option<SessionState> {
        self.with_state(id, |state| state)
    }

    /// Calls `f` with a session's state while no event of it can be delivered, so that what `f`
    /// sends the sink is ordered with the session's own events.
    pub fn with_state<R>(&self, id: Uuid, f: impl FnOnce(SessionState) -> R) -> Option<R> {
        let entry = self.session(id)?;
        let session = lock(&entry);
        Some(f(SessionState {
            event: session.latest.clone(),
            ended: session.ended,
        }))
    }

    /// Every session in memory (running, or finished within the retention time), oldest first.
    pub fn sessions(&self) -> Vec<(Uuid, SessionState)> {
        let mut sessions: Vec<_> = lock(&self.inner.sessions)
            .iter()
            .map(|(id, entry)| (*id, Arc::clone(entry)))
            .collect();
        sessions.sort_by_key(|(_, entry)| lock(entry).started);
        sessions
            .into_iter()
            .map(|(id, entry)| {
                let session = lock(&entry);
                (
                    id,
                    SessionState {
                        event: session.latest.clone(),
                        ended: session.ended,
                    },
                )
            })
            .collect()
    }

    /// Sessions in memory that have not finished.
    pub fn active_sessions(&self) -> usize {
        self.running().len()
    }

    /// Asks every running import to stop (at shutdown).
    pub fn cancel_all(&self) {
        for id in self.running() {
            // A session that ends meanwhile needs no cancel.
            self.request_cancel(id).ok();
        }
    }

    fn running(&self) -> Vec<Uuid> {
        let sessions: Vec<_> = lock(&self.inner.sessions)
            .iter()
            .map(|(id, entry)| (*id, Arc::clone(entry)))
            .collect();
        sessions
            .into_iter()
            .filter(|(_, entry)| lock(entry).ended.is_none())
            .map(|(id, _)| id)
            .collect()
    }

    /// Sessions in memory, finished or not.
    pub fn session_count(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// A reporter bound to one session, for the import to use.
    pub fn reporter(&self, id: Uuid) -> SessionReporter {
        SessionReporter {
            tracker: self.clone(),
            id,
        }
    }

    /// How long a finished session stays queryable.
    pub fn retention(&self) -> Duration {
        self.inner.settings.retention
    }

    fn session(&self, id: Uuid) -> Option<Arc<Mutex<Session>>> {
        lock(&self.inner.sessions).get(&id).cloned()
    }

    /// Sends the newest event, stamped with the time it leaves (a held event is as new as that).
    fn deliver(&self, session: &mut Session, now: Instant) {
        if let Some(event) = &mut session.latest {
            event.timestamp = chrono::Utc::now().timestamp_millis();
            self.inner.sink.deliver(event);
        }
        session.last_delivery = Some(now);
        session.undelivered = false;
    }

    fn schedule_removal(&self, id: Uuid, entry: &Arc<Mutex<Session>>) {
        tracing::debug!(session = %id, "progress session finished");
        let deadline = Instant::now() + self.inner.settings.retention;
        lock(&self.inner.expiring).push_back((deadline, id, Arc::clone(entry)));
        self.inner.expiry_added.notify_one();
    }
}

/// Drops finished sessions once their retention time is over. One task for all sessions: the
/// retention is the same for each, so they expire in the order they finished.
async fn drop_expired(inner: Arc<Inner>) {
    loop {
        let next = {
            let now = Instant::now();
            let mut expiring = lock(&inner.expiring);
            while expiring
                .front()
                .is_some_and(|(deadline, ..)| *deadline <= now)
            {
                if let Some((_, id, entry)) = expiring.pop_front() {
                    let mut sessions = lock(&inner.sessions);
                    if sessions
                        .get(&id)
                        .is_some_and(|current| Arc::ptr_eq(current, &entry))
                    {
                        sessions.remove(&id);
                        tracing::debug!(session = %id, "progress session dropped");
                    }
                }
            }
            expiring.front().map(|(deadline, ..)| *deadline)
        };
        match next {
            Some(deadline) => tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = inner.expiry_added.notified() => {}
            },
            None => inner.expiry_added.notified().await,
        }
    }
}

/// A [`ProgressReporter`] for one session of a tracker.
pub struct SessionReporter {
    tracker: ProgressTracker,
    id: Uuid,
}

impl ProgressReporter for SessionReporter {
    fn report(
        &self,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    ) {
        self.tracker
            .emit_progress(self.id, phase, progress, message, eta, data);
    }

    fn cancelled(&self) {
        self.tracker.session_cancelled(self.id);
    }
}

#[cfg(test)]
mod tests;
