//! Messages: gapless offsets under concurrency, idempotent appends (across restarts),
//! history in both directions, gapless live subscriptions, and membership rules.

use std::collections::{BTreeMap, HashSet};

use dchat_proto::{
    message::v1::{Msg, RoomId},
    room::v1::JoinLeaveReq,
};
use tonic::{Code, Streaming};

use crate::support::{TestApp, TestUser, assert_code, spawn_app, spawn_app_with, test_config};

async fn subscribe(
    app: &TestApp,
    room_id: &str,
    user: &TestUser,
    after: Option<i64>,
) -> Result<Streaming<Msg>, tonic::Status> {
    let request = RoomId { room_id: room_id.to_owned(), user_id: user.user_id.clone(), after };
    Ok(app.messages.clone().subscribe(request).await?.into_inner())
}

fn offsets(messages: &[Msg]) -> Vec<i64> {
    messages.iter().map(|message| message.offset).collect()
}

#[tokio::test]
async fn eight_concurrent_writers_get_gapless_offsets_in_one_room() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 60;
    let (app, _dir) = spawn_app().await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(app.register(&format!("writer{w}")).await);
    }
    let tasks: Vec<_> = writers
        .iter()
        .cloned()
        .enumerate()
        .map(|(w, writer)| {
            let messages = app.messages.clone();
            tokio::spawn(async move {
                let mut offsets = Vec::new();
                for i in 0..PER_WRITER {
                    let request = dchat_proto::message::v1::AppendReq {
                        room_id: "general".into(),
                        user_id: writer.user_id.clone(),
                        text: format!("w{w} m{i}"),
                        idempotency_key: format!("w{w}-{i}"),
                    };
                    offsets.push(messages.clone().append(request).await.unwrap().into_inner().offset);
                }
                offsets
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        let offsets = task.await.unwrap();
        assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]), "one writer's messages keep their order");
        acked.extend(offsets);
    }
    acked.sort_unstable();
    let expected: Vec<i64> = (1..=(WRITERS * PER_WRITER) as i64).collect();
    assert_eq!(acked, expected, "acknowledged offsets are exactly 1..=N");
    let stored = app.all_messages("general", &writers[0]).await;
    assert_eq!(offsets(&stored), expected, "stored offsets are exactly 1..=N");
    app.stop().await;
}

#[tokio::test]
async fn offsets_are_counted_per_room() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    app.create_room("a", &alice).await;
    app.create_room("b", &alice).await;
    assert_eq!(app.append("a", &alice, "1", "").await.unwrap(), 1);
    assert_eq!(app.append("b", &alice, "1", "").await.unwrap(), 1);
    assert_eq!(app.append("a", &alice, "2", "").await.unwrap(), 2);
    let next = app.messages.clone().next_offset(RoomId { room_id: "a".into(), ..Default::default() }).await.unwrap();
    assert_eq!(next.into_inner().value, 3);
    app.stop().await;
}

#[tokio::test]
async fn retrying_an_append_with_the_same_key_returns_the_original_offset_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(test_config(dir.path())).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.append("general", &alice, "hello", "key-1").await.unwrap();
    app.append("general", &bob, "in between", "").await.unwrap();
    let request = dchat_proto::message::v1::AppendReq {
        room_id: "general".into(),
        user_id: alice.user_id.clone(),
        text: "hello".into(),
        idempotency_key: "key-1".into(),
    };
    let retry = app.messages.clone().append(request.clone()).await.unwrap().into_inner();
    assert_eq!((retry.offset, retry.duplicate), (first, true));
    // Keys belong to their sender: Bob's "key-1" is a different message.
    assert_eq!(app.append("general", &bob, "mine", "key-1").await.unwrap(), 3);
    app.stop().await;

    let app = spawn_app_with(test_config(dir.path())).await;
    let retry = app.messages.clone().append(request).await.unwrap().into_inner();
    assert_eq!((retry.offset, retry.duplicate), (first, true), "the key outlives the process");
    assert_eq!(app.append("general", &alice, "next", "key-2").await.unwrap(), 4, "the head survives a restart");
    assert_eq!(app.all_messages("general", &alice).await.len(), 4, "retries stored nothing");
    app.stop().await;
}

