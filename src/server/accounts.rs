//! Sign-in and account management over HTTP.
//!
//! | route | who | does |
//! |---|---|---|
//! | `POST /api/session` | anyone | `{ username, password }` → session cookie and `{ user }`; throttled |
//! | `GET /api/session` | signed in | `{ user }`: who the credential belongs to |
//! | `DELETE /api/session` | signed in | signs out (ends the cookie's session) |
//! | `PUT /api/session/password` | signed in | `{ currentPassword, newPassword }`; other sessions end |
//! | `POST /api/setup` | setup link | `{ token, username, password }`: the first admin, signed in |
//! | `GET/POST /api/users`, `PATCH/DELETE /api/users/{id}` | admin | accounts |
//! | `GET/POST /api/tokens`, `DELETE /api/tokens/{id}` | admin | API tokens (the secret shown once) |

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::OwnedSemaphorePermit;

use super::App;
use super::access::{Caller, Principal, SESSION_COOKIE, session_cookie};
use super::http::ApiError;
use crate::auth::{self, AccountError, Credential, password, secret};
use crate::lock;
use crate::store::accounts::{Identity, Role, UserChange};

type ApiResult<T> = Result<T, ApiError>;

/// How long the first-start setup link stays valid.
const SETUP_VALID_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// The one-time link that creates the first admin, while no account exists.
pub struct SetupLink {
    secret: String,
    expires: Instant,
}

impl SetupLink {
    pub fn new() -> (SetupLink, String) {
        let secret = secret::random();
        let link = SetupLink {
            secret: secret.clone(),
            expires: Instant::now() + SETUP_VALID_FOR,
        };
        (link, secret)
    }
}

/// The pending setup link, if any.
pub type PendingSetup = Mutex<Option<SetupLink>>;

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(message) => ApiError::BadRequest(message),
            AccountError::Conflict(message) => ApiError::Conflict(message),
            unknown @ AccountError::UnknownUser(_) => ApiError::NotFound(unknown.to_string()),
            AccountError::Store(error) => error.into(),
        }
    }
}

/// Runs account work on the blocking pool (argon2 takes tens of milliseconds).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("account task failed: {error}")))?
}

fn user_json(identity: &Identity) -> Value {
    json!({ "id": identity.user_id, "name": identity.name, "role": identity.role })
}

#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

const WRONG_CREDENTIALS: &str = "unknown user or wrong password";

/// Lets a password check for `account` from `peer` go ahead: throttled guesses wait, and at most
/// one argon2 computation per core runs at a time (each takes 19 MiB), so a burst of requests
/// cannot fill the memory. The permit is held until the check is done.
async fn password_check(
    app: &App,
    account: &str,
    peer: IpAddr,
) -> Result<OwnedSemaphorePermit, ApiError> {
    if let Err(wait) = app.throttle.attempt(account, peer) {
        let seconds = wait.as_secs() + 1;
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed sign-ins; try again in {seconds} s"),
            retry_after: seconds,
        });
    }
    hashing_permit(app).await
}

/// How long a password check waits for a free core before the server says it is too busy.
const HASHING_WAIT: Duration = Duration::from_secs(2);

/// A permit to hash or verify a password; waits up to [`HASHING_WAIT`] for one, then 429.
async fn hashing_permit(app: &App) -> Result<OwnedSemaphorePermit, ApiError> {
    let permit = Arc::clone(&app.password_work).acquire_owned();
    match tokio::time::timeout(HASHING_WAIT, permit).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::TooManyRequests {
            message: "the server is checking too many passwords at once; try again".into(),
            retry_after: 1,
        }),
    }
}

/// A user name as it may appear in the log: valid names as they are, anything else quoted
/// and cut, so input cannot forge log lines or fill the log.
fn loggable(name: &str) -> String {
    if auth::check_user_name(name).is_ok() {
        name.to_owned()
    } else {
        format!("{:?}", name.chars().take(64).collect::<String>())
    }
}

/// The client's address, as the throttle counts it (see `TRUSTED_PROXIES`).
fn client_address(app: &App, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    app.config.client_address(peer.ip(), forwarded)
}

