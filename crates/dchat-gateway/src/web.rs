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
    /// FNV-1a of `body`, computed at compile time (stable across builds, unlike the
    /// standard hasher), for the ETag.
    hash: u64,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        let bytes = body.as_bytes();
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut i = 0;
        while i < bytes.len() {
            hash = (hash ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        Self { body, content_type, hash }
    }

    /// A strong validator: the length and the hash.
    fn etag(&self) -> String {
        format!("\"{:x}-{:016x}\"", self.body.len(), self.hash)
    }
}

static INDEX: Asset = Asset::new(include_str!("../web/index.html"), "text/html; charset=utf-8");
static ASSETS: [(&str, Asset); 5] = [
    ("/static/app.js", Asset::new(include_str!("../web/app.js"), "text/javascript; charset=utf-8")),
    ("/static/api.js", Asset::new(include_str!("../web/api.js"), "text/javascript; charset=utf-8")),
    ("/static/socket.js", Asset::new(include_str!("../web/socket.js"), "text/javascript; charset=utf-8")),
    ("/static/render.js", Asset::new(include_str!("../web/render.js"), "text/javascript; charset=utf-8")),
    ("/static/style.css", Asset::new(include_str!("../web/style.css"), "text/css; charset=utf-8")),
];

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = asset.etag();
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
