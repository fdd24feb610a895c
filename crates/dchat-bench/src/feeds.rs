//! Room feeds: one user subscribed to many rooms, held open so that what a room's live feed
//! costs a gateway can be read from the server's memory. A connection holds at most
//! `per_connection` subscriptions (the gateway's cap), so the rooms are spread over as many
//! connections as that takes.

use crate::{
    BenchError, Progress,
    client::{BenchUser, Server, WsSink, WsStream, subscribe},
};

/// Subscriptions kept open until dropped.
#[derive(Debug)]
pub struct HeldFeeds {
    pub rooms: usize,
    pub connections: usize,
    _sockets: Vec<(WsSink, WsStream)>,
}

/// One user and the rooms it created, not yet subscribed to.
#[derive(Debug)]
pub struct FeedsSetup {
    user: BenchUser,
    room_ids: Vec<String>,
}

/// Registers a user and creates `rooms` rooms, all its own.
pub async fn prepare_room_feeds(base_url: &str, run_id: &str, rooms: usize) -> Result<FeedsSetup, BenchError> {
    let server = Server::new(base_url);
    let user = server.register_users(&format!("f{run_id}u"), 1).await?.remove(0);
    let room_ids: Vec<String> = (0..rooms).map(|n| format!("feed-{run_id}-{n}")).collect();
    for room_id in &room_ids {
        server.create_room(&user, room_id).await?;
    }
    Ok(FeedsSetup { user, room_ids })
}

/// Subscribes to every room of `setup`, `per_connection` rooms to a connection, counting
/// each subscription in `progress`.
pub async fn open_room_feeds(
    base_url: &str,
    setup: &FeedsSetup,
    per_connection: usize,
    progress: &Progress,
) -> Result<HeldFeeds, BenchError> {
    let server = Server::new(base_url);
    let mut sockets = Vec::new();
    for chunk in setup.room_ids.chunks(per_connection.max(1)) {
        let (mut sink, mut stream) = server.connect(&setup.user).await?;
        for room_id in chunk {
            subscribe(&mut sink, &mut stream, room_id).await?;
            progress.add(1);
        }
        sockets.push((sink, stream));
    }
    Ok(HeldFeeds { rooms: setup.room_ids.len(), connections: sockets.len(), _sockets: sockets })
}