pub async fn sign_in(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Json(body): Json<SignIn>,
) -> ApiResult<(CookieJar, Json<Value>)> {
    let name = body.username.trim().to_owned();
    let client = client_address(&app, peer, &headers);
    let permit = password_check(&app, &name, client).await?;
    let store = app.store.clone();
    let checked = name.clone();
    let account = blocking(move || {
        let account = store.credentials(&checked)?;
        let matches = password::verify(
            &body.password,
            account
                .as_ref()
                .map(|account| account.password_hash.as_str()),
        );
        drop(permit);
        Ok(account.filter(|_| matches))
    })
    .await?;
    let Some(account) = account else {
        tracing::warn!(user = %loggable(&name), %client, "failed sign-in");
        return Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into()));
    };
    app.throttle.succeeded(&name, client);
    if account.disabled {
        return Err(ApiError::Forbidden("this account is disabled".into()));
    }
    // A session the browser held before (perhaps planted) ends; the new one replaces it.
    let previous = jar
        .get(SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned());
    let auth = app.auth.clone();
    let user_id = account.identity.user_id;
    let value = blocking(move || {
        if let Some(previous) = previous {
            auth.end_session(&previous)?;
        }
        Ok(auth.start_session(user_id)?)
    })
    .await?;
    tracing::info!(user = %account.identity.name, "signed in");
    let jar = jar.add(session_cookie(&app.config, value));
    Ok((jar, Json(json!({ "user": user_json(&account.identity) }))))
}

pub async fn whoami(Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let principal = caller.require(Role::Viewer)?;
    let via = match principal.credential {
        Credential::Token(_) => "token",
        Credential::Session(_) => "session",
    };
    Ok(Json(
        json!({ "user": user_json(&principal.identity), "via": via }),
    ))
}

