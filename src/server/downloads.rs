//! Downloads written as they are read: the findings export
//! (`GET /api/vulnerabilities/export?format=csv|json`, the list's filters and order) and an
//! import's report (`GET /api/imports/{id}/report?format=html|csv`).
//!
//! The store hands findings to a writer on a blocking thread; the writer sends the response body
//! in chunks through a small channel, so a client that reads slowly slows the read down instead
//! of filling memory. The response starts before the first finding is read (the CSV header or
//! the report's summary goes out at once). A client that goes away stops the read; an error
//! after the start cuts the body short (a download that fails, rather than a truncated file
//! that looks whole), and the cause is logged. At most [`AT_ONCE`] downloads are written at once
//! (each reads the database on its own connection, with its own cache and sort): one more is
//! answered `429` with `Retry-After`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use super::App;
use super::http::{ApiError, ApiResult, changed_by, finding_query, parse_param, unknown_session};
use super::realtime::parse_session_id;
use crate::export::report::{self, ReportFormat};
use crate::export::{self, ExportError, ExportFormat};
use crate::store::{Store, StoreError};

/// Bytes sent to the client at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting for the client at most.
const CHUNKS_AHEAD: usize = 4;
/// Downloads written at once.
pub(super) const AT_ONCE: usize = 4;
/// When a download refused for being one too many should be asked for again, in seconds.
const RETRY_AFTER: u64 = 5;

pub(super) async fn export_findings(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let format: ExportFormat = parse_param(&params, "format", "csv or json")?.unwrap_or_default();
    let mut query = finding_query(&params)?;
    query.changed_by = changed_by(&app, &params).await?;
    let permit = download_permit(&app)?;
    let file_name = format!(
        "vulnimport-findings-{}.{}",
        chrono::Local::now().format("%Y-%m-%d"),
        format.extension()
    );
    Ok(streamed(
        &app,
        permit,
        format.content_type(),
        &file_name,
        move |store, cancel, out| {
            export::export_findings(store, &query, format, cancel, out).map(drop)
        },
    ))
}

pub(super) async fn import_report(
    State(app): State<App>,
    Path(session_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let format: ReportFormat = parse_param(&params, "format", "html or csv")?.unwrap_or_default();
    let record = app
        .blocking(move |store| store.import_by_session(session_id))
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    let permit = download_permit(&app)?;
    let file_name = format!(
        "vulnimport-import-{}-{}.{}",
        record.scan_date,
        &session_id.simple().to_string()[..8],
        format.extension()
    );
    Ok(streamed(
        &app,
        permit,
        format.content_type(),
        &file_name,
        move |store, cancel, out| report::write_report(store, &record, format, cancel, out),
    ))
}

/// A place among the downloads written at once, or `429` when there is none.
fn download_permit(app: &App) -> ApiResult<OwnedSemaphorePermit> {
    Arc::clone(&app.downloads)
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests {
            message: format!("{AT_ONCE} downloads are being written; try again in a few seconds"),
            retry_after: RETRY_AFTER,
        })
}

/// A `200` response whose body `write` produces on a blocking thread (holding `permit` until it
/// ends), offered as a file.
fn streamed(
    app: &App,
    permit: OwnedSemaphorePermit,
    content_type: &'static str,
    file_name: &str,
    write: impl FnOnce(&dyn Store, &CancellationToken, &mut BodyWriter) -> Result<(), ExportError>
    + Send
    + 'static,
) -> Response {
    let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
    let cancel = CancellationToken::new();
    let store = Arc::clone(&app.store);
    let reading = cancel.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = BodyWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            sender,
        };
        let result = write(&*store, &reading, &mut out).and_then(|()| Ok(out.flush()?));
        match result {
            Ok(()) => {}
            // The client went away: nobody is left to tell.
            Err(ExportError::Store(StoreError::Cancelled)) => {}
            Err(ExportError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {}
            Err(error) => {
                tracing::error!(%error, "a download stopped before its end");
                // The body ends with an error: the client sees a failed download.
                let _ = out
                    .sender
                    .blocking_send(Err(io::Error::other(error.to_string())));
            }
        }
    });
    // Dropping the body (the client went away) cancels the read.
    let stop_when_dropped = cancel.drop_guard();
    let body = futures_util::stream::unfold(
        (receiver, stop_when_dropped),
        |(mut receiver, guard)| async move {
            let chunk = receiver.recv().await?;
            Some((chunk, (receiver, guard)))
        },
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The response body as a writer: bytes are gathered into chunks and sent to the client, waiting
/// while it is [`CHUNKS_AHEAD`] chunks behind. Fails with `BrokenPipe` once the client is gone.
struct BodyWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client stopped reading"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}
