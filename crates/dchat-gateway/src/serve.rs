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
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// What every HTTP/2 connection starts with (RFC 9113 section 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a client has to send a request's head, the first one or the next on a kept-alive
/// connection, before it is closed: a client that opens connections and sends nothing (or
/// a byte now and then) would otherwise hold them for good.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client of dchat's (the ui role's proxy) keeps an idle connection to this
/// server: well inside [`HEADER_TIMEOUT`], so that it never sends on one being closed.
pub(crate) const IDLE_POOL_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait before accepting again after the listener failed for want of
/// resources (file descriptors, memory): at once would only fail again.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` is cancelled; then stops accepting, lets each
/// connection finish the requests it has in flight, and returns once all are closed.
/// Connections that were upgraded to WebSocket are the router's to close.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) -> io::Result<()> {
    serve_with(listener, router, stop, HEADER_TIMEOUT).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
    header_timeout: Duration,
) -> io::Result<()> {
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
        connections.spawn(connection(stream, peer, router.clone(), stop.clone(), header_timeout));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves one connection in the protocol its first bytes announce.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    stop: CancellationToken,
    header_timeout: Duration,
) {
    let mut head = [0u8; HTTP2_PREFACE.len()];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(header_timeout, stream.peek(&mut head)) => peeked,
        () = stop.cancelled() => return,
    };
    let Ok(Ok(peeked)) = peeked else { return };
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
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
        until_stopped!(builder.serve_connection_with_upgrades(io, service))
    } else {
        let mut builder = conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
        until_stopped!(builder.serve_connection(io, service).with_upgrades()).map_err(Into::into)
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

#[cfg(test)]
mod tests {
    use axum::{body::Body, routing::get};
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Serves a router that answers with the peer address it was given.
    async fn server() -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<io::Result<()>>) {
        server_with(HEADER_TIMEOUT).await
    }

    async fn server_with(
        header_timeout: Duration,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }));
        let stop = CancellationToken::new();
        (addr, stop.clone(), tokio::spawn(serve_with(listener, router, stop, header_timeout)))
    }

    async fn body(response: axum::http::Response<Incoming>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn http1_and_http2_are_served_on_one_port_with_the_peer_address() {
        let (addr, stop, served) = server().await;

        let stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let request = Request::get("/peer").header("host", "dchat").body(Body::empty()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), axum::http::Version::HTTP_11);
        assert_eq!(body(response).await, local.to_string());

        let stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let request = Request::get(format!("http://{addr}/peer")).body(Body::empty()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), axum::http::Version::HTTP_2);
        assert_eq!(body(response).await, local.to_string());

        stop.cancel();
        served.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_request_whose_first_bytes_come_alone_is_served_all_the_same() {
        let (addr, stop, served) = server().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // One byte matches the HTTP/2 preface as far as it goes, so the protocol is not
        // settled by it; whenever the rest arrives, the request is answered.
        stream.write_all(b"G").await.unwrap();
        stream.write_all(b"ET /peer HTTP/1.1\r\nhost: dchat\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        stop.cancel();
        served.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn clients_that_do_not_send_a_whole_request_head_in_time_are_closed() {
        let (addr, stop, served) = server_with(Duration::from_millis(200)).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /peer HTTP/1.1\r\nhost: dchat\r\n").await.unwrap();
        let mut kept_alive = TcpStream::connect(addr).await.unwrap();
        kept_alive.write_all(b"GET /peer HTTP/1.1\r\nhost: dchat\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        for (name, stream) in [("silent", &mut silent), ("slow", &mut slow), ("kept alive", &mut kept_alive)] {
            answer.clear();
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
            assert!(read.is_ok(), "the {name} connection is closed");
        }
        assert!(answer.starts_with(b"HTTP/1.1 200 OK"), "a whole request was answered before the idle wait ran out");
        stop.cancel();
        served.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn stopping_ends_idle_connections_and_returns() {
        let (addr, stop, served) = server().await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        let connection = tokio::spawn(connection);
        let request = Request::get("/peer").header("host", "dchat").body(Body::empty()).unwrap();
        assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
        stop.cancel();
        served.await.unwrap().unwrap();
        connection.await.unwrap().unwrap();
        assert_eq!(idle.read(&mut [0; 1]).await.unwrap(), 0, "a connection that sent nothing is closed");
    }
}
