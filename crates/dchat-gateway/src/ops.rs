//! Operational endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{Counter, Histogram};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::state::GatewayState;

/// How long readiness waits for each service.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// # GET /healthz
///
/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", summary = "Liveness", responses((status = 200, description = "Alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// # GET /readyz
///
/// 200 when every service the gateway forwards to answers its gRPC health check as
/// SERVING; 503 (naming the ones that do not) otherwise.
#[utoipa::path(get, path = "/readyz", tag = "ops", summary = "Readiness: every service answers", responses((status = 200, description = "Ready"), (status = 503, description = "A service does not answer")))]
pub(crate) async fn readyz(State(state): State<GatewayState>) -> Response {
    let services = [
        ("auth", "auth.v1.AuthService", state.upstreams().auth.clone()),
        ("room", "room.v1.RoomService", state.upstreams().rooms.clone()),
        ("message", "message.v1.MessageService", state.upstreams().messages.clone()),
        ("presence", "presence.v1.PresenceService", state.upstreams().presence.clone()),
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
/// Prometheus text format, for the operator's scraper only: with `DCHAT_METRICS_TOKEN`, to
/// callers that send it as `Authorization: Bearer`; without one, to this machine (loopback
/// clients) only. Anyone else gets 403: the figures describe the deployment's load and
/// limits, which are nobody else's business.
#[utoipa::path(get, path = "/metrics", tag = "ops", summary = "Prometheus metrics: for this machine's clients, or with DCHAT_METRICS_TOKEN as a bearer token", responses((status = 200, description = "Prometheus text format", body = String), (status = 403, description = "Not from this machine, and no token", body = crate::dto::ErrorView)))]
pub(crate) async fn metrics(
    State(state): State<GatewayState>,
    crate::auth::ClientIp(client): crate::auth::ClientIp,
    headers: axum::http::HeaderMap,
) -> Response {
    let allowed = match &state.config().metrics_token {
        Some(expected) => headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(crate::auth::bearer_token)
            // In time that does not depend on where the two differ.
            .is_some_and(|presented| {
                bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes()))
            }),
        None => client.is_loopback(),
    };
    if !allowed {
        return crate::error::ApiError::Forbidden(
            "metrics are for the operator: send DCHAT_METRICS_TOKEN as a bearer token, or scrape from this machine"
                .to_owned(),
        )
        .into_response();
    }
    match &state.ops().metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled in this process").into_response(),
    }
}

/// # GET /openapi.json
///
/// The OpenAPI document, generated from the routes themselves (see `openapi`).
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document()).into_response()
}

/// Counts HTTP requests and their latency by route, method and status.
pub(crate) async fn record(State(state): State<GatewayState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (requests, seconds) = state.ops().request_metrics.handles(route, method, response.status());
    requests.increment(1);
    seconds.record(started.elapsed().as_secs_f64());
    response
}

/// The request counter and latency histogram of each route, method and status, registered
/// once. Registering them with the recorder on every request (labels built as strings, the
/// key hashed and looked up) cost about 3,200 instructions a request under callgrind. There
/// are only so many routes, methods and statuses, so the map stays small.
///
/// Methods outside HTTP's own are counted as `OTHER`: a client may invent any number of
/// them, and each would be a series kept for the life of the process.
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    by_route: Mutex<HashMap<String, Vec<RouteMetrics>, foldhash::fast::RandomState>>,
}

#[derive(Debug)]
struct RouteMetrics {
    method: &'static str,
    status: StatusCode,
    requests: Counter,
    seconds: Histogram,
}

impl RequestMetrics {
    fn handles(&self, route: &str, method: &'static str, status: StatusCode) -> (Counter, Histogram) {
        let mut by_route = self.by_route.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = by_route
            .get(route)
            .and_then(|variants| variants.iter().find(|variant| variant.method == method && variant.status == status))
        {
            return (known.requests.clone(), known.seconds.clone());
        }
        let labels =
            [("route", route.to_owned()), ("method", method.to_owned()), ("status", status.as_u16().to_string())];
        let requests = metrics::counter!("dchat_http_requests_total", &labels);
        let seconds = metrics::histogram!("dchat_http_request_seconds", &labels);
        by_route.entry(route.to_owned()).or_default().push(RouteMetrics {
            method,
            status,
            requests: requests.clone(),
            seconds: seconds.clone(),
        });
        (requests, seconds)
    }
}

/// The method's label: its name if HTTP defines it, else `OTHER` (see [`RequestMetrics`]).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("OTHER", |(_, label)| label)
}
