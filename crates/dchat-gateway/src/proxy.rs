//! The `ui` role's reverse proxy: everything it does not serve itself goes to the gateway,
//! WebSocket upgrades included, so that the split topology is used exactly like
//! `dchat serve`.
//!
//! Plain requests are forwarded with their method, path, headers (hop-by-hop headers
//! removed) and body; the caller's address is appended to `X-Forwarded-For`. HTTP/2
//! requests go on over HTTP/2 (prior knowledge), so gRPC (`gateway.v1`), which needs its
//! trailers, works through the ui as it does on `dchat serve`'s port. An upgrade
//! request is forwarded as is; once the gateway answers 101, the two connections are
//! spliced byte for byte, so WebSocket frames cross the proxy without being parsed.
//!
//! `GATEWAY_ADDR` may list several gateways: requests go to them in turn, a gateway whose
//! connection was refused is passed over for [`REST_AFTER_REFUSAL`], and a request without
//! a body (a page, an upgrade) that met a refusal goes to the next one at once.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};

use crate::error::ApiError;
use dchat_websocket::ClientBodyError;

#[derive(Debug, Clone)]
struct Proxy {
    /// HTTP/1.1, for HTTP/1.1 requests and WebSocket upgrades.
    client: Client<HttpConnector, Body>,
    /// HTTP/2 with prior knowledge, for HTTP/2 requests (gRPC among them).
    h2: Client<HttpConnector, Body>,
    upstreams: Arc<Upstreams>,
}

/// How long a gateway whose connection was refused is passed over.
const REST_AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// The gateways, as `http://host:port`, and when each was last refused.
#[derive(Debug)]
struct Upstreams {
    bases: Vec<String>,
    refused: Mutex<Vec<Option<Instant>>>,
    next: AtomicUsize,
}

impl Upstreams {
    /// The gateways in the order a request tries them: those not resting from a refusal
    /// first, from the next in turn.
    fn order(&self) -> Vec<usize> {
        let n = self.bases.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let resting = |i: usize| refused[i].is_some_and(|at| at.elapsed() < REST_AFTER_REFUSAL);
        let (ready, resting): (Vec<usize>, Vec<usize>) = (0..n).map(|i| (start + i) % n).partition(|&i| !resting(i));
        ready.into_iter().chain(resting).collect()
    }

    fn refused(&self, i: usize) {
        self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(Instant::now());
    }
}

/// A router that forwards every request to the gateway at `gateway_addr` (`host:port`, or
/// a comma-separated list of them).
pub fn ui_router(gateway_addr: &str, web_dir: Option<std::path::PathBuf>) -> Router {
    let bases: Vec<String> = gateway_addr
        .split(',')
        .map(str::trim)
        .filter(|addr| !addr.is_empty())
        .map(|addr| if addr.contains("://") { addr.trim_end_matches('/').to_owned() } else { format!("http://{addr}") })
        .collect();
    let upstreams =
        Arc::new(Upstreams { refused: Mutex::new(vec![None; bases.len()]), bases, next: AtomicUsize::new(0) });
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // Idle connections are let go well before the gateway closes them (its header timeout,
    // `serve::HEADER_TIMEOUT`): a request sent on a connection the gateway is closing at
    // that moment would fail.
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(dchat_websocket::IDLE_POOL_TIMEOUT)
        .build(connector.clone());
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(dchat_websocket::IDLE_POOL_TIMEOUT)
        .build(connector);
    // The web app is served here; everything else is the gateway's.
    crate::web::web_router(web_dir).fallback(forward).with_state(Proxy { client, h2, upstreams })
}

/// Headers that describe one hop, not the request (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(HeaderName::from_static(name));
    }
}

async fn forward(
    State(proxy): State<Proxy>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str()).to_owned();
    if proxy.upstreams.bases.is_empty() {
        return ApiError::Unavailable("no gateway is configured".to_owned()).into_response();
    }
    let upgrade = is_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let http2 = parts.version == Version::HTTP_2;
    if !upgrade {
        // `TE: trailers` is the one hop-by-hop header HTTP/2 keeps; gRPC servers look for it.
        let trailers = parts.headers.get(header::TE).is_some_and(|te| te.as_bytes().eq_ignore_ascii_case(b"trailers"));
        strip_hop_by_hop(&mut parts.headers);
        if http2 && trailers {
            parts.headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
    let forwarded_for = match parts.headers.get("x-forwarded-for").and_then(|value| value.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        parts.headers.insert("x-forwarded-for", value);
    }
    let client = if http2 { &proxy.h2 } else { &proxy.client };
    // Only a request without a body can be sent again after a refusal.
    let bodiless = http_body::Body::size_hint(&body).exact() == Some(0);
    let mut body = Some(body);
    let mut outcome = None;
    for i in proxy.upstreams.order() {
        let Ok(uri) = format!("{}{path}", proxy.upstreams.bases[i]).parse::<Uri>() else {
            return ApiError::BadRequest("unusable request path".to_owned()).into_response();
        };
        let mut attempt = Request::from_parts(parts.clone(), body.take().unwrap_or_default());
        *attempt.uri_mut() = uri;
        match client.request(attempt).await {
            Ok(response) => {
                outcome = Some(Ok(response));
                break;
            }
            Err(err) => {
                let refused = err.is_connect();
                if refused {
                    proxy.upstreams.refused(i);
                }
                outcome = Some(Err(err));
                if !(refused && bodiless) {
                    break;
                }
            }
        }
    }
    let mut response = match outcome {
        Some(Ok(response)) => response,
        Some(Err(err)) => return failed(&err),
        None => return ApiError::Unavailable("no gateway answered".to_owned()).into_response(),
    };
    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
                tracing::debug!("an upgrade through the ui proxy did not complete");
                return;
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            // Ends when either side closes; errors are just the connection going away.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// The answer when forwarding failed: the client's fault if its body stalled or broke on the
/// way through (`crate::received`), the gateway's absence otherwise.
fn failed(err: &hyper_util::client::legacy::Error) -> Response {
    match ClientBodyError::find(err) {
        Some(fault) => ApiError::from(fault).into_response(),
        None => {
            tracing::warn!(error = %err, "the gateway did not answer the ui proxy");
            ApiError::Unavailable("the gateway is unavailable; try again shortly".to_owned()).into_response()
        }
    }
}
