//! The PostgreSQL backend: the SQLite backend's semantics, statement for statement where it can.
//!
//! - Versioned migrations are embedded and applied on open, tracked in `schema_migrations`.
//! - One import applies at a time per database: a session-level advisory lock, taken on a
//!   connection of its own and held until the import ends (or its process dies). Holding it tells
//!   a starting import that any record still `running` belongs to a dead process.
//! - Staging lives in TEMP tables of the import's own connection, filled by binary `COPY` a few
//!   megabytes at a time (`copy`); they vanish with the connection. Duplicates collapse when
//!   applied, in file order; staging notes the keys that can repeat, so only those are looked at.
//! - The apply is set-based and runs in one transaction with the import's record, committed
//!   together. A thread watching the import's cancel asks the server to cancel the running
//!   statement, which ends it within milliseconds.
//! - Reads take one of a few connections (`pool`), each page in a repeatable-read snapshot;
//!   `queries` holds them. Accounts have connections of their own (`accounts`).
//! - Text that lists sort or compare is in byte order (`COLLATE "C"`), as in SQLite.

mod accounts;
mod copy;
mod queries;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDate;
use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, NoTls, Row};
use tokio::runtime::RuntimeFlavor;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::list_index::{ListIndex, ListIndexes};
use super::pool::{PooledConnection, ReadPool};
use super::{
    Applied, FindingQuery, FindingStats, FindingView, INTERRUPTED, ImportCounts, ImportRecord,
    ImportReport, ImportRun, Lists, NewImport, Page, PhaseTimings, Problems, RATE_HISTORY, Store,
    StoreError, TrendPoint, duration_ms, json, now, past_import,
};
use crate::domain::{Outcome, Record, Scope, key_hash};
use crate::progress::{PastImport, Rates, grouped};
use copy::CopyBuffer;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_schema.sql"),
    include_str!("migrations/002_instances.sql"),
    include_str!("migrations/003_findings_fillfactor.sql"),
];
/// Connections for reads: pages, counts and the history answered side by side.
const READERS: usize = 4;
/// The advisory lock that serialises imports within one database.
const IMPORT_LOCK: i64 = 0x7675_6c6e_696d_7074; // "vulnimpt"
/// The advisory lock that serialises migrations within one database.
const MIGRATION_LOCK: i64 = 0x7675_6c6e_6d69_6772; // "vulnmigr"
/// How often a waiting import asks for the lock again.
const LOCK_POLL: Duration = Duration::from_millis(100);
/// How often a cancel watcher looks at its token.
const CANCEL_POLL: Duration = Duration::from_millis(10);
/// How often a cancel is sent again while the statements go on.
const CANCEL_REPEAT: Duration = Duration::from_millis(100);
/// Staged records per upsert statement (at most), so the apply reports progress as it goes.
const APPLY_CHUNK: i64 = 50_000;
/// Memory an import's connection may use for its TEMP tables, and for each sort.
const IMPORT_MEMORY: &str = "64MB";
/// Findings scanned by the apply's closing steps in the time of one upserted row.
const SCAN_PER_UPSERT: u64 = 10;
/// How long an import's end waits for a lost database server to be back, to record it.
const RECORD_WAIT: Duration = Duration::from_secs(60);
const RECORD_RETRY: Duration = Duration::from_millis(500);
/// Use stamps never wait behind a lock: they are skipped, and the next use stamps again.
const STAMPS_SETUP: &str = "SET lock_timeout = '50ms'";
/// How long noting an import's phase times waits for a lock before skipping it.
const NOTE_WAIT: &str = "100ms";

pub struct PostgresStore {
    url: String,
    /// Always there until the store is dropped (see its `Drop`).
    connections: Option<Connections>,
    /// The findings lists' index, unless lists read the findings table only.
    lists: Option<Arc<ListIndexes>>,
}

/// The store's own connections.
struct Connections {
    readers: ReadPool<Client>,
    accounts: Mutex<Client>,
    account_changes: Mutex<Client>,
    stamps: Mutex<Client>,
}

impl Drop for PostgresStore {
    /// The driver closes a connection by blocking on a runtime of its own, which a runtime's
    /// async thread must not do, and a server's last handle on its store may go on one.
    fn drop(&mut self) {
        if let Some(connections) = self.connections.take() {
            blocking(move || drop(connections));
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and migrates it.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Lists::Indexed)
    }

