//! One WebSocket connection: a reader loop that handles client frames, a writer task that
//! owns the socket's sending half and the live feeds of the subscribed rooms (`writer`), a
//! sender task that appends messages in the order the client sent them, and a short-lived
//! task per subscription that sends its backlog (`forward`).
//!
//! No lock is held across a socket write: tasks hand frames to the writer through a
//! bounded queue, and a full queue closes the connection with 4008 "lagged".

use std::time::Duration;

use dchat_proto::{
    message::v1::{AppendManyReq, AppendReq},
    presence::v1::HeartbeatReq,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tonic::Code;

use dchat_websocket::{Frame, Inbound, Reader, Socket};

use crate::{
    auth::CurrentUser,
    live::{
        cancel::Cancel,
        connections::{Connections, Control, LOGGED_OUT, SubscriptionSlot, UserSubscriptions},
        expiry::{self, Renewal, SessionClock},
        forward, mailbox,
        protocol::{self, ClientFrame},
        writer::{self, Outbox, Subscriber},
    },
    state::GatewayState,
};

/// Sends a connection may have waiting for their ack before new ones are refused.
const MAX_PENDING_SENDS: usize = 256;
/// How long a closing connection's writer may take to deliver what is queued and the close
/// frame, before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// How long a closed connection waits for its client to read the close frame and close its
/// side (see `Reader::discard_until_closed`).
const LINGER: Duration = Duration::from_secs(2);

/// A message to append, in the order the client sent it.
#[derive(Debug)]
struct SendRequest {
    room_id: String,
    text: String,
    client_id: Option<String>,
    reference: Option<Value>,
}

/// Serves one upgraded connection until it closes.
///
/// Everything that can be set up without waiting is, before the future that lives as long
/// as the connection is made: that future then holds only what it uses (an `async fn`
/// would also keep its arguments, the socket among them, for its whole life).
pub(crate) fn serve(
    socket: Socket,
    state: GatewayState,
    user: CurrentUser,
) -> impl Future<Output = ()> + Send + 'static {
    let conn_id = state.next_connection_id();
    tracing::trace!(conn_id, under = ?socket.under, "WebSocket connection open");
    metrics::gauge!("dchat_ws_connections").increment(1.0);
    // The socket's place in the server's account lasts as long as the connection.
    let hold = socket.hold;
    let mut incoming = Reader::new(socket.read, socket.already_read, dchat_websocket::MAX_INBOUND_BYTES);
    let (queue, queued) = mailbox::mailbox();
    let limit = state.config().ws_queue_frames.max(1);
    let (control_tx, mut control) = mailbox::mailbox();
    let outbox = Outbox { queue, limit, control: control_tx.clone() };
    let subscriber = Subscriber { user_id: user.user_id.clone(), outbox: outbox.clone() };
    let writer = tokio::spawn(writer::run(socket.write, queued, state.clone(), subscriber));
    let registration = Connections::register(&state, &user.user_id, &user.token, conn_id, control_tx);
    // Stopping closes the registered connections (`GatewayState::run_until_stopped`); one
    // that registers after that closes itself. Not a wait in every connection's loop: that
    // would be room for one more future in each idle client.
    if state.stopping().is_cancelled() {
        let _ = outbox.control.send(Control::Close { code: 1012, reason: "server stopping" }, None);
    }
    let clock = SessionClock::new(user.session_ends_ms);
    let mut connection =
        Connection { state, user, outbox, sender: None, subscriptions: Subscriptions::default(), clock };
    async move {
        let _hold = hold;
        // The work each event starts (gRPC calls) is boxed: inline, its largest state would
        // make this future, which lives as long as the connection, several kilobytes for
        // every idle client.
        // A ping was sent and nothing has come from the client since.
        let mut unanswered = false;
        // When the session ends, as last heard; nothing the client sends after that counts.
        let session_end = tokio::time::sleep_until(connection.clock.ends());
        tokio::pin!(session_end);
        let ending = loop {
            tokio::select! {
                inbound = incoming.next() => {
                    // Anything from the client shows it is there, as a pong would, and is a
                    // use of the session, after it is checked to be still on.
                    unanswered = false;
                    if connection.clock.ended() {
                        if let Err(ending) = Box::pin(connection.renew()).await {
                            break ending;
                        }
                        session_end.as_mut().reset(connection.clock.ends());
                    }
                    connection.report_use();
                    match inbound {
                        Ok(Inbound::Text(text)) => Box::pin(connection.handle(&text)).await,
                        Ok(Inbound::Binary(_)) => {
                            connection.outbox.push(protocol::error(None, "invalid_argument", "binary frames are not supported", None));
                        }
                        Ok(Inbound::Ping(payload)) => {
                            connection.outbox.push(Frame::pong(&payload));
                        }
                        Ok(Inbound::Pong) => {}
                        // Answered with the client's own status, as the RFC asks.
                        Ok(Inbound::Close(status)) => break Ending::Answer(status.map(|(code, _)| code)),
                        Err(err) => match err.close_status() {
                            Some((code, reason)) => {
                                tracing::debug!(conn_id, %err, "closing a connection that broke the protocol");
                                break Ending::Close(code, reason);
                            }
                            None => break Ending::Lost,
                        },
                    }
                }
                () = &mut session_end => {
                    if let Err(ending) = Box::pin(connection.renew()).await {
                        break ending;
                    }
                    session_end.as_mut().reset(connection.clock.ends());
                }
                order = control.recv() => match order {
                    Control::Close { code, reason } => break Ending::Close(code, reason),
                    Control::SessionUntil(ends_ms) => {
                        connection.clock.set_end(ends_ms);
                        session_end.as_mut().reset(connection.clock.ends());
                    }
                    Control::Left { room_id } => Box::pin(connection.left(&room_id)).await,
                    Control::Reverify if !Box::pin(connection.token_still_valid()).await => break Ending::Close(4001, "logged out"),
                    Control::Reverify => {}
                    Control::Ping if unanswered => break Ending::Close(4002, "ping timeout"),
                    Control::Ping => {
                        unanswered = true;
                        connection.outbox.push(Frame::ping());
                    }
                },
            }
        };
        Box::pin(connection.close_all()).await;
        if let Some((_, sender)) = connection.sender.take() {
            sender.abort();
        }
        let frame = match ending {
            Ending::Lost => None,
            Ending::Answer(code) => Some(Frame::close(code.map(|code| (code, "")))),
            Ending::Close(code, reason) => Some(Frame::close(Some((code, reason)))),
        };
        connection.outbox.finish(frame);
        drop(connection);
        let writer_handle = writer.abort_handle();
        let written = tokio::time::timeout(CLOSE_GRACE, writer).await.is_ok();
        if !written {
            // A client that reads nothing would hold the writer (and its socket) for good.
            writer_handle.abort();
            tracing::debug!(conn_id, "dropped a connection whose socket would not drain");
        }
        drop(registration);
        metrics::gauge!("dchat_ws_connections").decrement(1.0);
        if let Ending::Close(code, _) = ending {
            metrics::counter!("dchat_ws_closed_total", "code" => code.to_string()).increment(1);
        }
        if written && !matches!(ending, Ending::Lost) {
            // The close frame is out: let the client read it before the socket goes. The
            // connection is no longer counted or reachable meanwhile, only its socket held.
            incoming.discard_until_closed(LINGER).await;
        }
    }
}

