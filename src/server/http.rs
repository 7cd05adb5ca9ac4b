//! The HTTP API. JSON everywhere; errors are `{ "error": "…" }` with a proper status, and
//! internal causes stay in the log.
//!
//! Every route is listed once in [`routes`] with what it requires (see [`super::access`]).
//!
//! | route | does |
//! |---|---|
//! | `POST /api/imports` | multipart upload (`file`, optional `sessionId`, `scanDate`, `scope`), streamed to disk, queued; `202 { sessionId }` |
//! | `GET /api/imports` | import history, newest first, paginated |
//! | `GET /api/imports/active` | the imports in memory (queued, running, ended within minutes), each as `GET /api/imports/{id}` |
//! | `GET /api/imports/{id}` | the newest progress event of an import, with its outcome |
//! | `POST /api/imports/{id}/cancel` | the socket's `cancelImport` over HTTP |
//! | `POST /api/imports/{id}/retry` | an import that did not complete, again from its kept upload; `202 { sessionId, retryOf }` |
//! | `GET /api/imports/{id}/record` | the import's record: counts, timings, rejected rows |
//! | `GET /api/imports/{id}/findings?change=added\|resolved\|reopened` | what it changed |
//! | `GET /api/imports/{id}/report?format=html\|csv` | the import's report (see [`super::downloads`]) |
//! | `GET /api/vulnerabilities` | findings: `state`, `severity`, `q`, `sort`, `order`, `page`, `perPage`; `import` with `change` |
//! | `GET /api/vulnerabilities/export?format=csv\|json` | every finding of the list's filters, in its order, streamed |
//! | `GET /api/stats` | counts by severity and state |
//! | `GET /api/trends` | the last completed imports, oldest first: open findings by severity after each, what each changed |
//! | `GET /api/health`, `GET /metrics` | liveness; Prometheus text |
//! | `/api/session`, `/api/setup`, `/api/users`, `/api/tokens` | sign-in and accounts (see [`super::accounts`]) |

use std::collections::HashMap;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Multipart, Path, Query, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};
use chrono::NaiveDate;
use futures_util::StreamExt;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use tokio::io::AsyncWriteExt;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use super::access::{self, Access, Caller};
use super::queue::Job;
use super::realtime::{self, CancelRefused, parse_session_id};
use super::spool::Spooled;
use super::{App, accounts, downloads, retry};
use crate::config::ServeConfig;
use crate::domain::Scope;
use crate::domain::Severity;
use crate::import::{ImportRequest, check_scan_date};
use crate::store::Page;
use crate::store::accounts::Role;
use crate::store::{Change, FindingQuery, FindingSort, NewImport, StateFilter, StoreError};

/// Multipart framing and the small fields may add this much to the file's own size.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
const MAX_PER_PAGE: u32 = 500;
/// How many completed imports the trends show: two years of weekly scans.
const TREND_IMPORTS: u32 = 104;
const SPOOL_BUFFER_BYTES: usize = 1 << 20;
/// How long the rest of a refused upload is read before the connection is dropped.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);
/// At shutdown, how long an upload cut short is still read, so its client sees the answer.
const SHUTDOWN_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);
/// When a client refused at shutdown should try again, in seconds.
const SHUTDOWN_RETRY_AFTER: u64 = 30;

/// One route: method, path, what it requires, handler. The router is built from [`routes`]
/// alone, so every route states its access and the route-table test sees every route.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<App>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, App>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    Route {
        method,
        path,
        access,
        handler: on(filter, handler),
    }
}

