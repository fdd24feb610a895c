//! Operational endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::time::{Duration, Instant};

use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::state::GatewayState;

/// How long readiness waits for each service.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The OpenAPI 3 description of the HTTP API.
const OPENAPI: &str = include_str!("openapi.json");

/// # GET /healthz
///
/// The process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// # GET /readyz
///
/// 200 when every service the gateway forwards to answers its gRPC health check as
/// SERVING; 503 (naming the ones that do not) otherwise.
pub(crate) async fn readyz(State(state): State<GatewayState>) -> Response {
    let services = [
        ("auth", "auth.v1.AuthService", state.inner.channels.auth.clone()),
        ("room", "room.v1.RoomService", state.inner.channels.rooms.clone()),
        ("message", "message.v1.MessageService", state.inner.channels.messages.clone()),
        ("presence", "presence.v1.PresenceService", state.inner.channels.presence.clone()),
    ];
    let checks = services.map(|(name, service, transport)| async move {
        let request = HealthCheckRequest { service: service.to_owned() };
        let answer = tokio::time::timeout(READY_TIMEOUT, HealthClient::new(transport).check(request)).await;
        let serving = matches!(answer, Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving);
        (name, serving)
    });
    let results = futures::future::join_all(checks).await;
    let ready = results.iter().all(|(_, serving)| *serving);
    let services: serde_json::Map<String, serde_json::Value> =
        results.into_iter().map(|(name, serving)| (name.to_owned(), serving.into())).collect();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(serde_json::json!({ "ready": ready, "services": services }))).into_response()
}

/// # GET /metrics
///
/// Prometheus text format.
pub(crate) async fn metrics(State(state): State<GatewayState>) -> Response {
    match &state.inner.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled in this process").into_response(),
    }
}

/// # GET /openapi.json
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Counts HTTP requests and their latency by route and status.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("dchat_http_requests_total", &labels).increment(1);
    metrics::histogram!("dchat_http_request_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
