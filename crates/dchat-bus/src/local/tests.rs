//! [`LocalBus`]: order, gaps, growth, and topics that come and go.

use dchat_core::RoomId;
use futures::{FutureExt, StreamExt};

use super::*;

fn room(room_id: &str) -> Topic {
    Topic::RoomMessages(RoomId::parse(room_id).unwrap())
}

/// What a subscription holds now, without waiting.
fn ready(stream: &mut BusStream<u32>) -> Vec<BusEvent<u32>> {
    let mut events = Vec::new();
    // Unconstrained: tokio's cooperative budget would otherwise answer "not yet" with events waiting.
    while let Some(Some(event)) = tokio::task::unconstrained(stream.next()).now_or_never() {
        events.push(event);
    }
    events
}

fn payloads(range: std::ops::RangeInclusive<u32>) -> Vec<BusEvent<u32>> {
    range.map(BusEvent::Payload).collect()
}

#[tokio::test]
async fn subscribers_get_what_is_published_after_they_subscribe_in_order_and_topics_are_apart() {
    let bus = LocalBus::new(8, 64);
    bus.publish(&room("a"), 0);
    let mut first = bus.subscribe(&room("a"));
    let mut other = bus.subscribe(&room("b"));
    for n in 1..=3 {
        bus.publish(&room("a"), n);
    }
    let mut second = bus.subscribe(&room("a"));
    bus.publish(&room("a"), 4);
    assert_eq!(ready(&mut first), payloads(1..=4));
    assert_eq!(ready(&mut second), payloads(4..=4));
    assert!(ready(&mut other).is_empty());
}

#[tokio::test]
async fn one_that_falls_behind_gets_a_gap_and_a_larger_channel_while_the_others_keep_their_place() {
    let bus = LocalBus::new(4, 64);
    let mut slow = bus.subscribe(&room("a"));
    let mut keeping_up = bus.subscribe(&room("a"));
    for n in 1..=4 {
        bus.publish(&room("a"), n);
    }
    assert_eq!(ready(&mut keeping_up), payloads(1..=4));
    for n in 5..=8 {
        bus.publish(&room("a"), n);
    }
    assert_eq!(ready(&mut keeping_up), payloads(5..=8));
    assert_eq!(slow.next().await, Some(BusEvent::Gap), "eight published into four places");
    assert_eq!(bus.channels(&room("a")), (2, 16));

    // Both see what comes next; the one that moved has room for a burst of 16.
    for n in 9..=24 {
        bus.publish(&room("a"), n);
    }
    assert_eq!(ready(&mut slow), payloads(9..=24));
    assert_eq!(ready(&mut keeping_up).first(), Some(&BusEvent::Gap), "four places, sixteen published");
    // Growth stops at the largest channel.
    let mut largest = bus.subscribe(&room("a"));
    for _ in 0..3 {
        for n in 0..100 {
            bus.publish(&room("a"), n);
        }
        assert_eq!(largest.next().await, Some(BusEvent::Gap));
        ready(&mut largest);
    }
    assert_eq!(bus.channels(&room("a")).1, 64);
}

#[tokio::test]
async fn a_topic_nobody_listens_to_is_forgotten_unless_it_grew() {
    let bus = LocalBus::new(4, 16);
    let subscription = bus.subscribe(&room("a"));
    assert_eq!(bus.channels(&room("a")), (1, 4));
    drop(subscription);
    bus.publish(&room("a"), 1);
    assert_eq!(bus.channels(&room("a")), (0, 0));
    assert!(bus.inner.lock().is_empty(), "forgotten");

    // One that fell behind and gave up (as a presence subscriber does) comes back to the
    // larger channel, though nobody listened in between.
    let mut quitter = bus.subscribe(&room("b"));
    for n in 0..5 {
        bus.publish(&room("b"), n);
    }
    assert_eq!(quitter.next().await, Some(BusEvent::Gap));
    drop(quitter);
    bus.publish(&room("b"), 5);
    assert_eq!(bus.channels(&room("b")), (0, 0));
    let _back = bus.subscribe(&room("b"));
    assert_eq!(bus.channels(&room("b")), (1, 16));
}
