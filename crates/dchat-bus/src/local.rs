//! [`LocalBus`]: the bus of one process, a broadcast channel per topic with subscribers.
//!
//! A topic's channel starts small (most rooms are quiet, and tokio's broadcast ring is
//! allocated whole when made). When a subscriber falls behind, it gets a [`BusEvent::Gap`]
//! and moves to a new channel four times larger (up to the bus's largest), which the topic's
//! later subscribers join too, and the topic remembers that size even while nobody listens
//! (a subscriber that starts over, as presence's do, comes back to it). The others keep
//! their place on the channel they are on: a publication goes to every channel of its topic
//! that still has subscribers, and a channel goes once its last subscriber has. A topic that
//! never grew is forgotten once nobody listens.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::broadcast::{self, error::RecvError};

use crate::{Bus, BusEvent, BusStream, Topic};

/// One of a topic's channels and what it holds.
struct Channel<T> {
    sender: broadcast::Sender<T>,
    capacity: usize,
}

/// A topic's channels, oldest first, and the size a new subscriber's channel gets.
struct TopicChannels<T> {
    channels: Vec<Channel<T>>,
    capacity: usize,
}

struct Inner<T> {
    // A std mutex: held for a few map and vector operations, never across an await.
    topics: Mutex<HashMap<Topic, TopicChannels<T>>>,
    first_capacity: usize,
    max_capacity: usize,
}

impl<T> std::fmt::Debug for Inner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let topics = self.topics.lock().map_or(0, |topics| topics.len());
        f.debug_struct("LocalBus").field("topics", &topics).field("max_capacity", &self.max_capacity).finish()
    }
}

/// The bus of one process.
pub struct LocalBus<T> {
    inner: Arc<Inner<T>>,
}

impl<T> std::fmt::Debug for LocalBus<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T> Clone for LocalBus<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T: Clone + Send + Sync + 'static> LocalBus<T> {
    /// A bus whose topics' channels hold `first_capacity` publications at first and grow
    /// fourfold, up to `max_capacity`, for subscribers that fall behind.
    pub fn new(first_capacity: usize, max_capacity: usize) -> Self {
        let first_capacity = first_capacity.max(1);
        let inner = Inner { topics: Mutex::default(), first_capacity, max_capacity: max_capacity.max(first_capacity) };
        Self { inner: Arc::new(inner) }
    }

    /// How many of `topic`'s channels are open, and the largest one's capacity (for tests
    /// and metrics).
    pub fn channels(&self, topic: &Topic) -> (usize, usize) {
        let topics = self.inner.lock();
        let channels = topics.get(topic).map(|topic| topic.channels.as_slice()).unwrap_or_default();
        (channels.len(), channels.last().map_or(0, |channel| channel.capacity))
    }
}

impl<T: Clone> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<Topic, TopicChannels<T>>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver on `topic`'s newest channel, and that channel's capacity. `outgrown` is
    /// the capacity of a channel its subscriber fell behind: the topic's channels grow to
    /// four times that, unless they did already (another laggard).
    fn attach(&self, topic: &Topic, outgrown: Option<usize>) -> (broadcast::Receiver<T>, usize) {
        let mut topics = self.lock();
        let state = topics
            .entry(topic.clone())
            .or_insert_with(|| TopicChannels { channels: Vec::new(), capacity: self.first_capacity });
        if let Some(outgrown) = outgrown {
            state.capacity = state.capacity.max((outgrown * 4).min(self.max_capacity));
        }
        state.channels.retain(|channel| channel.sender.receiver_count() > 0);
        match state.channels.last() {
            Some(channel) if channel.capacity >= state.capacity => (channel.sender.subscribe(), channel.capacity),
            _ => {
                let (sender, receiver) = broadcast::channel(state.capacity);
                state.channels.push(Channel { sender, capacity: state.capacity });
                (receiver, state.capacity)
            }
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Bus<T> for LocalBus<T> {
    fn publish(&self, topic: &Topic, payload: T) {
        let mut topics = self.inner.lock();
        let Some(state) = topics.get_mut(topic) else { return };
        // A send fails only when the channel has no subscriber left, which is when it goes:
        // no separate look at each channel's subscribers on this, every message's, path.
        state.channels.retain(|channel| channel.sender.send(payload.clone()).is_ok());
        // The last subscriber left: a topic with nothing to remember is forgotten until
        // someone subscribes again.
        if state.channels.is_empty() && state.capacity == self.inner.first_capacity {
            topics.remove(topic);
        }
    }

    fn subscribe(&self, topic: &Topic) -> BusStream<T> {
        let (receiver, capacity) = self.inner.attach(topic, None);
        let state = (receiver, capacity, Arc::clone(&self.inner), topic.clone());
        Box::pin(futures::stream::unfold(state, |(mut receiver, mut capacity, inner, topic)| async move {
            let event = match receiver.recv().await {
                Ok(payload) => BusEvent::Payload(payload),
                Err(RecvError::Lagged(_)) => {
                    (receiver, capacity) = inner.attach(&topic, Some(capacity));
                    BusEvent::Gap
                }
                Err(RecvError::Closed) => return None,
            };
            Some((event, (receiver, capacity, inner, topic)))
        }))
    }
}

#[cfg(test)]
mod tests;
