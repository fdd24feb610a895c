//! The web app: HTML, CSS and JavaScript modules embedded in the binary and served with
//! their content types, validators and a Content-Security-Policy that allows no inline
//! script, so no text that reaches a page can ever run as code.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

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

/// Every file of `web/`, by its path there, with its content type. A tidy test checks that
/// no file in `web/` is missing here.
macro_rules! assets {
    ($(($path:literal, $content_type:literal)),* $(,)?) => {
        [$(($path, Asset::new(include_str!(concat!("../web/", $path)), $content_type))),*]
    };
}

static INDEX: Asset = Asset::new(include_str!("../web/index.html"), "text/html; charset=utf-8");
static ASSETS: [(&str, Asset); 24] = assets![
    ("app.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"),
    ("socket.js", "text/javascript; charset=utf-8"),
    ("protocol.js", "text/javascript; charset=utf-8"),
    ("store.js", "text/javascript; charset=utf-8"),
    ("route.js", "text/javascript; charset=utf-8"),
    ("format.js", "text/javascript; charset=utf-8"),
    ("html.js", "text/javascript; charset=utf-8"),
    ("views/messages.js", "text/javascript; charset=utf-8"),
    ("views/rooms.js", "text/javascript; charset=utf-8"),
    ("views/header.js", "text/javascript; charset=utf-8"),
    ("views/composer.js", "text/javascript; charset=utf-8"),
    ("views/settings.js", "text/javascript; charset=utf-8"),
    ("views/account.js", "text/javascript; charset=utf-8"),
    ("vendor/preact.mjs", "text/javascript; charset=utf-8"),
    ("vendor/hooks.mjs", "text/javascript; charset=utf-8"),
    ("vendor/htm.mjs", "text/javascript; charset=utf-8"),
    // The vendored modules' types, for the type check; no page loads them.
    ("vendor/preact.d.mts", "text/plain; charset=utf-8"),
    ("vendor/hooks.d.mts", "text/plain; charset=utf-8"),
    ("vendor/htm.d.mts", "text/plain; charset=utf-8"),
    ("vendor/LICENSE-preact", "text/plain; charset=utf-8"),
    ("vendor/LICENSE-htm", "text/plain; charset=utf-8"),
    ("vendor/README.md", "text/plain; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
];

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = asset.etag();
    let mut headers = security_headers();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidate every time: the files are small and a stale app.js would break the page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matches =
        request.get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|value| value == tag);
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    (headers, asset.body).into_response()
}

fn security_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
}

/// For development (`--web-dir`): the file at `path` under `dir`, read on every request
/// and never cached, so an edit shows on reload. Only the embedded files' names are
/// served, so nothing else in the folder is reachable.
async fn serve_from_disk(dir: &Path, path: &str, content_type: &'static str) -> Response {
    let mut headers = security_headers();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match tokio::fs::read(dir.join(path)).await {
        Ok(body) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            (headers, body).into_response()
        }
        Err(err) => {
            tracing::warn!(path, dir = %dir.display(), error = %err, "cannot read a web app file from --web-dir");
            (StatusCode::NOT_FOUND, headers, format!("{path} is not in {}: {err}", dir.display())).into_response()
        }
    }
}

/// `/`, the seed's `/app` and `/chat` (all the one-page app), and `/static/*`: the files
/// embedded at build time or, with `web_dir`, those on disk.
pub(crate) fn web_router<S: Clone + Send + Sync + 'static>(web_dir: Option<PathBuf>) -> Router<S> {
    let Some(dir) = web_dir else {
        let page = get(|headers: HeaderMap| async move { serve(&INDEX, &headers) });
        let mut router = Router::new().route("/", page.clone()).route("/app", page.clone()).route("/chat", page);
        for (path, asset) in &ASSETS {
            let route = format!("/static/{path}");
            router = router.route(&route, get(move |headers: HeaderMap| async move { serve(asset, &headers) }));
        }
        return router;
    };
    let dir = Arc::new(dir);
    let page = {
        let dir = dir.clone();
        get(move || async move { serve_from_disk(&dir, "index.html", INDEX.content_type).await })
    };
    let mut router = Router::new().route("/", page.clone()).route("/app", page.clone()).route("/chat", page);
    for (path, asset) in &ASSETS {
        let dir = dir.clone();
        let route = format!("/static/{path}");
        router =
            router.route(&route, get(move || async move { serve_from_disk(&dir, path, asset.content_type).await }));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tidy test checks that every file is listed; this checks that the list has no
    /// file twice, which would make the router panic at start.
    #[test]
    fn every_web_file_is_listed_once() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|(path, _)| *path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
    }
}
