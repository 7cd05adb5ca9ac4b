//! Storage: the interface imports and readers need from a database, and its backends.
//!
//! An import runs as an [`ImportRun`]: records are staged, then applied to the final tables in
//! one transaction (deduplication and lifecycle), then committed together with the import's
//! record. Until that commit nothing is visible; a cancel, an error or a crash leaves the final
//! tables as they were. One import applies at a time per database: [`Store::begin_import`] waits
//! for the database's import lock.
//!
//! Accounts (users, API tokens, web sessions) are part of every backend: [`Accounts`].
//!
//! Readers see committed state only: pages of findings ([`Store::list_findings`], filtered,
//! ordered and counted by one [`FindingQuery`], answered from an index in memory as of the
//! reader's snapshot: [`Lists`]), dashboard counts, the import history and the trends: the open
//! findings after each completed import ([`Store::import_trends`]).

pub mod accounts;
mod list_index;
mod pool;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::RowProblem;
use crate::domain::{Outcome, Record, Scope, Severity};
use crate::progress::{PastImport, Rates};
pub use accounts::Accounts;

/// What is known about an import when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewImport {
    pub session_id: Uuid,
    pub file_name: String,
    pub file_size: u64,
    pub scan_date: NaiveDate,
    pub scope: Scope,
    pub started_by: String,
    /// The import this one retries, from its kept upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<Uuid>,
}

/// Milliseconds spent in each phase (zero for a phase never reached).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PhaseTimings {
    pub parsing: u64,
    pub loading: u64,
    pub processing: u64,
    pub finalizing: u64,
}

impl PhaseTimings {
    /// The time spent in all phases.
    pub fn total(&self) -> u64 {
        self.parsing + self.loading + self.processing + self.finalizing
    }
}

/// The counts of an import's summary (import-semantics §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCounts {
    pub rows: u64,
    pub records: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub new: u64,
    pub updated: u64,
    pub reopened: u64,
    pub resolved: u64,
    pub warnings: u64,
}

/// Rows that were rejected and values that were dropped, with their lines (the first 100 each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Problems {
    pub rejected_rows: Vec<RowProblem>,
    pub warnings: Vec<RowProblem>,
}

/// How an import went, as written to its record when it ends.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub counts: ImportCounts,
    pub timings: PhaseTimings,
    pub problems: Problems,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub error: Option<String>,
    /// The account that cancelled the import, when one did.
    pub cancelled_by: Option<String>,
}

/// What applying the staged records did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub distinct: u64,
    pub new: u64,
    pub updated: u64,
    pub reopened: u64,
    pub resolved: u64,
    pub backfill: bool,
}

/// An import as recorded in the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRecord {
    pub id: i64,
    pub session_id: Uuid,
    pub file_name: String,
    pub file_size: u64,
    pub scan_date: NaiveDate,
    pub scope: Scope,
    /// The account that started it, or `cli` for a local command-line import.
    pub started_by: String,
    pub cancelled_by: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// How long it ran, in milliseconds: from its start to its end, except that an interrupted
    /// import's is the sum of its phase times (a crash leaves no end time: the record is marked
    /// at the next start). `None` while it runs. Every channel reports this figure.
    pub duration_ms: Option<u64>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub backfill: bool,
    pub counts: ImportCounts,
    pub timings: PhaseTimings,
    pub problems: Problems,
    /// The import this one retries (its session id), when it was started from a kept upload.
    pub retry_of: Option<Uuid>,
}

/// Which findings a list shows by state. `Open` = active or reopened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    Active,
    Resolved,
    Reopened,
    Open,
}

/// The order of a findings list, ascending or descending. Missing values come last either way;
/// every order ends with the finding id (in the same direction), so paging is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FindingSort {
    /// By seriousness (critical > high > medium > low > info), then VPR (a missing one ranks
    /// lowest), then state.
    #[default]
    Severity,
    Vpr,
    Cvss,
    /// By the name shown: hostname, else IP, else asset id.
    Host,
    Cve,
    Title,
    FirstSeen,
    LastSeen,
    State,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Resolved,
    Reopened,
}

