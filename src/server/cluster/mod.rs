//! Several instances behind one load balancer, on one PostgreSQL database, with Redis between
//! them (`REDIS_URL`; see docs/operations.md, "Several instances"):
//! - [`ledger`]: the queue, in arrival order across instances, and each instance's lease, in the
//!   database. An upload stays with the instance that received it, which runs it once nothing is
//!   ahead of it; the store's advisory lock still guarantees one apply at a time.
//! - [`shared`]: each import's newest state and cancel requests, in Redis. Status requests and
//!   sockets joining on any instance read the state; the instance holding an import stops it
//!   when any instance relays a cancel.
//! - Socket.IO rooms span the instances through socketioxide's Redis adapter (built in `serve`):
//!   the instance running an import sends each event to its own watchers, one by one under flow
//!   control, and through the adapter to the other instances' watchers.
//! - [`keep_lease`]: each instance renews its lease; when one stops renewing (it died), another
//!   takes up its imports: waiting ones are recorded as interrupted, the running one's
//!   connections are ended (its transaction rolls back) before it is recorded so, and their
//!   watchers everywhere get the ending as an `error` event.
//!
//! While Redis is away, imports and reads go on and each instance's own watchers still get
//! events; the health check says `degraded` until the clients have reconnected.

mod ledger;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use fred::clients::SubscriberClient;
use uuid::Uuid;

use super::realtime::Outbound;
use super::{App, ImportStatus};
use crate::config::ServeConfig;
use crate::domain::Outcome;
use crate::progress::{Phase, ProgressEvent};
use crate::store::postgres::import_application_name;
use crate::store::{self, NewImport};
pub use ledger::{Ledger, Place};
pub use shared::{CancelRequest, Shared, resubscribe_on_reconnect};

/// Why imports of a dead instance that never started are recorded as interrupted.
const DIED_WAITING: &str =
    "the instance holding the upload stopped before the import started; nothing was changed";
/// How long taking up a dead instance's running import waits for its connections to end.
const ROLLBACK_WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub ledger: Ledger,
    pub shared: Shared,
    /// How long an instance may go without renewing its lease before others take up its imports.
    lease: Duration,
    /// The address this instance serves on, noted with its lease for operators.
    address: String,
    /// Whether the last renewal of the lease failed.
    lease_failing: AtomicBool,
    /// Whether the last write to Redis failed (so a long outage is logged once).
    redis_failing: AtomicBool,
}

/// `REDIS_URL`'s settings.
pub struct ClusterConfig<'a> {
    pub redis_url: &'a str,
    pub prefix: &'a str,
    pub lease: Duration,
    pub database_url: &'a str,
    pub address: String,
}

/// Refuses `REDIS_URL` with a SQLite database, before anything is opened.
pub fn check_database(config: &ServeConfig) -> anyhow::Result<()> {
    if config.redis_url.is_some() && !store::is_postgres(&config.database_url) {
        anyhow::bail!(
            "REDIS_URL needs a PostgreSQL database (--database postgres://…): instances share their queue through it; a SQLite database serves one instance"
        );
    }
    Ok(())
}

impl Cluster {
    /// Connects to Redis and takes this instance's lease. Returns the client for the Socket.IO
    /// adapter beside it. Fails, saying why, when either answers no.
    pub async fn join(
        config: ClusterConfig<'_>,
    ) -> anyhow::Result<(Arc<Cluster>, SubscriberClient)> {
        let redis_url = crate::config::redacted_url(config.redis_url);
        let adapter = shared::client(config.redis_url)
            .with_context(|| format!("REDIS_URL {redis_url} is not a Redis URL"))?;
        let shared = Shared::connect(config.redis_url, config.prefix, adapter.clone())
            .await
            .with_context(|| format!("cannot connect to Redis at {redis_url}"))?;
        let cluster = Cluster {
            ledger: Ledger::new(config.database_url, Uuid::new_v4()),
            shared,
            lease: config.lease,
            address: config.address,
            lease_failing: AtomicBool::new(false),
            redis_failing: AtomicBool::new(false),
        };
        cluster
            .ledger
            .renew(&cluster.address)
            .await
            .map_err(|error| anyhow::anyhow!("cannot take this instance's lease: {error}"))?;
        tracing::info!(
            instance = cluster.ledger.instance(),
            prefix = config.prefix,
            "joined the instances sharing this database"
        );
        Ok((Arc::new(cluster), adapter))
    }

    /// The room every socket of this instance is in: events sent through the adapter leave it
    /// out, since this instance delivers to its own sockets itself.
    pub fn own_room(&self) -> String {
        format!("instance:{}", self.ledger.instance())
    }

    /// Why this instance cannot work with the others now, if it cannot.
    pub fn unavailable(&self) -> Option<String> {
        if let Some(reason) = self.shared.unavailable() {
            return Some(reason);
        }
        self.lease_failing.load(Ordering::Relaxed).then(|| {
            "this instance cannot renew its lease in the database: other instances may take up its imports".to_owned()
        })
    }

    /// Whether the adapter can reach the other instances now.
    pub fn redis_up(&self) -> bool {
        self.shared.unavailable().is_none()
    }

