//! Abuse limits over HTTP: failed logins, registrations and messages get 429 with
//! `Retry-After`, without revealing whether an account exists. Failed logins and
//! registrations are counted by the auth service, so they hold across gateways.

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::{
    http::{browser, register},
    support::{TestApp, Topology, in_both_topologies, spawn_with, test_config},
    wsclient::WsClient,
};

async fn limited_app(topology: Topology) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.rate_limit = true;
    (spawn_with(topology, config).await, dir)
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> (StatusCode, Option<u64>) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/login", app.http))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get(header::RETRY_AFTER).map(|value| value.to_str().unwrap().parse().unwrap());
    (response.status(), retry_after)
}

async fn five_failed_logins_then_429_with_retry_after_for_real_and_unknown_accounts_alike(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    register(&app, "ada").await;
    for _ in 0..5 {
        assert_eq!(login_status(&app, "ada@example.com", "wrong password").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after) = login_status(&app, "ada@example.com", "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some_and(|secs| (1..=10).contains(&secs)), "{retry_after:?}");
    let (status, _) = login_status(&app, "ada@example.com", "correct horse").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the limit holds for at most one refill period");
    let (status, _) = login_status(&app, "nobody@example.com", "whatever").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "an unknown account answers the same");
    app.stop().await;
}

/// The limits live in the auth service: failures through one gateway count on another.
async fn failed_logins_count_across_gateways(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    register(&app, "ada").await;
    let other = app.spawn_gateway().await;
    let login_on = |base: String| async move {
        let body = json!({"email": "ada@example.com", "password": "wrong password"});
        reqwest::Client::new().post(format!("{base}/api/login")).json(&body).send().await.unwrap().status()
    };
    for n in 0..5 {
        let base = if n % 2 == 0 { app.http.clone() } else { other.clone() };
        assert_eq!(login_on(base).await, StatusCode::UNAUTHORIZED, "failure {n}");
    }
    assert_eq!(login_on(other.clone()).await, StatusCode::TOO_MANY_REQUESTS, "the sixth, on the other gateway");
    assert_eq!(login_on(app.http.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

/// A login as `email` from `address` (as the trusted proxy in front reports it).
async fn login_from(client: &reqwest::Client, app: &TestApp, address: &str, email: &str, password: &str) -> StatusCode {
    client
        .post(format!("{}/api/login", app.http))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// The probe locked an account out for its owner with five wrong passwords from rotating
/// addresses. Guessing from many addresses is still throttled per account, but a browser
/// that signed in to the account before is not held by that limit.
async fn strangers_failing_from_many_addresses_cannot_lock_out_the_owners_known_device(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    register(&app, "ada").await;
    let owner = browser();
    assert_eq!(login_from(&owner, &app, "198.51.100.1", "ada@example.com", "correct horse").await, StatusCode::OK);
    let stranger = reqwest::Client::new();
    let mut refused = 0;
    for n in 1..=25 {
        let status = login_from(&stranger, &app, &format!("203.0.113.{n}"), "ada@example.com", "guess").await;
        assert!(matches!(status, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS), "{status}");
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(refused > 0, "guessing one account from many addresses is throttled");
    let fresh = login_from(&reqwest::Client::new(), &app, "192.0.2.7", "ada@example.com", "correct horse").await;
    assert_eq!(fresh, StatusCode::TOO_MANY_REQUESTS, "a browser the account has not seen waits like the guesser");
    let known = login_from(&owner, &app, "192.0.2.8", "ada@example.com", "correct horse").await;
    assert_eq!(known, StatusCode::OK, "the owner's known device gets in, from any address");
    let metrics = reqwest::get(format!("{}/metrics", app.gateway_http)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"dchat_rate_limited_total{limit="failed_logins_by_account"}"#),
        "each limit's refusals are counted"
    );
    // One address guessing one account is held after five, known device or not.
    for _ in 0..5 {
        login_from(&owner, &app, "192.0.2.9", "ada@example.com", "typo").await;
    }
    assert_eq!(
        login_from(&owner, &app, "192.0.2.9", "ada@example.com", "correct horse").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}

/// The probe created 4,000 rooms in 18 s as one user.
async fn ten_rooms_per_user_then_429(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let create = |n: usize| {
        ada.post(format!("{}/api/room/create", app.http)).json(&json!({"room_id": format!("r{n}"), "name": "R"})).send()
    };
    for n in 0..10 {
        assert_eq!(create(n).await.unwrap().status(), StatusCode::OK, "room {n}");
    }
    let refused = create(10).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let (bob, _) = register(&app, "bob").await;
    let other = bob.post(format!("{}/api/room/create", app.http)).json(&json!({"room_id": "bobs", "name": "B"}));
    assert_eq!(other.send().await.unwrap().status(), StatusCode::OK, "the limit is per user");
    app.stop().await;
}

async fn twenty_registrations_per_address_then_429(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    // Thirty at once: the limiter answers before any password is hashed.
    let registrations = (0..30).map(|i| {
        let client = browser();
        let url = format!("{}/api/register", app.http);
        async move {
            client
                .post(url)
                .json(&json!({"username": format!("user{i}"), "password": "correct horse"}))
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(registrations).await;
    let ok = responses.iter().filter(|response| response.status() == StatusCode::OK).count();
    let limited = responses.iter().filter(|response| response.status() == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(ok + limited, 30);
    assert!(ok >= 20, "the burst of 20 is allowed ({ok} were)");
    assert!(limited > 0, "the rest is refused");
    let refused = responses.into_iter().find(|response| response.status() == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    app.stop().await;
}

async fn a_burst_of_twenty_messages_then_429_over_http_and_an_error_frame_over_websocket(topology: Topology) {
    let (app, _dir) = limited_app(topology).await;
    let (ada, body) = register(&app, "ada").await;
    // Forty at once: the limiter answers before storage, so they all meet a bucket that
    // refills at only 10/s.
    let sends = (0..40).map(|i| {
        let request = ada
            .post(format!("{}/api/message/append", app.http))
            .json(&json!({"room_id": "general", "text": format!("m{i}")}));
        async move { request.send().await.unwrap() }
    });
    let responses = futures::future::join_all(sends).await;
    let ok = responses.iter().filter(|response| response.status() == StatusCode::OK).count();
    let limited: Vec<_> =
        responses.iter().filter(|response| response.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(ok + limited.len(), 40);
    assert!(ok >= 20, "the burst of 20 is allowed ({ok} were)");
    assert!(!limited.is_empty(), "the rest is refused");
    assert!(limited.iter().all(|response| response.headers()[header::RETRY_AFTER] == "1"));

    let mut ws = WsClient::connect(&app, body["token"].as_str().unwrap()).await;
    for i in 0..40 {
        ws.send(
            json!({"type": "send", "room_id": "general", "text": "again", "client_id": format!("ws{i}"), "ref": i}),
        )
        .await;
    }
    let error = ws.next_of("error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert!(error["ref"].as_i64().is_some());
    app.stop().await;
}

in_both_topologies!(
    ten_rooms_per_user_then_429,
    failed_logins_count_across_gateways,
    strangers_failing_from_many_addresses_cannot_lock_out_the_owners_known_device,
    five_failed_logins_then_429_with_retry_after_for_real_and_unknown_accounts_alike,
    twenty_registrations_per_address_then_429,
    a_burst_of_twenty_messages_then_429_over_http_and_an_error_frame_over_websocket,
);
