//! Operational endpoints: liveness, readiness (in both topologies), metrics, OpenAPI.

use dchat::{App, Role};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{
    http::{browser, get, register},
    support::{spawn_app, test_config},
};

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let (app, _dir) = spawn_app().await;
    let client = browser();
    assert_eq!(client.get(format!("{}/healthz", app.http)).send().await.unwrap().status(), StatusCode::OK);
    let (status, ready) = get(&client, &app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["services"]["message"], true);

    register(&app, "ada").await;
    let metrics = client.get(format!("{}/metrics", app.http)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("dchat_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/register\""), "{metrics}");

    // Each request is counted under its route, method and status (only this test asks for
    // the OpenAPI document, and the recorder is the process's, shared by every test).
    let openapi_requests = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("dchat_http_requests_total{")
                    && line.contains("route=\"/openapi.json\"")
                    && line.contains("method=\"GET\"")
                    && line.contains("status=\"200\"")
            })
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = openapi_requests(&metrics);
    for _ in 0..3 {
        assert_eq!(get(&client, &app, "/openapi.json").await.0, StatusCode::OK);
    }
    // A method of the client's own invention is counted, but not as a series of its own.
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let refused = client.request(brew, format!("{}/openapi.json", app.http)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    let metrics = client.get(format!("{}/metrics", app.http)).send().await.unwrap().text().await.unwrap();
    assert_eq!(openapi_requests(&metrics), before + 3, "{metrics}");
    assert!(metrics.contains("method=\"OTHER\"") && !metrics.contains("BREW"), "{metrics}");

    let (status, openapi) = get(&client, &app, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(openapi["openapi"], "3.0.3");
    let paths: Vec<&str> = openapi["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for route in [
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/profile/setname",
        "/api/user/lookup",
        "/api/room/create",
        "/api/room/join",
        "/api/room/leave",
        "/api/room/list",
        "/api/room/public",
        "/api/room/members",
        "/api/message/append",
        "/api/message/list",
        "/api/presence/heartbeat",
        "/api/presence/roster",
        "/api/ws",
        "/register",
        "/login",
        "/send",
        "/history",
        "/logout",
    ] {
        assert!(paths.contains(&route), "{route} is not documented");
    }
    for path in &paths {
        if path.starts_with("/api/") && *path != "/api/ws" {
            let (status, body) = get(&client, &app, path).await;
            assert_ne!(status, StatusCode::NOT_FOUND, "{path} is documented but not routed: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_whose_services_are_down_is_alive_but_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.bind = "127.0.0.1:0".parse().unwrap();
    for addr in [&mut config.auth.addr, &mut config.room.addr, &mut config.message.addr, &mut config.presence.addr] {
        *addr = "127.0.0.1:1".to_owned();
    }
    let app = App::build(config, Role::Gateway).await.unwrap();
    let http = format!("http://{}", app.http_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{http}/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let response = client.get(format!("{http}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ready"], false);
    let login = client
        .post(format!("{http}/api/login"))
        .json(&serde_json::json!({"email": "a@b.c", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE, "a down service is a 503, not a 500");
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

/// The probe found the database files world-readable: what dchat creates is its owner's.
#[tokio::test]
async fn the_data_folder_and_database_files_it_creates_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = crate::support::test_config(dir.path());
    config.data_dir = data.clone();
    let app = crate::support::spawn_app_with(config).await;
    app.register("ada").await;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 3, "the databases and their -wal and -shm files were looked at");
    app.stop().await;
}

/// The probe found `/metrics` open to anyone.
#[tokio::test]
async fn metrics_answer_this_machine_or_the_bearer_of_the_metrics_token_only() {
    let (app, _dir) = crate::support::spawn_app().await;
    let metrics = format!("{}/metrics", app.http);
    let client = reqwest::Client::new();
    assert_eq!(client.get(&metrics).send().await.unwrap().status(), reqwest::StatusCode::OK, "from this machine");
    let remote = client.get(&metrics).header("x-forwarded-for", "203.0.113.5").send().await.unwrap();
    assert_eq!(remote.status(), reqwest::StatusCode::FORBIDDEN, "from elsewhere, through a proxy");
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.gateway.metrics_token = Some("scrape-secret".to_owned());
    let app = crate::support::spawn_app_with(config).await;
    let metrics = format!("{}/metrics", app.http);
    assert_eq!(client.get(&metrics).send().await.unwrap().status(), reqwest::StatusCode::FORBIDDEN, "no token");
    let wrong = client.get(&metrics).bearer_auth("scrape-secreT").send().await.unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::FORBIDDEN);
    let scraped = client.get(&metrics).bearer_auth("scrape-secret").send().await.unwrap();
    assert_eq!(scraped.status(), reqwest::StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("dchat_"), "the figures");
    app.stop().await;
}
