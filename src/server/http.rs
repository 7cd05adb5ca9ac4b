//! The HTTP API. JSON everywhere; errors are `{ "error": "…" }` with a proper status, and
//! internal causes stay in the log.
//!
//! Every route is listed once in [`routes`] with what it requires (see [`super::access`]).
//!
//! | route | does |
//! |---|---|
//! | `POST /api/imports` | multipart upload (`file`, optional `sessionId`, `scanDate`, `scope`), streamed to disk, queued; `202 { sessionId }` |
//! | `GET /api/imports` | import history, newest first, paginated |
//! | `GET /api/imports/{id}` | the newest progress event of an import, with its outcome |
//! | `POST /api/imports/{id}/cancel` | the socket's `cancelImport` over HTTP |
//! | `GET /api/imports/{id}/record` | the import's record: counts, timings, rejected rows |
//! | `GET /api/imports/{id}/findings?change=added\|resolved\|reopened` | what it changed |
//! | `GET /api/vulnerabilities` | findings: `state`, `severity`, `q`, `sort`, `order`, `page`, `perPage` |
//! | `GET /api/stats` | counts by severity and state |
//! | `GET /api/health`, `GET /metrics` | liveness; Prometheus text |
//! | `/api/session`, `/api/setup`, `/api/users`, `/api/tokens` | sign-in and accounts (see [`super::accounts`]) |

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Extension, Multipart, Path, Query, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde_json::{Value, json};
use socketioxide::layer::SocketIoLayer;
use tokio::io::AsyncWriteExt;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use super::access::{self, Access, Caller};
use super::queue::Job;
use super::realtime::{CancelRefused, parse_session_id};
use super::{App, accounts};
use crate::config::ServeConfig;
use crate::import::ImportRequest;
use crate::import::normalize::Severity;
use crate::store::accounts::Role;
use crate::store::{Change, FindingQuery, FindingSort, Scope, StateFilter, StoreError};

/// Multipart framing and the small fields may add this much to the file's own size.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
const MAX_PER_PAGE: u32 = 500;
const SPOOL_BUFFER_BYTES: usize = 1 << 20;
/// How long the rest of a refused upload is read before the connection is dropped.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

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
            "/api/vulnerabilities",
            Signed(Viewer),
            list_vulnerabilities,
        ),
        route(M::GET, "/api/stats", Signed(Viewer), stats),
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

pub fn router(app: App, socket_layer: SocketIoLayer) -> Router {
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
        .layer(socket_layer)
        .layer(middleware::from_fn_with_state(app.clone(), access::screen))
        .layer(access::cors(&app.config))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            access::security_headers,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// The API's error: a status and a message for the client.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Misdirected(String),
    TooManyRequests { message: String, retry_after: u64 },
    NotFound(String),
    Conflict(String),
    TooLarge(String),
    Forbidden(String),
    Unavailable(String),
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
            ApiError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
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
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> Self {
        ApiError::Internal(format!("upload spool: {error}"))
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn create_import(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let limit = app.config.max_upload_bytes;
    let too_large = || {
        ApiError::TooLarge(format!(
            "the file is larger than the {} upload limit",
            human_bytes(limit)
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    // A refused upload (too large, a bad field) is still read to its end (and thrown away,
    // within a bound): clients send the whole body before they read the answer, and would
    // otherwise see a broken connection instead of the refusal.
    let mut refusal = declared
        .is_some_and(|length| length > limit + MULTIPART_OVERHEAD)
        .then(too_large);
    let drain_until = tokio::time::Instant::now() + DRAIN_TIME;
    let interrupted = |error: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!(
            "the upload could not be read: {}",
            error.body_text()
        ))
    };
    let mut upload = None;
    let mut fields: HashMap<String, String> = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(interrupted)? {
        let name = field.name().unwrap_or_default().to_owned();
        if refusal.is_some() {
            discard(&mut field, drain_until).await;
            continue;
        }
        if name != "file" {
            match small_field(&mut field, &name).await {
                Ok(value) => {
                    fields.insert(name, value);
                }
                Err(error) => {
                    discard(&mut field, drain_until).await;
                    refusal = Some(error);
                }
            }
            continue;
        }
        let file_name = field
            .file_name()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or("upload.csv")
            .to_owned();
        let spool = tempfile::Builder::new()
            .prefix("upload-")
            .suffix(".csv")
            .tempfile_in(app.config.upload_dir())?;
        let (file, path) = spool.into_parts();
        // Multipart chunks are small; a large buffer turns them into few, large writes.
        let mut file = tokio::io::BufWriter::with_capacity(
            SPOOL_BUFFER_BYTES,
            tokio::fs::File::from_std(file),
        );
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(interrupted)? {
            size += chunk.len() as u64;
            if size > limit {
                refusal = Some(too_large());
                discard(&mut field, drain_until).await;
                break;
            }
            file.write_all(&chunk).await?;
        }
        if refusal.is_none() {
            file.flush().await?;
            upload = Some((file_name, path));
        }
    }
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let (file_name, path) = upload.ok_or_else(|| {
        ApiError::BadRequest(
            "no file in the upload: send the export in a multipart field named \"file\"".into(),
        )
    })?;
    let session_id = match fields.get("sessionId").filter(|id| !id.trim().is_empty()) {
        Some(text) => parse_session_id(text).map_err(ApiError::BadRequest)?,
        None => Uuid::new_v4(),
    };
    let scan_date = match fields
        .get("scanDate")
        .filter(|date| !date.trim().is_empty())
    {
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::BadRequest(format!(
                "scanDate {} is not a date; use YYYY-MM-DD",
                quoted(text)
            ))
        })?,
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
        return Err(ApiError::Conflict(format!(
            "session id {session_id} is already used by another import"
        )));
    }
    let starter = caller.require(Role::Analyst)?.identity.clone();
    let cancel = app.tracker.create_session(session_id).map_err(|_| {
        ApiError::Conflict(format!(
            "session id {session_id} is already used by another import"
        ))
    })?;
    let request = ImportRequest {
        path: path.to_path_buf(),
        file_name,
        session_id,
        scan_date,
        scope,
        started_by: starter.name.clone(),
        canceller: Default::default(),
        max_rejected_share: app.config.max_rejected_share,
        max_field_bytes: app.config.read_limits.max_field_bytes,
    };
    app.queue
        .enqueue(Job::new(request, starter.user_id, path, cancel));
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "sessionId": session_id })),
    ))
}