    /// [`PostgresStore::open`], with lists read as `lists` says.
    pub fn open_with(url: &str, lists: Lists) -> Result<Self, StoreError> {
        let mut conn = connect(url)?;
        migrate(&mut conn)?;
        let mut stamps = connect(url)?;
        stamps.batch_execute(STAMPS_SETUP)?;
        Ok(PostgresStore {
            url: url.to_owned(),
            connections: Some(Connections {
                readers: ReadPool::new(
                    std::iter::once(Ok(conn))
                        .chain((1..READERS).map(|_| connect(url)))
                        .collect::<Result<_, _>>()?,
                ),
                accounts: Mutex::new(connect(url)?),
                account_changes: Mutex::new(connect(url)?),
                stamps: Mutex::new(stamps),
            }),
            lists: (lists == Lists::Indexed).then(Arc::default),
        })
    }

    /// A reader, connected again when the server closed its connection.
    fn reader(&self) -> Result<PooledConnection<'_, Client>, StoreError> {
        let mut conn = self.connections().readers.get();
        if conn.is_closed() {
            *conn = connect(&self.url)?;
        }
        Ok(conn)
    }

    fn connections(&self) -> &Connections {
        self.connections
            .as_ref()
            .expect("a store's connections are there until it is dropped")
    }

    fn accounts(&self) -> MutexGuard<'_, Client> {
        self.reopened(&self.connections().accounts, "")
    }

    fn account_changes(&self) -> MutexGuard<'_, Client> {
        self.reopened(&self.connections().account_changes, "")
    }

    fn stamps(&self) -> MutexGuard<'_, Client> {
        self.reopened(&self.connections().stamps, STAMPS_SETUP)
    }

    /// One of the store's connections, made again (and set up with `setup`) when the server
    /// closed it, as at a restart: the call that found it broken failed, the next one gets a new
    /// connection. While the server is away the broken one stays, and calls fail saying so.
    fn reopened<'a>(&self, connection: &'a Mutex<Client>, setup: &str) -> MutexGuard<'a, Client> {
        let mut client = crate::lock(connection);
        if client.is_closed()
            && let Ok(mut reconnected) = connect(&self.url)
            && reconnected.batch_execute(setup).is_ok()
        {
            *client = reconnected;
        }
        client
    }
}

