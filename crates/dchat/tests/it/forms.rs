//! The seed's variant 2 form flow, as its Locust workload drives it.

use reqwest::{Client, StatusCode, header, redirect::Policy};
use serde_json::json;

use crate::support::{Topology, in_both_topologies, spawn};

fn form_client() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn the_variant_2_form_flow_registers_logs_in_sends_and_reads_history(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let url = |path: &str| format!("{}{path}", app.http);
    let client = form_client();
    let registered = client
        .post(url("/register"))
        .form(&[("username", "locust_1"), ("password", "long secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(registered.headers()[header::LOCATION], "/chat");
    assert!(registered.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("dchat_token="));

    let other = form_client();
    let bad =
        other.post(url("/login")).form(&[("username", "locust_1"), ("password", "wrong one")]).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let good =
        other.post(url("/login")).form(&[("username", "locust_1"), ("password", "long secret")]).send().await.unwrap();
    assert_eq!((good.status(), good.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/chat"));

    let sent = client.post(url("/send")).form(&[("message", "from the form")]).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    // The Locust file's shape: room_id, username and text.
    let sent = other
        .post(url("/send"))
        .form(&[("room_id", "general"), ("username", "ignored"), ("text", "from locust")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    let empty = other.post(url("/send")).form(&[("message", "")]).send().await.unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let history: serde_json::Value = client.get(url("/history")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        history,
        json!([{"sender": "locust_1", "content": "from the form"}, {"sender": "locust_1", "content": "from locust"}])
    );

    let out = client.get(url("/logout")).send().await.unwrap();
    assert_eq!((out.status(), out.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(client.get(url("/history")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        client.post(url("/send")).form(&[("message", "x")]).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

in_both_topologies!(the_variant_2_form_flow_registers_logs_in_sends_and_reads_history,);
