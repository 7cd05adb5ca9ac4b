//! The SQLite backend, the embedded default.
//!
//! - Schema migrations are embedded and applied on open; pages are 16 KiB (set before the first
//!   table), the journal is WAL, and the page cache is bounded so memory stays flat.
//! - Staging lives in TEMP tables of the import's own connection: they vanish with the
//!   connection, so a killed process leaves no staging rows behind. Staging is append-only;
//!   duplicates collapse when applied, in file order, so the last row of a key wins.
//! - The apply runs in one `BEGIN IMMEDIATE` transaction, in chunks so progress and cancel are
//!   live; a progress handler aborts a statement within milliseconds of a cancel.
//! - An exclusive lock on `<database>.lock` serialises imports across processes, and tells a
//!   starting import that any record still `running` belongs to a dead process.
//! - Reads (findings pages, dashboard counts, import history) take one of a few connections
//!   (`pool`), so they answer side by side; `queries` holds them. Each import rewrites the
//!   counts of findings per state and severity in its transaction, and notes from them its
//!   trend point, the open findings by severity after it. Accounts have connections of their
//!   own (`accounts`).

mod accounts;
mod queries;

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::NaiveDate;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
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

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_findings.sql"),
    include_str!("migrations/002_accounts.sql"),
    include_str!("migrations/003_reads.sql"),
    include_str!("migrations/004_trends.sql"),
    include_str!("migrations/005_retry.sql"),
];
/// Connections for reads: pages, counts and the history answered side by side.
const READERS: usize = 4;
/// How often (in SQLite's virtual machine steps) a read checks whether it is still wanted.
const READ_CANCEL_STEPS: i32 = 10_000;
/// Page cache of a connection: bounded, so memory stays flat whatever the file's size. A larger
/// cache speeds up imports of millions of rows (fewer index pages re-read and re-written) but
/// costs its size in memory; 100k-row imports barely notice.
const CACHE_KIB: i64 = 8 * 1024;
/// Page cache of TEMP tables that are only appended to and read in order: an import's staging,
/// an export's sorted ids.
const STAGING_CACHE_KIB: i64 = 2 * 1024;
const APPLY_CHUNK: i64 = 20_000;
/// Findings scanned by the apply's closing steps in the time of one upserted row.
const SCAN_PER_UPSERT: u64 = 10;
/// The longest an account lookup waits for the database (reads wait only in rare moments, such
/// as a WAL checkpoint's reset).
const ACCOUNT_READ_WAIT: Duration = Duration::from_millis(500);
/// How long noting an import's phase times waits for the database before skipping it.
const NOTE_WAIT: Duration = Duration::from_millis(100);
/// How long a statement waits for another connection's lock.
const BUSY_WAIT: Duration = Duration::from_secs(30);
/// The size the write-ahead log is cut back to whenever it starts over (bytes).
const LOG_SIZE_LIMIT: i64 = 64 << 20;
/// How long folding the write-ahead log waits for readers of an older snapshot.
const LOG_FOLD_WAIT: Duration = Duration::from_secs(2);

pub struct SqliteStore {
    path: PathBuf,
    lock_path: PathBuf,
    readers: ReadPool<Connection>,
    accounts: Mutex<Connection>,
    account_changes: Mutex<Connection>,
    stamps: Mutex<Connection>,
    /// The findings lists' index, unless lists read the findings table only.
    lists: Option<Arc<ListIndexes>>,
}

