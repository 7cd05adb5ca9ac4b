//! Who may do what, on every request.
//!
//! - [`screen`] runs on every request (API, web UI, Socket.IO): it refuses a `Host` other than
//!   `PUBLIC_URL`'s (DNS rebinding) and a foreign `Origin`, and refuses cross-site use of the
//!   session cookie: an `Origin` other than the server's own (or one listed in `CORS_ORIGINS`), or
//!   a state-changing request without `Origin`.
//! - [`Access`] is each route's requirement, checked by the route's own [`guard`] (see
//!   `http::routes`): public, or signed in with at least a role. Only a guarded route identifies
//!   its caller (a bearer token or the session cookie, see [`caller`]) and hands the handler a
//!   [`Caller`]; the Socket.IO handshake identifies its own. No credential answers 401, too low a
//!   role 403, both as JSON.
//! - [`security_headers`] adds the content security policy and its companions to every response.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use http_body_util::BodyExt;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::App;
use super::http::ApiError;
use crate::auth::{Authenticator, Credential, Refused};
use crate::config::ServeConfig;
use crate::store::accounts::{Identity, Role};

/// The web session's cookie.
pub const SESSION_COOKIE: &str = "vulnimport_session";

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a credential.
    Public,
    /// A signed-in account with at least this role.
    Signed(Role),
}

/// Who is calling, as [`authenticate`] found.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Refused(Refused),
    User(Principal),
}

/// A signed-in caller: the account and the credential it came with.
#[derive(Debug, Clone)]
pub struct Principal {
    pub identity: Identity,
    pub credential: Credential,
}

impl Principal {
    /// Why this principal may not do what needs `role`, if it may not (HTTP and socket alike).
    pub fn lacks(&self, role: Role) -> Option<String> {
        (self.identity.role < role).then(|| {
            format!(
                "this needs the {role} role; {} is {}",
                self.identity.name, self.identity.role
            )
        })
    }
}

impl Caller {
    /// The principal when it has at least `role`; otherwise the error to answer.
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        match self {
            Caller::User(principal) => match principal.lacks(role) {
                None => Ok(principal),
                Some(reason) => Err(ApiError::Forbidden(reason)),
            },
            Caller::Refused(Refused::Unavailable) => {
                Err(ApiError::Unavailable(Refused::Unavailable.to_string()))
            }
            Caller::Refused(reason) => Err(ApiError::Unauthorized(reason.to_string())),
            Caller::Anonymous => Err(ApiError::Unauthorized(Refused::Missing.to_string())),
        }
    }
}

/// The guard of a route: identifies the caller of a route that needs an account and lets the
/// request through when it meets `access`, with the [`Caller`] in its extensions.
pub async fn guard(
    State((app, access)): State<(App, Access)>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Access::Signed(role) = access {
        let caller = caller(&app.auth, request.headers());
        if let Err(refusal) = caller.require(role) {
            drain(request).await;
            return refusal.into_response();
        }
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}

/// Who sends these headers, now. One indexed lookup (and at most one use stamp that never
/// waits): cheaper inline than handed to the blocking pool.
pub fn caller(auth: &Authenticator, headers: &HeaderMap) -> Caller {
    let Some(credential) = credential(headers) else {
        return Caller::Anonymous;
    };
    match auth.identify(&credential) {
        Ok(identity) => Caller::User(Principal {
            identity,
            credential,
        }),
        Err(refused) => Caller::Refused(refused),
    }
}

/// How long the body of a refused request is read before the answer is sent.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads and drops a refused request's body (within [`DRAIN_TIME`]): clients send the whole body
/// before they read the answer, and would otherwise see a broken connection instead of the 401.
async fn drain(request: Request) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut body = request.into_body();
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, body.frame()).await {}
}

/// Applies the host and cross-site rules to every request; see the module's overview.
pub async fn screen(State(app): State<App>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(public) = &app.config.public_url
        && request.uri().path() != "/api/health"
    {
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            })
            .unwrap_or_default();
        let default_port = if public.https { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(host);
        if !host.eq_ignore_ascii_case(&public.host) {
            return ApiError::Misdirected(format!(
                "this server answers for {} only (PUBLIC_URL)",
                public.host
            ))
            .into_response();
        }
    }
    let origin = headers
        .get(header::ORIGIN)
        .map(|origin| origin.to_str().unwrap_or("(not text)").to_owned());
    let trust = origin
        .as_deref()
        .map(|origin| origin_trust(&app.config, headers, origin));
    if let (Some(origin), Some(OriginTrust::Foreign)) = (&origin, trust) {
        return ApiError::Forbidden(format!("requests from the origin {origin} are not allowed"))
            .into_response();
    }
    if let Some(Credential::Session(_)) = credential(headers)
        && let Some(refusal) = cookie_refusal(trust, request.method())
    {
        return refusal.into_response();
    }
    next.run(request).await
}

/// The session cookie counts only from the server's own pages (or origins listed on purpose):
/// any other `Origin`, or none on a request that changes something, is refused.
fn cookie_refusal(trust: Option<OriginTrust>, method: &Method) -> Option<ApiError> {
    match trust {
        Some(OriginTrust::Own) => None,
        Some(_) => Some(ApiError::Forbidden(
            "the session cookie is accepted only from this server's own pages".into(),
        )),
        None if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => None,
        None => Some(ApiError::Forbidden(
            "a request signed in by cookie that changes something must carry an Origin header"
                .into(),
        )),
    }
}

/// A bearer token wins over the session cookie.
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    if let Some(token) = bearer {
        return Some(Credential::Token(token));
    }
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|cookie| Credential::Session(cookie.value().to_owned()))
}

