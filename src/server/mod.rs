//! `vulnimport serve`: one process serving the HTTP API, the Socket.IO progress channel and the
//! web UI, on top of the import engine.
//!
//! - [`http`]: the route table and its handlers (uploads, status, cancel, history, findings,
//!   health, metrics), with one error type that answers `{ "error": … }`;
//! - [`access`]: who may do what: credentials, roles, host and cross-site rules, security headers;
//! - [`accounts`]: sign-in, the first-start setup link, users and tokens over HTTP;
//! - [`realtime`]: the Socket.IO namespace and the sink that carries progress to rooms;
//! - [`queue`]: one import applies at a time, the others wait in order;
//! - [`cluster`]: several instances on one PostgreSQL database, sharing the queue, progress and
//!   cancel requests through it and Redis;
//! - [`spool`] and [`kept`]: uploads waiting for their turn, and those of imports that did not
//!   complete, kept for a retry ([`retry`]) within a retention;
//! - [`metrics`]: the Prometheus counters;
//! - [`web`]: the browser UI, embedded in the binary.
//!
//! Startup takes a bound listener and a shutdown future, so tests bind port 0 and stop the server
//! when they like. At shutdown running and queued imports are cancelled and rolled back, their
//! watchers told, then the sockets closed.

pub mod access;
mod accounts;
mod cluster;
mod downloads;
pub mod http;
mod kept;
mod metrics;
mod queue;
mod read_threads;
mod realtime;
mod retry;
mod spool;
mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Sid;
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Authenticator;
use crate::auth::throttle::SignInThrottle;
use crate::config::{ServeConfig, redacted_url};
use crate::domain::Outcome;
use crate::import::ImportSummary;
use crate::progress::{
    Ending, Phase, ProgressEvent, ProgressTracker, SessionState, TrackerSettings,
};
use crate::store::accounts::Identity;
use crate::store::{self, FindingQuery, FindingView, ImportRecord, Page, Store, StoreError};
use accounts::{PendingSetup, SetupLink};
use cluster::{CancelRequest, Cluster, ClusterConfig};
use kept::{KeptUploads, Retention};
use metrics::Metrics;
use queue::ImportQueue;
use read_threads::ReadThreads;
use realtime::{CancelRefused, Outbound, SocketSink};

/// How long shutdown waits for a running import to roll back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Threads answering lists of findings at once (as many as a store has read connections).
const READ_THREADS: usize = 4;
/// How often idle web sessions are deleted.
const SESSION_PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// What handlers share.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    tracker: ProgressTracker,
    queue: ImportQueue,
    /// Uploads of imports that did not complete, for a retry.
    kept: Arc<KeptUploads>,
    metrics: Arc<Metrics>,
    outbound: Arc<SocketSink>,
    config: Arc<ServeConfig>,
    auth: Authenticator,
    throttle: Arc<SignInThrottle>,
    /// Password hashing and checks running at once: one per core.
    password_work: Arc<tokio::sync::Semaphore>,
    /// Downloads (exports and reports) being written at once; see `downloads`.
    downloads: Arc<tokio::sync::Semaphore>,
    setup: Arc<PendingSetup>,
    /// Wakes the task that checks connected sockets' credentials (after a revocation, a
    /// sign-out, a disabled account…).
    recheck_sockets: Arc<Notify>,
    /// Fires when shutdown begins: uploads are refused and those in flight cut.
    stopping: CancellationToken,
    /// The other instances sharing the database, with `REDIS_URL`.
    cluster: Option<Arc<Cluster>>,
    /// Where lists of findings are read, below the imports' priority.
    reads: Arc<ReadThreads>,
}

/// An import's status as the API reports it: its newest progress event (the same JSON the
/// socket sends) and its outcome so far.
#[derive(Debug, Clone, Serialize)]
pub struct ImportStatus {
    #[serde(flatten)]
    pub event: ProgressEvent,
    pub outcome: Outcome,
}