/// How a connection ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The socket ended or failed: nobody is left to tell.
    Lost,
    /// The client sent a close frame, with this status if any: the server answers it.
    Answer(Option<u16>),
    /// The server closes with this status and reason.
    Close(u16, &'static str),
}

/// Sends of one connection taken per `AppendMany` call at most.
const MAX_BATCH: usize = 256;

/// Appends the client's messages in the order it sent them and answers each with an ack or
/// an error. Whatever is queued when the previous batch is answered goes in one
/// `AppendMany`, so a busy connection shares commits instead of waiting for one per message.
async fn append_in_order(
    state: GatewayState,
    user_id: String,
    mut pending: mpsc::Receiver<SendRequest>,
    outbox: Outbox,
) {
    // Grows with use: most connections never send, and idle ones must stay small.
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let appends = batch
            .iter()
            .map(|send| AppendReq {
                room_id: send.room_id.clone(),
                user_id: user_id.clone(),
                text: send.text.clone(),
                idempotency_key: crate::keys::or_fresh(send.client_id.clone()),
            })
            .collect();
        let results = match state.messages().append_many(AppendManyReq { appends }).await {
            Ok(response) => response.into_inner().results,
            Err(status) => {
                for send in batch.drain(..) {
                    outbox.push(protocol::error(
                        send.reference.as_ref(),
                        error_code(&status),
                        status.message(),
                        Some(&send.room_id),
                    ));
                }
                continue;
            }
        };
        for (send, result) in batch.drain(..).zip(results) {
            let frame = if result.success {
                protocol::ack(
                    send.client_id.as_deref(),
                    &send.room_id,
                    result.offset,
                    result.ts_ms,
                    send.reference.as_ref(),
                )
            } else {
                let status = tonic::Status::new(Code::from_i32(result.code), result.error);
                protocol::error(send.reference.as_ref(), error_code(&status), status.message(), Some(&send.room_id))
            };
            if !outbox.push(frame) {
                return;
            }
        }
    }
}