/// A page of findings to list: filters (all optional, combined with "and"), order and page.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingQuery {
    pub state: Option<StateFilter>,
    pub severity: Option<Severity>,
    /// Case-insensitive substring over hostname, IP, asset id, CVE and title. Taken literally
    /// (`%` and `_` are no wildcards), trimmed; blank means no filter. Case folds ASCII only.
    pub text: Option<String>,
    pub sort: FindingSort,
    pub descending: bool,
    /// 1-based; 0 counts as 1.
    pub page: u32,
    /// Clamped to 1..=500.
    pub per_page: u32,
    /// Only the findings that import (by `imports.id`) added, resolved or reopened.
    pub changed_by: Option<(i64, Change)>,
}

impl Default for FindingQuery {
    fn default() -> Self {
        FindingQuery {
            state: None,
            severity: None,
            text: None,
            sort: FindingSort::Severity,
            descending: true,
            page: 1,
            per_page: 50,
            changed_by: None,
        }
    }
}

/// One finding as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    pub id: i64,
    /// The key's host: asset id, else IP, else hostname.
    pub host: String,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub asset_id: Option<String>,
    pub cve: Option<String>,
    pub plugin_id: Option<String>,
    pub title: Option<String>,
    pub family: Option<String>,
    pub severity: Severity,
    pub vpr: Option<f64>,
    pub cvss: Option<f64>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub os: Option<String>,
    /// `active`, `resolved` or `reopened`.
    pub state: String,
    pub first_seen: NaiveDate,
    pub last_seen: NaiveDate,
    pub resolved_date: Option<NaiveDate>,
}

/// One page of a list, with the number of items matching its filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// Counts for the dashboard: open findings by severity, all findings by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingStats {
    pub open_by_severity: SeverityCounts,
    pub active: u64,
    pub resolved: u64,
    pub reopened: u64,
    pub total: u64,
}

/// One completed import on the dashboard's trends: the open findings right after it, and what
/// it changed (import-semantics §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub session_id: Uuid,
    pub file_name: String,
    pub scan_date: NaiveDate,
    pub backfill: bool,
    /// Open findings (active or reopened) by severity once the import had committed.
    pub open_by_severity: SeverityCounts,
    /// Findings the import added.
    pub new: u64,
    pub resolved: u64,
    pub reopened: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the import was cancelled")]
    Cancelled,
    #[error("unsupported database URL \"{0}\"; use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    /// The database engine's own error, kept whole for the log.
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    #[error("database file error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection to the database server was lost: it stopped, restarted or went away.
    #[error("the connection to the database server was lost: {0}")]
    ConnectionLost(String),
    /// The disk holding the database (or its temporary files) is full.
    #[error("no space left on the disk holding {0}")]
    DiskFull(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A name that must be unique is taken.
    #[error("{0}")]
    Conflict(String),
}