impl SqliteStore {
    /// Opens (creating it and its folder when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Lists::Indexed)
    }

    /// [`SqliteStore::open`], with lists read as `lists` says.
    pub fn open_with(path: &Path, lists: Lists) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let stamps = connect(path)?;
        stamps.busy_timeout(Duration::ZERO)?;
        // Credential checks run on the server's async threads: they must never wait long.
        let accounts = connect(path)?;
        accounts.busy_timeout(ACCOUNT_READ_WAIT)?;
        Ok(SqliteStore {
            path: path.to_owned(),
            lock_path: lock_path.into(),
            readers: ReadPool::new(
                std::iter::once(Ok(conn))
                    .chain((1..READERS).map(|_| connect(path)))
                    .collect::<Result<_, _>>()?,
            ),
            accounts: Mutex::new(accounts),
            account_changes: Mutex::new(connect(path)?),
            stamps: Mutex::new(stamps),
            lists: (lists == Lists::Indexed).then(Arc::default),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> PooledConnection<'_, Connection> {
        self.readers.get()
    }

    fn accounts(&self) -> MutexGuard<'_, Connection> {
        crate::lock(&self.accounts)
    }

    fn account_changes(&self) -> MutexGuard<'_, Connection> {
        crate::lock(&self.account_changes)
    }

    fn stamps(&self) -> MutexGuard<'_, Connection> {
        crate::lock(&self.stamps)
    }

    fn lock_file(&self) -> Result<File, StoreError> {
        Ok(File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)?)
    }
}