/// The protocol's error code for a service's answer.
fn error_code(status: &tonic::Status) -> &'static str {
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => "invalid_argument",
        Code::PermissionDenied | Code::NotFound => "forbidden",
        Code::Unauthenticated => "unauthenticated",
        Code::ResourceExhausted => "rate_limited",
        _ => "unavailable",
    }
}

/// A connection's subscriptions: room id and the cancellation of its subscription. A list,
/// not a map: a connection holds one or a few, and a hash map holding one entry is about 150
/// bytes of buckets for every idle client.
#[derive(Debug, Default)]
struct Subscriptions(Vec<(String, Cancel, SubscriptionSlot)>);

impl Subscriptions {
    fn contains(&self, room_id: &str) -> bool {
        self.0.iter().any(|(room, ..)| room == room_id)
    }

    fn insert(&mut self, room_id: String, cancel: Cancel, slot: SubscriptionSlot) {
        self.0.reserve_exact(1);
        self.0.push((room_id, cancel, slot));
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The subscription's cancellation, and its place in the user's count.
    fn remove(&mut self, room_id: &str) -> Option<(Cancel, SubscriptionSlot)> {
        let index = self.0.iter().position(|(room, ..)| room == room_id)?;
        let (_, cancel, slot) = self.0.swap_remove(index);
        Some((cancel, slot))
    }

    fn rooms(&self) -> Vec<String> {
        self.0.iter().map(|(room, ..)| room.clone()).collect()
    }
}

/// The reader side's state of one connection.
struct Connection {
    state: GatewayState,
    user: CurrentUser,
    outbox: Outbox,
    /// The queue of sends and the task appending them, started by the first send: an idle
    /// connection (most of them) never pays for either.
    sender: Option<(mpsc::Sender<SendRequest>, tokio::task::JoinHandle<()>)>,
    /// Room id -> the cancellation of its subscription.
    subscriptions: Subscriptions,
    /// When the session ends, and when its use was last reported.
    clock: SessionClock,
}

impl Connection {
    async fn handle(&mut self, text: &str) {
        let frame = match protocol::parse(text) {
            Ok(frame) => frame,
            Err((reference, reason)) => {
                self.outbox.push(protocol::error(reference.as_ref(), "invalid_argument", &reason, None));
                return;
            }
        };
        match frame {
            ClientFrame::Subscribe { room_id, after, reference } => self.subscribe(room_id, after, reference).await,
            ClientFrame::Unsubscribe { room_id, reference } => {
                self.unsubscribe(&room_id).await;
                self.outbox.push(protocol::unsubscribed(&room_id, reference.as_ref()));
            }
            ClientFrame::Send { room_id, text, client_id, reference } => {
                if let Err(limited) = self.state.limit_message(&self.user.user_id) {
                    self.outbox.push(protocol::error(
                        reference.as_ref(),
                        "rate_limited",
                        &limited.to_string(),
                        Some(&room_id),
                    ));
                    return;
                }
                if crate::keys::reserved(client_id.as_deref()) {
                    let refused =
                        protocol::error(reference.as_ref(), "invalid_argument", crate::keys::RESERVED, Some(&room_id));
                    self.outbox.push(refused);
                    return;
                }
                let send = SendRequest { room_id, text, client_id, reference };
                let (sends, _) = self.sender.get_or_insert_with(|| {
                    let (sends, pending) = mpsc::channel(MAX_PENDING_SENDS);
                    let (state, user_id, outbox) = (self.state.clone(), self.user.user_id.clone(), self.outbox.clone());
                    (sends, tokio::spawn(append_in_order(state, user_id, pending, outbox)))
                });
                if let Err(mpsc::error::TrySendError::Full(send)) = sends.try_send(send) {
                    let message = "too many messages waiting for their ack";
                    self.outbox.push(protocol::error(
                        send.reference.as_ref(),
                        "rate_limited",
                        message,
                        Some(&send.room_id),
                    ));
                }
            }
            ClientFrame::Typing { room_id, reference } => {
                if !self.subscriptions.contains(&room_id) {
                    let message = "subscribe to the room before typing in it";
                    self.outbox.push(protocol::error(reference.as_ref(), "forbidden", message, Some(&room_id)));
                    return;
                }
                let request = HeartbeatReq {
                    room_id,
                    user_id: self.user.user_id.clone(),
                    display_name: self.user.display_name.clone(),
                    session_id: String::new(),
                };
                if let Err(status) = self.state.presence().typing(request).await {
                    tracing::debug!(%status, "typing was not relayed");
                }
            }
        }
    }

