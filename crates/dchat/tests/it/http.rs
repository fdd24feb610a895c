//! Helpers for the HTTP API: a client with its own cookie jar, and JSON calls.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

/// A browser-like client: keeps the session cookie it is given.
pub(crate) fn browser() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A status and a parsed JSON body (`Value::Null` when the body is not JSON).
pub(crate) async fn call(
    client: &Client,
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{}{path}", app.http));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn post(client: &Client, app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(client, app, Method::POST, path, Some(body)).await
}

pub(crate) async fn get(client: &Client, app: &TestApp, path: &str) -> (StatusCode, Value) {
    call(client, app, Method::GET, path, None).await
}

/// Registers `name` through the API on a fresh browser; returns the browser and the body.
pub(crate) async fn register(app: &TestApp, name: &str) -> (Client, Value) {
    let client = browser();
    let (status, body) = post(
        &client,
        app,
        "/api/register",
        json!({"email": format!("{name}@example.com"), "password": "correct horse", "display_name": format!("{name} display")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (client, body)
}

/// The keys of a JSON object, sorted: the shape of a response.
pub(crate) fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> =
        value.as_object().map(|object| object.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort_unstable();
    keys
}