impl ImportStatus {
    fn from_session(session_id: Uuid, state: SessionState) -> Self {
        let event = state.event.unwrap_or_else(|| {
            ProgressEvent::new(
                session_id,
                Phase::Parsing,
                0,
                "Waiting to start".into(),
                None,
                None,
            )
        });
        let outcome = match state.ended {
            None => Outcome::Running,
            Some(Ending::Completed) => Outcome::Completed,
            // An import that never ran, or that another instance took up, says how it ended.
            Some(Ending::Failed) => outcome_in(&event).unwrap_or(Outcome::Failed),
            Some(Ending::Cancelled) => Outcome::Cancelled,
        };
        ImportStatus { event, outcome }
    }

    fn from_record(record: &ImportRecord) -> Self {
        let summary = ImportSummary::from(record);
        let (phase, progress, message) = match record.outcome {
            Outcome::Completed => (Phase::Complete, 100, summary.describe()),
            Outcome::Running => (
                Phase::Parsing,
                0,
                "The import is running in another process".to_owned(),
            ),
            // Never stored: waiting imports live in the server's memory.
            Outcome::Queued => (Phase::Parsing, 0, "Waiting to start".to_owned()),
            Outcome::Cancelled => (
                Phase::Error,
                0,
                "The import was cancelled; nothing was changed".to_owned(),
            ),
            Outcome::Interrupted => (
                Phase::Error,
                0,
                record.error.clone().unwrap_or_else(|| {
                    "The import was interrupted by a restart; nothing was changed".into()
                }),
            ),
            Outcome::Failed => (
                Phase::Error,
                0,
                record
                    .error
                    .clone()
                    .unwrap_or_else(|| "The import failed".into()),
            ),
        };
        let mut event = ProgressEvent::new(
            record.session_id,
            phase,
            progress,
            message,
            (phase == Phase::Complete).then_some(0),
            serde_json::to_value(&summary).ok(),
        );
        if let Some(finished) = record
            .finished_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        {
            event.timestamp = finished.timestamp_millis();
        }
        ImportStatus {
            event,
            outcome: record.outcome,
        }
    }
}

/// The outcome an ending event names in its data, if it names one.
fn outcome_in(event: &ProgressEvent) -> Option<Outcome> {
    #[derive(serde::Deserialize)]
    struct Named {
        outcome: Outcome,
    }
    let data = event.data.as_ref()?;
    serde_json::from_str::<Named>(data.get())
        .ok()
        .map(|named| named.outcome)
}

impl App {
    /// The status of a session: from memory while it is there, else as another instance shared
    /// it, else from its import record.
    pub async fn status(&self, session_id: Uuid) -> Result<Option<ImportStatus>, StoreError> {
        if let Some(status) = self.tracker_status(session_id) {
            return Ok(Some(status));
        }
        self.stored_status(session_id).await
    }

    /// The status of a session this instance tracks.
    fn tracker_status(&self, session_id: Uuid) -> Option<ImportStatus> {
        let state = self.tracker.latest(session_id)?;
        Some(self.session_status(session_id, state))
    }

    /// The status of a session this instance tracks, to share with other instances (none
    /// without them).
    fn shared_status(&self, session_id: Uuid) -> Option<ImportStatus> {
        self.cluster.as_ref()?;
        self.tracker_status(session_id)
    }

    /// The status of a session this instance does not track: as the instance holding it shares
    /// it, else from its import record.
    async fn stored_status(&self, session_id: Uuid) -> Result<Option<ImportStatus>, StoreError> {
        if let Some(cluster) = &self.cluster
            && let Some(status) = cluster.status_elsewhere(session_id).await
        {
            return Ok(Some(status));
        }
        self.recorded_status(session_id).await
    }

    /// The imports in memory: queued, running, or ended within the tracker's retention time;
    /// oldest first.
    pub fn active_imports(&self) -> Vec<ImportStatus> {
        self.tracker
            .sessions()
            .into_iter()
            .map(|(session_id, state)| self.session_status(session_id, state))
            .collect()
    }

