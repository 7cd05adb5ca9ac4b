//! One import from file to final tables, through the design's phases:
//!
//! | phase      | share  | work                                                        |
//! |------------|--------|-------------------------------------------------------------|
//! | parsing    | 0–5    | one pass deciding the encoding; the header's columns       |
//! | loading    | 5–70   | rows parsed on a thread of their own, staged in batches    |
//! | processing | 70–95  | deduplicated records applied: new, updated, reopened, resolved |
//! | finalizing | 95–100 | the import's record written and everything committed       |
//!
//! Progress within a phase follows bytes read, or the steps of applying and committing. Every
//! report carries the time left ([`Eta`]), learned from this database's recent imports. A step
//! silent for a second is reported again every second with the time it has taken, so progress
//! never stalls without a word. The cancellation token is checked
//! between batches of a few thousand records and, inside the database, every few thousand steps,
//! so a cancel takes effect within well under a second; nothing is applied unless the import
//! completes.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::format::{ColumnMap, Format};
use super::reader::{CsvReader, Item};
use super::source::{self, TextEncoding};
use crate::domain::{Outcome, Record, RowProblem, Scope};
use crate::progress::{Eta, Phase, ProgressReporter, grouped};
use crate::store::{
    Applied, ImportCounts, ImportRecord, ImportReport, ImportRun, NewImport, PhaseTimings,
    Problems, Store, StoreError,
};

const BATCH_RECORDS: usize = 1024;
const KEPT_PROBLEMS: usize = 100;
/// A step silent for this long is reported again.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// While loading, the phase times so far are noted in the import's record this often.
const NOTE_EVERY: Duration = Duration::from_secs(1);

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub path: PathBuf,
    /// The name shown in the history (the uploaded name, or the file's own).
    pub file_name: String,
    pub session_id: Uuid,
    pub scan_date: NaiveDate,
    pub scope: Scope,
    /// The account that started it, or `cli` for a local command-line import.
    pub started_by: String,
    /// Who stops it, if someone does.
    pub canceller: Canceller,
    /// The import fails when more than this share of rows is rejected.
    pub max_rejected_share: f64,
    /// A row with a longer field is rejected (see [`CsvReader`]).
    pub max_field_bytes: usize,
    /// The import this one retries (a server's retry of a kept upload).
    pub retry_of: Option<Uuid>,
}

impl ImportRequest {
    pub const DEFAULT_MAX_REJECTED_SHARE: f64 = 0.10;
    pub const DEFAULT_MAX_FIELD_BYTES: usize = 16 << 20;
}

/// The earliest scan date accepted: scanner exports are younger.
const EARLIEST_SCAN_DATE: NaiveDate = NaiveDate::from_ymd_opt(1990, 1, 1).expect("a valid date");

/// Refuses a scan date that cannot be a scan's: before 1990, or more than a day ahead of today
/// (a day of slack for time zones). A date far in the future would make every later import a
/// backfill and freeze the lifecycle.
pub fn check_scan_date(date: NaiveDate) -> Result<NaiveDate, String> {
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    if date < EARLIEST_SCAN_DATE {
        Err(format!(
            "scan date {date} is before 1990; give the date the scan ran"
        ))
    } else if date > latest {
        Err(format!(
            "scan date {date} is in the future (the latest accepted is {latest}); give the date \
             the scan ran"
        ))
    } else {
        Ok(date)
    }
}

/// What ends an import stopped at a server shutdown: it is recorded as interrupted.
const STOPPED_BY_SHUTDOWN: &str = "stopped by a server shutdown; nothing was changed";