    /// Shares an import's newest state, for `retention` once it ended.
    pub async fn share(&self, status: &ImportStatus, retention: Duration) {
        let saved = self.shared.save(status, retention).await;
        self.note_redis(saved.err());
    }

    /// Logs the first failure of a run of them, and the recovery.
    pub fn note_redis(&self, error: Option<impl std::fmt::Display>) {
        match error {
            Some(error) => {
                if !self.redis_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis is unavailable: progress reaches this instance's watchers only");
                }
            }
            None => {
                if self.redis_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is available again");
                }
            }
        }
    }

    /// An import held by another instance: its shared state, else its place in the queue.
    pub async fn status_elsewhere(&self, session_id: Uuid) -> Option<ImportStatus> {
        match self.shared.load(session_id).await {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(error) => self.note_redis(Some(error)),
        }
        let entry = match self.ledger.entry(session_id).await {
            Ok(entry) => entry?,
            Err(error) => {
                tracing::warn!(%error, "could not read the shared queue");
                return None;
            }
        };
        let (message, outcome) = match (entry.started, entry.ahead) {
            (true, _) => ("Running on another instance".to_owned(), Outcome::Running),
            (false, 0) => ("Waiting to start".to_owned(), Outcome::Queued),
            (false, 1) => (
                "Waiting in the queue: 1 import ahead".to_owned(),
                Outcome::Queued,
            ),
            (false, n) => (
                format!("Waiting in the queue: {n} imports ahead"),
                Outcome::Queued,
            ),
        };
        Some(ImportStatus {
            event: ProgressEvent::new(session_id, Phase::Parsing, 0, message, None, None),
            outcome,
        })
    }
}

/// Renews this instance's lease a few times per lease, makes good the queue removals that
/// failed, and takes up the imports of instances whose lease ran out.
pub async fn keep_lease(app: App, cluster: Arc<Cluster>) {
    let mut every = tokio::time::interval(cluster.lease / 5);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = app.stopping.cancelled() => return,
        }
        match cluster.ledger.renew(&cluster.address).await {
            Ok(true) => {
                if cluster.lease_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("this instance's lease is renewed again");
                }
            }
            Ok(false) => tracing::warn!(
                "this instance's lease had run out: other instances may have taken up its imports"
            ),
            Err(error) => {
                if !cluster.lease_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "cannot renew this instance's lease");
                }
                continue;
            }
        }
        if let Err(error) = cluster.ledger.forget_all_but(&app.queue.held()).await {
            tracing::warn!(%error, "could not tidy the shared queue");
        }
        match cluster.ledger.take_up_dead(cluster.lease).await {
            Ok(taken) => {
                for taken in taken {
                    take_up(&app, &cluster, taken.import, taken.started).await;
                }
            }
            Err(error) => tracing::warn!(%error, "could not look for dead instances"),
        }
    }
}

/// Records how an import of a dead instance ended and tells its watchers, wherever they are.
async fn take_up(app: &App, cluster: &Cluster, import: NewImport, started: bool) {
    let session_id = import.session_id;
    tracing::warn!(session = %session_id, started, "taking up an import of a dead instance");
    if started {
        match cluster
            .ledger
            .end_connections(&import_application_name(session_id))
            .await
        {
            Ok(0) => {}
            Ok(ended) => {
                tracing::warn!(session = %session_id, ended, "ended a dead instance's import connections")
            }
            Err(error) => {
                tracing::warn!(session = %session_id, %error, "could not end a dead instance's import connections")
            }
        }
    }
    let recorded = app
        .blocking(move |store| {
            if started {
                mark_interrupted(store, session_id)?;
            }
            // A record exists once the import began; this one only for those that never did.
            store.record_unstarted(&import, Outcome::Interrupted, DIED_WAITING, None)?;
            store.import_by_session(session_id)
        })
        .await;
    match recorded {
        Ok(Some(record)) => {
            let status = ImportStatus::from_record(&record);
            app.outbound.send(Outbound::Ended(status));
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(session = %session_id, %error, "could not record a dead instance's import")
        }
    }
}

/// Marks a dead instance's running import as interrupted once its connections are gone (the
/// store does so when it can take the import lock, which they held).
fn mark_interrupted(store: &dyn store::Store, session_id: Uuid) -> Result<(), store::StoreError> {
    let deadline = std::time::Instant::now() + ROLLBACK_WAIT;
    loop {
        let running = store
            .import_by_session(session_id)?
            .is_some_and(|record| record.outcome == Outcome::Running);
        if !running {
            return Ok(());
        }
        store.recover_interrupted()?;
        if std::time::Instant::now() >= deadline {
            tracing::warn!(session = %session_id, "a dead instance's import still holds the import lock");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Relays cancel requests to the imports this instance holds.
pub async fn serve_cancel_requests(app: App, cluster: Arc<Cluster>) {
    let mut requests = cluster.shared.cancel_requests();
    while let Some(request) = requests.recv().await {
        if app.queue.note_canceller(request.session_id, &request.by) {
            tracing::info!(session = %request.session_id, by = %request.by, "cancel requested from another instance");
            if let Err(error) = app.tracker.request_cancel(request.session_id) {
                tracing::info!(session = %request.session_id, %error, "a relayed cancel came too late");
            }
        }
    }
}