impl Store for SqliteStore {
    fn begin_import(
        &self,
        import: &NewImport,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn ImportRun>, StoreError> {
        let lock = self.lock_file()?;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if !cancel.is_cancelled() => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => return Err(StoreError::Cancelled),
                Err(TryLockError::Error(e)) => return Err(e.into()),
            }
        }
        let conn = connect(&self.path)?;
        // The import's end folds the log back (see `fold_log`), not its COMMIT.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let fault = |error| classify(error, &self.path);
        mark_interrupted(&conn).map_err(fault)?;
        conn.execute(
            "INSERT INTO imports (session_id, file_name, file_size, scan_date, scope, started_by,
                                  started_at, outcome, retry_of)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
            params![
                import.session_id.to_string(),
                import.file_name,
                import.file_size as i64,
                import.scan_date.to_string(),
                import.scope.as_str(),
                import.started_by,
                now(),
                import.retry_of.map(|id| id.to_string()),
            ],
        )
        .map_err(fault)?;
        let import_id = conn.last_insert_rowid();
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE staging (
                 key_hash BLOB NOT NULL, tier INTEGER NOT NULL, host TEXT NOT NULL,
                 asset_id TEXT, hostname TEXT, ip TEXT, cve TEXT, plugin_id TEXT,
                 definition BLOB NOT NULL, severity TEXT NOT NULL, vpr REAL, cvss REAL,
                 port INTEGER, protocol TEXT, os TEXT);
             CREATE TEMP TABLE staging_definitions (
                 hash BLOB PRIMARY KEY, plugin_id TEXT, title TEXT, description TEXT,
                 solution TEXT, family TEXT, published TEXT) WITHOUT ROWID;
             PRAGMA temp.cache_size = -{STAGING_CACHE_KIB};
             BEGIN;"
        ))
        .map_err(fault)?;
        let token = cancel.clone();
        conn.progress_handler(10_000, Some(move || token.is_cancelled()));
        // The import's own connection holds its transaction: notes go through another, which
        // leaves the log to the import's end too.
        let notes = connect(&self.path)?;
        notes.busy_timeout(NOTE_WAIT)?;
        notes.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(Box::new(SqliteRun {
            conn,
            notes,
            path: self.path.clone(),
            _lock: lock,
            import_id,
            scan_date: import.scan_date,
            scope: import.scope,
            staged_definitions: HashSet::new(),
            applied_id_range: None,
            lists: self.lists.clone(),
        }))
    }

    fn recover_interrupted(&self) -> Result<u64, StoreError> {
        let lock = self.lock_file()?;
        match lock.try_lock() {
            Ok(()) => Ok(mark_interrupted(&self.reader())?),
            Err(TryLockError::WouldBlock) => Ok(0),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }

    fn record_unstarted(
        &self,
        import: &NewImport,
        outcome: Outcome,
        error: &str,
        cancelled_by: Option<&str>,
    ) -> Result<(), StoreError> {
        // A connection of its own: this may wait for a running import's commit, and reads
        // should not wait with it.
        let conn = connect(&self.path)?;
        let at = now();
        conn.execute(
            "INSERT INTO imports (session_id, file_name, file_size, scan_date, scope, started_by,
                                  started_at, finished_at, outcome, error, cancelled_by, retry_of)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (session_id) DO NOTHING",
            params![
                import.session_id.to_string(),
                import.file_name,
                import.file_size as i64,
                import.scan_date.to_string(),
                import.scope.as_str(),
                import.started_by,
                at,
                outcome.as_str(),
                error,
                cancelled_by,
                import.retry_of.map(|id| id.to_string()),
            ],
        )
        .map_err(|error| classify(error, &self.path))?;
        Ok(())
    }

    fn recent_rates(&self) -> Result<Option<Rates>, StoreError> {
        let conn = self.reader();
        let mut statement = conn.prepare_cached(
            "SELECT file_size, records, timings FROM imports WHERE outcome = 'completed'
             ORDER BY id DESC LIMIT ?1",
        )?;
        let past = statement
            .query_map([RATE_HISTORY], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let past: Vec<PastImport> = past
            .into_iter()
            .filter_map(|(file_size, records, timings)| past_import(file_size, records, &timings))
            .collect();
        Ok(Rates::learned(&past))
    }

    fn import_by_session(&self, session_id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
        let conn = self.reader();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE session_id = ?1"
        ))?;
        let raw = statement
            .query_row([session_id.to_string()], RawImport::from_row)
            .optional()?;
        raw.map(RawImport::into_record).transpose()
    }

    fn list_findings(
        &self,
        query: &FindingQuery,
        cancel: &CancellationToken,
    ) -> Result<Page<FindingView>, StoreError> {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        let mut conn = self.reader();
        let token = cancel.clone();
        conn.progress_handler(READ_CANCEL_STEPS, Some(move || token.is_cancelled()));
        let page = queries::list_findings(&mut conn, query, |version| {
            self.lists.as_ref()?.at(version, loader(&self.path))
        });
        conn.progress_handler(0, None::<fn() -> bool>);
        page.map_err(|error| classified(error, &self.path))
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
        // Its own connection: an export can take a while, and the pool keeps serving pages. Its
        // sorted ids go to a TEMP table, whose cache is kept small: it is written once and read
        // once, in order.
        let mut conn = connect(&self.path)?;
        conn.execute_batch(&format!("PRAGMA temp.cache_size = -{STAGING_CACHE_KIB}"))?;
        let token = cancel.clone();
        conn.progress_handler(READ_CANCEL_STEPS, Some(move || token.is_cancelled()));
        queries::export_findings(&mut conn, query, each)
            .map_err(|error| classified(error, &self.path))
    }

    fn finding_stats(&self) -> Result<FindingStats, StoreError> {
        queries::finding_stats(&self.reader())
    }

    fn list_imports(&self, page: u32, per_page: u32) -> Result<Page<ImportRecord>, StoreError> {
        queries::list_imports(&mut self.reader(), page, per_page)
    }

    fn import_trends(&self, limit: u32) -> Result<Vec<TrendPoint>, StoreError> {
        queries::import_trends(&self.reader(), limit)
    }

    fn close(&self) {
        fold_log(&self.reader());
    }
}

struct SqliteRun {
    conn: Connection,
    /// Writes the phase times noted while the import runs, outside its transaction.
    notes: Connection,
    path: PathBuf,
    _lock: File,
    import_id: i64,
    scan_date: NaiveDate,
    scope: Scope,
    staged_definitions: HashSet<[u8; 16]>,
    /// The ids the apply's additions lie in (every finding in the range is one); none when it
    /// added none.
    applied_id_range: Option<(i64, i64)>,
    /// The store's lists' index, loaded again once the import is committed.
    lists: Option<Arc<ListIndexes>>,
}

