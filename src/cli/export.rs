//! `vulnimport export`: the findings of a database, filtered and ordered as the web UI's list,
//! written as CSV or JSON to a file or standard output (see [`crate::export`]).
//!
//! A file is written beside its final name and renamed into place once complete, so a failed
//! or cancelled export never leaves a partial file that looks whole. Ctrl-C stops the read.

use std::io::{self, BufWriter};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::Severity;
use crate::export::{ExportError, ExportFormat, export_findings};
use crate::store::{
    self, Change, DEFAULT_DATABASE_URL, FindingQuery, FindingSort, StateFilter, StoreError,
};

/// `vulnimport export`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The file format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// Only findings in this state: active, resolved, reopened or open (active or reopened).
    #[arg(long, value_parser = named::<StateFilter>)]
    pub state: Option<StateFilter>,
    /// Only findings of this severity: critical, high, medium, low or info.
    #[arg(long, value_parser = severity)]
    pub severity: Option<Severity>,
    /// Only findings whose host, IP, asset id, CVE or title contains this text.
    #[arg(long)]
    pub search: Option<String>,
    /// The order: severity, vpr, cvss, host, cve, title, firstSeen, lastSeen or state.
    #[arg(long, value_parser = named::<FindingSort>, default_value = "severity")]
    pub sort: FindingSort,
    /// Smallest first instead of largest first.
    #[arg(long)]
    pub ascending: bool,
    /// Only the findings one import (by its session id) changed; with `--change`.
    #[arg(long, requires = "change")]
    pub import: Option<Uuid>,
    /// What that import did to them: added, resolved or reopened.
    #[arg(long, value_parser = named::<Change>, requires = "import")]
    pub change: Option<Change>,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DATABASE); the embedded SQLite file by default.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database: String,
    /// Where to write; standard output when not given or `-`.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A value named as the API names it (`open`, `firstSeen`, `reopened`, …).
fn named<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_owned()))
        .map_err(|_| format!("\"{text}\" is not one of the names listed in --help"))
}

fn severity(text: &str) -> Result<Severity, String> {
    Severity::parse(&text.trim().to_ascii_lowercase())
        .ok_or_else(|| format!("\"{text}\" is not critical, high, medium, low or info"))
}

/// Runs the export; returns how many findings were written. A cancel (Ctrl-C) is an error
/// that says so.
pub async fn export(args: ExportArgs) -> anyhow::Result<u64> {
    let cancel = CancellationToken::new();
    let on_interrupt = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let reading = cancel.clone();
    let written = tokio::task::spawn_blocking(move || run(args, &reading)).await?;
    on_interrupt.abort();
    written
}

fn run(args: ExportArgs, cancel: &CancellationToken) -> anyhow::Result<u64> {
    let store = store::open(&args.database)
        .with_context(|| format!("cannot open the database {}", args.database))?;
    let changed_by = match (args.import, args.change) {
        (Some(session_id), Some(change)) => {
            let record = store
                .import_by_session(session_id)?
                .with_context(|| format!("no import with session id {session_id}"))?;
            Some((record.id, change))
        }
        _ => None,
    };
    let query = FindingQuery {
        state: args.state,
        severity: args.severity,
        text: args.search,
        sort: args.sort,
        descending: !args.ascending,
        changed_by,
        ..FindingQuery::default()
    };
    let stopped = |error: ExportError| match error {
        ExportError::Store(StoreError::Cancelled) => anyhow::anyhow!("export cancelled"),
        other => anyhow::Error::new(other),
    };
    match args.output.filter(|path| path.as_os_str() != "-") {
        None => {
            let mut out = BufWriter::new(io::stdout().lock());
            match export_findings(&*store, &query, args.format, cancel, &mut out) {
                // The reader took what it wanted (`| head`): not an error.
                Err(ExportError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
                    Ok(0)
                }
                written => written.map_err(stopped),
            }
        }
        Some(path) => {
            let folder = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
                _ => PathBuf::from("."),
            };
            if path.is_dir() {
                bail!("{} is a folder; name a file", path.display());
            }
            let file = tempfile::Builder::new()
                .prefix(".vulnimport-export-")
                .tempfile_in(&folder)
                .with_context(|| format!("cannot write in {}", folder.display()))?;
            let mut out = BufWriter::new(file);
            let written =
                export_findings(&*store, &query, args.format, cancel, &mut out).map_err(stopped)?;
            let file = out.into_inner().map_err(|error| error.into_error())?;
            file.as_file().sync_all()?;
            file.persist(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(written)
        }
    }
}