/// Every route of the API. The web UI's files (the router's fallback) are public: they hold no
/// data, and the sign-in page needs them.
pub fn routes(config: &ServeConfig) -> Vec<Route> {
    use Access::{Public, Signed};
    use Method as M;
    use Role::{Admin, Analyst, Viewer};
    let metrics_access = if config.metrics_public {
        Public
    } else {
        Signed(Viewer)
    };
    let mut upload = route(M::POST, "/api/imports", Signed(Analyst), create_import);
    upload.handler = upload.handler.layer(DefaultBodyLimit::disable());
    vec![
        route(M::GET, "/api/health", Public, health),
        route(M::POST, "/api/session", Public, accounts::sign_in),
        route(M::GET, "/api/session", Signed(Viewer), accounts::whoami),
        route(
            M::DELETE,
            "/api/session",
            Signed(Viewer),
            accounts::sign_out,
        ),
        route(
            M::PUT,
            "/api/session/password",
            Signed(Viewer),
            accounts::change_password,
        ),
        route(M::POST, "/api/setup", Public, accounts::set_up),
        upload,
        route(M::GET, "/api/imports", Signed(Viewer), list_imports),
        route(
            M::GET,
            "/api/imports/active",
            Signed(Viewer),
            active_imports,
        ),
        route(
            M::GET,
            "/api/imports/{session_id}",
            Signed(Viewer),
            import_status,
        ),
        route(
            M::POST,
            "/api/imports/{session_id}/cancel",
            Signed(Analyst),
            cancel_import,
        ),
        route(
            M::POST,
            "/api/imports/{session_id}/retry",
            Signed(Analyst),
            retry::retry_import,
        ),
        route(
            M::GET,
            "/api/imports/{session_id}/record",
            Signed(Viewer),
            import_record,
        ),
        route(
            M::GET,
            "/api/imports/{session_id}/findings",
            Signed(Viewer),
            import_findings,
        ),
        route(
            M::GET,
            "/api/imports/{session_id}/report",
            Signed(Viewer),
            downloads::import_report,
        ),
        route(
            M::GET,
            "/api/vulnerabilities",
            Signed(Viewer),
            list_vulnerabilities,
        ),
        route(
            M::GET,
            "/api/vulnerabilities/export",
            Signed(Viewer),
            downloads::export_findings,
        ),
        route(M::GET, "/api/stats", Signed(Viewer), stats),
        route(M::GET, "/api/trends", Signed(Viewer), trends),
        route(M::GET, "/api/users", Signed(Admin), accounts::list_users),
        route(M::POST, "/api/users", Signed(Admin), accounts::add_user),
        route(
            M::PATCH,
            "/api/users/{id}",
            Signed(Admin),
            accounts::change_user,
        ),
        route(
            M::DELETE,
            "/api/users/{id}",
            Signed(Admin),
            accounts::remove_user,
        ),
        route(M::GET, "/api/tokens", Signed(Admin), accounts::list_tokens),
        route(
            M::POST,
            "/api/tokens",
            Signed(Admin),
            accounts::create_token,
        ),
        route(
            M::DELETE,
            "/api/tokens/{id}",
            Signed(Admin),
            accounts::revoke_token,
        ),
        route(M::GET, "/metrics", metrics_access, metrics),
    ]
}