impl ImportRun for SqliteRun {
    fn stage(&mut self, records: &[Record]) -> Result<(), StoreError> {
        self.stage_inner(records)
            .map_err(|error| classify(error, &self.path))
    }

    fn apply(
        &mut self,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<Applied, StoreError> {
        self.apply_inner(on_progress)
            .map_err(|error| classify(error, &self.path))
    }

    fn commit(
        &mut self,
        report: &ImportReport,
        applied: &Applied,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<(), StoreError> {
        // A cancel that comes now is too late: the commit is under way.
        self.conn.progress_handler(0, None::<fn() -> bool>);
        let (added_from, added_to) = self.applied_id_range.unzip();
        on_progress(0, 3, "Writing the import's record");
        let committed = self
            .write_record(
                Outcome::Completed,
                report,
                Some(applied),
                added_from,
                added_to,
            )
            .and_then(|()| {
                on_progress(1, 3, "Committing the changes");
                self.conn.execute_batch("COMMIT")
            });
        let Err(error) = committed else {
            on_progress(2, 3, "Folding the write-ahead log into the database");
            fold_log(&self.conn);
            self.reload_lists();
            return Ok(());
        };
        if !self.conn.is_autocommit() {
            // The transaction is still open (SQLite keeps it after some failed commits).
            return Err(classify(error, &self.path));
        }
        // SQLite ended the transaction: the record says whether it committed.
        match self.recorded_outcome() {
            Ok(Outcome::Completed) => {
                tracing::warn!(%error, "the commit reported an error but the import is committed");
                fold_log(&self.conn);
                self.reload_lists();
                Ok(())
            }
            _ => Err(classify(error, &self.path)),
        }
    }

    fn note_timings(&mut self, timings: &PhaseTimings) {
        let noted = self.notes.execute(
            "UPDATE imports SET timings = ?2 WHERE id = ?1 AND outcome = 'running'",
            params![self.import_id, json(timings)],
        );
        if let Err(error) = noted {
            tracing::debug!(%error, "could not note the import's phase times");
        }
    }

    fn abandon(self: Box<Self>, outcome: Outcome, report: &ImportReport) -> Result<(), StoreError> {
        self.conn.progress_handler(0, None::<fn() -> bool>);
        if !self.conn.is_autocommit()
            && let Err(error) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(%error, "rolling back an abandoned import failed");
        }
        if let Err(error) = self
            .conn
            .execute_batch("DROP TABLE temp.staging; DROP TABLE temp.staging_definitions;")
        {
            tracing::debug!(%error, "dropping the staging tables failed; they go with the connection");
        }
        // The record goes first: its pages reuse the log's space that the rollback freed. A
        // failed import may have grown the log to the size of a whole import; folding it gives
        // that space back (and a second chance to the record when the disk was full).
        let recorded = self.write_record(outcome, report, None, None, None);
        fold_log(&self.conn);
        recorded
            .or_else(|_| self.write_record(outcome, report, None, None, None))
            .map_err(|error| classify(error, &self.path))
    }
}

impl SqliteRun {
    fn reload_lists(&self) {
        if let Some(lists) = &self.lists {
            lists.reload(loader(&self.path));
        }
    }

    fn stage_inner(&mut self, records: &[Record]) -> rusqlite::Result<()> {
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO temp.staging (key_hash, tier, host, asset_id, hostname, ip, cve, plugin_id,
                                       definition, severity, vpr, cvss, port, protocol, os)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        let mut insert_definition = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO temp.staging_definitions
                 (hash, plugin_id, title, description, solution, family, published)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for record in records {
            let definition = &record.definition;
            if self.staged_definitions.insert(definition.hash) {
                insert_definition.execute(params![
                    &definition.hash[..],
                    definition.plugin_id,
                    definition.title,
                    definition.description,
                    definition.solution,
                    definition.family,
                    definition.published,
                ])?;
            }
            insert.execute(params![
                &key_hash(&record.key)[..],
                record.tier as i64,
                record.host,
                record.asset_id,
                record.hostname,
                record.ip,
                record.cve,
                record.plugin_id,
                &definition.hash[..],
                record.severity.as_str(),
                record.vpr,
                record.cvss,
                record.port,
                record.protocol,
                record.os,
            ])?;
        }
        Ok(())
    }