/// Who stops an import, noted before the cancel is signalled: an account (recorded with the
/// cancelled import) or the server shutting down (the import is then interrupted, not
/// cancelled).
#[derive(Debug, Clone, Default)]
pub struct Canceller(Arc<Mutex<Option<Stopper>>>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stopper {
    Account(String),
    Shutdown,
}

impl Canceller {
    pub fn set(&self, name: &str) {
        *crate::lock(&self.0) = Some(Stopper::Account(name.to_owned()));
    }

    pub fn set_shutdown(&self) {
        *crate::lock(&self.0) = Some(Stopper::Shutdown);
    }

    /// The account that cancelled, if one did.
    pub fn get(&self) -> Option<String> {
        match &*crate::lock(&self.0) {
            Some(Stopper::Account(name)) => Some(name.clone()),
            _ => None,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        *crate::lock(&self.0) == Some(Stopper::Shutdown)
    }
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub session_id: Uuid,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub backfill: bool,
    pub duration_ms: u64,
    pub timings: PhaseTimings,
    /// The export's format (`tenableIo`, `nessus`, `qualys`, `generic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The file's text encoding (`utf-8`, `windows-1252`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default)]
    pub rejected_rows: Vec<RowProblem>,
}

impl ImportSummary {
    /// One line for people: what the import changed.
    pub fn describe(&self) -> String {
        let counts = &self.counts;
        format!(
            "Import complete: {} new, {} updated, {} reopened, {} resolved",
            grouped(counts.new),
            grouped(counts.updated),
            grouped(counts.reopened),
            grouped(counts.resolved)
        )
    }
}

impl From<&ImportRecord> for ImportSummary {
    fn from(record: &ImportRecord) -> Self {
        ImportSummary {
            session_id: record.session_id,
            outcome: record.outcome,
            error: record.error.clone(),
            counts: record.counts,
            backfill: record.backfill,
            duration_ms: record.duration_ms.unwrap_or(0),
            timings: record.timings,
            format: record.format.clone(),
            encoding: record.encoding.clone(),
            rejected_rows: record.problems.rejected_rows.clone(),
        }
    }
}

/// Why an import did not complete.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Cancelled => Stop::Cancelled,
            other => Stop::Store(other),
        }
    }
}

impl From<std::io::Error> for Stop {
    fn from(error: std::io::Error) -> Self {
        Stop::Invalid(format!("cannot read the file: {error}"))
    }
}

/// Runs one import to its end and reports how it went. Never panics on bad input; every
/// outcome is recorded in the import history when the database is reachable.
pub fn run_import(
    store: &dyn Store,
    request: &ImportRequest,
    progress: &dyn ProgressReporter,
    cancel: &CancellationToken,
) -> ImportSummary {
    let started = Instant::now();
    let file_size = std::fs::metadata(&request.path).map_or(0, |meta| meta.len());
    let rates = store.recent_rates().unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read the recent imports' rates");
        None
    });
    let reporting = Reporting {
        reporter: progress,
        eta: Mutex::new(Eta::new(rates, file_size, started)),
        newest: Mutex::new(None),
    };
    let mut import = Import {
        request,
        reporting: &reporting,
        cancel,
        started,
        report: ImportReport::default(),
        applied: Applied::default(),
        format: None,
        encoding: None,
        current: Cell::new(None),
    };
    let outcome = std::thread::scope(|scope| {
        let (stop, stopped) = channel::<()>();
        let reporting = &reporting;
        scope.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT / 2) {
                reporting.beat();
            }
        });
        let outcome = import.run(store);
        drop(stop);
        outcome
    });
    import.finish(store, outcome)
}

/// The import's side of progress: the reporter, the time estimate, and the newest report,
/// which is repeated while its step is silent.
struct Reporting<'a> {
    reporter: &'a dyn ProgressReporter,
    eta: Mutex<Eta>,
    newest: Mutex<Option<Newest>>,
}

struct Newest {
    phase: Phase,
    done: u64,
    total: u64,
    message: String,
    data: Option<Value>,
    at: Instant,
}

