//! `/ui/`: the dashboard, a single-page app embedded in the binary (no network at run time).
//! Every file is in [`ASSETS`], an explicit table of path → bytes → content type; each is
//! served with a strong `ETag` (the SHA-256 of its bytes; `If-None-Match` → 304), gzipped when
//! the request accepts it (compressed once, at first use), `Cache-Control: no-cache` (the
//! browser revalidates; the ETag makes that cheap), and on every response the strict
//! Content-Security-Policy and the other security headers.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The Content-Security-Policy of every `/ui` response: the page loads only its own scripts,
/// styles and images (and `data:` images), talks only to its own origin (`/ws`), and cannot be
/// framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file.
#[derive(Debug)]
struct Asset {
    /// The path under `/ui/` (and under `server/ui/` in the source tree).
    path: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

/// `asset!("js/ws.js", JS)`: the file `server/ui/js/ws.js`, served as `/ui/js/ws.js`.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
            content_type: $content_type,
        }
    };
}

/// Every file of the dashboard. A unit test fails when a file under `server/ui/` is missing
/// here, so a new file cannot be forgotten.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("js/approval.js", JS),
    asset!("js/dialog.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/router.js", JS),
    asset!("js/store.js", JS),
    asset!("js/theme-init.js", JS),
    asset!("js/views/admin.js", JS),
    asset!("js/views/approvals.js", JS),
    asset!("js/views/overview.js", JS),
    asset!("js/views/session.js", JS),
    asset!("js/views/sessions.js", JS),
    asset!("js/ws.js", JS),
];

/// An asset ready to serve: its validator and, when it is smaller, its gzipped bytes.
#[derive(Debug)]
struct Prepared {
    asset: &'static Asset,
    /// `"<sha256 hex of the raw bytes>"`, quoted as an entity tag.
    etag: HeaderValue,
    gzip: Option<Vec<u8>>,
}

/// The prepared assets, in the order of [`ASSETS`]; built on the first request.
fn prepared() -> &'static [Prepared] {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| ASSETS.iter().map(prepare).collect())
}

fn prepare(asset: &'static Asset) -> Prepared {
    let digest = Sha256::digest(asset.bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let etag = HeaderValue::from_str(&format!("\"{hex}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let gzip = gzip(asset.bytes).filter(|z| z.len() < asset.bytes.len());
    Prepared { asset, etag, gzip }
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// The dashboard's routes: `/` and `/ui` redirect to `/ui/`, which serves `index.html`;
/// `/ui/<path>` serves the embedded file or 404.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/", get(to_ui))
        .route("/ui", get(to_ui))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
}

async fn to_ui() -> Response {
    let mut response = (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("/ui/"))],
    )
        .into_response();
    secure(response.headers_mut());
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(prepared) = prepared().iter().find(|p| p.asset.path == path) else {
        let mut response = (
            StatusCode::NOT_FOUND,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            "not found\n",
        )
            .into_response();
        secure(response.headers_mut());
        return response;
    };
    let mut response = if not_modified(request, &prepared.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match &prepared.gzip {
            Some(gz) if accepts_gzip(request) => {
                let mut response = gz.clone().into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            _ => prepared.asset.bytes.into_response(),
        }
    };
    let ok = response.status() == StatusCode::OK;
    let headers = response.headers_mut();
    if ok {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prepared.asset.content_type),
        );
    }
    headers.insert(header::ETAG, prepared.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    secure(headers);
    response
}

/// The headers of every `/ui` response.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak comparison, as RFC 9110 asks for
/// `If-None-Match`.
fn not_modified(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip")
                || name.eq_ignore_ascii_case("x-gzip")
                || name == "*")
                && !zero
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every file under `server/ui/` (relative, with `/`), dot files aside.
    fn files_on_disk() -> Vec<String> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let rel = format!("{prefix}{name}");
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), &format!("{rel}/"), out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui"),
            "",
            &mut out,
        );
        out.sort();
        out
    }

    #[test]
    fn every_file_under_server_ui_is_in_the_table() {
        let missing: Vec<String> = files_on_disk()
            .into_iter()
            .filter(|f| !ASSETS.iter().any(|a| a.path == f))
            .collect();
        assert!(
            missing.is_empty(),
            "add these to ASSETS in server/src/http/ui.rs: {missing:?}"
        );
    }

    #[test]
    fn every_content_type_matches_the_file_extension() {
        for asset in ASSETS {
            let ext = asset.path.rsplit('.').next().unwrap();
            let expected = match ext {
                "html" => HTML,
                "js" | "mjs" => JS,
                "css" => CSS,
                "svg" => SVG,
                "png" => "image/png",
                "woff2" => "font/woff2",
                "json" => "application/json",
                "txt" => "text/plain; charset=utf-8",
                other => panic!("{}: no content type known for .{other}", asset.path),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    #[test]
    fn paths_are_unique_and_relative() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(
                !a.path.starts_with('/') && !a.path.contains(".."),
                "{}",
                a.path
            );
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.path != a.path),
                "{} twice",
                a.path
            );
        }
    }

    #[test]
    fn gzip_is_accepted_unless_refused_with_q_zero() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_matches_the_tag_weakly_or_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            not_modified(&h, &etag)
        };
        assert!(with("\"abc\""));
        assert!(with("W/\"abc\""));
        assert!(with("\"x\", \"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!not_modified(&HeaderMap::new(), &etag));
    }
}