#[tokio::test]
async fn duplicate_keys_inside_one_commit_batch_store_one_message() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    let retries: Vec<_> = (0..20)
        .map(|_| {
            let request = dchat_proto::message::v1::AppendReq {
                room_id: "general".into(),
                user_id: alice.user_id.clone(),
                text: "once".into(),
                idempotency_key: "same".into(),
            };
            let mut messages = app.messages.clone();
            tokio::spawn(async move { messages.append(request).await.unwrap().into_inner().offset })
        })
        .collect();
    for retry in retries {
        assert_eq!(retry.await.unwrap(), 1);
    }
    assert_eq!(app.all_messages("general", &alice).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn retries_committed_together_with_new_messages_leave_no_gap() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    let first = app.append("general", &alice, "stored", "key-1").await.unwrap();
    // Sent at once, retries of a stored message and new messages share commit batches, so
    // the writer has to find the retries without giving their offsets to anybody.
    let appends: Vec<_> = (0..60)
        .map(|i| {
            let key = if i % 3 == 0 { "key-1".to_owned() } else { format!("new-{i}") };
            let request = dchat_proto::message::v1::AppendReq {
                room_id: "general".into(),
                user_id: alice.user_id.clone(),
                text: format!("m{i}"),
                idempotency_key: key.clone(),
            };
            let mut messages = app.messages.clone();
            tokio::spawn(async move { (key, messages.append(request).await.unwrap().into_inner()) })
        })
        .collect();
    let mut new_offsets = Vec::new();
    for append in appends {
        let (key, reply) = append.await.unwrap();
        if key == "key-1" {
            assert_eq!((reply.offset, reply.duplicate), (first, true), "a retry gets the original offset");
        } else {
            assert!(!reply.duplicate, "{key} is new");
            new_offsets.push(reply.offset);
        }
    }
    new_offsets.sort_unstable();
    assert_eq!(new_offsets, (2..=41).collect::<Vec<i64>>(), "new messages take the next offsets, no gap");
    assert_eq!(offsets(&app.all_messages("general", &alice).await), (1..=41).collect::<Vec<_>>());
    app.stop().await;
}

#[tokio::test]
async fn history_pages_forward_from_an_offset_and_backward_before_one() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    for i in 1..=25 {
        app.append("general", &alice, &format!("m{i}"), "").await.unwrap();
    }
    let forward = app.list("general", &alice, 1, 0, 10).await.unwrap();
    assert_eq!(offsets(&forward), (1..=10).collect::<Vec<_>>());
    assert_eq!(forward[0].text, "m1");
    assert_eq!(forward[0].user_id, alice.user_id);
    assert!(forward[0].ts_ms > 0);
    let from_zero = app.list("general", &alice, 0, 0, 0).await.unwrap();
    assert_eq!(from_zero.len(), 25, "the seed's from_offset=0 means from the start; limit 0 means 100");
    let latest = app.list("general", &alice, 0, 26, 10).await.unwrap();
    assert_eq!(offsets(&latest), (16..=25).collect::<Vec<_>>(), "latest 10, oldest first");
    let older = app.list("general", &alice, 0, 16, 10).await.unwrap();
    assert_eq!(offsets(&older), (6..=15).collect::<Vec<_>>());
    let oldest = app.list("general", &alice, 0, 6, 10).await.unwrap();
    assert_eq!(offsets(&oldest), (1..=5).collect::<Vec<_>>());
    assert!(app.list("general", &alice, 26, 0, 10).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn history_pages_are_capped_at_500() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    let appends: Vec<_> = (0..600)
        .map(|i| {
            let request = dchat_proto::message::v1::AppendReq {
                room_id: "general".into(),
                user_id: alice.user_id.clone(),
                text: format!("m{i}"),
                idempotency_key: String::new(),
            };
            let mut messages = app.messages.clone();
            tokio::spawn(async move { messages.append(request).await.unwrap() })
        })
        .collect();
    for append in appends {
        append.await.unwrap();
    }
    assert_eq!(app.list("general", &alice, 1, 0, 10_000).await.unwrap().len(), 500);
    assert_eq!(app.list("general", &alice, 0, 601, 10_000).await.unwrap().len(), 500);
    app.stop().await;
}

