//! The command line's work: `vulnimport import` with a terminal progress bar fed by the same
//! progress tracker the server uses (or, with `--server`, through a server: [`remote`]),
//! `vulnimport generate` for synthetic exports, [`export`] for the findings as CSV or JSON, and
//! [`accounts`] for `user` and `token`.

pub mod accounts;
pub mod export;
pub mod remote;

use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

use crate::domain::{Outcome, Scope};
use crate::generate::{GenerateOptions, write_tenable_export};
use crate::import::{ImportRequest, ImportSummary, run_import};
use crate::progress::{ProgressEvent, ProgressSink, ProgressTracker, TrackerSettings};
use crate::store::{self};

/// Who the history says started a local command-line import (which has no upload to keep).
pub const LOCAL_STARTER: &str = "cli";

/// `vulnimport import`'s options.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub scan_date: Option<NaiveDate>,
    pub scope: Scope,
    pub database_url: String,
    /// The import fails when more than this share of its rows is rejected.
    pub max_rejected_share: f64,
    /// Print one JSON summary instead of the progress bar and the text summary.
    pub json: bool,
    /// The longest field accepted (a local import; through a server, the server's own applies).
    pub max_field_bytes: usize,
}

/// Imports a file, showing progress on a terminal; Ctrl-C cancels cleanly.
pub async fn import(options: ImportOptions) -> anyhow::Result<ImportSummary> {
    std::fs::File::open(&options.file)
        .with_context(|| format!("cannot open {}", options.file.display()))?;
    let url = options.database_url.clone();
    let store = tokio::task::spawn_blocking(move || store::open(&url))
        .await?
        .with_context(|| format!("cannot open the database {}", options.database_url))?;
    let bar = TerminalBar::new(!options.json && std::io::stderr().is_terminal());
    let tracker = ProgressTracker::new(bar.clone(), TrackerSettings::default());
    let session_id = Uuid::new_v4();
    let cancel = tracker.create_session(session_id)?;
    let on_interrupt = {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                // An import that has just finished cannot be cancelled any more; nothing to do.
                tracker.request_cancel(session_id).ok();
            }
        })
    };
    let request = ImportRequest {
        file_name: display_name(&options.file),
        path: options.file,
        session_id,
        scan_date: options
            .scan_date
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
        scope: options.scope,
        started_by: LOCAL_STARTER.into(),
        canceller: Default::default(),
        max_rejected_share: options.max_rejected_share,
        max_field_bytes: options.max_field_bytes,
        retry_of: None,
    };
    let reporter = tracker.reporter(session_id);
    let summary =
        tokio::task::spawn_blocking(move || run_import(&*store, &request, &reporter, &cancel))
            .await?;
    on_interrupt.abort();
    Ok(summary)
}

/// The text printed after an import without `--json`.
pub fn describe(summary: &ImportSummary) -> String {
    let counts = &summary.counts;
    let seconds = summary.duration_ms as f64 / 1000.0;
    let rate = if seconds > 0.0 {
        counts.rows as f64 / seconds
    } else {
        0.0
    };
    let mut text = match summary.outcome {
        Outcome::Completed => format!(
            "Imported {} rows ({} records, {} duplicates, {} rejected) in {seconds:.2} s, {rate:.0} rows/s\n\
             {} new, {} updated, {} reopened, {} resolved{}",
            counts.rows,
            counts.records,
            counts.duplicates,
            counts.rejected,
            counts.new,
            counts.updated,
            counts.reopened,
            counts.resolved,
            if summary.backfill {
                " (backfill: an older scan date, so nothing was resolved or reopened)"
            } else {
                ""
            }
        ),
        Outcome::Cancelled => "Import cancelled; nothing was changed".to_owned(),
        _ => format!(
            "Import failed: {}\nNothing was changed.",
            summary.error.as_deref().unwrap_or("unknown error")
        ),
    };
    for bad in summary.rejected_rows.iter().take(10) {
        text.push_str(&format!("\n  line {}: {}", bad.line, bad.reason));
    }
    if counts.rejected > 10 {
        text.push_str(&format!("\n  … {} rejected rows in all", counts.rejected));
    }
    text
}

/// Writes a synthetic Tenable.io export.
pub fn generate(rows: u64, seed: u64, output: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let stats = write_tenable_export(BufWriter::new(file), &GenerateOptions::new(rows, seed))?;
    eprintln!(
        "Wrote {} rows ({} bytes, {} CVE ids, {} duplicate rows) to {}",
        stats.rows,
        stats.bytes,
        stats.cve_ids,
        stats.duplicate_rows,
        output.display()
    );
    Ok(())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A progress bar on standard error: phase, percentage, rate and ETA.
#[derive(Clone)]
pub(super) struct TerminalBar {
    bar: ProgressBar,
    started: Instant,
}

impl TerminalBar {
    pub(super) fn new(visible: bool) -> Arc<Self> {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(100), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:32}] {pos:>3}% {prefix:11} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Arc::new(TerminalBar {
            bar,
            started: Instant::now(),
        })
    }
}

impl ProgressSink for TerminalBar {
    fn deliver(&self, event: &ProgressEvent) {
        self.bar.set_position(u64::from(event.progress));
        self.bar.set_prefix(event.phase.as_str());
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let rows = event
            .data()
            .and_then(|data| data.get("rowsRead").and_then(|rows| rows.as_u64()));
        let mut message = event.message.clone();
        if let Some(rows) = rows {
            message.push_str(&format!(" · {:.0} rows/s", rows as f64 / elapsed));
        }
        if !event.phase.is_terminal() {
            match event.eta {
                Some(eta) => message.push_str(&format!(" · ETA {eta}s")),
                None => message.push_str(" · estimating the time left"),
            }
        }
        self.bar.set_message(message);
        if event.phase.is_terminal() {
            self.bar.finish_and_clear();
        }
    }

    fn cancelled(&self, _: Uuid) {
        self.bar.finish_and_clear();
    }
}
