//! [`NatsBus`]: the bus between processes, on core NATS (no JetStream: the database is the
//! truth, NATS only the fast path).
//!
//! One [`NatsConnection`] per process carries every bus of it; each bus turns its payloads
//! into bytes with a [`Codec`] and publishes on `<prefix>.<topic>` (`dchat.room.<id>.messages`;
//! the prefix keeps deployments that share a NATS server apart).
//! Publications leave in the order they were made, through one task, so the events of a
//! topic are never reordered; when that task falls too far behind (NATS unreachable for a
//! long time) newer ones are dropped, which subscribers notice as gaps by offset or repair
//! at their periodic checks.
//!
//! A subscription becomes live a moment after `subscribe` returns (the server has to hear
//! of it, which a ping answered after it confirms), so every stream begins with
//! [`BusEvent::Gap`] once it is live: the subscriber
//! reads what it may have missed from the truth, as it does after any gap. A stream also
//! yields a gap after a reconnection (NATS keeps nothing for a subscriber that was away),
//! after the client reported a slow consumer (it dropped messages), and for a payload that
//! does not decode.

use std::{fmt, marker::PhantomData, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::{Bus, BusEvent, BusStream, Topic};

/// Publications waiting to leave at most; past this, new ones are dropped (and logged).
const OUTBOX: usize = 65_536;
/// Events a subscription holds for a consumer that has not taken them yet.
const SUBSCRIPTION_QUEUE: usize = 4_096;

/// What the publishing task sends, in order.
enum Outgoing {
    Publish(String, Bytes),
    /// Answered once everything queued before it has reached the server.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// How a payload travels as bytes.
pub trait Codec<T>: Send + Sync + fmt::Debug + 'static {
    fn encode(&self, payload: &T) -> Vec<u8>;
    /// `None` for bytes that are not a payload of this bus.
    fn decode(&self, bytes: &[u8]) -> Option<T>;
}

/// Why NATS could not be reached at start.
#[derive(Debug, thiserror::Error)]
#[error("failed to connect to NATS at {url}: {source}")]
pub struct NatsError {
    url: String,
    source: async_nats::ConnectError,
}

/// A process's connection to NATS, shared by its buses.
#[derive(Debug, Clone)]
pub struct NatsConnection {
    client: async_nats::Client,
    prefix: String,
    outbox: mpsc::Sender<Outgoing>,
    /// Bumped whenever subscriptions may have missed messages (a reconnection, a slow
    /// consumer): every stream yields a gap.
    resets: watch::Receiver<u64>,
}

impl NatsConnection {
    /// Connects to `url` (`nats://host:port`); subjects are `<prefix>.<topic>`. Reconnects by
    /// itself for as long as the process runs.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, NatsError> {
        let (bump, resets) = watch::channel(0u64);
        let bump = Arc::new(bump);
        // The first connection is no reconnection: only one after a loss can have missed
        // anything (the callback may report the first one late, after subscriptions began).
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .event_callback(move |event| {
                let (bump, lost) = (bump.clone(), lost.clone());
                async move {
                    let missed = match event {
                        async_nats::Event::Connected => lost.swap(false, std::sync::atomic::Ordering::SeqCst),
                        async_nats::Event::SlowConsumer(_) => true,
                        async_nats::Event::Disconnected => {
                            lost.store(true, std::sync::atomic::Ordering::SeqCst);
                            tracing::warn!("lost the connection to NATS");
                            false
                        }
                        ref other => {
                            tracing::debug!(event = %other, "NATS");
                            false
                        }
                    };
                    if missed {
                        tracing::info!(%event, "NATS subscriptions may have missed messages; repairing");
                        bump.send_modify(|n| *n += 1);
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|source| NatsError { url: url.to_owned(), source })?;
        let (outbox, mut queued) = mpsc::channel::<Outgoing>(OUTBOX);
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some(outgoing) = queued.recv().await {
                match outgoing {
                    Outgoing::Publish(subject, payload) => {
                        if let Err(err) = publisher.publish(subject, payload).await {
                            tracing::warn!(error = %err, "failed to hand a publication to NATS");
                        }
                    }
                    Outgoing::Flush(done) => {
                        if let Err(err) = publisher.flush().await {
                            tracing::warn!(error = %err, "failed to flush NATS");
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        Ok(Self { client, prefix: format!("{}.", prefix.trim_end_matches('.')), outbox, resets })
    }

    fn subject(&self, topic: &Topic) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// Waits until everything published so far has been handed to the server.
    pub async fn flush(&self) {
        // The outbox drains in order: a flush sent through it follows every publication.
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.outbox.send(Outgoing::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

/// A bus of `T` over a [`NatsConnection`].
pub struct NatsBus<T> {
    connection: NatsConnection,
    codec: Arc<dyn Codec<T>>,
    _payload: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for NatsBus<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBus").field("prefix", &self.connection.prefix).field("codec", &self.codec).finish()
    }
}

impl<T> NatsBus<T> {
    pub fn new(connection: &NatsConnection, codec: impl Codec<T>) -> Self {
        Self { connection: connection.clone(), codec: Arc::new(codec), _payload: PhantomData }
    }
}

impl<T: Send + 'static> Bus<T> for NatsBus<T> {
    /// Queues `payload` for the topic's subscribers in every process. Never waits.
    fn publish(&self, topic: &Topic, payload: T) {
        let bytes = Bytes::from(self.codec.encode(&payload));
        if self.connection.outbox.try_send(Outgoing::Publish(self.connection.subject(topic), bytes)).is_err() {
            tracing::warn!(%topic, "NATS is too far behind; a publication was dropped (subscribers repair it)");
        }
    }

    /// Receives what is published on `topic` from the moment the subscription is live,
    /// which the stream's first event (a gap) marks.
    fn subscribe(&self, topic: &Topic) -> BusStream<T> {
        let (events, stream) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let client = self.connection.client.clone();
        let subject = self.connection.subject(topic);
        let codec = self.codec.clone();
        let mut resets = self.connection.resets.clone();
        tokio::spawn(async move {
            let mut subscription = match client.subscribe(subject.clone()).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    // The stream ends after a gap; the subscriber subscribes again.
                    tracing::warn!(error = %err, subject, "failed to subscribe on NATS");
                    let _ = events.send(BusEvent::Gap).await;
                    return;
                }
            };
            // The server has the subscription once it answers a ping sent after it: only
            // then is the stream live.
            if let Err(err) = client.flush().await {
                tracing::warn!(error = %err, subject, "NATS did not confirm a subscription");
            }
            resets.mark_unchanged();
            if events.send(BusEvent::Gap).await.is_err() {
                return;
            }
            loop {
                let event = tokio::select! {
                    message = subscription.next() => match message {
                        Some(message) => codec.decode(&message.payload).map_or(BusEvent::Gap, BusEvent::Payload),
                        None => {
                            let _ = events.send(BusEvent::Gap).await;
                            return;
                        }
                    },
                    changed = resets.changed() => match changed {
                        Ok(()) => BusEvent::Gap,
                        Err(_) => return,
                    },
                    () = events.closed() => return,
                };
                if events.send(event).await.is_err() {
                    return;
                }
            }
        });
        Box::pin(ReceiverStream::new(stream))
    }
}