/// History that is final is served from memory in blocks of 64 offsets: every page, read
/// cold or warm, forward or backward, across block edges and at the growing tail, must be
/// the same as the database's.
#[tokio::test]
async fn history_pages_agree_whether_read_from_disk_or_memory_and_the_tail_keeps_growing() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    for i in 1..=150 {
        app.append("general", &alice, &format!("m{i}"), "").await.unwrap();
    }
    let texts = |messages: &[Msg]| messages.iter().map(|message| message.text.clone()).collect::<Vec<_>>();
    let expected = |offsets: std::ops::RangeInclusive<i64>| offsets.map(|i| format!("m{i}")).collect::<Vec<_>>();
    for _pass in ["cold", "warm"] {
        for (from, limit) in [(1_i64, 50_i64), (1, 64), (60, 10), (64, 2), (1, 150), (100, 100), (129, 5), (0, 30)] {
            let page = app.list("general", &alice, from, 0, limit.try_into().unwrap()).await.unwrap();
            let first = from.max(1);
            assert_eq!(texts(&page), expected(first..=(first + limit - 1).min(150)), "from {from} limit {limit}");
        }
        for (before, limit) in [(65_i64, 64_i64), (130, 10), (151, 20), (70, 100), (2, 5)] {
            let page = app.list("general", &alice, 0, before, limit.try_into().unwrap()).await.unwrap();
            assert_eq!(texts(&page), expected((before - limit).max(1)..=before - 1), "before {before} limit {limit}");
        }
    }
    // The tail block (129..) was read above; what is appended now must still show.
    for i in 151..=200 {
        app.append("general", &alice, &format!("m{i}"), "").await.unwrap();
    }
    assert_eq!(texts(&app.list("general", &alice, 120, 0, 100).await.unwrap()), expected(120..=200));
    assert_eq!(texts(&app.list("general", &alice, 0, 201, 80).await.unwrap()), expected(121..=200));
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_after_k_gets_every_later_message_once_in_order_while_others_append() {
    const BEFORE: i64 = 50;
    const WRITERS: i64 = 4;
    const PER_WRITER: i64 = 100;
    const K: i64 = 20;
    let (app, _dir) = spawn_app().await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(app.register(&format!("writer{w}")).await);
    }
    for i in 0..BEFORE {
        app.append("general", &writers[0], &format!("early {i}"), "").await.unwrap();
    }
    let tasks: Vec<_> = writers
        .iter()
        .cloned()
        .map(|writer| {
            let messages = app.messages.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let request = dchat_proto::message::v1::AppendReq {
                        room_id: "general".into(),
                        user_id: writer.user_id.clone(),
                        text: format!("live {i}"),
                        idempotency_key: String::new(),
                    };
                    messages.clone().append(request).await.unwrap();
                }
            })
        })
        .collect();
    // Subscribe while the writers are running, so the switch from history to live
    // happens under load.
    let reader = app.register("reader").await;
    let mut stream = subscribe(&app, "general", &reader, Some(K)).await.unwrap();
    let last = BEFORE + WRITERS * PER_WRITER;
    let mut received = Vec::new();
    while received.last().copied().unwrap_or(K) < last {
        let message = stream.message().await.unwrap().expect("the stream stays open");
        received.push(message.offset);
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(received, (K + 1..=last).collect::<Vec<_>>(), "no gap, no duplicate, in order");
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_without_after_gets_only_new_messages() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    app.append("general", &alice, "old", "").await.unwrap();
    let mut stream = subscribe(&app, "general", &alice, None).await.unwrap();
    // The subscription is registered when the call returns; what follows is live.
    app.append("general", &alice, "new", "").await.unwrap();
    let message = stream.message().await.unwrap().unwrap();
    assert_eq!((message.offset, message.text.as_str()), (2, "new"));
    app.stop().await;
}

#[tokio::test]
async fn only_members_append_read_or_subscribe_and_leaving_takes_effect_at_once() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    let mallory = app.register("mallory").await;
    app.create_room("private", &alice).await;
    app.append("private", &alice, "secret", "").await.unwrap();

    assert_code(app.append("private", &mallory, "hi", "").await, Code::PermissionDenied, "non-member append");
    assert_code(app.list("private", &mallory, 1, 0, 10).await, Code::PermissionDenied, "non-member list");
    assert_code(subscribe(&app, "private", &mallory, Some(0)).await, Code::PermissionDenied, "non-member subscribe");
    // A room that does not exist answers the same, so ids cannot be probed.
    assert_code(app.append("ghost", &alice, "hi", "").await, Code::PermissionDenied, "missing room");

    let mut rooms = app.rooms.clone();
    let membership = JoinLeaveReq { room_id: "private".into(), user_id: mallory.user_id.clone() };
    rooms.join_room(membership.clone()).await.unwrap();
    assert_eq!(app.append("private", &mallory, "joined", "").await.unwrap(), 2, "a join is seen at once");
    let mut stream = subscribe(&app, "private", &mallory, Some(0)).await.unwrap();
    assert_eq!(stream.message().await.unwrap().unwrap().offset, 1);
    assert_eq!(stream.message().await.unwrap().unwrap().offset, 2);

    rooms.leave_room(membership).await.unwrap();
    assert_code(app.append("private", &mallory, "left", "").await, Code::PermissionDenied, "append after leave");
    assert_code(app.list("private", &mallory, 1, 0, 10).await, Code::PermissionDenied, "list after leave");
    // The open subscription ends instead of leaking later messages.
    app.append("private", &alice, "after mallory left", "").await.unwrap();
    let ended = loop {
        match stream.message().await {
            Ok(Some(message)) => assert!(message.offset <= 2, "received {message:?} after leaving"),
            other => break other,
        }
    };
    assert_code(ended, Code::PermissionDenied, "subscription after leave");
    app.stop().await;
}