pub async fn sign_out(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    jar: CookieJar,
) -> ApiResult<(StatusCode, CookieJar)> {
    let principal = caller.require(Role::Viewer)?.clone();
    if let Credential::Session(value) = principal.credential {
        let auth = app.auth.clone();
        blocking(move || Ok(auth.end_session(&value)?)).await?;
        app.revalidate_sockets();
    }
    Ok((
        StatusCode::NO_CONTENT,
        jar.remove(Cookie::from(SESSION_COOKIE)),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Extension(caller): Extension<Caller>,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    let Principal {
        identity,
        credential,
    } = caller.require(Role::Viewer)?.clone();
    // The current password is guessed like a sign-in, and throttled like one.
    let client = client_address(&app, peer, &headers);
    let permit = password_check(&app, &identity.name, client).await?;
    let store = app.store.clone();
    let name = identity.name.clone();
    blocking(move || {
        let account = store
            .credentials(&identity.name)?
            .ok_or_else(|| ApiError::Unauthorized(WRONG_CREDENTIALS.into()))?;
        if !password::verify(&body.current_password, Some(&account.password_hash)) {
            return Err(ApiError::Forbidden(
                "the current password is not right".into(),
            ));
        }
        let keep = match &credential {
            Credential::Session(value) => Some(value.as_str()),
            Credential::Token(_) => None,
        };
        auth::set_password(&*store, identity.user_id, &body.new_password, keep)?;
        drop(permit);
        Ok(())
    })
    .await?;
    app.throttle.succeeded(&name, client);
    app.revalidate_sockets();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct SetUp {
    token: String,
    username: String,
    password: String,
}

pub async fn set_up(
    State(app): State<App>,
    jar: CookieJar,
    Json(body): Json<SetUp>,
) -> ApiResult<(StatusCode, CookieJar, Json<Value>)> {
    let invalid = || {
        ApiError::Forbidden("this setup link is not valid: it was used, it expired, or it is mistyped; `vulnimport user add` creates accounts from a shell".into())
    };
    // Taken while the admin is made, so two browsers cannot both use it.
    let link = {
        let mut pending = lock(&app.setup);
        let valid = pending.as_ref().is_some_and(|link| {
            link.expires > Instant::now()
                && bool::from(link.secret.as_bytes().ct_eq(body.token.trim().as_bytes()))
        });
        if !valid {
            return Err(invalid());
        }
        pending.take()
    };
    let permit = match hashing_permit(&app).await {
        Ok(permit) => permit,
        Err(busy) => {
            *lock(&app.setup) = link;
            return Err(busy);
        }
    };
    let store = app.store.clone();
    let auth = app.auth.clone();
    let created = blocking(move || {
        let _permit = permit;
        if store.count_users()? > 0 {
            return Err(ApiError::Conflict(
                "an account exists already; sign in instead".into(),
            ));
        }
        let user = auth::add_user(&*store, body.username.trim(), Role::Admin, &body.password)?;
        let value = auth.start_session(user.id)?;
        Ok((user, value))
    })
    .await;
    let (user, value) = match created {
        Ok(created) => created,
        Err(error) => {
            // A refused name or password may be corrected with the same link.
            if !matches!(error, ApiError::Conflict(_)) {
                *lock(&app.setup) = link;
            }
            return Err(error);
        }
    };
    tracing::info!(user = %user.name, "first admin created through the setup link");
    let identity = Identity {
        user_id: user.id,
        name: user.name,
        role: user.role,
    };
    Ok((
        StatusCode::CREATED,
        jar.add(session_cookie(&app.config, value)),
        Json(json!({ "user": user_json(&identity) })),
    ))
}

pub async fn list_users(State(app): State<App>) -> ApiResult<Json<Value>> {
    let users = app.blocking(|store| store.users()).await?;
    Ok(Json(json!(users)))
}

#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    role: Role,
    password: String,
}

pub async fn add_user(
    State(app): State<App>,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let permit = hashing_permit(&app).await?;
    let store = app.store.clone();
    let user = blocking(move || {
        let _permit = permit;
        Ok(auth::add_user(
            &*store,
            body.name.trim(),
            body.role,
            &body.password,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

#[derive(Deserialize)]
pub struct UserEdit {
    role: Option<Role>,
    disabled: Option<bool>,
    password: Option<String>,
}

pub async fn change_user(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(body): Json<UserEdit>,
) -> ApiResult<Json<Value>> {
    not_yourself(&caller, id)?;
    let permit = match body.password {
        Some(_) => Some(hashing_permit(&app).await?),
        None => None,
    };
    let store = app.store.clone();
    let user = blocking(move || {
        // Everything is checked first and applied in one change: a refused password leaves
        // the role and state as they were.
        let password_hash = body.password.as_deref().map(password::hash).transpose()?;
        drop(permit);
        let change = UserChange {
            role: body.role,
            disabled: body.disabled,
            password_hash,
            keep_session: None,
        };
        store
            .update_user(id, &change)?
            .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))
    })
    .await?;
    app.revalidate_sockets();
    Ok(Json(json!(user)))
}

pub async fn remove_user(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    not_yourself(&caller, id)?;
    let store = app.store.clone();
    blocking(move || {
        if store.remove_user(id)? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no user with id {id}")))
        }
    })
    .await?;
    app.revalidate_sockets();
    Ok(StatusCode::NO_CONTENT)
}

/// Admins change their own account from the account menu (their password, with the current
/// one), not here: they cannot lock themselves out or skip re-entering the password. The store
/// keeps at least one enabled admin besides.
fn not_yourself(caller: &Caller, id: i64) -> Result<(), ApiError> {
    if caller.require(Role::Admin)?.identity.user_id == id {
        return Err(ApiError::Conflict(
            "you cannot change or remove your own account here; another admin can, and your \
             password is changed from the account menu"
                .into(),
        ));
    }
    Ok(())
}

pub async fn list_tokens(State(app): State<App>) -> ApiResult<Json<Value>> {
    let tokens = app.blocking(|store| store.tokens()).await?;
    Ok(Json(json!(tokens)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    user: String,
    name: String,
    /// e.g. `90d`; never expires when absent.
    expires_in: Option<String>,
}

pub async fn create_token(
    State(app): State<App>,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let valid_for = body
        .expires_in
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(|text| {
            humantime::parse_duration(text).map_err(|_| {
                ApiError::BadRequest(format!(
                    "expiresIn {} is not a duration like 90d",
                    super::http::quoted(text)
                ))
            })
        })
        .transpose()?;
    let store = app.store.clone();
    let (token, secret) = blocking(move || {
        Ok(auth::create_token(
            &*store,
            body.user.trim(),
            &body.name,
            valid_for,
        )?)
    })
    .await?;
    let mut answer = json!(token);
    answer["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn revoke_token(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<Response> {
    let revoked = app.blocking(move |store| store.revoke_token(id)).await?;
    if !revoked {
        return Err(ApiError::NotFound(format!("no token with id {id}")));
    }
    app.revalidate_sockets();
    Ok(StatusCode::NO_CONTENT.into_response())
}