impl Store for PostgresStore {
    fn begin_import(
        &self,
        import: &NewImport,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn ImportRun>, StoreError> {
        let mut lock = import_connection(&self.url, import.session_id)?;
        loop {
            let locked: bool = lock
                .query_one("SELECT pg_try_advisory_lock($1)", &[&IMPORT_LOCK])?
                .get(0);
            if locked {
                break;
            }
            if cancel.is_cancelled() {
                return Err(StoreError::Cancelled);
            }
            std::thread::sleep(LOCK_POLL);
        }
        let mut conn = import_connection(&self.url, import.session_id)?;
        // Staging and its deduplication stay in memory (set before the first TEMP table). The
        // apply's statements are planned at each run: the findings they probe grow under them,
        // and a plan made while the table was small would scan it whole for every chunk.
        conn.batch_execute(&format!(
            "SET temp_buffers = '{IMPORT_MEMORY}'; SET work_mem = '{IMPORT_MEMORY}';
             SET plan_cache_mode = force_custom_plan"
        ))?;
        mark_interrupted(&mut conn)?;
        let import_id: i64 = conn
            .query_one(
                "INSERT INTO imports (session_id, file_name, file_size, scan_date, scope,
                                      started_by, started_at, outcome, retry_of)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8) RETURNING id",
                &[
                    &import.session_id.to_string(),
                    &import.file_name,
                    &(import.file_size as i64),
                    &import.scan_date,
                    &import.scope.as_str(),
                    &import.started_by,
                    &now(),
                    &import.retry_of.map(|id| id.to_string()),
                ],
            )?
            .get(0);
        conn.batch_execute(
            "CREATE TEMP TABLE staging (
                 seq bigint NOT NULL, first_seq bigint NOT NULL, key_hash bytea NOT NULL, tier smallint NOT NULL,
                 host text COLLATE \"C\" NOT NULL, asset_id text, hostname text, ip text,
                 cve text, plugin_id text, definition bytea NOT NULL, severity text NOT NULL,
                 vpr double precision, cvss double precision, port integer, protocol text,
                 os text);
             CREATE TEMP TABLE staging_definitions (
                 hash bytea NOT NULL, plugin_id text, title text, description text,
                 solution text, family text, published text);",
        )?;
        let mut notes = import_connection(&self.url, import.session_id)?;
        notes.batch_execute(&format!("SET lock_timeout = '{NOTE_WAIT}'"))?;
        let watch = CancelWatch::new(&conn, cancel);
        Ok(Box::new(PostgresRun {
            conn,
            notes,
            _lock: lock,
            url: self.url.clone(),
            watch: Some(watch),
            cancel: cancel.clone(),
            import_id,
            scan_date: import.scan_date,
            scope: import.scope,
            staged: 0,
            staged_definitions: HashSet::new(),
            key_prefixes: HashSet::new(),
            maybe_repeated: HashSet::new(),
            lists: self.lists.clone(),
            definitions_copy: CopyBuffer::new(
                "COPY staging_definitions (hash, plugin_id, title, description, solution, family,
                                           published) FROM STDIN BINARY",
                &[
                    Type::BYTEA,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                ],
            ),
            records_copy: CopyBuffer::new(
                "COPY staging (seq, first_seq, key_hash, tier, host, asset_id, hostname, ip, cve,
                               plugin_id, definition, severity, vpr, cvss, port, protocol, os)
                 FROM STDIN BINARY",
                &[
                    Type::INT8,
                    Type::INT8,
                    Type::BYTEA,
                    Type::INT2,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::BYTEA,
                    Type::TEXT,
                    Type::FLOAT8,
                    Type::FLOAT8,
                    Type::INT4,
                    Type::TEXT,
                    Type::TEXT,
                ],
            ),
            in_transaction: false,
            applied_id_range: None,
        }))
    }

    fn recover_interrupted(&self) -> Result<u64, StoreError> {
        let mut conn = self.reader()?;
        let locked: bool = conn
            .query_one("SELECT pg_try_advisory_lock($1)", &[&IMPORT_LOCK])?
            .get(0);
        if !locked {
            return Ok(0);
        }
        let marked = mark_interrupted(&mut conn);
        conn.execute("SELECT pg_advisory_unlock($1)", &[&IMPORT_LOCK])?;
        marked
    }

    fn record_unstarted(
        &self,
        import: &NewImport,
        outcome: Outcome,
        error: &str,
        cancelled_by: Option<&str>,
    ) -> Result<(), StoreError> {
        let at = now();
        self.reader()?.execute(
            "INSERT INTO imports (session_id, file_name, file_size, scan_date, scope, started_by,
                                  started_at, finished_at, outcome, error, cancelled_by, retry_of)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11)
             ON CONFLICT (session_id) DO NOTHING",
            &[
                &import.session_id.to_string(),
                &import.file_name,
                &(import.file_size as i64),
                &import.scan_date,
                &import.scope.as_str(),
                &import.started_by,
                &at,
                &outcome.as_str(),
                &error,
                &cancelled_by,
                &import.retry_of.map(|id| id.to_string()),
            ],
        )?;
        Ok(())
    }

    fn recent_rates(&self) -> Result<Option<Rates>, StoreError> {
        let rows = self.reader()?.query(
            "SELECT file_size, records, timings FROM imports WHERE outcome = 'completed'
             ORDER BY id DESC LIMIT $1",
            &[&i64::from(RATE_HISTORY)],
        )?;
        let past: Vec<PastImport> = rows
            .iter()
            .filter_map(|row| past_import(row.get(0), row.get(1), row.get(2)))
            .collect();
        Ok(Rates::learned(&past))
    }

    fn import_by_session(&self, session_id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
        let row = self.reader()?.query_opt(
            &format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE session_id = $1"),
            &[&session_id.to_string()],
        )?;
        row.as_ref().map(import_record).transpose()
    }

    fn list_findings(
        &self,
        query: &FindingQuery,
        cancel: &CancellationToken,
    ) -> Result<Page<FindingView>, StoreError> {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        let mut conn = self.reader()?;
        let watch = CancelWatch::new(&conn, cancel);
        let page = queries::list_findings(&mut conn, query, |version| {
            self.lists.as_ref()?.at(version, loader(&self.url))
        });
        watch.stop();
        page
    }

    fn export_findings(
        &self,
        query: &FindingQuery,
        cancel: &CancellationToken,
        each: &mut dyn FnMut(FindingView) -> bool,
    ) -> Result<u64, StoreError> {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        // Its own connection: an export can take a while, and the pool keeps serving pages.
        let mut conn = connect(&self.url)?;
        let watch = CancelWatch::new(&conn, cancel);
        let exported = queries::export_findings(&mut conn, query, cancel, each);
        watch.stop();
        exported
    }

    fn finding_stats(&self) -> Result<FindingStats, StoreError> {
        queries::finding_stats(&mut *self.reader()?)
    }

    fn list_imports(&self, page: u32, per_page: u32) -> Result<Page<ImportRecord>, StoreError> {
        queries::list_imports(&mut *self.reader()?, page, per_page)
    }

    fn import_trends(&self, limit: u32) -> Result<Vec<TrendPoint>, StoreError> {
        queries::import_trends(&mut *self.reader()?, limit)
    }

    /// The server keeps its own files tidy; nothing is left to fold.
    fn close(&self) {}
}