    /// The apply's steps, in units of an upserted row: the upserts one a row; the steps after
    /// them (counting, resolving) scan the findings, about a tenth of a unit each; the steps
    /// before them are quick.
    fn apply_inner(
        &mut self,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<Applied, rusqlite::Error> {
        let conn = &self.conn;
        // Staging was filled in a deferred transaction that touched only TEMP tables; the apply
        // takes the write lock for the final tables.
        conn.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
        let scan_date = self.scan_date.to_string();
        let newest: Option<String> = conn.query_row(
            "SELECT max(scan_date) FROM imports WHERE outcome = 'completed'",
            [],
            |row| row.get(0),
        )?;
        let backfill = newest.is_some_and(|newest| scan_date < newest);
        let max_id_before: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM findings", [], |row| {
                row.get(0)
            })?;
        let last_rowid: i64 = conn.query_row(
            "SELECT coalesce(max(rowid), 0) FROM temp.staging",
            [],
            |row| row.get(0),
        )?;
        let rows = last_rowid as u64;
        let scanned = (max_id_before as u64 + rows) / SCAN_PER_UPSERT;
        let total = rows + scanned + 1;
        on_progress(0, total, "Adding finding definitions");
        conn.execute(
            "INSERT OR IGNORE INTO definitions SELECT * FROM temp.staging_definitions",
            [],
        )?;
        on_progress(0, total, "Matching resolved findings");
        // Known findings that are resolved: a regular import reopens them, a backfill only
        // leaves them out of its counts. The partial index keeps this lookup small.
        let known_resolved = if backfill {
            conn.query_row(
                "SELECT count(DISTINCT f.id) FROM temp.staging s
                 JOIN findings f INDEXED BY findings_resolved ON f.key_hash = s.key_hash
                 WHERE f.state = 'resolved'",
                [],
                |row| row.get::<_, i64>(0),
            )? as u64
        } else {
            conn.execute(
                "INSERT OR IGNORE INTO import_changes (import_id, change, finding_id)
                 SELECT ?1, 'reopened', f.id FROM temp.staging s
                 JOIN findings f INDEXED BY findings_resolved ON f.key_hash = s.key_hash
                 WHERE f.state = 'resolved'",
                [self.import_id],
            )? as u64
        };
        let mut upsert = conn.prepare(if backfill {
            UPSERT_BACKFILL
        } else {
            UPSERT_REGULAR
        })?;
        let mut first = 1;
        while first <= last_rowid {
            on_progress(
                first as u64 - 1,
                total,
                &format!(
                    "Applying findings: {} of {}",
                    grouped(first as u64 - 1),
                    grouped(rows)
                ),
            );
            let last = first + APPLY_CHUNK - 1;
            upsert.execute(params![scan_date, self.import_id, first, last])?;
            first = last + 1;
        }
        on_progress(rows, total, "Counting new and updated findings");
        // One import applies at a time, so the findings past the largest id before it are its
        // additions: the range from there to the largest id after it holds no other, whether the
        // ids it took are contiguous or not (a database sequence that conflicting inserts also
        // consume leaves gaps).
        let (new, max_id_after): (i64, Option<i64>) = conn.query_row(
            "SELECT count(*), max(id) FROM findings WHERE id > ?1",
            [max_id_before],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        self.applied_id_range = max_id_after.map(|last| (max_id_before + 1, last));
        let new = new as u64;
        // Every key staged by a regular import now carries its id; a backfill counts keys.
        let distinct: i64 = if backfill {
            conn.query_row(
                "SELECT count(DISTINCT key_hash) FROM temp.staging",
                [],
                |row| row.get(0),
            )?
        } else {
            conn.query_row(
                "SELECT count(*) FROM findings WHERE last_import_id = ?1",
                [self.import_id],
                |row| row.get(0),
            )?
        };
        let updated = distinct as u64 - new - known_resolved;
        let resolved = if backfill {
            0
        } else {
            let in_scope = match self.scope {
                Scope::Full => "",
                Scope::Hosts => "AND host IN (SELECT host FROM temp.staging)",
            };
            let open_and_absent = format!(
                "FROM findings WHERE state <> 'resolved' AND last_import_id <> ?1 {in_scope}"
            );
            on_progress(
                rows + scanned / 3,
                total,
                "Listing open findings absent from the export",
            );
            let resolved = conn.execute(
                &format!(
                    "INSERT INTO import_changes (import_id, change, finding_id)
                     SELECT ?1, 'resolved', id {open_and_absent}"
                ),
                [self.import_id],
            )?;
            on_progress(
                rows + scanned * 2 / 3,
                total,
                &format!(
                    "Resolving {} findings absent from the export",
                    grouped(resolved as u64)
                ),
            );
            conn.execute(
                &format!(
                    "UPDATE findings SET state = 'resolved', resolved_date = ?2
                     WHERE id IN (SELECT id {open_and_absent})"
                ),
                params![self.import_id, scan_date],
            )?;
            resolved as u64
        };
        on_progress(total, total, "Counting findings by state and severity");
        conn.execute_batch(
            "DELETE FROM finding_counts;
             INSERT INTO finding_counts (state, severity, findings)
                 SELECT state, severity, count(*) FROM findings GROUP BY state, severity;",
        )?;
        conn.execute(OPEN_AFTER_IMPORT, [self.import_id])?;
        on_progress(total, total, "Findings applied");
        Ok(Applied {
            distinct: distinct as u64,
            new,
            updated,
            reopened: if backfill { 0 } else { known_resolved },
            resolved,
            backfill,
        })
    }

