//! Connections: many idle WebSockets, each authenticated and subscribed to a room, held
//! open so the server's memory per connection can be read. One process may hold at most
//! 20,000 file descriptors here, so a large count is split over several processes (the
//! binary starts them); each opens its share from several 127.0.0.x source addresses,
//! which also keeps any one address far from running out of ephemeral ports.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{client::IntoClientRequest, protocol::WebSocketConfig},
};

use crate::{
    BenchError, Progress,
    client::{BenchUser, Server, subscribe},
};

/// The users and room idle connections log in as; a few users hold all connections (one
/// person with many tabs costs the server what many people do, minus argon2 at signup).
#[derive(Debug, Clone)]
pub struct IdleSetup {
    pub room_id: String,
    pub tokens: Vec<String>,
}

/// Registers `users` users and a room they all belong to.
pub async fn prepare_idle(base_url: &str, run_id: &str, users: usize) -> Result<IdleSetup, BenchError> {
    let server = Server::new(base_url);
    let users = server.register_users(&format!("c{run_id}u"), users.max(1)).await?;
    let room_id = format!("idle-{run_id}");
    server.create_room(&users[0], &room_id).await?;
    for user in &users[1..] {
        server.join_room(user, &room_id).await?;
    }
    Ok(IdleSetup { room_id, tokens: users.into_iter().map(|user| user.token).collect() })
}

/// Idle connections kept open until dropped.
#[derive(Debug)]
pub struct IdleConnections {
    pub opened: usize,
    /// From the first connect to the last `subscribed`.
    pub elapsed: Duration,
    _sockets: Vec<crate::client::WsStream>,
    _sinks: Vec<crate::client::WsSink>,
}

/// Opens `count` connections to `base_url` (`first` numbers them, so that processes sharing
/// the work spread over source addresses alike), `in_flight` handshakes at a time, each
/// from `127.0.0.(1 + n % sources)`, each subscribed to the setup's room.
pub async fn open_idle(
    base_url: &str,
    setup: &IdleSetup,
    count: usize,
    first: usize,
    sources: usize,
    in_flight: usize,
    progress: &Progress,
) -> Result<IdleConnections, BenchError> {
    let server = Server::new(base_url);
    let target: SocketAddr = base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|err| BenchError::Protocol(format!("{base_url} is not http://ip:port: {err}")))?;
    let started = Instant::now();
    let opening = (first..first + count).map(|n| {
        let (server, setup) = (&server, setup);
        async move {
            let source = Ipv4Addr::new(127, 0, 0, u8::try_from(1 + n % sources.clamp(1, 254)).unwrap_or(1));
            let user = BenchUser { token: setup.tokens[n % setup.tokens.len()].clone() };
            let (mut sink, mut stream) = connect_from(server, &user, source, target).await?;
            subscribe(&mut sink, &mut stream, &setup.room_id).await?;
            progress.add(1);
            Ok::<_, BenchError>((sink, stream))
        }
    });
    let mut sinks = Vec::with_capacity(count);
    let mut sockets = Vec::with_capacity(count);
    let mut opened = futures::stream::iter(opening).buffer_unordered(in_flight.max(1));
    while let Some(connection) = opened.next().await {
        let (sink, stream) = connection?;
        sinks.push(sink);
        sockets.push(stream);
    }
    Ok(IdleConnections { opened: sockets.len(), elapsed: started.elapsed(), _sockets: sockets, _sinks: sinks })
}

/// A WebSocket from a chosen loopback source address, with small buffers: the load
/// generator must hold thousands without running out of memory itself.
async fn connect_from(
    server: &Server,
    user: &BenchUser,
    source: Ipv4Addr,
    target: SocketAddr,
) -> Result<(crate::client::WsSink, crate::client::WsStream), BenchError> {
    let socket = TcpSocket::new_v4().map_err(|err| BenchError::Protocol(err.to_string()))?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .map_err(|err| BenchError::Protocol(format!("bind {source}: {err}")))?;
    let stream = socket.connect(target).await.map_err(|err| BenchError::Protocol(format!("connect: {err}")))?;
    let _ = stream.set_nodelay(true);
    let mut request = server.ws_url().into_client_request()?;
    let bearer =
        format!("Bearer {}", user.token).parse().map_err(|_| BenchError::Protocol("token is not a header".into()))?;
    request.headers_mut().insert("authorization", bearer);
    let config = WebSocketConfig::default().read_buffer_size(crate::client::READ_BUFFER).write_buffer_size(0);
    let (socket, _): (WebSocketStream<_>, _) = tokio_tungstenite::client_async_with_config(
        request,
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    Ok(futures::StreamExt::split(socket))
}