/// Runs database work from any thread. The driver blocks on a runtime of its own, which a
/// runtime's async thread must not do: there the work runs as blocking (or, on a single-threaded
/// runtime, on a thread of its own).
fn blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(work)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => work(),
    }
}

/// Loads the lists' index of the database at `url`, on a connection of its own.
fn loader(url: &str) -> impl FnOnce() -> Result<ListIndex, StoreError> + Send + 'static {
    let url = url.to_owned();
    move || queries::load_list_index(&mut connect(&url)?)
}

/// Asks the server to cancel whatever a connection runs once a token is cancelled, until stopped.
struct CancelWatch {
    stopped: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CancelWatch {
    fn new(conn: &Client, cancel: &CancellationToken) -> Self {
        let stopped = Arc::new(AtomicBool::new(false));
        let cancel_token = conn.cancel_token();
        let (cancel, watching) = (cancel.clone(), stopped.clone());
        // A cancel that reaches the server between two statements stops neither: it is sent
        // again until the watch stops.
        let thread = std::thread::spawn(move || {
            while !watching.load(Ordering::Acquire) {
                if cancel.is_cancelled() {
                    if let Err(error) = cancel_token.cancel_query(NoTls) {
                        tracing::warn!(%error, "could not cancel a running statement");
                    }
                    std::thread::sleep(CANCEL_REPEAT);
                } else {
                    std::thread::sleep(CANCEL_POLL);
                }
            }
        });
        CancelWatch {
            stopped,
            thread: Some(thread),
        }
    }

    /// Stops watching; a cancel from now on reaches no statement.
    fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.halt();
    }
}

struct PostgresRun {
    conn: Client,
    /// Writes the phase times noted while the import runs, outside its transaction.
    notes: Client,
    /// Holds the import lock until the import ends.
    _lock: Client,
    url: String,
    watch: Option<CancelWatch>,
    cancel: CancellationToken,
    import_id: i64,
    scan_date: NaiveDate,
    scope: Scope,
    /// Records staged so far: the file order of the next one.
    staged: i64,
    staged_definitions: HashSet<[u8; 16]>,
    /// The first bytes of every staged key: a short prefix keeps this small however large the
    /// file, at the cost of a few keys that share one without repeating.
    key_prefixes: HashSet<u32>,
    /// The staged keys whose prefix came before: the only keys that can repeat.
    maybe_repeated: HashSet<[u8; 16]>,
    definitions_copy: CopyBuffer,
    records_copy: CopyBuffer,
    in_transaction: bool,
    /// The store's lists' index, loaded again once the import is committed.
    lists: Option<Arc<ListIndexes>>,
    /// The ids the apply's additions lie in; none when it added none.
    applied_id_range: Option<(i64, i64)>,
}

impl ImportRun for PostgresRun {
    fn stage(&mut self, records: &[Record]) -> Result<(), StoreError> {
        for record in records {
            let definition = &record.definition;
            if self.staged_definitions.insert(definition.hash) {
                self.definitions_copy.push(
                    &mut self.conn,
                    &[
                        &&definition.hash[..],
                        &definition.plugin_id,
                        &definition.title,
                        &definition.description,
                        &definition.solution,
                        &definition.family,
                        &definition.published,
                    ],
                )?;
            }
            self.staged += 1;
            let key = key_hash(&record.key);
            if !self.key_prefixes.insert(key_prefix(&key)) {
                self.maybe_repeated.insert(key);
            }
            self.records_copy.push(
                &mut self.conn,
                &[
                    &self.staged,
                    &self.staged,
                    &&key[..],
                    &(record.tier as i16),
                    &record.host,
                    &record.asset_id,
                    &record.hostname,
                    &record.ip,
                    &record.cve,
                    &record.plugin_id,
                    &&definition.hash[..],
                    &record.severity.as_str(),
                    &record.vpr,
                    &record.cvss,
                    &record.port.map(i32::from),
                    &record.protocol,
                    &record.os,
                ],
            )?;
        }
        Ok(())
    }

