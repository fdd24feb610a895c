//! The web app: HTML, CSS and JavaScript modules embedded in the binary and served with
//! their content types, validators and a Content-Security-Policy that allows no inline
//! script, so no text that reaches a page can ever run as code.

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// Only our own files: no inline script or style, no plugins, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
}

static INDEX: Asset = Asset { body: include_str!("../web/index.html"), content_type: "text/html; charset=utf-8" };
static ASSETS: [(&str, Asset); 5] = [
    ("/static/app.js", Asset { body: include_str!("../web/app.js"), content_type: "text/javascript; charset=utf-8" }),
    ("/static/api.js", Asset { body: include_str!("../web/api.js"), content_type: "text/javascript; charset=utf-8" }),
    (
        "/static/socket.js",
        Asset { body: include_str!("../web/socket.js"), content_type: "text/javascript; charset=utf-8" },
    ),
    (
        "/static/render.js",
        Asset { body: include_str!("../web/render.js"), content_type: "text/javascript; charset=utf-8" },
    ),
    ("/static/style.css", Asset { body: include_str!("../web/style.css"), content_type: "text/css; charset=utf-8" }),
];

/// A strong validator for `body`: its length and a hash of its bytes (FNV-1a, stable
/// across builds, unlike the standard hasher).
fn etag(body: &str) -> String {
    let hash = body
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{:x}-{hash:016x}\"", body.len())
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset.body);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidate every time: the files are small and a stale app.js would break the page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let matches =
        request.get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|value| value == tag);
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    (headers, asset.body).into_response()
}

/// `/`, the seed's `/app` and `/chat` (all the one-page app), and `/static/*`.
pub fn web_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let page = get(|headers: HeaderMap| async move { serve(&INDEX, &headers) });
    let mut router = Router::new().route("/", page.clone()).route("/app", page.clone()).route("/chat", page);
    for (path, asset) in &ASSETS {
        router = router.route(path, get(move |headers: HeaderMap| async move { serve(asset, &headers) }));
    }
    router
}