/// A database that vulnimport imports into.
pub trait Store: Accounts + Send + Sync {
    /// Waits for the database's import lock (giving up when `cancel` fires), marks imports left
    /// running by a dead process as interrupted, and records this import as running.
    fn begin_import(
        &self,
        import: &NewImport,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn ImportRun>, StoreError>;

    /// Marks imports that a stopped process left running as interrupted (when no import is
    /// running now). Returns how many.
    fn recover_interrupted(&self) -> Result<u64, StoreError>;

    /// Records an import that ended before it began (cancelled while it waited in a queue, or
    /// left waiting by a server that stopped), so its history and status outlive the server's
    /// memory of it. An import that has a record already (it began) keeps that one.
    fn record_unstarted(
        &self,
        import: &NewImport,
        outcome: Outcome,
        error: &str,
        cancelled_by: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Milliseconds per byte and per record of each phase over the last few completed imports
    /// of this database (the basis of an import's time estimate); `None` before the first.
    fn recent_rates(&self) -> Result<Option<Rates>, StoreError>;

    /// The recorded import of a session, if any.
    fn import_by_session(&self, session_id: Uuid) -> Result<Option<ImportRecord>, StoreError>;

    /// One page of the findings that match a query's filters, in its order. A cancel stops the
    /// read within milliseconds (`StoreError::Cancelled`): nobody waits for its answer.
    fn list_findings(
        &self,
        query: &FindingQuery,
        cancel: &CancellationToken,
    ) -> Result<Page<FindingView>, StoreError>;

    /// Every finding that matches a query's filters, in its order (its page and page size do
    /// not apply), read from one snapshot and handed to `each` in turn until it answers `false`.
    /// Memory stays flat however many there are. A cancel stops the read
    /// (`StoreError::Cancelled`). Returns how many were handed over.
    fn export_findings(
        &self,
        query: &FindingQuery,
        cancel: &CancellationToken,
        each: &mut dyn FnMut(FindingView) -> bool,
    ) -> Result<u64, StoreError>;

    fn finding_stats(&self) -> Result<FindingStats, StoreError>;

    /// Import history, newest first (by id). `page` is 1-based; `per_page` is clamped to 1..=500.
    fn list_imports(&self, page: u32, per_page: u32) -> Result<Page<ImportRecord>, StoreError>;

    /// The last `limit` completed imports' trend points, oldest first (by id: commit order).
    fn import_trends(&self, limit: u32) -> Result<Vec<TrendPoint>, StoreError>;

    /// Leaves the database files tidy at shutdown (a write-ahead log folded into the database).
    fn close(&self);
}

/// One import in progress. Dropping it without [`ImportRun::commit`] applies nothing.
pub trait ImportRun: Send {
    /// Adds records to the staging area; within one import the last record of a key wins.
    fn stage(&mut self, records: &[Record]) -> Result<(), StoreError>;

    /// Applies the staging area to the final tables inside the import's transaction, reporting
    /// `(done, total, step)` before each step (`step` says what it does, for people). Nothing is
    /// visible to others until [`ImportRun::commit`].
    fn apply(&mut self, on_progress: &mut dyn FnMut(u64, u64, &str))
    -> Result<Applied, StoreError>;

    /// Commits the applied changes together with the import's record, reporting
    /// `(done, total, step)` before each step. After an error nothing was committed (the
    /// database is asked when the commit's own answer is unclear), and the run can still be
    /// abandoned.
    fn commit(
        &mut self,
        report: &ImportReport,
        applied: &Applied,
        on_progress: &mut dyn FnMut(u64, u64, &str),
    ) -> Result<(), StoreError>;

    /// Notes the time spent in each phase so far in the import's record, so that an import cut
    /// short by a crash keeps the time it ran. Best effort: skipped when the database is busy
    /// (it is, from the apply on).
    fn note_timings(&mut self, timings: &PhaseTimings);

    /// Discards everything staged or applied and records the import as failed or cancelled.
    fn abandon(self: Box<Self>, outcome: Outcome, report: &ImportReport) -> Result<(), StoreError>;
}

/// The embedded default: a SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/vulnimport.db";

/// Where lists of findings are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// An index in memory of every finding's listed columns, loaded in the background when the
    /// database has changed; until it is there, the findings table.
    Indexed,
    /// The findings table only.
    FromDatabase,
}

/// Opens the store a database URL names (`sqlite://PATH`, `sqlite:PATH` or a plain path, or
/// `postgres://…` / `postgresql://…`).
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, Lists::Indexed)
}

/// [`open`], with lists read as `lists` says.
pub fn open_with(url: &str, lists: Lists) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres(url) {
        return Ok(Arc::new(postgres::PostgresStore::open_with(url, lists)?));
    }
    let path = if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        PathBuf::from(path)
    } else if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    } else {
        PathBuf::from(url)
    };
    Ok(Arc::new(sqlite::SqliteStore::open_with(&path, lists)?))
}

/// Whether a database URL names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How many recent completed imports an import's time estimate learns from.
const RATE_HISTORY: u32 = 5;
const INTERRUPTED: &str = "the process stopped before the import finished";

/// How long an ended import ran: from its start to its end, or, when it was interrupted, the sum
/// of its phase times (a crash is marked at the next start, so its end time counts the time the
/// process was down; the pipeline notes its phase times as it goes).
fn duration_ms(
    outcome: Outcome,
    timings: &PhaseTimings,
    started_at: &str,
    finished_at: Option<&str>,
) -> Option<u64> {
    let finished = chrono::DateTime::parse_from_rfc3339(finished_at?).ok()?;
    if outcome == Outcome::Interrupted {
        return Some(timings.total());
    }
    let started = chrono::DateTime::parse_from_rfc3339(started_at).ok()?;
    Some((finished - started).num_milliseconds().max(0) as u64)
}

/// A completed import as its time estimate learns from it: its size, records and stored phase
/// times (`None` when those cannot be read).
fn past_import(file_size: i64, records: i64, timings: &str) -> Option<PastImport> {
    let timings: PhaseTimings = serde_json::from_str(timings).ok()?;
    Some(PastImport {
        file_size: file_size as u64,
        records: records as u64,
        elapsed_ms: [
            timings.parsing,
            timings.loading,
            timings.processing,
            timings.finalizing,
        ],
    })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}
