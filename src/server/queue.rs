//! The import queue: imports change shared lifecycle state, so one import applies at a time per
//! database. Further uploads wait in order; their watchers see `parsing` at 0% with their place
//! in the queue, and a waiting import can be cancelled (it leaves the queue at once) by the
//! account that started it or an admin. A waiting import is written down beside its upload
//! (see `spool`), so a crash does not lose it; at shutdown the queue closes and the imports
//! still waiting are recorded as interrupted. The upload of an import that did not complete is
//! kept for a retry (see `kept`) before its watchers hear the end, so they can retry it at once.
//!
//! With other instances (see `cluster`), the order is the shared queue's: this instance's next
//! import starts once nothing is ahead of it there, and places count the imports of every
//! instance.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::cluster::{Cluster, Place};
use super::kept::KeptUploads;
use super::metrics::Metrics;
use super::realtime::CancelRefused;
use super::spool::Spooled;
use crate::domain::Outcome;
use crate::import::{Canceller, ImportRequest, run_import};
use crate::lock;
use crate::progress::{Phase, ProgressReporter, ProgressTracker, SessionReporter};
use crate::store::accounts::{Identity, Role};
use crate::store::{NewImport, Store};

/// How often an import waiting for its turn in the shared queue looks at it.
const TURN_POLL: Duration = Duration::from_millis(200);

/// Why an import waiting at a shutdown never ran.
const SHUT_DOWN_WAITING: &str =
    "the server shut down before the import started; nothing was changed";

/// An accepted upload waiting for its turn.
pub struct Job {
    pub request: ImportRequest,
    /// The account that started it.
    pub owner: i64,
    /// The spooled upload; the file is deleted when the job is dropped, unless it is kept.
    pub upload: Spooled,
    pub cancel: CancellationToken,
    started: CancellationToken,
}

impl Job {
    pub fn new(
        request: ImportRequest,
        owner: i64,
        upload: Spooled,
        cancel: CancellationToken,
    ) -> Self {
        Job {
            request,
            owner,
            upload,
            cancel,
            started: CancellationToken::new(),
        }
    }
}

#[derive(Clone)]
pub struct ImportQueue {
    inner: Arc<Inner>,
}

/// The import applying now: who may cancel it, and where to note who did.
struct Running {
    session_id: Uuid,
    owner: i64,
    canceller: Canceller,
}

struct Inner {
    waiting: Mutex<VecDeque<Job>>,
    /// Set (under the `waiting` lock) when the queue stops taking imports.
    closed: AtomicBool,
    running: Mutex<Option<Running>>,
    wake: Notify,
    /// Writing the records of imports cancelled while they waited.
    recording: TaskTracker,
    store: Arc<dyn Store>,
    tracker: ProgressTracker,
    metrics: Arc<Metrics>,
    kept: Arc<KeptUploads>,
    /// The other instances, when there are.
    cluster: Option<Arc<Cluster>>,
    /// The places last told to this instance's waiting imports, when they come from the shared
    /// queue.
    told: Mutex<HashMap<Uuid, Place>>,
}

impl ImportQueue {
    pub fn new(
        store: Arc<dyn Store>,
        tracker: ProgressTracker,
        metrics: Arc<Metrics>,
        kept: Arc<KeptUploads>,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        ImportQueue {
            inner: Arc::new(Inner {
                waiting: Mutex::default(),
                closed: AtomicBool::new(false),
                running: Mutex::default(),
                wake: Notify::new(),
                recording: TaskTracker::new(),
                store,
                tracker,
                metrics,
                kept,
                cluster,
                told: Mutex::default(),
            }),
        }
    }

    /// Whether the queue still takes imports (it closes at shutdown).
    pub fn is_open(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
    }

    /// Whether this instance is running an import.
    pub fn is_running(&self) -> bool {
        lock(&self.inner.running).is_some()
    }

    /// Whether an import waits in the queue.
    pub fn is_waiting(&self, session_id: Uuid) -> bool {
        lock(&self.inner.waiting)
            .iter()
            .any(|job| job.request.session_id == session_id)
    }

    /// The imports this instance holds: waiting or running.
    pub fn held(&self) -> Vec<Uuid> {
        let waiting = lock(&self.inner.waiting);
        let running = lock(&self.inner.running);
        waiting
            .iter()
            .map(|job| job.request.session_id)
            .chain(running.iter().map(|running| running.session_id))
            .collect()
    }