    fn recorded_outcome(&self) -> Result<Outcome, StoreError> {
        let outcome: String = self.conn.query_row(
            "SELECT outcome FROM imports WHERE id = ?1",
            [self.import_id],
            |row| row.get(0),
        )?;
        Outcome::parse(&outcome).ok_or_else(|| StoreError::Corrupt(format!("outcome {outcome}")))
    }

    fn write_record(
        &self,
        outcome: Outcome,
        report: &ImportReport,
        applied: Option<&Applied>,
        added_from: Option<i64>,
        added_to: Option<i64>,
    ) -> rusqlite::Result<()> {
        let counts = &report.counts;
        self.conn.execute(
            "UPDATE imports SET outcome = ?2, error = ?3, finished_at = ?4, format = ?5,
                 encoding = ?6, backfill = ?7, rows = ?8, records = ?9, rejected = ?10,
                 duplicates = ?11, new = ?12, updated = ?13, reopened = ?14, resolved = ?15,
                 warnings = ?16, timings = ?17, problems = ?18, added_from_id = ?19,
                 added_to_id = ?20, cancelled_by = ?21
             WHERE id = ?1 AND outcome = 'running'",
            params![
                self.import_id,
                outcome.as_str(),
                report.error,
                now(),
                report.format,
                report.encoding,
                applied.is_some_and(|applied| applied.backfill),
                counts.rows as i64,
                counts.records as i64,
                counts.rejected as i64,
                counts.duplicates as i64,
                counts.new as i64,
                counts.updated as i64,
                counts.reopened as i64,
                counts.resolved as i64,
                counts.warnings as i64,
                json(&report.timings),
                json(&report.problems),
                added_from,
                added_to,
                report.cancelled_by,
            ],
        )?;
        Ok(())
    }
}

/// A regular import updates what it sees again in place. The tier and the CVE are part of the
/// key (import semantics §2), so a finding seen again keeps them.
const UPSERT_REGULAR: &str = "
    INSERT INTO findings (key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition,
                          severity, vpr, cvss, port, protocol, os, state, first_seen, last_seen,
                          resolved_date, last_import_id)
    SELECT key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition, severity, vpr,
           cvss, port, protocol, os, 'active', ?1, ?1, NULL, ?2
    FROM temp.staging WHERE rowid BETWEEN ?3 AND ?4
    ON CONFLICT (key_hash) DO UPDATE SET
        asset_id = excluded.asset_id, hostname = excluded.hostname, ip = excluded.ip,
        plugin_id = excluded.plugin_id, definition = excluded.definition,
        severity = excluded.severity, vpr = excluded.vpr, cvss = excluded.cvss,
        port = excluded.port, protocol = excluded.protocol, os = excluded.os,
        state = CASE state WHEN 'resolved' THEN 'reopened' ELSE state END,
        first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen),
        resolved_date = NULL,
        last_import_id = excluded.last_import_id";