pub fn router<A: Adapter>(app: App, socket_layer: SocketIoLayer<A>) -> Router {
    let mut router = Router::new();
    for Route {
        path,
        access,
        handler,
        ..
    } in routes(&app.config)
    {
        let guard = middleware::from_fn_with_state((app.clone(), access), access::guard);
        router = router.route(path, handler.layer(guard));
    }
    router
        // Unknown `/api/…` paths answer the JSON 404 (to signed-in callers only); other paths are
        // the embedded web UI's.
        .route(
            "/api/{*path}",
            axum::routing::any(not_found).layer(middleware::from_fn_with_state(
                (app.clone(), Access::Signed(Role::Viewer)),
                access::guard,
            )),
        )
        .fallback(super::web::serve)
        .layer(middleware::from_fn(json_errors))
        .layer(socket_layer)
        .layer(middleware::from_fn(realtime::handshake::check))
        .layer(middleware::from_fn_with_state(app.clone(), access::screen))
        .layer(access::cors(&app.config))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            access::security_headers,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Turns the API's errors that are not JSON yet (rejections of axum's extractors, such as a
/// malformed query or JSON body, and `405`) into `{ "error": … }` with their status.
async fn json_errors(request: axum::extract::Request, next: middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_ascii_lowercase()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The API's error: a status and a message for the client.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Misdirected(String),
    TooManyRequests {
        message: String,
        retry_after: u64,
    },
    NotFound(String),
    Conflict(String),
    /// What was asked for is no longer there: `410`.
    Gone(String),
    TooLarge(String),
    Forbidden(String),
    Unavailable(String),
    /// The server is stopping: `503` with `Retry-After`.
    ShuttingDown,
    /// A disk is full: `507`.
    InsufficientStorage(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Unauthorized(message) => (StatusCode::UNAUTHORIZED, message),
            ApiError::Misdirected(message) => (StatusCode::MISDIRECTED_REQUEST, message),
            ApiError::TooManyRequests {
                message,
                retry_after,
            } => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after.to_string())],
                    Json(json!({ "error": message })),
                )
                    .into_response();
            }
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, message),
            ApiError::Gone(message) => (StatusCode::GONE, message),
            ApiError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
            ApiError::ShuttingDown => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, SHUTDOWN_RETRY_AFTER.to_string())],
                    Json(json!({
                        "error": "the server is shutting down; the upload was not kept, send it again"
                    })),
                )
                    .into_response();
            }
            ApiError::InsufficientStorage(message) => (StatusCode::INSUFFICIENT_STORAGE, message),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not complete the request; details are in its log".into(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::DiskFull(_) => ApiError::InsufficientStorage(error.to_string()),
            StoreError::ConnectionLost(_) => ApiError::Unavailable(format!("{error}; try again")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

async fn create_import(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if app.stopping.is_cancelled() || !app.queue.is_open() {
        return Err(ApiError::ShuttingDown);
    }
    let starter = caller.require(Role::Analyst)?.identity.clone();
    // At shutdown an upload still arriving is cut after a moment, whatever it is doing.
    let cut = async {
        app.stopping.cancelled().await;
        tokio::time::sleep(SHUTDOWN_DRAIN_TIME).await;
    };
    let Upload {
        file_name,
        spooled,
        size,
        fields,
    } = tokio::select! {
        upload = receive_upload(&app, request) => upload?,
        () = cut => return Err(ApiError::ShuttingDown),
    };
    let session_id = match fields.get("sessionId").filter(|id| !id.trim().is_empty()) {
        Some(text) => parse_session_id(text).map_err(ApiError::BadRequest)?,
        None => Uuid::new_v4(),
    };
    let scan_date = match fields
        .get("scanDate")
        .filter(|date| !date.trim().is_empty())
    {
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "scanDate {} is not a date; use YYYY-MM-DD",
                    quoted(text)
                ))
            })
            .and_then(|date| check_scan_date(date).map_err(ApiError::BadRequest))?,
        None => chrono::Local::now().date_naive(),
    };
    let scope = match fields.get("scope").filter(|scope| !scope.trim().is_empty()) {
        Some(text) => text.parse::<Scope>().map_err(|_| {
            ApiError::BadRequest(format!(
                "scope {} is not \"full\" or \"hosts\"",
                quoted(text)
            ))
        })?,
        None => Scope::Full,
    };
    if app.status(session_id).await?.is_some() {
        return Err(session_taken(session_id));
    }
    let accepted = NewImport {
        session_id,
        file_name,
        file_size: size,
        scan_date,
        scope,
        started_by: starter.name.clone(),
        retry_of: None,
    };
    queue_accepted(&app, spooled, accepted, starter.user_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "sessionId": session_id })),
    ))
}

fn session_taken(session_id: Uuid) -> ApiError {
    ApiError::Conflict(format!(
        "session id {session_id} is already used by another import"
    ))
}

