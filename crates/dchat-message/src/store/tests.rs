//! The contract every [`MessageLog`] and [`MessageAppender`] keeps, checked against each
//! backend.

use std::sync::Arc;

use dchat_core::{RoomId, UserId};
use dchat_storage::StoreError;

use super::{MessageAppender, MessageLog, PgMessageStore, ROWS_PER_INSERT, SCHEMA, SqliteMessageStore};
use crate::service::StoredMessage;

/// A message to append; the appender numbers it (`n` names its text and time).
fn message(room: &RoomId, n: i64, user: UserId, key: Option<&str>) -> StoredMessage {
    StoredMessage {
        room_id: room.clone(),
        offset: 0,
        user_id: user,
        text: format!("m{n}"),
        ts_ms: 1_000 + n,
        idempotency_key: key.map(str::to_owned),
    }
}

fn offsets(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|message| message.offset).collect()
}

/// Runs the whole contract against a log and its appender that hold nothing yet.
async fn keeps_the_contract(log: &dyn MessageLog, appender: &mut dyn MessageAppender) {
    let (general, other) = (RoomId::general(), RoomId::parse("other").unwrap());
    let (ada, bob) = (UserId::generate(), UserId::generate());
    assert_eq!((log.head(&general).await.unwrap(), appender.head(&general).await.unwrap()), (0, 0));

    // A batch is stored whole, each message at the next offset of its room in the order
    // given; a batch larger than one statement too.
    let first: Vec<_> = (1..=3).map(|n| message(&general, n, ada, Some(&format!("k{n}")))).collect();
    let stored = appender.append_batch(first.clone()).await.unwrap();
    assert_eq!(stored.iter().map(|m| m.offset).collect::<Vec<_>>(), [1, 2, 3]);
    let large: Vec<_> = (1..=ROWS_PER_INSERT as i64 + 10).map(|n| message(&other, n, bob, None)).collect();
    appender.append_batch(large).await.unwrap();
    assert_eq!(log.head(&general).await.unwrap(), 3);
    assert_eq!(appender.head(&other).await.unwrap(), ROWS_PER_INSERT as i64 + 10);
    let empty = RoomId::parse("empty").unwrap();
    let mut heads = log.heads(&[general.clone(), empty, other.clone()]).await.unwrap();
    heads.sort();
    let mut expected_heads = vec![(general.clone(), 3), (other.clone(), ROWS_PER_INSERT as i64 + 10)];
    expected_heads.sort();
    assert_eq!(heads, expected_heads, "the heads of the rooms that have messages, in one call");
    let expected: Vec<StoredMessage> =
        first.into_iter().zip(1..).map(|(message, offset)| StoredMessage { offset, ..message }).collect();
    assert_eq!(log.range(&general, 1, 3).await.unwrap(), expected);
    // Rooms interleaved in one batch each count on.
    let mixed =
        vec![message(&general, 90, ada, None), message(&other, 91, ada, None), message(&general, 92, ada, None)];
    let stored = appender.append_batch(mixed).await.unwrap();
    let numbered: Vec<(&str, i64)> = stored.iter().map(|m| (m.room_id.as_str(), m.offset)).collect();
    assert_eq!(numbered, [("general", 4), ("other", ROWS_PER_INSERT as i64 + 11), ("general", 5)]);

    // A stored key refuses the whole batch, however large: nothing of it is stored, and no
    // offset is used up.
    for size in [2, ROWS_PER_INSERT + 5] {
        let mut batch: Vec<_> = (0..size as i64).map(|n| message(&general, n, bob, None)).collect();
        batch.push(message(&general, 99, ada, Some("k2")));
        let err = appender.append_batch(batch).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
        assert_eq!(log.head(&general).await.unwrap(), 5, "a batch of {size} left nothing behind");
    }
    // Keys belong to one sender in one room.
    let found = appender.offsets_of_keys(&general, ada, &["k1", "k3", "nope"]).await.unwrap();
    assert_eq!((found.len(), found["k1"], found["k3"]), (2, (1, 1_001), (3, 1_003)));
    assert!(appender.offsets_of_keys(&general, bob, &["k1"]).await.unwrap().is_empty());
    assert!(appender.offsets_of_keys(&other, ada, &["k1"]).await.unwrap().is_empty());
    let stored = appender.append_batch(vec![message(&general, 6, bob, Some("k1"))]).await.unwrap();
    assert_eq!(stored[0].offset, 6, "the refused batches used no offset");

    // Reads: ranges that run past the head, pages backwards.
    assert_eq!(offsets(&log.range(&general, 2, 100).await.unwrap()), [2, 3, 4, 5, 6]);
    assert!(log.range(&general, 7, 9).await.unwrap().is_empty());
    assert_eq!(offsets(&log.before(&general, 4, 2).await.unwrap()), [2, 3]);
    assert_eq!(offsets(&log.before(&general, 100, 500).await.unwrap()), [1, 2, 3, 4, 5, 6]);
    assert!(log.before(&general, 1, 10).await.unwrap().is_empty());
    assert_eq!(log.range(&other, 1, 1_000).await.unwrap().len(), ROWS_PER_INSERT + 11);
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    let store = SqliteMessageStore::migrate(pool, &path).await.unwrap();
    let mut appender = store.appender().await.unwrap();
    keeps_the_contract(&store, &mut appender).await;
    // Closing waits for every connection to come back, the appender's too.
    drop(appender);
    store.close().await;
}