    fn session_status(&self, session_id: Uuid, state: SessionState) -> ImportStatus {
        let mut status = ImportStatus::from_session(session_id, state);
        if status.outcome == Outcome::Running && self.queue.is_waiting(session_id) {
            status.outcome = Outcome::Queued;
        }
        status
    }

    async fn recorded_status(&self, session_id: Uuid) -> Result<Option<ImportStatus>, StoreError> {
        let record = self
            .blocking(move |store| store.import_by_session(session_id))
            .await?;
        Ok(record.as_ref().map(ImportStatus::from_record))
    }

    /// Cancels a queued or running import, if `by` started it or is an admin.
    pub async fn request_cancel(
        &self,
        session_id: Uuid,
        by: &Identity,
    ) -> Result<(), CancelRefused> {
        match self.queue.authorize_cancel(session_id, by) {
            Ok(()) => {}
            Err(CancelRefused::Unknown) if let Some(cluster) = &self.cluster => {
                return self.request_cancel_elsewhere(cluster, session_id, by).await;
            }
            Err(CancelRefused::Unknown) => {
                return match self.tracker.latest(session_id) {
                    Some(state) if state.ended.is_some() => Err(CancelRefused::Finished),
                    Some(_) => Err(CancelRefused::Unknown),
                    None => match self.recorded_status(session_id).await {
                        Ok(Some(_)) => Err(CancelRefused::Finished),
                        _ => Err(CancelRefused::Unknown),
                    },
                };
            }
            Err(refused) => return Err(refused),
        }
        tracing::info!(session = %session_id, by = %by.name, "cancel requested");
        match self.tracker.request_cancel(session_id) {
            Ok(()) => Ok(()),
            Err(crate::progress::SessionError::Unknown) => {
                match self.recorded_status(session_id).await {
                    Ok(Some(_)) => Err(CancelRefused::Finished),
                    _ => Err(CancelRefused::Unknown),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Relays a cancel to the instance holding the import, if `by` may cancel it.
    async fn request_cancel_elsewhere(
        &self,
        cluster: &Cluster,
        session_id: Uuid,
        by: &Identity,
    ) -> Result<(), CancelRefused> {
        let entry = match cluster.ledger.entry(session_id).await {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                return match self.stored_status(session_id).await {
                    Ok(Some(status)) if status.outcome.has_ended() => Err(CancelRefused::Finished),
                    _ => Err(CancelRefused::Unknown),
                };
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the shared queue");
                return Err(CancelRefused::Unreachable);
            }
        };
        if !queue::may_cancel(by, entry.owner) {
            return Err(CancelRefused::NotYours);
        }
        let request = CancelRequest {
            session_id,
            by: by.name.clone(),
        };
        match cluster.shared.request_cancel(&request).await {
            Ok(_) => {
                tracing::info!(session = %session_id, by = %by.name, instance = %entry.instance, "cancel relayed");
                Ok(())
            }
            Err(error) => {
                cluster.note_redis(Some(error));
                Err(CancelRefused::Unreachable)
            }
        }
    }

    /// Has connected sockets' credentials checked now rather than at the next round.
    pub fn revalidate_sockets(&self) {
        self.recheck_sockets.notify_one();
    }

    fn catch_up(&self, socket: Sid, status: ImportStatus) {
        self.outbound.send(Outbound::CatchUp { socket, status });
    }

    /// Runs a store call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(&*store))
            .await
            .map_err(|error| StoreError::Corrupt(format!("store task failed: {error}")))?
    }

    /// A page of findings. When the request goes away (a client that aborted a search it typed
    /// further), the read stops instead of holding a connection for an answer nobody reads.
    async fn findings(&self, query: FindingQuery) -> Result<Page<FindingView>, StoreError> {
        let cancel = CancellationToken::new();
        let _stop_when_dropped = cancel.clone().drop_guard();
        let store = Arc::clone(&self.store);
        self.reads
            .run(self.queue.is_running(), move || {
                store.list_findings(&query, &cancel)
            })
            .await
            .ok_or_else(|| StoreError::Corrupt("the read threads have stopped".into()))?
    }
}

/// Serves until `shutdown` completes, then cancels imports, waits for them to roll back and
/// closes the sockets.
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cluster::check_database(&config)?;
    let url = config.database_url.clone();
    let (store, users) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        let store = store::open(&url)?;
        store.recover_interrupted()?;
        let users = store.count_users()?;
        Ok((store, users))
    })
    .await?
    .with_context(|| {
        format!(
            "cannot open the database {}",
            redacted_url(&config.database_url)
        )
    })?;
    let upload_dir = config.upload_dir();
    std::fs::create_dir_all(&upload_dir)
        .with_context(|| format!("cannot create {}", upload_dir.display()))?;
    let retention = Retention {
        days: config.upload_retention_days,
        max_bytes: config.upload_retention_bytes,
    };
    let kept = Arc::new(KeptUploads::open(&upload_dir, retention).with_context(|| {
        format!(
            "cannot create the kept uploads' folder in {}",
            upload_dir.display()
        )
    })?);
    recover_uploads(&store, &kept, upload_dir).await;
    tokio::spawn(apply_retention(Arc::clone(&kept)));
    // The first page asked for loads the lists' index; asking now has it ready sooner.
    let warming = Arc::clone(&store);
    tokio::task::spawn_blocking(move || {
        let first = FindingQuery {
            per_page: 1,
            ..FindingQuery::default()
        };
        warming.list_findings(&first, &CancellationToken::new())
    });

    let address = listener.local_addr()?;
    let (cluster, adapter) = match &config.redis_url {
        Some(redis_url) => {
            let (cluster, adapter) = Cluster::join(ClusterConfig {
                redis_url,
                prefix: &config.redis_prefix,
                lease: config.instance_lease,
                database_url: &config.database_url,
                address: address.to_string(),
            })
            .await?;
            (Some(cluster), Some(adapter))
        }
        None => (None, None),
    };
    let metrics = Arc::new(Metrics::new());
    let (sink, outbound) = realtime::channel();
    let sink = Arc::new(sink);
    let tracker = ProgressTracker::new(sink.clone(), TrackerSettings::default());
    let queue = ImportQueue::new(
        Arc::clone(&store),
        tracker.clone(),
        Arc::clone(&metrics),
        Arc::clone(&kept),
        cluster.clone(),
    );
    let setup = if users == 0 {
        let (link, secret) = SetupLink::new();
        print_setup_link(&config, address, &secret);
        Some(link)
    } else {
        None
    };
    let redis_prefix = config.redis_prefix.clone();
    let postgres = store::is_postgres(&config.database_url);
    let app = App {
        auth: Authenticator::new(Arc::clone(&store), config.session_idle_timeout),
        store,
        tracker,
        queue,
        kept,
        metrics,
        outbound: sink,
        config: Arc::new(config),
        throttle: Arc::default(),
        downloads: Arc::new(tokio::sync::Semaphore::new(downloads::AT_ONCE)),
        password_work: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |cores| cores.get()),
        )),
        setup: Arc::new(std::sync::Mutex::new(setup)),
        recheck_sockets: Arc::default(),
        stopping: CancellationToken::new(),
        cluster,
        reads: Arc::new(
            ReadThreads::start(READ_THREADS, read_threads::paced_per_core(postgres))
                .context("cannot start the read threads")?,
        ),
    };
    let sockets = SocketIo::builder()
        .max_buffer_size(realtime::BUFFER)
        // Watchers send only small events (joinSession and the like); each connected socket keeps
        // its read buffer, so the default 4 KiB would cost 3 KiB more per watcher for nothing. A
        // larger message still arrives whole, read in more pieces.
        .ws_read_buffer_size(1024)
        .with_state(app.clone());
    match adapter {
        None => {
            let (layer, io) = sockets.build_layer();
            io.ns(
                "/",
                realtime::on_connect::<LocalAdapter>
                    .with(realtime::register_handlers::<LocalAdapter>)
                    .with(realtime::authenticate::<LocalAdapter>),
            );
            serve_with(listener, app, layer, io, outbound, shutdown).await
        }
        Some(client) => {
            let config = RedisAdapterConfig::new().with_prefix(format!("{redis_prefix}:socket.io"));
            let adapter = RedisAdapterCtr::new_with_fred_config(client.clone(), config)
                .await
                .context("cannot start the Socket.IO Redis adapter")?;
            let (layer, io) = sockets
                .with_adapter::<FredAdapter<_>>(adapter)
                .build_layer();
            io.ns(
                "/",
                realtime::on_connect::<FredAdapter<_>>
                    .with(realtime::register_handlers::<FredAdapter<_>>)
                    .with(realtime::authenticate::<FredAdapter<_>>),
            )
            .await
            .context("cannot start the Socket.IO Redis adapter")?;
            cluster::resubscribe_on_reconnect(&client);
            serve_with(listener, app, layer, io, outbound, shutdown).await
        }
    }
}