/// Queues an import of a spooled upload, started by the account `owner`. Written to disk beside
/// the upload before it is answered: an accepted import outlives a crash (the next start records
/// it as interrupted, see `spool`).
pub(super) async fn queue_accepted(
    app: &App,
    mut spooled: Spooled,
    accepted: NewImport,
    owner: i64,
) -> ApiResult<()> {
    let session_id = accepted.session_id;
    let upload_dir = app.config.upload_dir();
    let description = accepted.clone();
    spooled = tokio::task::spawn_blocking(move || spooled.accept(&description).map(|()| spooled))
        .await
        .map_err(|error| ApiError::Internal(format!("upload spool task: {error}")))?
        .map_err(|error| spool_error(error, &upload_dir))?;
    if let Some(cluster) = &app.cluster {
        match cluster.ledger.enqueue(&accepted, owner).await {
            Ok(true) => {}
            Ok(false) => return Err(session_taken(session_id)),
            // Refused before anyone watches it; the upload is deleted with the request.
            Err(error) => {
                tracing::error!(session = %session_id, %error, "could not add an import to the shared queue");
                return Err(ApiError::Unavailable(
                    "the shared import queue cannot be reached now; send the file again shortly"
                        .into(),
                ));
            }
        }
    }
    let Ok(cancel) = app.tracker.create_session(session_id) else {
        if let Some(cluster) = &app.cluster {
            cluster.ledger.remove(session_id).await.ok();
        }
        return Err(session_taken(session_id));
    };
    let request = ImportRequest {
        path: spooled.path().to_path_buf(),
        file_name: accepted.file_name,
        session_id,
        scan_date: accepted.scan_date,
        scope: accepted.scope,
        started_by: accepted.started_by,
        canceller: Default::default(),
        max_rejected_share: app.config.max_rejected_share,
        max_field_bytes: app.config.read_limits.max_field_bytes,
        retry_of: accepted.retry_of,
    };
    let job = Job::new(request, owner, spooled, cancel);
    if !app.queue.enqueue(job) {
        // The server began to stop meanwhile (the job and its upload are gone): its watchers
        // are told, and the client is asked to send it again.
        app.tracker.session_cancelled(session_id);
        return Err(ApiError::ShuttingDown);
    }
    Ok(())
}

/// An upload as received: its file spooled to disk, and its text fields.
struct Upload {
    file_name: String,
    spooled: Spooled,
    size: u64,
    fields: HashMap<String, String>,
}

