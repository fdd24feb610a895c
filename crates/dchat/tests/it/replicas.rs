//! Message service replicas on one PostgreSQL database with NATS between them
//! (`--database-url` and `--nats-url`): appends through either replica take the room's
//! next offsets, a live subscriber on one replica gets every message of the room exactly
//! once and in order whichever replica committed it, and a message whose bus hint never
//! came (stored behind the replicas' backs) still reaches it, within the reconciliation
//! period. Runs when `DCHAT_TEST_DATABASE_URL` and `DCHAT_TEST_NATS_URL` are set.

use std::time::Duration;

use dchat::{App, Role};
use dchat_message::{MessageAppender, PgMessageStore, StoredMessage};
use dchat_proto::{
    message::v1::{AppendReq, RoomId as MsgRoomId, message_service_client::MessageServiceClient},
    room::v1::{CreateRoomReq, room_service_client::RoomServiceClient},
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::support::{connect, nats_url, postgres_configured, test_config};

/// Starts a role and connects to it; answers the channel and the address.
async fn start(config: &dchat::config::Config, role: Role, stop: &CancellationToken) -> (Channel, String) {
    let app = App::build(config.clone(), role).await.expect("build a role");
    let addr = app.grpc_addr().expect("a gRPC listener");
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (connect(addr).await, addr.to_string())
}

/// A name no other run of this test uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos();
    format!("{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_message_replicas_share_a_room_with_no_gap_and_deliver_each_others_messages() {
    if !postgres_configured("two_message_replicas_share_a_room") {
        return;
    }
    let Some(nats) = nats_url("two_message_replicas_share_a_room") else { return };
    let database = dchat_storage::testing::TestDatabase::create("message replicas").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database_url = Some(database.url.clone());
    config.nats_url = Some(nats);
    // This run's own subjects: other runs may share the NATS server.
    config.nats_prefix = format!("dchat-test-{}", unique());
    let any = "127.0.0.1:0".parse().unwrap();
    config.room.bind = any;
    config.message.bind = any;
    let stop = CancellationToken::new();

    let (room_channel, room_addr) = start(&config, Role::Room, &stop).await;
    // Both replicas find the room service at its address.
    config.room.addr = room_addr;
    // A room of this run's own name: other runs may share the NATS server.
    let room_id = format!("replicas-{}", unique());
    let sender = dchat_core::UserId::generate().to_string();
    let created = CreateRoomReq { room_id: room_id.clone(), name: "Replicas".into(), creator_user_id: sender.clone() };
    RoomServiceClient::new(room_channel).create_room(created).await.unwrap();
    let ((replica_a, _), (replica_b, _)) =
        (start(&config, Role::Message, &stop).await, start(&config, Role::Message, &stop).await);
    let (mut a, mut b) = (MessageServiceClient::new(replica_a), MessageServiceClient::new(replica_b));

    // A live subscriber on A, as the gateway's tail of the room would be.
    let mut live = a
        .subscribe(MsgRoomId { room_id: room_id.clone(), user_id: String::new(), after: Some(0) })
        .await
        .unwrap()
        .into_inner();
    for n in 1..=20i64 {
        let client = if n % 2 == 0 { &mut a } else { &mut b };
        let append = AppendReq {
            room_id: room_id.clone(),
            user_id: sender.clone(),
            text: format!("m{n}"),
            idempotency_key: format!("k{n}"),
        };
        let answer = client.append(append).await.unwrap().into_inner();
        assert_eq!(answer.offset, n, "the room's next offset, whichever replica appends");
    }
    for n in 1..=20i64 {
        let message = tokio::time::timeout(Duration::from_secs(5), live.message()).await.expect("within 5 s");
        let message = message.unwrap().expect("the stream goes on");
        assert_eq!((message.offset, message.text.as_str()), (n, format!("m{n}").as_str()), "exactly once, in order");
    }
    // A retry through the other replica answers the original offset.
    let retry = AppendReq {
        room_id: room_id.clone(),
        user_id: sender.clone(),
        text: "m3".into(),
        idempotency_key: "k3".into(),
    };
    let answer = a.append(retry).await.unwrap().into_inner();
    assert_eq!((answer.offset, answer.duplicate), (3, true));
    let next = b.next_offset(MsgRoomId { room_id: room_id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(next.value, 21, "each replica knows the head the other committed");

    // A message stored behind both replicas' backs (its hint never came) still reaches
    // the live subscriber, by the periodic check of the head.
    let mut appender = PgMessageStore::open(&database.url).await.unwrap().appender();
    let stored = appender
        .append_batch(vec![StoredMessage {
            room_id: dchat_core::RoomId::parse(&room_id).unwrap(),
            offset: 0,
            user_id: dchat_core::UserId::parse(&sender).unwrap(),
            text: "no hint".into(),
            ts_ms: 1,
            idempotency_key: None,
        }])
        .await
        .unwrap();
    assert_eq!(stored[0].offset, 21);
    let reconciled = dchat_message::RECONCILE_EVERY + Duration::from_secs(3);
    let message = tokio::time::timeout(reconciled, live.message()).await.expect("within the check's period");
    assert_eq!(message.unwrap().map(|m| (m.offset, m.text)), Some((21, "no hint".to_owned())));
    stop.cancel();
}