/// Serves with the Socket.IO adapter `A`: the local one, or Redis's with other instances.
async fn serve_with<A: Adapter>(
    listener: TcpListener,
    app: App,
    socket_layer: SocketIoLayer<A>,
    io: SocketIo<A>,
    outbound: tokio::sync::mpsc::UnboundedReceiver<Outbound>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let stopping = app.stopping.clone();
    let (store, queue, tracker) = (
        Arc::clone(&app.store),
        app.queue.clone(),
        app.tracker.clone(),
    );
    tokio::spawn(realtime::forward(outbound, io.clone(), app.clone()));
    tokio::spawn(realtime::revalidate(app.clone(), io.clone()));
    tokio::spawn(purge_idle_sessions(app.auth.clone()));
    if let Some(cluster) = &app.cluster {
        tokio::spawn(cluster::keep_lease(app.clone(), Arc::clone(cluster)));
        tokio::spawn(cluster::serve_cancel_requests(
            app.clone(),
            Arc::clone(cluster),
        ));
    }
    let cluster = app.cluster.clone();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(queue.clone().run(stop.clone()));

    tracing::info!(
        %address,
        database = %redacted_url(&app.config.database_url),
        "vulnimport serving"
    );
    // Said once the server is ready: recovery and cleanup are done, requests are served.
    println!("vulnimport listening on http://{address}");
    let router = http::router(app, socket_layer);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: cancelling imports");
        stopping.cancel();
        queue.close();
        tracker.cancel_all();
        stop.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, worker).await.is_err() {
            tracing::warn!(
                "an import did not stop in time; it will be marked interrupted at the next start"
            );
        }
        // Let the last events leave before the sockets close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(cluster) = cluster
            && let Err(error) = cluster.ledger.leave().await
        {
            tracing::warn!(%error, "could not give up this instance's lease; it runs out by itself");
        }
        io.close().await;
    })
    .await?;
    tokio::task::spawn_blocking(move || store.close()).await?;
    Ok(())
}