    async fn subscribe(&mut self, room_id: String, after: Option<i64>, reference: Option<Value>) {
        if let Some(Err(err)) = after.map(|after| dchat_core::check_offset("after", after)) {
            self.outbox.push(protocol::error(reference.as_ref(), "invalid_argument", &err.to_string(), Some(&room_id)));
            return;
        }
        let limit = self.state.config().ws_max_subscriptions;
        if !self.subscriptions.contains(&room_id) && self.subscriptions.len() >= limit {
            let message = format!("at most {limit} rooms per connection; unsubscribe from one first");
            self.outbox.push(protocol::error(reference.as_ref(), "too_many_subscriptions", &message, Some(&room_id)));
            return;
        }
        // A new subscription takes a place in the user's count; subscribing again keeps its own.
        let claimed = if self.subscriptions.contains(&room_id) {
            None
        } else {
            match UserSubscriptions::claim(&self.state, &self.user.user_id) {
                Ok(slot) => Some(slot),
                Err(too_many) => {
                    let message = too_many.to_string();
                    self.outbox.push(protocol::error(
                        reference.as_ref(),
                        "too_many_subscriptions",
                        &message,
                        Some(&room_id),
                    ));
                    return;
                }
            }
        };
        match self.state.is_member(&room_id, &self.user.user_id).await {
            Ok(true) => {}
            Ok(_) => {
                let message = format!("room {room_id:?} does not exist or you are not a member");
                self.outbox.push(protocol::error(reference.as_ref(), "forbidden", &message, Some(&room_id)));
                return;
            }
            Err(status) => {
                self.outbox.push(protocol::error(
                    reference.as_ref(),
                    error_code(&status),
                    status.message(),
                    Some(&room_id),
                ));
                return;
            }
        }
        // Subscribing again restarts the subscription from the new `after`; the connection's
        // presence in the room goes on as it was.
        let slot = if let Some((previous, slot)) = self.subscriptions.remove(&room_id) {
            previous.cancel();
            self.outbox.sweep();
            slot
        } else if let Some(slot) = claimed {
            let (state, user) = (&self.state, &self.user);
            let beat = state.live().presence_sessions.enter(&room_id, &user.user_id, &user.display_name);
            // Before the subscription starts, so that the roster it sends includes the user.
            if let Err(status) = state.presence().heartbeat(beat).await {
                tracing::debug!(%status, "presence heartbeat failed");
            }
            slot
        } else {
            return; // Cannot be: the room was subscribed to above, and nothing else removes it.
        };
        let cancel = Cancel::default();
        self.subscriptions.insert(room_id.clone(), cancel.clone(), slot);
        let subscriber = Subscriber { user_id: self.user.user_id.clone(), outbox: self.outbox.clone() };
        tokio::spawn(forward::subscribe(self.state.clone(), subscriber, room_id, after, reference, cancel));
    }

