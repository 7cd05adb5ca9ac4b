//! Checks a WebSocket upgrade of the Socket.IO transport before Engine.IO answers it: Engine.IO
//! switches protocols for any `Sec-WebSocket-Key`, so a request that is not a valid WebSocket
//! handshake (RFC 6455 §4.2.1: `Upgrade: websocket`, and a key that is 16 bytes in base64) is
//! answered `400` with the API's JSON error here instead.
//!
//! Engine.IO keeps the URI and headers of the request that opened a connection for the socket's
//! whole life. As hyper parses them they are slices of the connection's 16 KiB read buffer, which
//! they would keep alive for every connected watcher: they are copied out first ([`detach`]).

use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::server::http::ApiError;

/// Where Socket.IO is served (socketioxide's default path).
const SOCKET_IO_PATH: &str = "/socket.io";

/// The middleware: refuses invalid WebSocket handshakes to [`SOCKET_IO_PATH`], and detaches
/// the requests Engine.IO may keep.
pub async fn check(mut request: Request, next: Next) -> Response {
    if !is_socket_io(&request) {
        return next.run(request).await;
    }
    if asks_for_websocket(&request)
        && let Err(problem) = valid_handshake(request.headers())
    {
        tracing::debug!(%problem, "WebSocket handshake refused");
        return ApiError::BadRequest(format!("invalid WebSocket handshake: {problem}"))
            .into_response();
    }
    detach(&mut request);
    next.run(request).await
}

fn is_socket_io(request: &Request) -> bool {
    request
        .uri()
        .path()
        .strip_prefix(SOCKET_IO_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Replaces a request's URI and headers with copies of their own.
fn detach(request: &mut Request) {
    let headers: HeaderMap = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_ref()).unwrap_or_else(|_| name.clone());
            let value = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
            (name, value)
        })
        .collect();
    *request.headers_mut() = headers;
    if let Ok(uri) = Uri::try_from(request.uri().to_string()) {
        *request.uri_mut() = uri;
    }
    if let Some(OriginalUri(original)) = request.extensions_mut().get_mut::<OriginalUri>()
        && let Ok(uri) = Uri::try_from(original.to_string())
    {
        *original = uri;
    }
}

/// A request for the Socket.IO WebSocket transport (Engine.IO reads the first `transport=`).
fn asks_for_websocket(request: &Request) -> bool {
    is_socket_io(request)
        && request.uri().query().is_some_and(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("transport="))
                == Some("websocket")
        })
}

fn valid_handshake(headers: &HeaderMap) -> Result<(), &'static str> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !upgrade
        .split(',')
        .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"))
    {
        return Err("the request does not ask to upgrade to websocket");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("Sec-WebSocket-Key is missing")?;
    match STANDARD.decode(key.as_bytes()) {
        Ok(nonce) if nonce.len() == 16 => Ok(()),
        _ => Err("Sec-WebSocket-Key must be 16 bytes in base64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(upgrade: Option<&str>, key: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(upgrade) = upgrade {
            headers.insert(header::UPGRADE, HeaderValue::from_str(upgrade).unwrap());
        }
        if let Some(key) = key {
            headers.insert(
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_str(key).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn keys_are_sixteen_bytes_in_base64() {
        // The example key of RFC 6455.
        let valid = "dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(
            valid_handshake(&headers(Some("websocket"), Some(valid))),
            Ok(())
        );
        assert_eq!(
            valid_handshake(&headers(Some("WebSocket"), Some(valid))),
            Ok(())
        );
        for key in [
            "",
            "not-a-key",
            "dGhlIHNhbXBsZSBub25j",     // 15 bytes
            "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
            "!!!!!!!!!!!!!!!!!!!!!!==",
        ] {
            assert!(
                valid_handshake(&headers(Some("websocket"), Some(key))).is_err(),
                "{key:?}"
            );
        }
        assert!(valid_handshake(&headers(Some("websocket"), None)).is_err());
        assert!(valid_handshake(&headers(None, Some(valid))).is_err());
        assert!(valid_handshake(&headers(Some("h2c"), Some(valid))).is_err());
    }

    #[test]
    fn only_the_websocket_transport_is_checked() {
        let request = |uri: &str| Request::get(uri).body(axum::body::Body::empty()).unwrap();
        assert!(asks_for_websocket(&request(
            "/socket.io/?EIO=4&transport=websocket"
        )));
        assert!(asks_for_websocket(&request(
            "/socket.io/?EIO=4&transport=websocket&sid=abc"
        )));
        assert!(!asks_for_websocket(&request(
            "/socket.io/?EIO=4&transport=polling"
        )));
        assert!(!asks_for_websocket(&request(
            "/api/stats?transport=websocket"
        )));
        assert!(!asks_for_websocket(&request(
            "/socket.iox/?transport=websocket"
        )));
    }

    #[test]
    fn a_detached_request_keeps_its_uri_and_every_header_value() {
        let mut request = Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling")
            .header(header::COOKIE, "a=1")
            .header(header::COOKIE, "b=2")
            .header("x-forwarded-for", "10.0.0.1")
            .body(axum::body::Body::empty())
            .unwrap();
        let before = (request.uri().clone(), request.headers().clone());
        detach(&mut request);
        assert_eq!((request.uri().clone(), request.headers().clone()), before);
        assert_eq!(request.headers().get_all(header::COOKIE).iter().count(), 2);
    }
}
