//! Checks a WebSocket upgrade of the Socket.IO transport before Engine.IO answers it: Engine.IO
//! switches protocols for any `Sec-WebSocket-Key`, so a request that is not a valid WebSocket
//! handshake (RFC 6455 §4.2.1: `Upgrade: websocket`, and a key that is 16 bytes in base64) is
//! answered `400` with the API's JSON error here instead.

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::server::http::ApiError;

/// Where Socket.IO is served (socketioxide's default path).
const SOCKET_IO_PATH: &str = "/socket.io";

/// The middleware: refuses invalid WebSocket handshakes to [`SOCKET_IO_PATH`].
pub async fn check(request: Request, next: Next) -> Response {
    if asks_for_websocket(&request)
        && let Err(problem) = valid_handshake(request.headers())
    {
        tracing::debug!(%problem, "WebSocket handshake refused");
        return ApiError::BadRequest(format!("invalid WebSocket handshake: {problem}"))
            .into_response();
    }
    next.run(request).await
}

/// A request for the Socket.IO WebSocket transport (Engine.IO reads the first `transport=`).
fn asks_for_websocket(request: &Request) -> bool {
    let path = request.uri().path();
    let socket_io = path
        .strip_prefix(SOCKET_IO_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    socket_io
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
    use axum::http::HeaderValue;

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
}