impl Reporting<'_> {
    /// Reports `done` of `total` units of a phase's work, with the time left.
    fn report(&self, phase: Phase, done: u64, total: u64, message: String, data: Option<Value>) {
        let at = Instant::now();
        // Held while reporting, so a repeat never overtakes a newer report.
        let mut newest = crate::lock(&self.newest);
        let eta = crate::lock(&self.eta).estimate(at, phase, done, total);
        self.reporter.report(
            phase,
            phase.percent(done, total),
            message.clone(),
            eta,
            data.clone(),
        );
        *newest = Some(Newest {
            phase,
            done,
            total,
            message,
            data,
            at,
        });
    }

    /// Repeats the newest report, with the time its step has taken and a fresh estimate, once
    /// it is a heartbeat old.
    fn beat(&self) {
        let newest = crate::lock(&self.newest);
        let Some(newest) = newest.as_ref() else {
            return;
        };
        let now = Instant::now();
        let silent = now.duration_since(newest.at);
        if silent < HEARTBEAT {
            return;
        }
        let eta = crate::lock(&self.eta).estimate(now, newest.phase, newest.done, newest.total);
        self.reporter.report(
            newest.phase,
            newest.phase.percent(newest.done, newest.total),
            format!("{} ({} s)", newest.message, silent.as_secs()),
            eta,
            newest.data.clone(),
        );
    }
}

struct Import<'a> {
    request: &'a ImportRequest,
    reporting: &'a Reporting<'a>,
    cancel: &'a CancellationToken,
    started: Instant,
    report: ImportReport,
    applied: Applied,
    format: Option<Format>,
    encoding: Option<TextEncoding>,
    /// The phase under way and when it began, so an import that stops records the time it
    /// spent there too.
    current: Cell<Option<(Phase, Instant)>>,
}

/// The batches the parsing thread hands to the loading loop.
struct Batch {
    records: Vec<Record>,
    rows: u64,
    rejected: u64,
}

/// What the parsing thread found besides records.
#[derive(Default)]
struct ParseTotals {
    rows: u64,
    records: u64,
    rejected: u64,
    warnings: u64,
    problems: Problems,
}