/// Reads a multipart upload: the `file` part streamed to the upload folder (at most the upload
/// limit), the few text fields bounded, the framing between parts too (see [`FramingGuard`]),
/// so memory stays flat whatever the body. A refused upload (too large, a bad, unknown or
/// repeated field, two files, a full disk, shutdown) is still read to its end, within a bound,
/// and thrown away: clients send the whole body before they read the answer, and would
/// otherwise see a broken connection instead of the refusal.
async fn receive_upload(app: &App, request: axum::extract::Request) -> ApiResult<Upload> {
    let limit = app.config.max_upload_bytes;
    let upload_dir = &app.config.upload_dir();
    let too_large = || {
        ApiError::TooLarge(format!(
            "the file is larger than the {} upload limit",
            human_bytes(limit)
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut refusal = declared
        .is_some_and(|length| length > limit + MULTIPART_OVERHEAD)
        .then(too_large);
    let (parts, body) = request.into_parts();
    let guard = FramingGuard::default();
    let body = axum::body::Body::from_stream(guard.watch(body, limit + MULTIPART_OVERHEAD));
    let mut multipart =
        Multipart::from_request(axum::extract::Request::from_parts(parts, body), &())
            .await
            .map_err(|rejection| {
                ApiError::BadRequest(format!(
                    "the upload is not multipart/form-data: {}",
                    rejection.body_text()
                ))
            })?;
    let drain_until = tokio::time::Instant::now() + DRAIN_TIME;
    let interrupted = |error: MultipartError| guard.read_error(error);
    let mut upload = None;
    let mut fields: HashMap<String, String> = HashMap::new();
    loop {
        let next = if refusal.is_some() {
            // Drained for long enough, or unreadable: the refusal is answered.
            match tokio::time::timeout_at(drain_until, multipart.next_field()).await {
                Ok(Ok(next)) => next,
                _ => break,
            }
        } else {
            multipart.next_field().await.map_err(interrupted)?
        };
        let Some(mut field) = next else { break };
        guard.progressed();
        let name = field.name().unwrap_or_default().to_owned();
        if refusal.is_none() && app.stopping.is_cancelled() {
            upload = None;
            refusal = Some(ApiError::ShuttingDown);
        }
        if refusal.is_some() {
            discard(&mut field, &guard, drain_until).await;
            continue;
        }
        if name != "file" {
            match small_field(&mut field, &name, &guard).await {
                Ok(_) if fields.contains_key(&name) => {
                    refusal = Some(ApiError::BadRequest(format!(
                        "the field {name} is given more than once"
                    )));
                }
                Ok(value) => {
                    fields.insert(name, value);
                }
                Err(error) => {
                    discard(&mut field, &guard, drain_until).await;
                    refusal = Some(error);
                }
            }
            continue;
        }
        if upload.is_some() {
            upload = None;
            refusal = Some(ApiError::BadRequest(
                "the upload has more than one file; send one export per upload".into(),
            ));
            discard(&mut field, &guard, drain_until).await;
            continue;
        }
        let file_name = clean_file_name(field.file_name().unwrap_or_default());
        match spool_field(app, &mut field, &guard, upload_dir).await {
            Ok((spooled, size)) => upload = Some((file_name, spooled, size)),
            Err(error) => {
                discard(&mut field, &guard, drain_until).await;
                refusal = Some(match error {
                    SpoolStop::TooLarge => too_large(),
                    SpoolStop::ShuttingDown => ApiError::ShuttingDown,
                    SpoolStop::Unreadable(error) => interrupted(error),
                    SpoolStop::Disk(error) => spool_error(error, upload_dir),
                });
            }
        }
    }
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let (file_name, spooled, size) = upload.ok_or_else(|| {
        ApiError::BadRequest(
            "no file in the upload: send the export in a multipart field named \"file\"".into(),
        )
    })?;
    Ok(Upload {
        file_name,
        spooled,
        size,
        fields,
    })
}

/// Why a file part was not spooled whole.
enum SpoolStop {
    TooLarge,
    ShuttingDown,
    Unreadable(MultipartError),
    Disk(std::io::Error),
}

/// Streams the `file` part to a new spooled upload, at most the upload limit.
async fn spool_field(
    app: &App,
    field: &mut axum::extract::multipart::Field<'_>,
    guard: &FramingGuard,
    upload_dir: &std::path::Path,
) -> Result<(Spooled, u64), SpoolStop> {
    let (spooled, file) = Spooled::create(upload_dir).map_err(SpoolStop::Disk)?;
    // Multipart chunks are small; a large buffer turns them into few, large writes.
    let mut file = tokio::io::BufWriter::with_capacity(SPOOL_BUFFER_BYTES, file);
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(SpoolStop::Unreadable)? {
        guard.progressed();
        if app.stopping.is_cancelled() {
            return Err(SpoolStop::ShuttingDown);
        }
        size += chunk.len() as u64;
        if size > app.config.max_upload_bytes {
            return Err(SpoolStop::TooLarge);
        }
        file.write_all(&chunk).await.map_err(SpoolStop::Disk)?;
    }
    file.flush().await.map_err(SpoolStop::Disk)?;
    Ok((spooled, size))
}

/// Bounds what the multipart parser may hold: the whole body at most `limit` bytes, and at most
/// [`MAX_FRAMING_BYTES`] read without a part or a piece of one coming out (a preamble, a part's
/// headers or a boundary that never ends would otherwise be buffered whole).
#[derive(Clone, Default)]
struct FramingGuard {
    since_progress: Arc<AtomicU64>,
    /// Why the body was cut, once it was (the parser reports only that reading failed).
    cut: Arc<std::sync::OnceLock<String>>,
}

/// The most body read while the parser yields nothing.
const MAX_FRAMING_BYTES: u64 = 1 << 20;

impl FramingGuard {
    fn progressed(&self) {
        self.since_progress.store(0, Ordering::Relaxed);
    }

    /// What reading the body failed on: the guard's reason, else the parser's.
    fn read_error(&self, error: MultipartError) -> ApiError {
        let reason = match self.cut.get() {
            Some(reason) => reason.clone(),
            None => error.body_text(),
        };
        ApiError::BadRequest(format!("the upload could not be read: {reason}"))
    }

    /// `body`, cut when it breaks a bound: the rest is then read and dropped (for at most
    /// [`DRAIN_TIME`], so the client sees the answer) and the stream ends with the reason.
    fn watch(
        &self,
        body: axum::body::Body,
        limit: u64,
    ) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + use<> {
        let (since_progress, cut) = (Arc::clone(&self.since_progress), Arc::clone(&self.cut));
        let reason_at_end = Arc::clone(&self.cut);
        let mut total = 0u64;
        let mut drain_until = None;
        let checked = body.into_data_stream().filter_map(move |chunk| {
            let item = match chunk {
                Err(error) => Some(Err(std::io::Error::other(error))),
                Ok(_) if drain_until.is_some_and(|until| Instant::now() > until) => Some(Err(
                    std::io::Error::other(cut.get().cloned().unwrap_or_default()),
                )),
                Ok(_) if cut.get().is_some() => None,
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    let pending = since_progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    let reason = if total > limit {
                        Some("the body is larger than the upload limit".to_owned())
                    } else if pending + chunk.len() as u64 > MAX_FRAMING_BYTES {
                        Some(format!(
                            "no multipart part within {} of the body; the framing is broken",
                            human_bytes(MAX_FRAMING_BYTES)
                        ))
                    } else {
                        None
                    };
                    match reason {
                        None => Some(Ok(chunk)),
                        Some(reason) => {
                            let _ = cut.set(reason);
                            drain_until = Some(Instant::now() + DRAIN_TIME);
                            None
                        }
                    }
                }
            };
            std::future::ready(item)
        });
        let end = futures_util::stream::once(std::future::ready(())).filter_map(move |()| {
            std::future::ready(
                reason_at_end
                    .get()
                    .map(|reason| Err(std::io::Error::other(reason.clone()))),
            )
        });
        checked.chain(end)
    }
}

/// A spooling failure as the client is told it: a full disk by name, anything else logged.
pub(super) fn spool_error(error: std::io::Error, upload_dir: &std::path::Path) -> ApiError {
    if error.kind() == std::io::ErrorKind::StorageFull {
        ApiError::InsufficientStorage(format!(
            "no space left on the disk holding the upload folder {}; the upload was not kept",
            upload_dir.display()
        ))
    } else {
        ApiError::Internal(format!("upload spool in {}: {error}", upload_dir.display()))
    }
}

/// The longest file name kept, in characters.
const MAX_FILE_NAME_CHARS: usize = 200;

/// An uploaded file's name as the history shows it: its last path component, without control
/// or direction-changing characters, at most [`MAX_FILE_NAME_CHARS`] long (cut in the stem, keeping the extension).
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    // Control characters, and the invisible ones that reorder or hide text.
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    let clean: String = base.chars().filter(|&c| !hidden(c)).collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return "upload.csv".into();
    }
    if clean.chars().count() <= MAX_FILE_NAME_CHARS {
        return clean.to_owned();
    }
    let extension = clean
        .rsplit_once('.')
        .map(|(_, extension)| extension)
        .filter(|extension| extension.chars().count() <= 10)
        .map_or(String::new(), |extension| format!(".{extension}"));
    let keep = MAX_FILE_NAME_CHARS - 1 - extension.chars().count();
    let stem: String = clean.chars().take(keep).collect();
    format!("{stem}…{extension}")
}

