//! How the web app's files are served: content types, validators, and a
//! Content-Security-Policy that forbids inline script, in both topologies (the ui role
//! serves them itself).

use reqwest::{StatusCode, header};

use crate::support::{Topology, in_both_topologies, spawn};

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
        ("/static/render.js", "text/javascript"),
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