/// The upload's fields besides `file`, each at most [`MAX_FIELD_BYTES`].
const TEXT_FIELDS: [&str; 3] = ["sessionId", "scanDate", "scope"];
const MAX_FIELD_BYTES: usize = 1024;

/// Reads a small text field, refusing unknown fields and long values as they come in, so the
/// body never builds up in memory.
async fn small_field(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
) -> ApiResult<String> {
    if !TEXT_FIELDS.contains(&name) {
        return Err(ApiError::BadRequest(format!(
            "unknown field {}; an upload has file, sessionId, scanDate and scope",
            quoted(name)
        )));
    }
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|error| {
        ApiError::BadRequest(format!(
            "the upload could not be read: {}",
            error.body_text()
        ))
    })? {
        if value.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::BadRequest(format!(
                "the field {name} is longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value)
        .map_err(|_| ApiError::BadRequest(format!("the field {name} is not UTF-8 text")))
}

/// A value from a request as error messages show it: quoted and cut short.
fn quoted(text: &str) -> String {
    const SHOWN: usize = 40;
    let mut shown: String = text.chars().take(SHOWN).collect();
    if text.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

/// Reads and drops the rest of a field, until `deadline`.
async fn discard(field: &mut axum::extract::multipart::Field<'_>, deadline: tokio::time::Instant) {
    while let Ok(Ok(Some(_))) = tokio::time::timeout_at(deadline, field.chunk()).await {}
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
    }
}

async fn import_record(
    State(app): State<App>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let record = app
        .blocking(move |store| store.import_by_session(session_id))
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    Ok(Json(serde_json::to_value(record).unwrap_or_default()))
}

async fn import_findings(
    State(app): State<App>,
    Path(session_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let session_id = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let change: Change =
        parse_param(&params, "change", "added, resolved or reopened")?.unwrap_or(Change::Added);
    let record = app
        .blocking(move |store| store.import_by_session(session_id))
        .await?
        .ok_or_else(|| unknown_session(session_id))?;
    let mut query = finding_query(&params)?;
    query.changed_by = Some((record.id, change));
    let page = app
        .blocking(move |store| store.list_findings(&query))
        .await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

async fn list_imports(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (page, per_page) = paging(&params, 20)?;
    let history = app
        .blocking(move |store| store.list_imports(page, per_page))
        .await?;
    Ok(Json(serde_json::to_value(history).unwrap_or_default()))
}

async fn list_vulnerabilities(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let query = finding_query(&params)?;
    let page = app
        .blocking(move |store| store.list_findings(&query))
        .await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

async fn stats(State(app): State<App>) -> ApiResult<Json<Value>> {
    let stats = app.blocking(|store| store.finding_stats()).await?;
    Ok(Json(serde_json::to_value(stats).unwrap_or_default()))
}

/// Public, for probes: says the server answers, and nothing about its data.
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
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

fn unknown_session(session_id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no import with session id {session_id}"))
}

/// `state`, `severity`, `q`, `sort`, `order`, `page`, `perPage`.
fn finding_query(params: &HashMap<String, String>) -> ApiResult<FindingQuery> {
    let (page, per_page) = paging(params, 50)?;
    let descending = match params.get("order").map(|order| order.trim()) {
        None | Some("") => true,
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order \"{other}\" is not asc or desc"
            )));
        }
    };
    Ok(FindingQuery {
        state: parse_param::<StateFilter>(params, "state", "active, resolved, reopened or open")?,
        severity: match params.get("severity").map(|s| s.trim()) {
            None | Some("") => None,
            Some(text) => Some(Severity::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "severity \"{text}\" is not critical, high, medium, low or info"
                ))
            })?),
        },
        text: params
            .get("q")
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
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

fn paging(params: &HashMap<String, String>, default_per_page: u32) -> ApiResult<(u32, u32)> {
    let number = |name: &str, default: u32| -> ApiResult<u32> {
        match params.get(name).map(|value| value.trim()) {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::BadRequest(format!("{name} \"{text}\" is not a positive number"))
            }),
        }
    };
    Ok((
        number("page", 1)?,
        number("perPage", default_per_page)?.min(MAX_PER_PAGE),
    ))
}

/// A query parameter read as one of an enum's lower/camel-case names.
fn parse_param<T: serde::de::DeserializeOwned>(
    params: &HashMap<String, String>,
    name: &str,
    expected: &str,
) -> ApiResult<Option<T>> {
    match params.get(name).map(|value| value.trim()) {
        None | Some("") => Ok(None),
        Some(text) => serde_json::from_value(Value::String(text.to_owned()))
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{name} \"{text}\" is not {expected}"))),
    }
}

fn human_bytes(bytes: u64) -> String {
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
}