/// The upload's fields besides `file`, each at most [`MAX_TEXT_FIELD_BYTES`].
const TEXT_FIELDS: [&str; 3] = ["sessionId", "scanDate", "scope"];
const MAX_TEXT_FIELD_BYTES: usize = 1024;

/// Reads a small text field, refusing unknown fields and long values as they come in, so the
/// body never builds up in memory.
async fn small_field(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    guard: &FramingGuard,
) -> ApiResult<String> {
    if !TEXT_FIELDS.contains(&name) {
        return Err(ApiError::BadRequest(format!(
            "unknown field {}; an upload has file, sessionId, scanDate and scope",
            quoted(name)
        )));
    }
    let mut value = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| guard.read_error(error))?
    {
        guard.progressed();
        if value.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::BadRequest(format!(
                "the field {name} is longer than {MAX_TEXT_FIELD_BYTES} bytes"
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value)
        .map_err(|_| ApiError::BadRequest(format!("the field {name} is not UTF-8 text")))
}

/// A value from a request as error messages show it: quoted and cut short.
pub(super) fn quoted(text: &str) -> String {
    const SHOWN: usize = 40;
    let mut shown: String = text.chars().take(SHOWN).collect();
    if text.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

/// Reads and drops the rest of a field, until `deadline`.
async fn discard(
    field: &mut axum::extract::multipart::Field<'_>,
    guard: &FramingGuard,
    deadline: tokio::time::Instant,
) {
    while let Ok(Ok(Some(_))) = tokio::time::timeout_at(deadline, field.chunk()).await {
        guard.progressed();
    }
}

async fn import_status(
    State(app): State<App>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let status = app
        .status(session_id)
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn cancel_import(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(session_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let by = &caller.require(Role::Analyst)?.identity;
    match app.request_cancel(session_id, by).await {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "ok": true, "sessionId": session_id })),
        )),
        Err(refused @ CancelRefused::Finished) => Err(ApiError::Conflict(refused.to_string())),
        Err(refused @ CancelRefused::Unknown) => Err(ApiError::NotFound(refused.to_string())),
        Err(refused @ CancelRefused::NotYours) => Err(ApiError::Forbidden(refused.to_string())),
        Err(refused @ CancelRefused::Unreachable) => {
            Err(ApiError::Unavailable(refused.to_string()))
        }
    }
}