/// The trend point of an import: the open findings by severity, from the counts it rewrote.
const OPEN_AFTER_IMPORT: &str = "
    INSERT INTO import_trends (import_id, critical, high, medium, low, info)
    SELECT ?1,
           coalesce(sum(findings) FILTER (WHERE severity = 'critical'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'high'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'medium'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'low'), 0),
           coalesce(sum(findings) FILTER (WHERE severity = 'info'), 0)
    FROM finding_counts WHERE state <> 'resolved'";

/// A backfill inserts what is new and only widens the dates of what is known.
const UPSERT_BACKFILL: &str = "
    INSERT INTO findings (key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition,
                          severity, vpr, cvss, port, protocol, os, state, first_seen, last_seen,
                          resolved_date, last_import_id)
    SELECT key_hash, tier, asset_id, hostname, ip, cve, plugin_id, definition, severity, vpr,
           cvss, port, protocol, os, 'active', ?1, ?1, NULL, ?2
    FROM temp.staging WHERE rowid BETWEEN ?3 AND ?4
    ON CONFLICT (key_hash) DO UPDATE SET
        first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen)";

const IMPORT_COLUMNS: &str = "id, session_id, file_name, file_size, scan_date, scope, started_by,
    started_at, finished_at, outcome, error, format, encoding, backfill, rows, records, rejected,
    duplicates, new, updated, reopened, resolved, warnings, timings, problems, cancelled_by, retry_of";

/// An `imports` row as stored, before its text columns are parsed.
struct RawImport {
    id: i64,
    session_id: String,
    file_name: String,
    file_size: i64,
    scan_date: String,
    scope: String,
    started_by: String,
    started_at: String,
    finished_at: Option<String>,
    outcome: String,
    error: Option<String>,
    format: Option<String>,
    encoding: Option<String>,
    backfill: bool,
    counts: ImportCounts,
    timings: String,
    problems: String,
    cancelled_by: Option<String>,
    retry_of: Option<String>,
}

