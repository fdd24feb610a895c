//! The split topology as separate OS processes of the built binary: the room, auth and
//! message roles each in their own process, talking gRPC over loopback. The message
//! process is killed with SIGKILL in the middle of a load and restarted; nothing that was
//! acknowledged may be lost, and offsets must stay gapless with no duplicates.

use std::{collections::HashMap, sync::Arc, time::Duration};

use dchat_proto::{
    auth::v1::{RegisterRequest, auth_service_client::AuthServiceClient},
    message::v1::{AppendReq, ListReq, message_service_client::MessageServiceClient},
    room::v1::{CreateRoomReq, JoinLeaveReq, room_service_client::RoomServiceClient},
};
use tokio::sync::watch;

use crate::processes::RoleProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_message_process_mid_load_loses_no_acknowledged_message() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 150;
    const KILL_AFTER_ACKS: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let room = RoleProcess::start("room", dir.path(), &[]).await;
    let room_addr = vec!["--room-addr".to_owned(), room.addr.to_string()];
    let auth = RoleProcess::start("auth", dir.path(), &room_addr).await;
    let mut message = RoleProcess::start("message", dir.path(), &room_addr).await;

    let mut rooms = RoomServiceClient::new(room.channel());
    let mut auth_client = AuthServiceClient::new(auth.channel());
    let messages = MessageServiceClient::new(message.channel());

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let registered = auth_client
            .register(RegisterRequest {
                client: None,
                email: String::new(),
                password: "correct horse".into(),
                display_name: String::new(),
                username: format!("writer{w}"),
            })
            .await
            .expect("register across processes")
            .into_inner();
        writers.push(registered.user.unwrap().user_id);
    }
    rooms
        .create_room(CreateRoomReq { room_id: "load".into(), name: "Load".into(), creator_user_id: writers[0].clone() })
        .await
        .unwrap();
    for writer in &writers[1..] {
        rooms.join_room(JoinLeaveReq { room_id: "load".into(), user_id: writer.clone() }).await.unwrap();
    }

    // Each writer sends its messages in order, retrying every failed append with the same
    // key until it is acknowledged, exactly as a careful client would.
    let (progress, mut n_acked) = watch::channel(0usize);
    let progress = Arc::new(progress);
    let tasks: Vec<_> = writers
        .iter()
        .cloned()
        .enumerate()
        .map(|(w, user_id)| {
            let messages = messages.clone();
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut acked = HashMap::new();
                let mut n_retries = 0;
                for i in 0..PER_WRITER {
                    let request = AppendReq {
                        room_id: "load".into(),
                        user_id: user_id.clone(),
                        text: format!("writer {w} message {i}"),
                        idempotency_key: format!("w{w}-{i}"),
                    };
                    let offset = loop {
                        match messages.clone().append(request.clone()).await {
                            Ok(response) => break response.into_inner().offset,
                            Err(status) => {
                                n_retries += 1;
                                assert!(n_retries < 2000, "writer {w} kept failing: {status:?}");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    };
                    acked.insert(request.idempotency_key, offset);
                    progress.send_modify(|n| *n += 1);
                }
                (acked, n_retries)
            })
        })
        .collect();

    n_acked.wait_for(|&n| n >= KILL_AFTER_ACKS).await.unwrap();
    message.kill().await;
    let acked_before_kill = *n_acked.borrow();
    assert!(acked_before_kill < WRITERS * PER_WRITER, "the kill happened mid-load");
    message.restart().await;

    let mut acked = HashMap::new();
    let mut n_retries = 0;
    for task in tasks {
        let (writer_acked, writer_retries) = task.await.unwrap();
        acked.extend(writer_acked);
        n_retries += writer_retries;
    }
    assert!(n_retries > 0, "the writers saw the message service go down");
    assert_eq!(acked.len(), WRITERS * PER_WRITER);

    // Read everything back from the restarted process.
    let mut stored = Vec::new();
    loop {
        let request = ListReq {
            room_id: "load".into(),
            from_offset: stored.len() as i64 + 1,
            limit: 500,
            before: 0,
            user_id: writers[0].clone(),
        };
        let mut page = messages.clone().list(request).await.unwrap().into_inner();
        let before = stored.len();
        while let Some(message) = page.message().await.unwrap() {
            stored.push(message);
        }
        if stored.len() == before {
            break;
        }
    }
    let offsets: Vec<i64> = stored.iter().map(|message| message.offset).collect();
    assert_eq!(offsets, (1..=(WRITERS * PER_WRITER) as i64).collect::<Vec<_>>(), "gapless, no duplicates");
    let by_key: HashMap<&str, i64> =
        stored.iter().map(|message| (message.idempotency_key.as_str(), message.offset)).collect();
    assert_eq!(by_key.len(), stored.len(), "every key stored once");
    for (key, offset) in &acked {
        assert_eq!(by_key.get(key.as_str()), Some(offset), "acknowledged {key} at {offset} but stored otherwise");
    }
}