async fn import_record(
    State(app): State<App>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let kept = Arc::clone(&app.kept);
    let entry = app
        .blocking(move |store| {
            Ok(store
                .import_by_session(session_id)?
                .map(|record| kept.describe(record)))
        })
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    Ok(Json(serde_json::to_value(entry).unwrap_or_default()))
}

async fn import_findings(
    State(app): State<App>,
    Path(session_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let change: Change =
        parse_param(&params, "change", "added, resolved or reopened")?.unwrap_or(Change::Added);
    let import_id = import_id(&app, session_id).await?;
    let mut query = finding_query(&params)?;
    query.changed_by = Some((import_id, change));
    let page = app.findings(query).await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

async fn list_imports(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (page, per_page) = paging(&params, 20)?;
    let kept = Arc::clone(&app.kept);
    let history = app
        .blocking(move |store| {
            let page = store.list_imports(page, per_page)?;
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|record| kept.describe(record))
                    .collect(),
                total: page.total,
                page: page.page,
                per_page: page.per_page,
            })
        })
        .await?;
    Ok(Json(serde_json::to_value(history).unwrap_or_default()))
}

async fn active_imports(State(app): State<App>) -> Json<Value> {
    Json(json!({ "imports": app.active_imports() }))
}

async fn list_vulnerabilities(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut query = finding_query(&params)?;
    query.changed_by = changed_by(&app, &params).await?;
    let page = app.findings(query).await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

/// `import` (a session id) with `change` (`added`, `resolved` or `reopened`): only the findings
/// that import changed that way.
pub(super) async fn changed_by(
    app: &App,
    params: &HashMap<String, String>,
) -> ApiResult<Option<(i64, Change)>> {
    let change: Option<Change> = parse_param(params, "change", "added, resolved or reopened")?;
    let import = params
        .get("import")
        .map(|id| id.trim())
        .filter(|id| !id.is_empty());
    let (import, change) = match (import, change) {
        (None, None) => return Ok(None),
        (Some(import), Some(change)) => (import, change),
        (Some(_), None) => {
            return Err(ApiError::BadRequest(
                "import needs change: added, resolved or reopened".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::BadRequest(
                "change needs import: the session id of an import".into(),
            ));
        }
    };
    let session_id = parse_session_id(import).map_err(ApiError::BadRequest)?;
    Ok(Some((import_id(app, session_id).await?, change)))
}

/// The record id of the import of a session; `404` when there is none.
async fn import_id(app: &App, session_id: Uuid) -> ApiResult<i64> {
    let record = app
        .blocking(move |store| store.import_by_session(session_id))
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    Ok(record.id)
}

async fn stats(State(app): State<App>) -> ApiResult<Json<Value>> {
    let stats = app.blocking(|store| store.finding_stats()).await?;
    Ok(Json(serde_json::to_value(stats).unwrap_or_default()))
}

async fn trends(State(app): State<App>) -> ApiResult<Json<Value>> {
    let points = app
        .blocking(|store| store.import_trends(TREND_IMPORTS))
        .await?;
    Ok(Json(json!({ "points": points })))
}

/// Public, for probes: says the server answers, and nothing about its data. With other
/// instances, `degraded` and why while this one cannot work with them (Redis away, its lease not
/// renewed); it still serves, so it stays in the balancer's rotation.
async fn health(State(app): State<App>) -> Json<Value> {
    match app
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.unavailable())
    {
        Some(reason) => Json(json!({ "status": "degraded", "reason": reason })),
        None => Json(json!({ "status": "ok" })),
    }
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(app.tracker.active_sessions()),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub(super) fn unknown_session(session_id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no import with session id {session_id}"))
}

/// `state`, `severity`, `q`, `sort`, `order`, `page`, `perPage`.
pub(super) fn finding_query(params: &HashMap<String, String>) -> ApiResult<FindingQuery> {
    let (page, per_page) = paging(params, 50)?;
    let descending = match params.get("order").map(|order| order.trim()) {
        None | Some("") => true,
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order {} is not asc or desc",
                quoted(other)
            )));
        }
    };
    Ok(FindingQuery {
        state: parse_param::<StateFilter>(params, "state", "active, resolved, reopened or open")?,
        severity: match params.get("severity").map(|s| s.trim()) {
            None | Some("") => None,
            Some(text) => Some(Severity::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "severity {} is not critical, high, medium, low or info",
                    quoted(text)
                ))
            })?),
        },
        text: search_text(params)?,
        sort: parse_param::<FindingSort>(
            params,
            "sort",
            "severity, vpr, cvss, host, cve, title, firstSeen, lastSeen or state",
        )?
        .unwrap_or_default(),
        descending,
        page,
        per_page,
        changed_by: None,
    })
}

