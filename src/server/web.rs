//! The browser UI, embedded in the binary so `vulnimport serve` needs no files beside it: the files
//! of `web/` and the vendor files (Bootstrap, socket.io-client) that `build.rs` takes from
//! `node_modules` as `package-lock.json` pins them.
//!
//! [`serve`] is the router's fallback. A GET or HEAD of `/` answers `index.html` (`/signin`,
//! `/setup` and `/admin` their pages), of another embedded path that file, with its type and an ETag for revalidation; anything else, `/api/…`
//! included, is the API's JSON 404.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::http::ApiError;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
}

static FILES: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|&(path, bytes)| {
            let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(bytes));
            let asset = Asset {
                bytes,
                content_type: content_type(path),
                cache_control: cache_control(path),
                etag: HeaderValue::from_str(&etag).expect("hex is a valid header value"),
            };
            (path, asset)
        })
        .collect()
});

/// The router's fallback: an embedded file, or the JSON 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        "/signin" => "/signin.html",
        "/setup" => "/setup.html",
        "/admin" => "/admin.html",
        path => path,
    };
    let readable = method == Method::GET || method == Method::HEAD;
    let Some(asset) = FILES
        .get(path)
        .filter(|_| readable && !path.starts_with("/api/"))
    else {
        return ApiError::NotFound("no such endpoint".into()).into_response();
    };
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag));
    let status = if cached {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let head = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(asset.cache_control),
        ),
        (header::ETAG, asset.etag.clone()),
    ];
    let body = if cached { &[][..] } else { asset.bytes };
    (status, head, body).into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The page and the UI's own modules are revalidated on every load, so an upgraded binary is
/// picked up at once; vendor files change only with the lockfile and may be kept a day.
fn cache_control(path: &str) -> &'static str {
    if path.starts_with("/vendor/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn get(
        method: Method,
        path: &str,
        headers: HeaderMap,
    ) -> (StatusCode, HeaderMap, String) {
        let response = serve(method, path.parse().unwrap(), headers).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_root_is_the_page_and_is_always_revalidated() {
        let (status, headers, body) = get(Method::GET, "/", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert!(body.contains("<!doctype html>"), "{body}");
    }

    #[tokio::test]
    async fn vendor_files_are_embedded_with_their_types() {
        for (path, content_type) in [
            ("/vendor/bootstrap.min.css", "text/css; charset=utf-8"),
            (
                "/vendor/bootstrap.bundle.min.js",
                "text/javascript; charset=utf-8",
            ),
            ("/vendor/socket.io.js", "text/javascript; charset=utf-8"),
            ("/app.js", "text/javascript; charset=utf-8"),
        ] {
            let (status, headers, body) = get(Method::GET, path, HeaderMap::new()).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert!(body.len() > 100, "{path}");
        }
    }

    #[tokio::test]
    async fn a_matching_etag_is_answered_without_a_body() {
        let (_, headers, _) = get(Method::GET, "/app.js", HeaderMap::new()).await;
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        let (status, _, body) = get(Method::GET, "/app.js", conditional).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn anything_else_is_the_json_404() {
        for (method, path) in [
            (Method::GET, "/no-such-page"),
            (Method::GET, "/api/no-such-endpoint"),
            (Method::POST, "/"),
            (Method::DELETE, "/app.js"),
        ] {
            let (status, headers, body) = get(method, path, HeaderMap::new()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            assert_eq!(body, r#"{"error":"no such endpoint"}"#);
        }
    }
}
