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

use std::net::SocketAddr;

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
    /// `http://host:port` of the gateway.
    upstream: String,
}

/// A router that forwards every request to the gateway at `gateway_addr` (`host:port`).
pub fn ui_router(gateway_addr: &str, web_dir: Option<std::path::PathBuf>) -> Router {
    let upstream = if gateway_addr.contains("://") {
        gateway_addr.trim_end_matches('/').to_owned()
    } else {
        format!("http://{gateway_addr}")
    };
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
    crate::web::web_router(web_dir).fallback(forward).with_state(Proxy { client, h2, upstream })
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
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
    let Ok(uri) = format!("{}{path}", proxy.upstream).parse::<Uri>() else {
        return ApiError::BadRequest("unusable request path".to_owned()).into_response();
    };
    let upgrade = is_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    parts.uri = uri;
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
    let mut response = match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(err) => return failed(&err),
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