    async fn unsubscribe(&mut self, room_id: &str) {
        if let Some((cancel, _slot)) = self.subscriptions.remove(room_id) {
            cancel.cancel();
            self.outbox.sweep();
            self.disconnect(room_id).await;
        }
    }

    /// The user left the room (here or elsewhere): stop sending it.
    async fn left(&mut self, room_id: &str) {
        if self.subscriptions.contains(room_id) {
            self.unsubscribe(room_id).await;
            self.outbox.push(protocol::error(
                None,
                "forbidden",
                "you are no longer a member of this room",
                Some(room_id),
            ));
        }
    }

    /// Ends this connection's part in the user's presence in `room_id`: the user goes
    /// offline there if it was their last connection through this gateway.
    async fn disconnect(&self, room_id: &str) {
        let Some(request) = self.state.live().presence_sessions.leave(room_id, &self.user.user_id) else { return };
        if let Err(status) = self.state.presence().disconnect(request).await {
            tracing::debug!(%status, "presence disconnect failed");
        }
    }

    /// Asks the auth service whether the session is still on, at the end known here: it
    /// may have been used elsewhere meanwhile. Ended: close with 4001; no answer: close
    /// with 1013 (the client reconnects, and its upgrade asks again), since the session
    /// cannot be taken to be on past its known end.
    async fn renew(&mut self) -> Result<(), Ending> {
        match expiry::renew(&self.state, &self.user.token).await {
            Renewal::Until(ends_ms) => {
                self.clock.set_end(ends_ms);
                Ok(())
            }
            Renewal::Ended => Err(Ending::Close(LOGGED_OUT, "session ended")),
            Renewal::Unknown => Err(Ending::Close(1013, "try again later")),
        }
    }

    /// The client used the connection: now and then, tell the auth service, which moves
    /// the session's end; the answer arrives as a control order.
    fn report_use(&mut self) {
        if !self.clock.touch_due() {
            return;
        }
        let (state, token, control) = (self.state.clone(), self.user.token.clone(), self.outbox.control.clone());
        tokio::spawn(async move {
            let order = match expiry::renew(&state, &token).await {
                Renewal::Until(ends_ms) => Control::SessionUntil(ends_ms),
                Renewal::Ended => Control::Close { code: LOGGED_OUT, reason: "session ended" },
                Renewal::Unknown => return,
            };
            let _ = control.send(order, None);
        });
    }

    /// Whether the connection's token still verifies. Only a definite "no" counts: an auth
    /// service that does not answer does not close connections.
    async fn token_still_valid(&self) -> bool {
        let token = dchat_proto::auth::v1::Token { access_token: self.user.token.clone() };
        match self.state.auth().verify(token).await {
            Ok(_) => true,
            Err(status) => status.code() != Code::Unauthenticated,
        }
    }

    /// Ends every subscription and this connection's presence.
    async fn close_all(&mut self) {
        let rooms = self.subscriptions.rooms();
        for room_id in rooms {
            self.unsubscribe(&room_id).await;
        }
    }
}