/// Records the imports that a stopped server had accepted but not ended as interrupted, keeps
/// their uploads for a retry (those of imports it had completed are deleted) and deletes the
/// uploads it had not accepted (see [`spool`]), then applies the kept uploads' retention.
async fn recover_uploads(store: &Arc<dyn Store>, kept: &Arc<KeptUploads>, upload_dir: PathBuf) {
    let store = Arc::clone(store);
    let kept = Arc::clone(kept);
    let recovered = tokio::task::spawn_blocking(move || {
        let took_up = take_up_orphans(&*store, &kept, &upload_dir);
        kept.apply_retention();
        took_up
    })
    .await;
    match recovered {
        Ok(Ok((0, _, _, _))) => {}
        Ok(Ok((files, bytes, interrupted, kept))) => tracing::warn!(
            files,
            bytes,
            interrupted,
            kept,
            "took up the uploads a stopped server left: its imports are recorded as interrupted and their uploads kept for a retry"
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not look for uploads a stopped server left")
        }
        Err(error) => tracing::warn!(%error, "upload recovery task failed"),
    }
}

/// Takes up the uploads that no running process holds (see [`recover_uploads`]); returns how
/// many files and bytes, how many imports were recorded as interrupted and how many uploads kept.
fn take_up_orphans(
    store: &dyn Store,
    kept: &KeptUploads,
    upload_dir: &std::path::Path,
) -> std::io::Result<(u64, u64, u64, u64)> {
    let (mut files, mut bytes, mut interrupted, mut retained) = (0, 0, 0, 0);
    for orphan in spool::orphans(upload_dir)? {
        let size = orphan.bytes;
        if let Some(import) = orphan.accepted.clone() {
            if let Err(error) = store.record_unstarted(
                &import,
                Outcome::Interrupted,
                "the server stopped before the import started; nothing was changed",
                None,
            ) {
                tracing::error!(session = %import.session_id, %error, "could not record an interrupted import; its upload is kept for the next start");
                continue;
            }
            interrupted += 1;
            // One killed between its commit and its upload's deletion has nothing to retry.
            let completed = store
                .import_by_session(import.session_id)
                .ok()
                .flatten()
                .is_some_and(|record| record.outcome == Outcome::Completed);
            if !completed {
                match orphan.keep(kept) {
                    Ok(()) => retained += 1,
                    Err(error) => {
                        tracing::warn!(session = %import.session_id, %error, "could not keep the upload of an interrupted import; it is deleted")
                    }
                }
                files += 1;
                bytes += size;
                continue;
            }
        }
        orphan.remove()?;
        files += 1;
        bytes += size;
    }
    Ok((files, bytes, interrupted, retained))
}

