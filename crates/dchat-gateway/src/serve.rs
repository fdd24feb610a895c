//! The HTTP server: HTTP/1.1 (with WebSocket upgrades) and HTTP/2 (the gRPC gateway's
//! clients) on one listener.
//!
//! Ours rather than `axum::serve` for one reason: the WebSocket writer wants the TCP stream
//! itself (see `ws::handshake`). `axum::serve` tells HTTP/1 from HTTP/2 by reading the
//! first bytes into a private wrapper around the stream, and an upgraded connection then
//! cannot be taken apart again. Here the first bytes are only peeked at, so hyper serves
//! the stream as it is. A connection whose first bytes do not settle the question yet (a
//! client that sent fewer than the HTTP/2 preface's 24 bytes, all of them matching it) goes
//! to hyper-util's own detection, which works the same and costs a little more.

use std::{io, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::{body::Incoming, server::conn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// What every HTTP/2 connection starts with (RFC 9113 section 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to wait before accepting again after the listener failed for want of
/// resources (file descriptors, memory): at once would only fail again.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` is cancelled; then stops accepting, lets each
/// connection finish the requests it has in flight, and returns once all are closed.
/// Connections that were upgraded to WebSocket are the router's to close.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) -> io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Errors of one connection (reset before it was accepted, and the like).
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                tracing::error!(error = %err, "accepting HTTP connections failed; retrying shortly");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    () = stop.cancelled() => break,
                }
            }
        };
        // Pushes are small writes: each goes out at once instead of after an ACK.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        connections.spawn(connection(stream, peer, router.clone(), stop.clone()));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves one connection in the protocol its first bytes announce.
async fn connection(stream: TcpStream, peer: SocketAddr, router: Router, stop: CancellationToken) {
    let mut head = [0u8; HTTP2_PREFACE.len()];
    let peeked = tokio::select! {
        peeked = stream.peek(&mut head) => peeked,
        () = stop.cancelled() => return,
    };
    let Ok(peeked) = peeked else { return };
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let io = TokioIo::new(stream);
    // Each kind of connection has its own `graceful_shutdown`: the same steps, three types.
    macro_rules! until_stopped {
        ($connection:expr) => {{
            let mut connection = std::pin::pin!($connection);
            tokio::select! {
                served = connection.as_mut() => served,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }};
    }
    let served: Result<(), Box<dyn std::error::Error + Send + Sync>> = if &head[..peeked] == HTTP2_PREFACE {
        until_stopped!(conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service))
            .map_err(Into::into)
    } else if HTTP2_PREFACE.starts_with(&head[..peeked]) {
        // The builder lends itself to the connection it serves.
        let builder = auto::Builder::new(TokioExecutor::new());
        until_stopped!(builder.serve_connection_with_upgrades(io, service))
    } else {
        until_stopped!(conn::http1::Builder::new().serve_connection(io, service).with_upgrades()).map_err(Into::into)
    };
    if let Err(err) = served {
        tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
    }
}

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
