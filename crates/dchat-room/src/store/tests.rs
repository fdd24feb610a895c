//! The contract every [`RoomStore`] keeps, checked against each backend.

use dchat_core::{RoomId, RoomName, UserId};

use super::{MemberInsert, RoomInsert, RoomStore, SqliteRoomStore};
use crate::MembershipChange;

fn id(room_id: &str) -> RoomId {
    RoomId::parse(room_id).unwrap()
}

fn name(room_name: &str) -> RoomName {
    RoomName::parse(room_name).unwrap()
}

fn ids(rooms: &[crate::Room]) -> Vec<&str> {
    rooms.iter().map(|room| room.room_id.as_str()).collect()
}

/// Runs the whole contract against a store that holds only what its migrations made.
async fn keeps_the_contract(store: &dyn RoomStore) {
    let (ada, bob, cid) = (UserId::generate(), UserId::generate(), UserId::generate());
    let general = store.room(&id("general")).await.unwrap().expect("general exists from the start");
    assert_eq!((general.name.as_str(), general.member_count), ("General Chat", 0));

    assert_eq!(store.last_change().await.unwrap(), 0);

    // Create: the creator is the first member (change 1); a taken id, in any case, changes
    // nothing.
    assert_eq!(store.insert_room(&id("club"), &name("Club"), Some(ada), 10).await.unwrap(), RoomInsert::Made(Some(1)));
    let taken = RoomInsert::Taken("club".to_owned());
    assert_eq!(store.insert_room(&id("club"), &name("Other"), Some(bob), 11).await.unwrap(), taken);
    assert_eq!(store.insert_room(&id("CLUB"), &name("Other"), Some(bob), 12).await.unwrap(), taken);
    assert_eq!(store.insert_room(&id("quiet"), &name("Quiet"), None, 13).await.unwrap(), RoomInsert::Made(None));
    let club = store.room(&id("club")).await.unwrap().unwrap();
    assert_eq!((club.name.as_str(), club.created_ms, club.member_count), ("Club", 10, 1));
    assert!(store.room(&id("CLUB")).await.unwrap().is_none(), "ids are exact when read");
    assert_eq!(store.room(&id("quiet")).await.unwrap().unwrap().member_count, 0);

    // Members: a missing room, a new member, one already there.
    assert_eq!(store.insert_member(&id("nowhere"), bob, 20).await.unwrap(), MemberInsert::NoSuchRoom);
    assert_eq!(store.insert_member(&id("club"), bob, 21).await.unwrap(), MemberInsert::Joined(2));
    assert_eq!(store.insert_member(&id("club"), bob, 22).await.unwrap(), MemberInsert::AlreadyMember);
    assert_eq!(store.insert_member(&id("general"), cid, 23).await.unwrap(), MemberInsert::Joined(3));
    assert_eq!(store.members(&id("club")).await.unwrap(), [(ada, 10), (bob, 21)], "oldest first");
    assert!(store.members(&id("nowhere")).await.unwrap().is_empty());

    // Reads.
    assert_eq!(ids(&store.rooms().await.unwrap()), ["club", "general", "quiet"]);
    assert_eq!(ids(&store.rooms_after("", 2).await.unwrap()), ["club", "general"]);
    assert_eq!(ids(&store.rooms_after("general", 2).await.unwrap()), ["quiet"]);
    assert_eq!(ids(&store.rooms_of(bob).await.unwrap()), ["club"]);
    assert!(store.rooms_of(UserId::generate()).await.unwrap().is_empty());
    assert!(store.is_member(&id("club"), ada).await.unwrap());
    assert!(!store.is_member(&id("club"), cid).await.unwrap());
    assert!(store.share_a_room(ada, bob).await.unwrap());
    assert!(store.share_a_room(ada, ada).await.unwrap(), "a member of any room shares it with themself");
    assert!(!store.share_a_room(ada, cid).await.unwrap(), "club and general have no one in common");

    // Delete: once, then it is gone.
    assert_eq!(store.delete_member(&id("club"), bob, 30).await.unwrap(), Some(4));
    assert_eq!(store.delete_member(&id("club"), bob, 31).await.unwrap(), None);
    assert!(!store.share_a_room(ada, bob).await.unwrap());
    assert_eq!(store.room(&id("club")).await.unwrap().unwrap().member_count, 1);

    // The log: every join and leave, in order; trimming keeps the numbering.
    let change = |room: &str, user_id, member| MembershipChange { room_id: id(room), user_id, member };
    assert_eq!(store.last_change().await.unwrap(), 4);
    assert_eq!(
        store.changes_after(0, 10).await.unwrap(),
        [
            (1, change("club", ada, true)),
            (2, change("club", bob, true)),
            (3, change("general", cid, true)),
            (4, change("club", bob, false))
        ]
    );
    assert_eq!(store.changes_after(2, 1).await.unwrap(), [(3, change("general", cid, true))]);
    store.delete_changes_through(4).await.unwrap();
    assert!(store.changes_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.last_change().await.unwrap(), 4, "trimming does not rewind the numbers");
    assert_eq!(store.insert_member(&id("club"), bob, 40).await.unwrap(), MemberInsert::Joined(5));
}

/// Joins and leaves made at once through several connections (replicas, on PostgreSQL)
/// are numbered 1..n without a hole, and a reader never sees a number before the ones
/// below it have committed.
async fn numbers_concurrent_changes_consecutively(store: std::sync::Arc<dyn RoomStore>) {
    let start = store.last_change().await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = start;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (seq, _) in store.changes_after(seen, 1000).await.unwrap() {
                    assert_eq!(seq, seen + 1, "a reader saw change {seq} before change {}", seen + 1);
                    seen = seq;
                }
            }
            seen
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    let user_id = UserId::generate();
                    store.insert_member(&id("general"), user_id, 1).await.unwrap();
                    store.delete_member(&id("general"), user_id, 2).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(store.last_change().await.unwrap(), start + 200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.await.unwrap();
    let rest = store.changes_after(seen, 1000).await.unwrap();
    let seqs: Vec<u64> = rest.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, ((seen + 1)..=(start + 200)).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    let store = std::sync::Arc::new(SqliteRoomStore::migrate(pool, &path).await.unwrap());
    keeps_the_contract(store.as_ref()).await;
    numbers_concurrent_changes_consecutively(store).await;
}

/// The same contract on PostgreSQL, in a database of the test's own.
#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let Some(db) = dchat_storage::testing::TestDatabase::create("the room store contract").await else {
        return;
    };
    let pool = dchat_storage::postgres::open_postgres(&db.url, super::SCHEMA, 8).await.unwrap();
    let store = std::sync::Arc::new(super::PgRoomStore::migrate(pool).await.unwrap());
    keeps_the_contract(store.as_ref()).await;
    numbers_concurrent_changes_consecutively(store).await;
}