#[tokio::test]
async fn message_text_must_be_non_empty_and_within_the_limit() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    assert_code(app.append("general", &alice, "", "").await, Code::InvalidArgument, "empty text");
    assert_code(app.append("general", &alice, "  \n", "").await, Code::InvalidArgument, "blank text");
    assert_code(app.append("general", &alice, &"x".repeat(4001), "").await, Code::InvalidArgument, "4001 characters");
    assert_eq!(app.append("general", &alice, &"é".repeat(4000), "").await.unwrap(), 1, "4000 characters fit");
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_sees_the_same_messages_history_shows() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    let mut stream = subscribe(&app, "general", &alice, Some(0)).await.unwrap();
    let mut sent = BTreeMap::new();
    for i in 0..30 {
        let text = format!("message {i}");
        let offset = app.append("general", &alice, &text, &format!("k{i}")).await.unwrap();
        sent.insert(offset, text);
    }
    let mut seen = HashSet::new();
    for _ in 0..30 {
        let message = stream.message().await.unwrap().unwrap();
        assert_eq!(sent.get(&message.offset), Some(&message.text));
        assert_eq!(message.idempotency_key, format!("k{}", message.offset - 1));
        assert!(seen.insert(message.offset));
    }
    app.stop().await;
}

/// The seed's own gateway calls `message.v1` `List` (limit 0) and `Subscribe` with the seed's
/// messages, which have no `user_id`: a trusted service call on the internal port.
#[tokio::test]
async fn a_service_call_without_a_user_reads_history_and_live_messages_as_the_seeds_gateway_does() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    for i in 1..=3 {
        app.append("general", &alice, &format!("m{i}"), "").await.unwrap();
    }
    let request = dchat_proto::message::v1::ListReq { room_id: "general".into(), ..Default::default() };
    let mut history = app.messages.clone().list(request).await.expect("a service may list").into_inner();
    let mut texts = Vec::new();
    while let Some(message) = history.message().await.unwrap() {
        texts.push(message.text);
    }
    assert_eq!(texts, ["m1", "m2", "m3"], "limit 0 is the default page, from the start");

    let request = RoomId { room_id: "general".into(), ..Default::default() };
    let mut live = app.messages.clone().subscribe(request).await.expect("a service may subscribe").into_inner();
    app.append("general", &alice, "m4", "").await.unwrap();
    let next = live.message().await.unwrap().expect("a live message");
    assert_eq!((next.offset, next.text.as_str()), (4, "m4"), "only live messages, as the seed's Subscribe");
    // A user that is named must still be a member.
    let stranger =
        RoomId { room_id: "general".into(), user_id: dchat_core::UserId::generate().to_string(), after: None };
    assert_code(app.messages.clone().subscribe(stranger).await, Code::PermissionDenied, "a named non-member");
    app.stop().await;
}

/// A room's live channel in the message service starts small and is replaced by a larger
/// one when a subscriber falls behind; every subscriber, the one that lagged and the ones
/// moved off the old channel, still gets every offset once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_every_offset_once_while_the_rooms_channel_grows_under_bursts() {
    let (app, _dir) = spawn_app().await;
    let writer = app.register("writer").await;
    let mut subscribers = Vec::new();
    for n in 0..3 {
        let reader = app.register(&format!("reader{n}")).await;
        subscribers.push(subscribe(&app, "general", &reader, None).await.unwrap());
    }
    const BURSTS: i64 = 4;
    const PER_BURST: i64 = 500;
    for burst in 0..BURSTS {
        let appends = (0..PER_BURST)
            .map(|i| dchat_proto::message::v1::AppendReq {
                room_id: "general".into(),
                user_id: writer.user_id.clone(),
                text: format!("{burst}/{i}"),
                idempotency_key: String::new(),
            })
            .collect();
        let request = dchat_proto::message::v1::AppendManyReq { appends };
        let results = app.messages.clone().append_many(request).await.unwrap().into_inner().results;
        assert!(results.iter().all(|result| result.success));
    }
    for (n, stream) in subscribers.iter_mut().enumerate() {
        let mut received = Vec::new();
        while received.len() < (BURSTS * PER_BURST) as usize {
            received.push(stream.message().await.unwrap().expect("the stream stays open"));
        }
        assert_eq!(offsets(&received), (1..=BURSTS * PER_BURST).collect::<Vec<_>>(), "subscriber {n}");
    }
    app.stop().await;
}
