//! How the web app's files are served: content types, validators, and a
//! Content-Security-Policy that forbids inline script, in both topologies (the ui role
//! serves them itself).

use reqwest::{StatusCode, header};

use crate::support::{Topology, in_both_topologies, spawn, spawn_app_with, test_config};

async fn web_files_are_served_with_types_validators_and_a_strict_csp(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let client = reqwest::Client::new();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/chat", "text/html"),
        ("/app", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/api.js", "text/javascript"),
        ("/static/socket.js", "text/javascript"),
        ("/static/protocol.js", "text/javascript"),
        ("/static/store.js", "text/javascript"),
        ("/static/views/messages.js", "text/javascript"),
        ("/static/vendor/preact.mjs", "text/javascript"),
        ("/static/vendor/hooks.mjs", "text/javascript"),
        ("/static/vendor/htm.mjs", "text/javascript"),
        ("/static/vendor/LICENSE-preact", "text/plain"),
        ("/static/style.css", "text/css"),
    ] {
        let response = client.get(format!("{}{path}", app.http)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with(content_type), "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = headers[header::ETAG].clone();
        let again = client.get(format!("{}{path}", app.http)).header(header::IF_NONE_MATCH, etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path} revalidates");
    }
    let page = client.get(format!("{}/", app.http)).send().await.unwrap().text().await.unwrap();
    assert!(
        !page.contains("<script>") && page.contains("<script type=\"module\" src=\"/static/app.js\">"),
        "no inline script"
    );
    app.stop().await;
}

in_both_topologies!(web_files_are_served_with_types_validators_and_a_strict_csp);

/// `--web-dir` serves the app from disk, read on every request: an edit shows at once,
/// nothing is cached, and only the app's own file names are served from the folder.
#[tokio::test]
async fn a_web_dir_serves_the_files_on_disk_as_they_are_now() {
    let dir = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>dev copy</title>").unwrap();
    std::fs::write(web.path().join("app.js"), "export const version = 1;").unwrap();
    std::fs::write(web.path().join("secret.txt"), "not part of the app").unwrap();
    let mut config = test_config(dir.path());
    config.gateway.web_dir = Some(web.path().to_owned());
    let app = spawn_app_with(config).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", app.http)).send();

    let page = get("/").await.unwrap();
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    assert!(page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(page.text().await.unwrap(), "<!doctype html><title>dev copy</title>");
    assert_eq!(get("/static/app.js").await.unwrap().text().await.unwrap(), "export const version = 1;");
    std::fs::write(web.path().join("app.js"), "export const version = 2;").unwrap();
    assert_eq!(get("/static/app.js").await.unwrap().text().await.unwrap(), "export const version = 2;", "edits show");

    assert_eq!(get("/static/secret.txt").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(get("/static/../secret.txt").await.unwrap().status(), StatusCode::NOT_FOUND);
    // A file of the app that the folder lacks is a 404 that says where it looked.
    let missing = get("/static/store.js").await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("store.js"));
    app.stop().await;
}