/// The same contract on PostgreSQL, in a database of the test's own.
#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let Some(db) = dchat_storage::testing::TestDatabase::create("the message store contract").await else {
        return;
    };
    let pool = dchat_storage::postgres::open_postgres(&db.url, SCHEMA, 4).await.unwrap();
    let store = PgMessageStore::migrate(pool).await.unwrap();
    keeps_the_contract(&store, &mut store.appender()).await;
}

/// Several replicas appending to the same rooms at once, each with its own pool: every
/// room's offsets are exactly 1..n, every key stored once, and a reader that sees head k
/// can always read all of 1..k, whenever it looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_appending_to_one_room_leave_no_gap_and_commit_in_offset_order() {
    let Some(db) = dchat_storage::testing::TestDatabase::create("concurrent appenders").await else {
        return;
    };
    const REPLICAS: usize = 4;
    const BATCHES: i64 = 40;
    let rooms = [RoomId::parse("a").unwrap(), RoomId::parse("b").unwrap(), RoomId::parse("c").unwrap()];
    let open = || dchat_storage::postgres::open_postgres(&db.url, SCHEMA, 3);
    let log = PgMessageStore::migrate(open().await.unwrap()).await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // A reader: whatever head it sees, everything below it is there.
    let reader = {
        let (log, done, room) = (log.clone(), done.clone(), rooms[0].clone());
        tokio::spawn(async move {
            let mut checks = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let head = log.head(&room).await.unwrap();
                let seen = log.range(&room, 1, head).await.unwrap();
                assert_eq!(offsets(&seen), (1..=head).collect::<Vec<_>>(), "a hole below head {head}");
                checks += 1;
            }
            checks
        })
    };
    let mut writers = Vec::new();
    for replica in 0..REPLICAS {
        let store = PgMessageStore::migrate(open().await.unwrap()).await.unwrap();
        let rooms = rooms.clone();
        writers.push(tokio::spawn(async move {
            let mut appender = store.appender();
            let user = UserId::generate();
            for batch in 0..BATCHES {
                // Each batch touches the rooms in a different order, with a retry of the
                // previous batch's first key every third time.
                let mut messages = Vec::new();
                for (i, room) in rooms.iter().enumerate().cycle().skip(batch as usize % 3).take(5) {
                    let n = batch * 10 + i as i64 + messages.len() as i64;
                    messages.push(message(room, n, user, Some(&format!("r{replica}-b{batch}-{}", messages.len()))));
                }
                loop {
                    match appender.append_batch(messages.clone()).await {
                        Ok(_) => break,
                        // A lock wait that timed out: the batch is retried whole, as the
                        // writer's caller would.
                        Err(StoreError::Unavailable(_)) => continue,
                        Err(err) => panic!("replica {replica}: {err}"),
                    }
                }
                if batch % 3 == 2 {
                    // The previous batch's first message went to the room its turn skipped to.
                    let room = &rooms[(batch as usize - 1) % 3];
                    let again = vec![message(room, 0, user, Some(&format!("r{replica}-b{}-0", batch - 1)))];
                    let err = appender.append_batch(again).await.unwrap_err();
                    assert!(matches!(err, StoreError::Conflict { .. }), "a stored key is refused: {err:?}");
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0, "the reader looked at least once");

    let mut total = 0;
    for room in &rooms {
        let stored = log.range(room, 1, 1_000_000).await.unwrap();
        let head = log.head(room).await.unwrap();
        assert_eq!(offsets(&stored), (1..=head).collect::<Vec<_>>(), "room {room}: offsets 1..n");
        let mut keys: Vec<&str> = stored.iter().filter_map(|m| m.idempotency_key.as_deref()).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "room {room}: a key stored twice");
        total += stored.len();
    }
    assert_eq!(total, REPLICAS * BATCHES as usize * 5, "every message of every batch, once");
}