impl Import<'_> {
    fn run(&mut self, store: &dyn Store) -> Result<(), (Option<Box<dyn ImportRun>>, Stop)> {
        self.report_progress(Phase::Parsing, 0, 1, "Starting the import".into(), None);
        let new_import = self.new_import();
        let file_size = new_import.file_size;
        let mut run = store
            .begin_import(&new_import, self.cancel)
            .map_err(|e| (None, e.into()))?;
        match self.stages(run.as_mut(), file_size) {
            Ok(()) => {}
            Err(stop) => return Err((Some(run), stop)),
        }
        let finalizing = Instant::now();
        self.report_progress(Phase::Finalizing, 0, 1, "Saving the import".into(), None);
        if self.cancel.is_cancelled() {
            return Err((Some(run), Stop::Cancelled));
        }
        self.report.timings.finalizing = finalizing.elapsed().as_millis() as u64;
        self.fill_report(None);
        // The record committed is what every channel reports: nothing about the import
        // changes after its commit.
        let committed = run.commit(&self.report, &self.applied, &mut |done, total, step| {
            self.report_progress(Phase::Finalizing, done, total, step.into(), None);
        });
        match committed {
            Ok(()) => Ok(()),
            Err(error) => Err((Some(run), error.into())),
        }
    }

    fn stages(&mut self, run: &mut dyn ImportRun, file_size: u64) -> Result<(), Stop> {
        let request = self.request;
        // Parsing: decide the encoding over the whole file, then read the header.
        let phase = Instant::now();
        let inspection = source::inspect(&request.path, |bytes| {
            self.report_progress(
                Phase::Parsing,
                bytes,
                file_size.max(1),
                "Checking the file".into(),
                Some(json!({ "bytesRead": bytes, "totalBytes": file_size })),
            );
            !self.cancel.is_cancelled()
        })
        .map_err(|e| Stop::Invalid(e.to_string()))?
        .ok_or(Stop::Cancelled)?;
        self.encoding = Some(inspection.encoding);
        let consumed = Arc::new(AtomicU64::new(0));
        let text = source::open_text(&request.path, &inspection, consumed.clone())?;
        let mut reader = CsvReader::new(text, request.max_field_bytes)?;
        let header = reader
            .read_header()?
            .ok_or_else(|| Stop::Invalid("the file has no header line".into()))?;
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let columns = ColumnMap::from_headers(&header).map_err(|e| Stop::Invalid(e.to_string()))?;
        self.format = Some(columns.format());
        self.report.timings.parsing = phase.elapsed().as_millis() as u64;
        run.note_timings(&self.report.timings);

        // Loading: rows parsed and normalised on their own thread, staged here.
        let phase = Instant::now();
        self.report_progress(Phase::Loading, 0, 1, "Loading rows".into(), None);
        let cancel = self.cancel.clone();
        let totals = std::thread::scope(|scope| -> Result<ParseTotals, Stop> {
            let (sender, batches) = sync_channel::<Batch>(2);
            let parser = scope.spawn(move || parse_rows(reader, &columns, sender, &cancel));
            let loaded = self.load(run, batches, &consumed, file_size);
            let totals = parser
                .join()
                .map_err(|_| Stop::Invalid("the file could not be parsed".into()))?;
            loaded?;
            totals.map_err(Stop::from)
        })?;
        if self.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        self.report.counts.rows = totals.rows;
        self.report.counts.records = totals.records;
        crate::lock(&self.reporting.eta).records(totals.records);
        self.report.counts.rejected = totals.rejected;
        self.report.counts.warnings = totals.warnings;
        self.report.problems = totals.problems;
        self.report.timings.loading = phase.elapsed().as_millis() as u64;
        run.note_timings(&self.report.timings);
        self.check_rejected_share()?;

        // Processing: deduplicated records applied to the final tables.
        let phase = Instant::now();
        self.report_progress(Phase::Processing, 0, 1, "Applying findings".into(), None);
        let applied = run.apply(&mut |done, total, step| {
            self.report_progress(
                Phase::Processing,
                done,
                total,
                step.into(),
                Some(json!({ "done": done, "total": total })),
            );
        })?;
        self.applied = applied;
        self.report.timings.processing = phase.elapsed().as_millis() as u64;
        Ok(())
    }

    fn load(
        &mut self,
        run: &mut dyn ImportRun,
        batches: Receiver<Batch>,
        consumed: &AtomicU64,
        file_size: u64,
    ) -> Result<(), Stop> {
        let (mut rows, mut records, mut rejected) = (0u64, 0u64, 0u64);
        let mut noted = Instant::now();
        for batch in batches {
            if self.cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            run.stage(&batch.records)?;
            if noted.elapsed() >= NOTE_EVERY {
                run.note_timings(&self.timings_so_far());
                noted = Instant::now();
            }
            rows += batch.rows;
            rejected += batch.rejected;
            records += batch.records.len() as u64;
            let bytes = consumed.load(Ordering::Relaxed);
            crate::lock(&self.reporting.eta).loaded(bytes, records);
            self.report_progress(
                Phase::Loading,
                bytes,
                file_size.max(1),
                format!("Loading rows: {} read", grouped(rows)),
                Some(json!({
                    "rowsRead": rows,
                    "records": records,
                    "rejected": rejected,
                    "bytesRead": bytes,
                    "totalBytes": file_size,
                })),
            );
        }
        Ok(())
    }

    /// Reports `done` of `total` units of a phase's work, with the time left.
    fn report_progress(
        &self,
        phase: Phase,
        done: u64,
        total: u64,
        message: String,
        data: Option<Value>,
    ) {
        if self
            .current
            .get()
            .is_none_or(|(current, _)| current != phase)
        {
            self.current.set(Some((phase, Instant::now())));
        }
        self.reporting.report(phase, done, total, message, data);
    }

    /// The time spent in each phase so far, the phase under way counted up to now.
    fn timings_so_far(&self) -> PhaseTimings {
        let mut timings = self.report.timings;
        if let Some((phase, since)) = self.current.get() {
            let slot = match phase {
                Phase::Parsing => &mut timings.parsing,
                Phase::Loading => &mut timings.loading,
                Phase::Processing => &mut timings.processing,
                Phase::Finalizing => &mut timings.finalizing,
                Phase::Complete | Phase::Error => return timings,
            };
            if *slot == 0 {
                *slot = since.elapsed().as_millis() as u64;
            }
        }
        timings
    }

    /// Gives the phase an import stopped in the time it spent there.
    fn time_stopped_phase(&mut self) {
        self.report.timings = self.timings_so_far();
    }

    fn check_rejected_share(&self) -> Result<(), Stop> {
        let counts = &self.report.counts;
        if counts.rows == 0 {
            return Err(Stop::Invalid(
                "the file has a header but no data rows; export the scan with its results".into(),
            ));
        }
        let allowed = self.request.max_rejected_share * counts.rows as f64;
        if counts.rejected as f64 > allowed {
            let examples: Vec<String> = self
                .report
                .problems
                .rejected_rows
                .iter()
                .take(3)
                .map(|bad| format!("line {}: {}", bad.line, bad.reason))
                .collect();
            return Err(Stop::Invalid(format!(
                "{} of {} rows could not be read (more than {}% allowed), e.g. {}; \
                 the import history lists the first {KEPT_PROBLEMS}",
                counts.rejected,
                counts.rows,
                (self.request.max_rejected_share * 100.0).round(),
                examples.join("; ")
            )));
        }
        Ok(())
    }

    /// Fills the report's counts from what was applied; an import that did not complete
    /// applied nothing (and its duplicates were never counted).
    fn fill_report(&mut self, error: Option<String>) {
        if error.is_some() {
            self.applied = Applied::default();
        }
        let counts = &mut self.report.counts;
        counts.duplicates = match error {
            None => counts.records.saturating_sub(self.applied.distinct),
            Some(_) => 0,
        };
        counts.new = self.applied.new;
        counts.updated = self.applied.updated;
        counts.reopened = self.applied.reopened;
        counts.resolved = self.applied.resolved;
        self.report.format = self.format.map(|format| format.as_str().to_owned());
        self.report.encoding = self.encoding.map(|encoding| encoding.as_str().to_owned());
        self.report.error = error;
    }

    fn new_import(&self) -> NewImport {
        let request = self.request;
        NewImport {
            session_id: request.session_id,
            file_name: request.file_name.clone(),
            file_size: std::fs::metadata(&request.path).map_or(0, |meta| meta.len()),
            scan_date: request.scan_date,
            scope: request.scope,
            started_by: request.started_by.clone(),
            retry_of: request.retry_of,
        }
    }

    fn finish(
        mut self,
        store: &dyn Store,
        result: Result<(), (Option<Box<dyn ImportRun>>, Stop)>,
    ) -> ImportSummary {
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Completed, None),
            Err((run, stop)) => {
                let (outcome, message) = match &stop {
                    Stop::Cancelled if self.request.canceller.is_shutdown() => {
                        (Outcome::Interrupted, STOPPED_BY_SHUTDOWN.to_owned())
                    }
                    Stop::Cancelled => (Outcome::Cancelled, "the import was cancelled".into()),
                    Stop::Invalid(message) => (Outcome::Failed, message.clone()),
                    Stop::Store(error) => {
                        tracing::error!(%error, session = %self.request.session_id, "import failed in the database");
                        let message = match error {
                            StoreError::DiskFull(_) => format!("{error}; nothing was changed"),
                            StoreError::ConnectionLost(_) => {
                                "the connection to the database was lost while applying the import (the database server stopped or restarted); nothing was changed"
                                    .to_owned()
                            }
                            _ => {
                                "the database failed while applying the import; nothing was changed"
                                    .to_owned()
                            }
                        };
                        (Outcome::Failed, message)
                    }
                };
                self.fill_report(Some(message.clone()));
                self.time_stopped_phase();
                if outcome == Outcome::Cancelled {
                    self.report.cancelled_by = self.request.canceller.get();
                }
                // An import that never began (cancelled or failed while it waited for the
                // database) is recorded all the same.
                let recorded = match run {
                    Some(run) => run.abandon(outcome, &self.report),
                    None => store.record_unstarted(
                        &self.new_import(),
                        outcome,
                        &message,
                        self.report.cancelled_by.as_deref(),
                    ),
                };
                if let Err(error) = recorded {
                    tracing::error!(%error, "could not record the import's outcome");
                }
                (outcome, Some(message))
            }
        };
        // The duration is the record's, so that every channel reports the same; the time
        // measured here stands in when the record cannot be read.
        let recorded = store
            .import_by_session(self.request.session_id)
            .ok()
            .flatten()
            .and_then(|record| record.duration_ms);
        let summary = ImportSummary {
            session_id: self.request.session_id,
            outcome,
            error: error.clone(),
            counts: self.report.counts,
            backfill: self.applied.backfill,
            duration_ms: recorded.unwrap_or_else(|| self.started.elapsed().as_millis() as u64),
            timings: self.report.timings,
            format: self.report.format.clone(),
            encoding: self.report.encoding.clone(),
            rejected_rows: self.report.problems.rejected_rows.clone(),
        };
        let data = serde_json::to_value(&summary).ok();
        match outcome {
            Outcome::Completed => self.reporting.reporter.report(
                Phase::Complete,
                100,
                summary.describe(),
                Some(0),
                data,
            ),
            Outcome::Cancelled => self.reporting.reporter.cancelled(),
            _ => self.reporting.reporter.report(
                Phase::Error,
                0,
                error.unwrap_or_default(),
                None,
                data,
            ),
        }
        summary
    }
}