    fn apply(
        &mut self,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<Applied, StoreError> {
        self.definitions_copy.send(&mut self.conn)?;
        self.records_copy.send(&mut self.conn)?;
        self.conn.batch_execute("BEGIN")?;
        self.in_transaction = true;
        self.apply_inner(on_progress)
    }

    fn commit(
        &mut self,
        report: &ImportReport,
        applied: &Applied,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<(), StoreError> {
        // A cancel that comes now is too late: the commit is under way.
        if let Some(watch) = self.watch.take() {
            watch.stop();
        }
        let (added_from, added_to) = self.applied_id_range.unzip();
        on_progress(0, 2, "Writing the import's record");
        write_record(
            &mut self.conn,
            self.import_id,
            Outcome::Completed,
            report,
            Some(applied),
            added_from,
            added_to,
        )?;
        on_progress(1, 2, "Committing the changes");
        let Err(error) = self.conn.batch_execute("COMMIT") else {
            self.in_transaction = false;
            self.reload_lists();
            return Ok(());
        };
        if !self.conn.is_closed() {
            return Err(error.into());
        }
        // The connection went away during the commit: the record says whether it committed.
        self.in_transaction = false;
        let mut conn = connect(&self.url)?;
        let outcome: String = conn
            .query_one(
                "SELECT outcome FROM imports WHERE id = $1",
                &[&self.import_id],
            )?
            .get(0);
        if outcome == Outcome::Completed.as_str() {
            tracing::warn!(%error, "the commit reported an error but the import is committed");
            self.reload_lists();
            Ok(())
        } else {
            Err(error.into())
        }
    }

    fn note_timings(&mut self, timings: &PhaseTimings) {
        let noted = self.notes.execute(
            "UPDATE imports SET timings = $2 WHERE id = $1 AND outcome = 'running'",
            &[&self.import_id, &json(timings)],
        );
        if let Err(error) = noted {
            tracing::debug!(%error, "could not note the import's phase times");
        }
    }

    fn abandon(
        mut self: Box<Self>,
        outcome: Outcome,
        report: &ImportReport,
    ) -> Result<(), StoreError> {
        if let Some(watch) = self.watch.take() {
            watch.stop();
        }
        if self.in_transaction
            && let Err(error) = self.conn.batch_execute("ROLLBACK")
        {
            tracing::warn!(%error, "rolling back an abandoned import failed");
        }
        let recorded = write_record(
            &mut self.conn,
            self.import_id,
            outcome,
            report,
            None,
            None,
            None,
        );
        match recorded {
            Ok(()) => Ok(()),
            // A cancel that reached the server late, or a connection gone (a server restarting):
            // again on a new connection, until the server is back.
            Err(_) => {
                let deadline = std::time::Instant::now() + RECORD_WAIT;
                loop {
                    let written = connect(&self.url).and_then(|mut conn| {
                        write_record(&mut conn, self.import_id, outcome, report, None, None, None)
                    });
                    match written {
                        Err(StoreError::ConnectionLost(_))
                            if std::time::Instant::now() < deadline =>
                        {
                            std::thread::sleep(RECORD_RETRY);
                        }
                        written => return written,
                    }
                }
            }
        }
    }
}

impl PostgresRun {
    fn reload_lists(&self) {
        if let Some(lists) = &self.lists {
            lists.reload(loader(&self.url));
        }
    }

    /// The apply's steps, in units of an upserted row, as SQLite's backend counts them.
    fn apply_inner(
        &mut self,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<Applied, StoreError> {
        // Each step starts with its report, and a cancel that came meanwhile stops it.
        let cancel = self.cancel.clone();
        let mut step = |done: u64, total: u64, what: &str| {
            on_progress(done, total, what);
            match cancel.is_cancelled() {
                true => Err(StoreError::Cancelled),
                false => Ok(()),
            }
        };
        let import_id = self.import_id;
        let scan_date = self.scan_date;
        let conn = &mut self.conn;
        let newest: Option<NaiveDate> = conn
            .query_one(
                "SELECT max(scan_date) FROM imports WHERE outcome = 'completed'",
                &[],
            )?
            .get(0);
        let backfill = newest.is_some_and(|newest| scan_date < newest);
        let max_id_before: i64 = conn
            .query_one("SELECT coalesce(max(id), 0) FROM findings", &[])?
            .get(0);
        let rows = self.staged as u64;
        let scanned = (max_id_before as u64 + rows) / SCAN_PER_UPSERT;
        let total = rows + scanned + 1;
        step(0, total, "Adding finding definitions")?;
        conn.execute(
            "INSERT INTO definitions SELECT * FROM staging_definitions ON CONFLICT DO NOTHING",
            &[],
        )?;
        // Staging keeps one record per key, with the file position of the key's first record,
        // in which order the keys are added (the order SQLite adds them in, so ids follow the
        // file): a regular import keeps the key's last record, a backfill its first.
        let pick = if backfill { "min" } else { "max" };
        let keys = self.staged - collapse_repeats(conn, &self.maybe_repeated, pick)?;
        conn.batch_execute("CREATE INDEX ON staging (first_seq)")?;
        step(0, total, "Matching resolved findings")?;
        let known_resolved = if backfill {
            conn.query_one(
                "SELECT count(*) FROM staging s JOIN findings f ON f.key_hash = s.key_hash
                 WHERE f.state = 'resolved'",
                &[],
            )?
            .get::<_, i64>(0) as u64
        } else {
            conn.execute(
                "INSERT INTO import_changes (import_id, change, finding_id)
                 SELECT $1, 'reopened', f.id FROM staging s
                 JOIN findings f ON f.key_hash = s.key_hash
                 WHERE f.state = 'resolved'
                 ON CONFLICT DO NOTHING",
                &[&import_id],
            )?
        };
        // Known keys are updated (there are none while no finding exists), then new ones
        // inserted: one import applies at a time, so no other writer adds a key in between.
        let update = conn.prepare(if backfill {
            UPDATE_BACKFILL
        } else {
            UPDATE_REGULAR
        })?;
        let known = max_id_before > 0;
        let insert = conn.prepare(&insert_new(known))?;
        let (mut first, mut new) = (1, 0);
        while first <= self.staged {
            step(
                first as u64 - 1,
                total,
                &format!(
                    "Applying findings: {} of {}",
                    grouped(first as u64 - 1),
                    grouped(rows)
                ),
            )?;
            let last = first + APPLY_CHUNK - 1;
            if known {
                conn.execute(&update, &[&scan_date, &import_id, &first, &last])?;
            }
            new += conn.execute(&insert, &[&scan_date, &import_id, &first, &last])?;
            first = last + 1;
        }
        step(rows, total, "Counting new and updated findings")?;
        // One import applies at a time, so its additions are the findings past the largest id
        // before it, up to the largest id now.
        self.applied_id_range = match new {
            0 => None,
            _ => {
                let last: i64 = conn.query_one("SELECT max(id) FROM findings", &[])?.get(0);
                Some((max_id_before + 1, last))
            }
        };
        let distinct = keys as u64;
        let updated = distinct - new - known_resolved;
        let resolved = if backfill {
            0
        } else {
            let in_scope = match self.scope {
                Scope::Full => "",
                Scope::Hosts => "AND host IN (SELECT host FROM staging)",
            };
            step(
                rows + scanned / 3,
                total,
                "Resolving open findings absent from the export",
            )?;
            conn.execute(
                &format!(
                    "WITH resolved AS (
                         UPDATE findings SET state = 'resolved', resolved_date = $2
                         WHERE state <> 'resolved' AND last_import_id <> $1 {in_scope}
                         RETURNING id)
                     INSERT INTO import_changes (import_id, change, finding_id)
                     SELECT $1, 'resolved', id FROM resolved"
                ),
                &[&import_id, &scan_date],
            )?
        };
        step(total, total, "Counting findings by state and severity")?;
        conn.batch_execute(
            "DELETE FROM finding_counts;
             INSERT INTO finding_counts (state, severity, findings)
                 SELECT state, severity, count(*) FROM findings GROUP BY state, severity;",
        )?;
        conn.execute(OPEN_AFTER_IMPORT, &[&import_id])?;
        on_progress(total, total, "Findings applied");
        Ok(Applied {
            distinct,
            new,
            updated,
            reopened: if backfill { 0 } else { known_resolved },
            resolved,
            backfill,
        })
    }
}

/// The first four bytes of a key's hash.
fn key_prefix(key: &[u8; 16]) -> u32 {
    u32::from_le_bytes([key[0], key[1], key[2], key[3]])
}

/// Collapses the staged records of each key among `candidates` that repeats into the record
/// `pick` (`min` or `max`) chooses by file position, placed at the key's first position. Only
/// the candidates are looked at: no other key can repeat. Returns the records removed.
fn collapse_repeats(
    conn: &mut Client,
    candidates: &HashSet<[u8; 16]>,
    pick: &str,
) -> Result<i64, StoreError> {
    if candidates.is_empty() {
        return Ok(0);
    }
    let keys: Vec<&[u8]> = candidates.iter().map(|key| &key[..]).collect();
    let removed = conn.query_one(
        &format!(
            "WITH repeated AS (
                 SELECT key_hash, min(seq) AS first_seq, {pick}(seq) AS picked FROM staging
                 WHERE key_hash = ANY($1) GROUP BY key_hash HAVING count(*) > 1),
             superseded AS (
                 DELETE FROM staging s USING repeated r
                 WHERE s.key_hash = r.key_hash AND s.seq <> r.picked RETURNING 1),
             placed AS (
                 UPDATE staging s SET first_seq = r.first_seq FROM repeated r
                 WHERE s.seq = r.picked)
             SELECT count(*) FROM superseded"
        ),
        &[&keys],
    )?;
    Ok(removed.get(0))
}

/// A regular import updates what it sees again in place. The tier and the CVE are part of the
/// key (import semantics §2), so a finding seen again keeps them.
const UPDATE_REGULAR: &str = "
    UPDATE findings f SET
        asset_id = a.asset_id, hostname = a.hostname, ip = a.ip, plugin_id = a.plugin_id,
        definition = a.definition, severity = a.severity, vpr = a.vpr, cvss = a.cvss,
        port = a.port, protocol = a.protocol, os = a.os,
        state = CASE f.state WHEN 'resolved' THEN 'reopened' ELSE f.state END,
        first_seen = least(f.first_seen, $1::date),
        last_seen = greatest(f.last_seen, $1::date),
        resolved_date = NULL,
        last_import_id = $2::bigint
    FROM staging a
    WHERE a.first_seq BETWEEN $3 AND $4 AND f.key_hash = a.key_hash";

/// A backfill only widens the dates of what is known.
const UPDATE_BACKFILL: &str = "
    UPDATE findings f SET
        first_seen = least(f.first_seen, $1::date),
        last_seen = greatest(f.last_seen, $1::date)
    FROM staging a
    WHERE a.first_seq BETWEEN $3 AND $4 AND f.key_hash = a.key_hash AND $2::bigint IS NOT NULL";

/// What is new is inserted `active`, in the order of the keys' first records. While no finding
/// exists every staged key is new (staging holds each key once), so none is looked up.
fn insert_new(known: bool) -> String {
    let unknown = match known {
        true => "AND NOT EXISTS (SELECT FROM findings f WHERE f.key_hash = a.key_hash)",
        false => "",
    };
    format!(
        "INSERT INTO findings (key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition,
                               severity, vpr, cvss, port, protocol, os, state, first_seen,
                               last_seen, resolved_date, last_import_id)
         SELECT key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition, severity, vpr,
                cvss, port, protocol, os, 'active', $1::date, $1::date, NULL::date, $2::bigint
         FROM staging a
         WHERE a.first_seq BETWEEN $3 AND $4 {unknown}
         ORDER BY a.first_seq"
    )
}