    /// Notes who cancels an import this instance holds (the rights were checked where the
    /// request came in); false when it does not hold it.
    pub fn note_canceller(&self, session_id: Uuid, by: &str) -> bool {
        match self.owner_and_canceller(session_id) {
            Some((_, canceller)) => {
                canceller.set(by);
                true
            }
            None => false,
        }
    }

    /// Who started an import this instance holds, and where to note who cancels it.
    fn owner_and_canceller(&self, session_id: Uuid) -> Option<(i64, Canceller)> {
        let waiting = lock(&self.inner.waiting);
        if let Some(job) = waiting
            .iter()
            .find(|job| job.request.session_id == session_id)
        {
            return Some((job.owner, job.request.canceller.clone()));
        }
        // Still holding `waiting`: a job moves to `running` under that lock, so it is seen in
        // one place or the other.
        match &*lock(&self.inner.running) {
            Some(running) if running.session_id == session_id => {
                Some((running.owner, running.canceller.clone()))
            }
            _ => None,
        }
    }

    /// Adds an import at the end of the queue. Returns false (and drops the job, deleting its
    /// upload) when the queue has closed.
    pub fn enqueue(&self, job: Job) -> bool {
        let session_id = job.request.session_id;
        let (cancel, started) = (job.cancel.clone(), job.started.clone());
        {
            let mut waiting = lock(&self.inner.waiting);
            if !self.is_open() {
                return false;
            }
            waiting.push_back(job);
        }
        tracing::info!(session = %session_id, "import queued");
        self.announce_positions();
        self.inner.wake.notify_one();
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => queue.cancel_waiting(session_id),
                () = started.cancelled() => {}
            }
        });
        true
    }

    /// Checks that `by` may cancel a waiting or running import (its starter, or an admin) and
    /// notes their name for its record; the caller then signals the cancel. An import that is
    /// neither waiting nor running is [`CancelRefused::Unknown`] here.
    pub fn authorize_cancel(&self, session_id: Uuid, by: &Identity) -> Result<(), CancelRefused> {
        let (owner, canceller) = self
            .owner_and_canceller(session_id)
            .ok_or(CancelRefused::Unknown)?;
        if !may_cancel(by, owner) {
            return Err(CancelRefused::NotYours);
        }
        canceller.set(&by.name);
        Ok(())
    }

    /// Runs queued imports one after another until `stop` fires and the running one has ended.
    /// Once `stop` fires the queue is closed; imports still waiting are cancelled (and
    /// recorded) rather than run.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Some(cluster) = &self.inner.cluster {
                self.wait_for_turn(cluster, &stop).await;
            }
            let next = {
                let mut waiting = lock(&self.inner.waiting);
                let next = if stop.is_cancelled() {
                    None
                } else {
                    waiting.pop_front()
                };
                if let Some(job) = &next {
                    *lock(&self.inner.running) = Some(Running {
                        session_id: job.request.session_id,
                        owner: job.owner,
                        canceller: job.request.canceller.clone(),
                    });
                }
                next
            };
            let Some(job) = next else {
                if stop.is_cancelled() {
                    self.close();
                    self.inner.recording.close();
                    self.inner.recording.wait().await;
                    return;
                }
                tokio::select! {
                    () = self.inner.wake.notified() => {}
                    () = stop.cancelled() => {}
                }
                continue;
            };
            job.started.cancel();
            let session_id = job.request.session_id;
            self.announce_positions();
            tracing::info!(session = %session_id, file = %job.request.file_name, "import started");
            if let Some(cluster) = &self.inner.cluster
                && let Err(error) = cluster.ledger.started(session_id).await
            {
                tracing::warn!(session = %session_id, %error, "could not note in the shared queue that an import started");
            }
            let store = Arc::clone(&self.inner.store);
            let reporter = UploadAtEnd {
                reporter: self.inner.tracker.reporter(session_id),
                upload: Mutex::new(Some(job.upload)),
                kept: Arc::clone(&self.inner.kept),
                session_id,
            };
            let summary = tokio::task::spawn_blocking(move || {
                let summary = run_import(&*store, &job.request, &reporter, &job.cancel);
                reporter.release(summary.outcome != Outcome::Completed);
                summary
            })
            .await;
            *lock(&self.inner.running) = None;
            match summary {
                Ok(summary) => {
                    tracing::info!(
                        session = %session_id,
                        outcome = summary.outcome.as_str(),
                        rows = summary.counts.rows,
                        ms = summary.duration_ms,
                        "import ended"
                    );
                    self.inner.metrics.import_ended(&summary);
                }
                Err(error) => {
                    tracing::error!(session = %session_id, %error, "import task failed");
                    self.inner.tracker.complete_session(session_id, false);
                }
            }
            self.leave_shared_queue(session_id).await;
            self.announce_positions();
        }
    }

    /// With other instances: waits until nothing is ahead of this instance's next import in the
    /// shared queue (or there is none, or `stop` fires), telling the waiting ones their places.
    async fn wait_for_turn(&self, cluster: &Cluster, stop: &CancellationToken) {
        loop {
            let Some(front) = lock(&self.inner.waiting)
                .front()
                .map(|job| job.request.session_id)
            else {
                return;
            };
            match cluster.ledger.places().await {
                // One missing from the shared queue (it could not be written back after an
                // outage) runs in this instance's order; the import lock still keeps applies apart.
                Ok(places) if places.get(&front).is_none_or(|place| place.ahead == 0) => return,
                Ok(places) => self.tell_places(&places),
                Err(error) => {
                    tracing::warn!(%error, "could not read the shared queue; trying again");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(TURN_POLL) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Takes an import that ended (or never ran) out of the shared queue, if there is one; one
    /// that cannot be taken out now is, later, by the lease task.
    async fn leave_shared_queue(&self, session_id: Uuid) {
        lock(&self.inner.told).remove(&session_id);
        if let Some(cluster) = &self.inner.cluster
            && let Err(error) = cluster.ledger.remove(session_id).await
        {
            tracing::warn!(session = %session_id, %error, "could not take an import out of the shared queue");
        }
    }

    /// Stops taking imports: those still waiting are taken from the queue at once (so none of
    /// them starts) and recorded as interrupted, and the running one is marked as stopped by the
    /// shutdown, for the cancel that follows.
    pub fn close(&self) {
        let waiting: Vec<Job> = {
            let mut waiting = lock(&self.inner.waiting);
            self.inner.closed.store(true, Ordering::Release);
            if let Some(running) = &*lock(&self.inner.running) {
                running.canceller.set_shutdown();
            }
            waiting.drain(..).collect()
        };
        for job in waiting {
            self.record_unstarted(job, Outcome::Interrupted, SHUT_DOWN_WAITING);
        }
    }

    /// A waiting import was cancelled: it leaves the queue at once, is recorded as cancelled
    /// (its upload kept), and then its watchers are told. One that has started meanwhile is
    /// the pipeline's to stop.
    fn cancel_waiting(&self, session_id: Uuid) {
        let removed = {
            let mut waiting = lock(&self.inner.waiting);
            let position = waiting
                .iter()
                .position(|job| job.request.session_id == session_id);
            position.and_then(|at| waiting.remove(at))
        };
        if let Some(job) = removed {
            self.record_unstarted(
                job,
                Outcome::Cancelled,
                "the import was cancelled before it started; nothing was changed",
            );
        }
    }

    /// Records how an import taken from the queue ended, keeps its upload and tells its
    /// watchers (`importCancelled` for a cancel, an `error` event otherwise).
    fn record_unstarted(&self, job: Job, outcome: Outcome, reason: &'static str) {
        let session_id = job.request.session_id;
        tracing::info!(session = %session_id, outcome = outcome.as_str(), "queued import ended");
        let queue = self.clone();
        tokio::spawn(async move { queue.leave_shared_queue(session_id).await });
        self.announce_positions();
        let inner = Arc::clone(&self.inner);
        self.inner.recording.spawn_blocking(move || {
            let request = &job.request;
            let import = NewImport {
                session_id,
                file_name: request.file_name.clone(),
                file_size: std::fs::metadata(job.upload.path()).map_or(0, |meta| meta.len()),
                scan_date: request.scan_date,
                scope: request.scope,
                started_by: request.started_by.clone(),
                retry_of: request.retry_of,
            };
            if let Err(error) = inner.store.record_unstarted(
                &import,
                outcome,
                reason,
                request.canceller.get().as_deref(),
            ) {
                tracing::error!(session = %session_id, %error, "could not record a queued import's end");
            }
            keep_upload(&inner.kept, session_id, job.upload);
            match outcome {
                Outcome::Cancelled => inner.tracker.session_cancelled(session_id),
                _ => inner.tracker.emit_progress(
                    session_id,
                    Phase::Error,
                    0,
                    reason.to_owned(),
                    None,
                    Some(json!({ "outcome": outcome })),
                ),
            }
        });
    }

    /// Tells each waiting import with another ahead of it its place. One with none ahead is
    /// about to start: told it waits, its watchers would see "Queued" until the throttle let its
    /// first phase through, half a second later.
    fn announce_positions(&self) {
        if let Some(cluster) = &self.inner.cluster {
            let (queue, cluster) = (self.clone(), Arc::clone(cluster));
            tokio::spawn(async move {
                match cluster.ledger.places().await {
                    Ok(places) => queue.tell_places(&places),
                    Err(error) => tracing::warn!(%error, "could not read the shared queue"),
                }
            });
            return;
        }
        let running = usize::from(lock(&self.inner.running).is_some());
        let waiting: Vec<Uuid> = lock(&self.inner.waiting)
            .iter()
            .map(|job| job.request.session_id)
            .collect();
        for (index, session_id) in waiting.into_iter().enumerate() {
            let place = Place {
                ahead: (index + running) as u64,
                position: index as u64 + 1,
            };
            self.tell_place(session_id, place);
        }
    }

    /// Tells this instance's waiting imports their places in the shared queue, where they changed.
    fn tell_places(&self, places: &HashMap<Uuid, Place>) {
        let waiting: Vec<Uuid> = lock(&self.inner.waiting)
            .iter()
            .map(|job| job.request.session_id)
            .collect();
        for session_id in waiting {
            let Some(&place) = places.get(&session_id) else {
                continue;
            };
            if lock(&self.inner.told).insert(session_id, place) != Some(place) {
                self.tell_place(session_id, place);
            }
        }
    }

    /// Tells a waiting import its place and how many imports are ahead of it.
    fn tell_place(&self, session_id: Uuid, Place { ahead, position }: Place) {
        let message = match ahead {
            0 => return,
            1 => "Waiting in the queue: 1 import ahead".to_owned(),
            n => format!("Waiting in the queue: {n} imports ahead"),
        };
        self.inner.tracker.emit_progress(
            session_id,
            Phase::Parsing,
            0,
            message,
            None,
            Some(json!({ "queuePosition": position, "importsAhead": ahead })),
        );
    }
}

/// Whether `by` may cancel an import started by the account `owner`: its starter, or an admin.
pub fn may_cancel(by: &Identity, owner: i64) -> bool {
    by.role == Role::Admin || owner == by.user_id
}

/// The running import's reporter: when the import ends, its upload is kept (it did not
/// complete) or deleted before the end is reported.
struct UploadAtEnd {
    reporter: SessionReporter,
    upload: Mutex<Option<Spooled>>,
    kept: Arc<KeptUploads>,
    session_id: Uuid,
}

impl UploadAtEnd {
    /// Keeps or deletes the upload, unless that is done.
    fn release(&self, keep: bool) {
        let Some(upload) = lock(&self.upload).take() else {
            return;
        };
        if keep {
            keep_upload(&self.kept, self.session_id, upload);
        }
    }
}

impl ProgressReporter for UploadAtEnd {
    fn report(
        &self,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<serde_json::Value>,
    ) {
        match phase {
            Phase::Complete => self.release(false),
            Phase::Error => self.release(true),
            _ => {}
        }
        self.reporter.report(phase, progress, message, eta, data);
    }

    fn cancelled(&self) {
        self.release(true);
        self.reporter.cancelled();
    }
}

/// Keeps the upload of an import that did not complete, then applies the retention. Keeping
/// never changes how the import ended: a failure is logged and the upload deleted.
fn keep_upload(kept: &KeptUploads, session_id: Uuid, upload: Spooled) {
    match upload.keep(kept) {
        Ok(()) => {
            tracing::info!(session = %session_id, "upload kept for a retry");
            kept.apply_retention();
        }
        Err(error) => tracing::warn!(
            session = %session_id,
            %error,
            "could not keep the upload of an import that did not complete; it is deleted"
        ),
    }
}