/// Reads rows, normalises them into records and sends them in batches. Stops early when the
/// loading side goes away or the import is cancelled.
fn parse_rows<R: std::io::Read>(
    mut reader: CsvReader<R>,
    columns: &ColumnMap,
    sender: SyncSender<Batch>,
    cancel: &CancellationToken,
) -> Result<ParseTotals, std::io::Error> {
    let mut totals = ParseTotals::default();
    let mut batch = Batch::new();
    while let Some(item) = reader.next_item()? {
        totals.rows += 1;
        batch.rows += 1;
        let rejection = match item {
            Item::Row(row) => match columns.normalize(&row.fields, &mut batch.records) {
                Ok(warnings) => {
                    totals.warnings += warnings.len() as u64;
                    for reason in warnings {
                        keep(&mut totals.problems.warnings, row.line, reason);
                    }
                    None
                }
                Err(reason) => Some(RowProblem {
                    line: row.line,
                    reason: reason.to_string(),
                }),
            },
            Item::Malformed(bad) => Some(bad),
        };
        if let Some(bad) = rejection {
            totals.rejected += 1;
            batch.rejected += 1;
            keep(&mut totals.problems.rejected_rows, bad.line, bad.reason);
        }
        if batch.records.len() >= BATCH_RECORDS {
            totals.records += batch.records.len() as u64;
            if cancel.is_cancelled()
                || sender
                    .send(std::mem::replace(&mut batch, Batch::new()))
                    .is_err()
            {
                return Ok(totals);
            }
        }
    }
    totals.records += batch.records.len() as u64;
    // The loading side may have stopped already; its own error then tells why.
    let _ = sender.send(batch);
    Ok(totals)
}