/// The trend point of an import: the open findings by severity, from the counts it rewrote.
const OPEN_AFTER_IMPORT: &str = "
    INSERT INTO import_trends (import_id, critical, high, medium, low, info)
    SELECT $1,
           coalesce(sum(findings) FILTER (WHERE severity = 'critical'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'high'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'medium'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'low'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'info'), 0)
    FROM finding_counts WHERE state <> 'resolved'";

fn write_record(
    conn: &mut Client,
    import_id: i64,
    outcome: Outcome,
    report: &ImportReport,
    applied: Option<&Applied>,
    added_from: Option<i64>,
    added_to: Option<i64>,
) -> Result<(), StoreError> {
    let counts = &report.counts;
    conn.execute(
        "UPDATE imports SET outcome = $2, error = $3, finished_at = $4, format = $5,
             encoding = $6, backfill = $7, rows = $8, records = $9, rejected = $10,
             duplicates = $11, new = $12, updated = $13, reopened = $14, resolved = $15,
             warnings = $16, timings = $17, problems = $18, added_from_id = $19,
             added_to_id = $20, cancelled_by = $21
         WHERE id = $1 AND outcome = 'running'",
        &[
            &import_id,
            &outcome.as_str(),
            &report.error,
            &now(),
            &report.format,
            &report.encoding,
            &applied.is_some_and(|applied| applied.backfill),
            &(counts.rows as i64),
            &(counts.records as i64),
            &(counts.rejected as i64),
            &(counts.duplicates as i64),
            &(counts.new as i64),
            &(counts.updated as i64),
            &(counts.reopened as i64),
            &(counts.resolved as i64),
            &(counts.warnings as i64),
            &json(&report.timings),
            &json(&report.problems),
            &added_from,
            &added_to,
            &report.cancelled_by,
        ],
    )?;
    Ok(())
}

