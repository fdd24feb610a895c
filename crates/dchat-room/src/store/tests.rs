//! The contract every [`RoomStore`] keeps, checked against each backend.

use dchat_core::{RoomId, RoomName, UserId};

use super::{RoomStore, SqliteRoomStore};

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

    // Create: the creator is the first member; a taken id, in any case, changes nothing.
    assert_eq!(store.insert_room(&id("club"), &name("Club"), Some(ada), 10).await.unwrap(), None);
    assert_eq!(store.insert_room(&id("club"), &name("Other"), Some(bob), 11).await.unwrap().as_deref(), Some("club"));
    assert_eq!(store.insert_room(&id("CLUB"), &name("Other"), Some(bob), 12).await.unwrap().as_deref(), Some("club"));
    assert_eq!(store.insert_room(&id("quiet"), &name("Quiet"), None, 13).await.unwrap(), None);
    let club = store.room(&id("club")).await.unwrap().unwrap();
    assert_eq!((club.name.as_str(), club.created_ms, club.member_count), ("Club", 10, 1));
    assert!(store.room(&id("CLUB")).await.unwrap().is_none(), "ids are exact when read");
    assert_eq!(store.room(&id("quiet")).await.unwrap().unwrap().member_count, 0);

    // Members: a missing room, a new member, one already there.
    assert_eq!(store.insert_member(&id("nowhere"), bob, 20).await.unwrap(), None);
    assert_eq!(store.insert_member(&id("club"), bob, 21).await.unwrap(), Some(true));
    assert_eq!(store.insert_member(&id("club"), bob, 22).await.unwrap(), Some(false));
    assert_eq!(store.insert_member(&id("general"), cid, 23).await.unwrap(), Some(true));
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
    assert!(store.delete_member(&id("club"), bob).await.unwrap());
    assert!(!store.delete_member(&id("club"), bob).await.unwrap());
    assert!(!store.share_a_room(ada, bob).await.unwrap());
    assert_eq!(store.room(&id("club")).await.unwrap().unwrap().member_count, 1);
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    keeps_the_contract(&SqliteRoomStore::migrate(pool, &path).await.unwrap()).await;
}

/// The same contract on PostgreSQL, in a database of the test's own.
#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let Some(db) = dchat_storage::testing::TestDatabase::create("the room store contract").await else {
        return;
    };
    let pool = dchat_storage::postgres::open_postgres(&db.url, super::SCHEMA, 4).await.unwrap();
    keeps_the_contract(&super::PgRoomStore::migrate(pool).await.unwrap()).await;
}