impl Batch {
    fn new() -> Self {
        Batch {
            records: Vec::with_capacity(BATCH_RECORDS + 16),
            rows: 0,
            rejected: 0,
        }
    }
}

fn keep(list: &mut Vec<RowProblem>, line: u64, reason: String) {
    if list.len() < KEPT_PROBLEMS {
        list.push(RowProblem { line, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Messages(Mutex<Vec<(u8, String, Option<u64>)>>);

    impl ProgressReporter for Messages {
        fn report(
            &self,
            _: Phase,
            progress: u8,
            message: String,
            eta: Option<u64>,
            _: Option<Value>,
        ) {
            self.0.lock().unwrap().push((progress, message, eta));
        }
        fn cancelled(&self) {}
    }

    #[test]
    fn a_silent_step_is_reported_again_with_its_time() {
        let messages = Messages::default();
        let reporting = Reporting {
            reporter: &messages,
            eta: Mutex::new(Eta::new(None, 1_000, Instant::now())),
            newest: Mutex::new(None),
        };
        reporting.beat();
        reporting.report(
            Phase::Finalizing,
            1,
            3,
            "Committing the changes".into(),
            None,
        );
        reporting.beat();
        assert_eq!(messages.0.lock().unwrap().len(), 1);
        std::thread::sleep(HEARTBEAT);
        reporting.beat();
        let messages = messages.0.into_inner().unwrap();
        assert_eq!(
            messages,
            [
                (96, "Committing the changes".to_owned(), None),
                (96, "Committing the changes (1 s)".to_owned(), None),
            ]
        );
    }
}