const IMPORT_COLUMNS: &str = "id, session_id, file_name, file_size, scan_date, scope, started_by,
    started_at, finished_at, outcome, error, format, encoding, backfill, rows, records, rejected,
    duplicates, new, updated, reopened, resolved, warnings, timings, problems, cancelled_by, retry_of";

/// An import's record from a row of [`IMPORT_COLUMNS`].
fn import_record(row: &Row) -> Result<ImportRecord, StoreError> {
    let id: i64 = row.try_get(0)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("import {id}: {what}"));
    let count = |index: usize| row.try_get::<_, i64>(index).map(|count| count as u64);
    let counts = ImportCounts {
        rows: count(14)?,
        records: count(15)?,
        rejected: count(16)?,
        duplicates: count(17)?,
        new: count(18)?,
        updated: count(19)?,
        reopened: count(20)?,
        resolved: count(21)?,
        warnings: count(22)?,
    };
    let outcome_text: String = row.try_get(9)?;
    let outcome = Outcome::parse(&outcome_text).ok_or_else(|| corrupt("outcome"))?;
    let timings =
        serde_json::from_str::<PhaseTimings>(row.try_get(23)?).map_err(|_| corrupt("timings"))?;
    let started_at: String = row.try_get(7)?;
    let finished_at: Option<String> = row.try_get(8)?;
    let retry_of = match row.try_get::<_, Option<String>>(26)? {
        Some(text) => Some(text.parse().map_err(|_| corrupt("retried session id"))?),
        None => None,
    };
    Ok(ImportRecord {
        id,
        session_id: row
            .try_get::<_, String>(1)?
            .parse()
            .map_err(|_| corrupt("session id"))?,
        file_name: row.try_get(2)?,
        file_size: row.try_get::<_, i64>(3)? as u64,
        scan_date: row.try_get(4)?,
        scope: row
            .try_get::<_, String>(5)?
            .parse()
            .map_err(|_| corrupt("scope"))?,
        started_by: row.try_get(6)?,
        cancelled_by: row.try_get(25)?,
        duration_ms: duration_ms(outcome, &timings, &started_at, finished_at.as_deref()),
        started_at,
        finished_at,
        outcome,
        error: row.try_get(10)?,
        format: row.try_get(11)?,
        encoding: row.try_get(12)?,
        backfill: row.try_get(13)?,
        counts,
        timings,
        problems: serde_json::from_str::<Problems>(row.try_get(24)?).unwrap_or_default(),
        retry_of,
    })
}