impl RawImport {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let count = |index: usize| row.get::<_, i64>(index).map(|count| count as u64);
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
        Ok(RawImport {
            id: row.get(0)?,
            session_id: row.get(1)?,
            file_name: row.get(2)?,
            file_size: row.get(3)?,
            scan_date: row.get(4)?,
            scope: row.get(5)?,
            started_by: row.get(6)?,
            started_at: row.get(7)?,
            finished_at: row.get(8)?,
            outcome: row.get(9)?,
            error: row.get(10)?,
            format: row.get(11)?,
            encoding: row.get(12)?,
            backfill: row.get(13)?,
            counts,
            timings: row.get(23)?,
            problems: row.get(24)?,
            cancelled_by: row.get(25)?,
            retry_of: row.get(26)?,
        })
    }

    fn into_record(self) -> Result<ImportRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("import {}: {what}", self.id));
        let outcome = Outcome::parse(&self.outcome).ok_or_else(|| corrupt("outcome"))?;
        let timings =
            serde_json::from_str::<PhaseTimings>(&self.timings).map_err(|_| corrupt("timings"))?;
        let duration_ms = duration_ms(
            outcome,
            &timings,
            &self.started_at,
            self.finished_at.as_deref(),
        );
        let retry_of = match &self.retry_of {
            Some(text) => Some(text.parse().map_err(|_| corrupt("retried session id"))?),
            None => None,
        };
        Ok(ImportRecord {
            id: self.id,
            retry_of,
            session_id: self.session_id.parse().map_err(|_| corrupt("session id"))?,
            scan_date: self.scan_date.parse().map_err(|_| corrupt("scan date"))?,
            scope: self.scope.parse().map_err(|_| corrupt("scope"))?,
            outcome,
            timings,
            duration_ms,
            problems: serde_json::from_str::<Problems>(&self.problems).unwrap_or_default(),
            counts: self.counts,
            file_name: self.file_name,
            file_size: self.file_size as u64,
            started_by: self.started_by,
            cancelled_by: self.cancelled_by,
            started_at: self.started_at,
            finished_at: self.finished_at,
            error: self.error,
            format: self.format,
            encoding: self.encoding,
            backfill: self.backfill,
        })
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_WAIT)?;
    conn.execute_batch(&format!(
        "PRAGMA page_size = 16384;
         PRAGMA journal_mode = WAL;
         PRAGMA journal_size_limit = {LOG_SIZE_LIMIT};
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    Ok(conn)
}

/// Loads the lists' index of the database at `path`, on a connection of its own.
fn loader(path: &Path) -> impl FnOnce() -> Result<ListIndex, StoreError> + Send + 'static {
    let path = path.to_owned();
    move || queries::load_list_index(&mut connect(&path)?)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Imports still `running` while their database's import lock is free were left by a process
/// that stopped; their TEMP staging vanished with it.
fn mark_interrupted(conn: &Connection) -> rusqlite::Result<u64> {
    let marked = conn.execute(
        "UPDATE imports SET outcome = 'interrupted', error = ?1, finished_at = ?2
         WHERE outcome = 'running'",
        params![INTERRUPTED, now()],
    )?;
    if marked > 0 {
        tracing::warn!(
            imports = marked,
            "marked imports left running as interrupted"
        );
    }
    Ok(marked as u64)
}

/// A database error as the store reports it: a cancel, a full disk, or a failure.
fn classify(error: rusqlite::Error, path: &Path) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => StoreError::Cancelled,
        Some(ErrorCode::DiskFull) => StoreError::DiskFull(format!(
            "the database {} (or SQLite's temporary files)",
            path.display()
        )),
        _ => StoreError::Database(Box::new(error)),
    }
}

/// A store error with SQLite's own errors classified (see [`classify`]).
fn classified(error: StoreError, path: &Path) -> StoreError {
    match error {
        StoreError::Database(cause) => match cause.downcast::<rusqlite::Error>() {
            Ok(error) => classify(*error, path),
            Err(other) => StoreError::Database(other),
        },
        other => other,
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(error))
    }
}

/// Folds the write-ahead log into the database and truncates it, so an import's log does not
/// keep its disk space. Best effort: readers still on an old snapshot make it wait (briefly)
/// or give up, and the next import tries again.
fn fold_log(conn: &Connection) {
    let folded = conn.busy_timeout(LOG_FOLD_WAIT).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        })
    });
    if let Err(error) = conn.busy_timeout(BUSY_WAIT) {
        tracing::warn!(%error, "could not restore the busy timeout");
    }
    match folded {
        Ok(0) => {}
        Ok(_) => tracing::debug!("the write-ahead log is in use; it is folded later"),
        Err(error) => tracing::warn!(%error, "could not fold the write-ahead log"),
    }
}