/// Applies the kept uploads' retention now and then (it also runs at start and after each
/// upload kept).
async fn apply_retention(kept: Arc<KeptUploads>) {
    let first = tokio::time::Instant::now() + kept::RETENTION_EVERY;
    let mut every = tokio::time::interval_at(first, kept::RETENTION_EVERY);
    loop {
        every.tick().await;
        let kept = Arc::clone(&kept);
        if let Err(error) = tokio::task::spawn_blocking(move || kept.apply_retention()).await {
            tracing::warn!(%error, "kept uploads' retention task failed");
        }
    }
}

/// Tells the operator where to create the first admin: the server's public address when known,
/// else the one it listens on (localhost when it listens everywhere).
fn print_setup_link(config: &ServeConfig, address: std::net::SocketAddr, secret: &str) {
    let base = match &config.public_url {
        Some(public) => public.origin.clone(),
        None if address.ip().is_unspecified() => format!("http://localhost:{}", address.port()),
        None => format!("http://{address}"),
    };
    println!(
        "No accounts yet. Create the first admin in your browser (this link works once, for 24 hours):\n  {base}/setup#{secret}\nOr from a shell: vulnimport user add NAME --role admin"
    );
}

/// Deletes idle web sessions now and then, so the table does not grow.
async fn purge_idle_sessions(auth: Authenticator) {
    let mut every = tokio::time::interval(SESSION_PURGE_EVERY);
    loop {
        every.tick().await;
        let auth = auth.clone();
        match tokio::task::spawn_blocking(move || auth.purge_idle_sessions()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(purged)) => tracing::info!(purged, "idle web sessions ended"),
            Ok(Err(error)) => tracing::warn!(%error, "could not purge idle web sessions"),
            Err(error) => tracing::warn!(%error, "session purge task failed"),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
}