/// The longest search text, in characters.
const MAX_SEARCH_CHARS: usize = 200;

/// The `q` parameter: trimmed, blank meaning none; control characters (which no stored value
/// holds) and overlong texts are refused.
fn search_text(params: &HashMap<String, String>) -> ApiResult<Option<String>> {
    let Some(text) = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if text.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "q holds a control character; search for printable text".into(),
        ));
    }
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q is longer than {MAX_SEARCH_CHARS} characters"
        )));
    }
    Ok(Some(text.to_owned()))
}

fn paging(params: &HashMap<String, String>, default_per_page: u32) -> ApiResult<(u32, u32)> {
    let number = |name: &str, default: u32| -> ApiResult<u32> {
        match params.get(name).map(|value| value.trim()) {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::BadRequest(format!("{name} {} is not a positive number", quoted(text)))
            }),
        }
    };
    Ok((
        number("page", 1)?,
        number("perPage", default_per_page)?.min(MAX_PER_PAGE),
    ))
}

/// A query parameter read as one of an enum's lower/camel-case names.
pub(super) fn parse_param<T: serde::de::DeserializeOwned>(
    params: &HashMap<String, String>,
    name: &str,
    expected: &str,
) -> ApiResult<Option<T>> {
    match params.get(name).map(|value| value.trim()) {
        None | Some("") => Ok(None),
        Some(text) => serde_json::from_value(Value::String(text.to_owned()))
            .map(Some)
            .map_err(|_| {
                ApiError::BadRequest(format!("{name} {} is not {expected}", quoted(text)))
            }),
    }
}

pub(super) fn human_bytes(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{:.0} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_say_them() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(5 << 20), "5 MiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn finding_queries_are_validated() {
        let params = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let query = finding_query(&params(&[
            ("state", "open"),
            ("severity", "High"),
            ("q", " web "),
            ("sort", "lastSeen"),
            ("order", "asc"),
            ("page", "3"),
            ("perPage", "9999"),
        ]))
        .unwrap();
        assert_eq!(query.state, Some(StateFilter::Open));
        assert_eq!(query.severity, Some(Severity::High));
        assert_eq!(query.text.as_deref(), Some("web"));
        assert_eq!(query.sort, FindingSort::LastSeen);
        assert!(!query.descending);
        assert_eq!((query.page, query.per_page), (3, MAX_PER_PAGE));
        for bad in [
            ("state", "gone"),
            ("severity", "urgent"),
            ("sort", "colour"),
            ("order", "up"),
            ("page", "0"),
            ("perPage", "x"),
        ] {
            assert!(finding_query(&params(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uploaded_file_names_are_cleaned_and_capped() {
        assert_eq!(clean_file_name("C:\\scans\\week 3.csv"), "week 3.csv");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("scan\u{202e}vsc.exe\n"), "scanvsc.exe");
        assert_eq!(clean_file_name(" \t"), "upload.csv");
        let long = clean_file_name(&format!("{}.csv.gz", "n".repeat(200_000)));
        assert_eq!(long.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(long.ends_with("n….gz"), "{long}");
    }
}
