//! The contract every [`MessageLog`] and [`MessageAppender`] keeps, checked against each
//! backend.

use std::sync::Arc;

use dchat_core::{RoomId, UserId};
use dchat_storage::StoreError;

use super::{MessageAppender, MessageLog, ROWS_PER_INSERT, SqliteMessageStore};
use crate::service::StoredMessage;

fn message(room: &RoomId, offset: i64, user: UserId, key: Option<&str>) -> Arc<StoredMessage> {
    Arc::new(StoredMessage {
        room_id: room.clone(),
        offset,
        user_id: user,
        text: format!("m{offset}"),
        ts_ms: 1_000 + offset,
        idempotency_key: key.map(str::to_owned),
    })
}

fn offsets(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|message| message.offset).collect()
}

/// Runs the whole contract against a log and its appender that hold nothing yet.
async fn keeps_the_contract(log: &dyn MessageLog, appender: &mut dyn MessageAppender) {
    let (general, other) = (RoomId::general(), RoomId::parse("other").unwrap());
    let (ada, bob) = (UserId::generate(), UserId::generate());
    assert_eq!((log.head(&general).await.unwrap(), appender.head(&general).await.unwrap()), (0, 0));

    // A batch is stored whole, a batch larger than one statement too.
    let first: Vec<_> = (1..=3).map(|offset| message(&general, offset, ada, Some(&format!("k{offset}")))).collect();
    appender.insert_batch(&first).await.unwrap();
    let large: Vec<_> = (1..=ROWS_PER_INSERT as i64 + 10).map(|offset| message(&other, offset, bob, None)).collect();
    appender.insert_batch(&large).await.unwrap();
    assert_eq!(log.head(&general).await.unwrap(), 3);
    assert_eq!(appender.head(&other).await.unwrap(), ROWS_PER_INSERT as i64 + 10);
    assert_eq!(
        log.range(&general, 1, 3).await.unwrap().as_slice(),
        first.iter().map(|m| (**m).clone()).collect::<Vec<_>>()
    );

    // A stored key refuses the whole batch, however large: nothing of it is stored.
    for size in [2, ROWS_PER_INSERT + 5] {
        let mut batch: Vec<_> = (4..4 + size as i64).map(|offset| message(&general, offset, bob, None)).collect();
        batch.push(message(&general, 4 + size as i64, ada, Some("k2")));
        let err = appender.insert_batch(&batch).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
        assert_eq!(log.head(&general).await.unwrap(), 3, "a batch of {size} left nothing behind");
    }
    // Keys belong to one sender in one room.
    let found = appender.offsets_of_keys(&general, ada, &["k1", "k3", "nope"]).await.unwrap();
    assert_eq!((found.len(), found["k1"], found["k3"]), (2, (1, 1_001), (3, 1_003)));
    assert!(appender.offsets_of_keys(&general, bob, &["k1"]).await.unwrap().is_empty());
    assert!(appender.offsets_of_keys(&other, ada, &["k1"]).await.unwrap().is_empty());
    appender.insert_batch(&[message(&general, 4, bob, Some("k1"))]).await.unwrap();

    // Reads: ranges that run past the head, pages backwards.
    assert_eq!(offsets(&log.range(&general, 2, 100).await.unwrap()), [2, 3, 4]);
    assert!(log.range(&general, 5, 9).await.unwrap().is_empty());
    assert_eq!(offsets(&log.before(&general, 4, 2).await.unwrap()), [2, 3]);
    assert_eq!(offsets(&log.before(&general, 100, 500).await.unwrap()), [1, 2, 3, 4]);
    assert!(log.before(&general, 1, 10).await.unwrap().is_empty());
    assert_eq!(log.range(&other, 1, 1_000).await.unwrap().len(), ROWS_PER_INSERT + 10);
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