fn connect(url: &str) -> Result<Client, StoreError> {
    Ok(Client::connect(url, NoTls)?)
}

/// A connection of a running import, named after it: when the instance running it stops
/// answering, another one ends these connections by that name before it records the import as
/// interrupted, so that nothing of it can still commit.
fn import_connection(url: &str, session_id: Uuid) -> Result<Client, StoreError> {
    let mut config: postgres::Config = url.parse()?;
    config.application_name(&import_application_name(session_id));
    Ok(config.connect(NoTls)?)
}

/// The `application_name` of a running import's connections.
pub fn import_application_name(session_id: Uuid) -> String {
    format!("vulnimport import {session_id}")
}

fn migrate(conn: &mut Client) -> Result<(), StoreError> {
    // Two processes opening a new database at once migrate it one after the other.
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY, applied_at text NOT NULL)",
    )?;
    let version: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(migration)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(index as i32 + 1), &now()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Imports still `running` while the import lock is held by the caller were left by a process
/// that stopped; their TEMP staging vanished with its connection.
fn mark_interrupted(conn: &mut Client) -> Result<u64, StoreError> {
    let marked = conn.execute(
        "UPDATE imports SET outcome = 'interrupted', error = $1, finished_at = $2
         WHERE outcome = 'running'",
        &[&INTERRUPTED, &now()],
    )?;
    if marked > 0 {
        tracing::warn!(
            imports = marked,
            "marked imports left running as interrupted"
        );
    }
    Ok(marked)
}

/// A database error as the store reports it: a cancel, a full disk, a taken name, or a failure.
impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> Self {
        match error.code() {
            Some(code) if *code == SqlState::QUERY_CANCELED => StoreError::Cancelled,
            // Class 08 (connection exceptions) and 57P (the server shutting down or starting).
            Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
                StoreError::ConnectionLost(error.as_db_error().map_or_else(
                    || error.to_string(),
                    |db_error| db_error.message().to_owned(),
                ))
            }
            // A connection closed, or one that could not be made.
            None if error.is_closed()
                || std::error::Error::source(&error)
                    .is_some_and(|source| source.is::<std::io::Error>()) =>
            {
                StoreError::ConnectionLost(error.to_string())
            }
            Some(code) if *code == SqlState::DISK_FULL => {
                StoreError::DiskFull("the PostgreSQL server's data directory".into())
            }
            // The server's own error says what went wrong; the driver's wrapper only "db error".
            _ => match error.as_db_error() {
                Some(db_error) => StoreError::Database(Box::new(db_error.clone())),
                None => StoreError::Database(Box::new(error)),
            },
        }
    }
}