/// The session cookie for a new session: `HttpOnly`, `SameSite=Lax`, `Secure` behind https.
pub fn session_cookie(config: &ServeConfig, value: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.public_url.as_ref().is_some_and(|url| url.https))
        .build()
}

/// How far an `Origin` is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OriginTrust {
    /// The server's own (`PUBLIC_URL`'s, else `http://` and the request's `Host`), or listed in
    /// `CORS_ORIGINS`: may use the session cookie.
    Own,
    /// A localhost origin in development: may call the API with a token (tools under
    /// development), not with the cookie.
    Local,
    Foreign,
}

fn origin_trust(config: &ServeConfig, headers: &HeaderMap, origin: &str) -> OriginTrust {
    let own = match &config.public_url {
        Some(public) => public.origin.eq_ignore_ascii_case(origin),
        None => headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .is_some_and(|host| origin.eq_ignore_ascii_case(&format!("http://{host}"))),
    };
    let listed = config
        .cors_origins
        .iter()
        .any(|listed| listed.trim().eq_ignore_ascii_case(origin));
    if own || listed {
        OriginTrust::Own
    } else if !config.is_production() && is_localhost_origin(origin) {
        OriginTrust::Local
    } else {
        OriginTrust::Foreign
    }
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, on any port.
fn is_localhost_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => rest,
    };
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1"
    ) && (port.is_empty() || port.parse::<u16>().is_ok())
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .is_some_and(|port| port.parse::<u16>().is_ok())
}

/// Cross-origin access for the origins listed in `CORS_ORIGINS` (with the cookie) and, in
/// development, localhost ones (with a token).
pub fn cors(config: &ServeConfig) -> CorsLayer {
    let listed: Vec<String> = config
        .cors_origins
        .iter()
        .map(|origin| origin.trim().to_ascii_lowercase())
        .collect();
    let development = !config.is_production();
    CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            listed
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(origin))
                || (development && is_localhost_origin(origin))
        }))
}

/// The policy of every response. Scripts and styles come from this server only (no inline
/// code); images may also be `data:` URLs (Bootstrap's icons); nothing may frame the pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response, and `no-store` to API answers.
pub async fn security_headers(State(app): State<App>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    if app.config.public_url.as_ref().is_some_and(|url| url.https) {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    if api {
        set(header::CACHE_CONTROL, "no-store");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_origins_are_recognised_exactly() {
        for good in [
            "http://localhost",
            "http://localhost:5173",
            "https://127.0.0.1:8443",
            "http://[::1]:8080",
            "http://LOCALHOST:1",
        ] {
            assert!(is_localhost_origin(good), "{good}");
        }
        for bad in [
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com:80",
            "http://evil.com",
            "file://localhost",
            "http://localhost:99999",
            "http://[::1]evil",
            "null",
        ] {
            assert!(!is_localhost_origin(bad), "{bad}");
        }
    }

    fn config(args: &[&str]) -> ServeConfig {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: ServeConfig,
        }
        let args = std::iter::once("serve").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(args).unwrap().config
    }

    #[test]
    fn the_session_cookie_is_secure_behind_https() {
        let plain = session_cookie(&config(&[]), "v".into()).to_string();
        assert_eq!(
            plain,
            "vulnimport_session=v; HttpOnly; SameSite=Lax; Path=/"
        );
        let https = config(&["--public-url", "https://vulns.example.com"]);
        let secure = session_cookie(&https, "v".into()).to_string();
        assert!(secure.contains("; Secure"), "{secure}");
        assert!(secure.contains("HttpOnly") && secure.contains("SameSite=Lax"));
    }

    #[test]
    fn origins_are_own_local_or_foreign() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        let development = config(&[]);
        let trust = |config: &ServeConfig, origin| origin_trust(config, &headers, origin);
        assert_eq!(
            trust(&development, "http://127.0.0.1:8080"),
            OriginTrust::Own
        );
        assert_eq!(
            trust(&development, "https://127.0.0.1:8080"),
            OriginTrust::Local
        );
        assert_eq!(
            trust(&development, "http://evil.example"),
            OriginTrust::Foreign
        );
        let production = config(&[
            "--node-env",
            "production",
            "--cors-origins",
            "https://ui.example",
        ]);
        assert_eq!(
            trust(&production, "http://localhost:3000"),
            OriginTrust::Foreign
        );
        assert_eq!(trust(&production, "https://ui.example"), OriginTrust::Own);
        let public = config(&["--public-url", "https://vulns.example.com"]);
        assert_eq!(
            trust(&public, "http://127.0.0.1:8080"),
            OriginTrust::Local,
            "the Host no longer counts"
        );
        assert_eq!(
            trust(&public, "https://vulns.example.com"),
            OriginTrust::Own
        );
        assert!(cookie_refusal(Some(OriginTrust::Local), &Method::GET).is_some());
        assert!(cookie_refusal(None, &Method::POST).is_some());
        assert!(cookie_refusal(None, &Method::GET).is_none());
    }

    #[test]
    fn bearer_tokens_win_over_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; vulnimport_session=abc".parse().unwrap(),
        );
        assert_eq!(
            credential(&headers),
            Some(Credential::Session("abc".into()))
        );
        headers.insert(header::AUTHORIZATION, "Bearer vit_1_x".parse().unwrap());
        assert_eq!(
            credential(&headers),
            Some(Credential::Token("vit_1_x".into()))
        );
        headers.insert(header::AUTHORIZATION, "Basic dXNlcg==".parse().unwrap());
        assert_eq!(
            credential(&headers),
            Some(Credential::Session("abc".into())),
            "other schemes are ignored"
        );
    }
}
