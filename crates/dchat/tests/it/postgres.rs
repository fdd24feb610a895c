//! `dchat serve` on PostgreSQL (`--database-url`): what it stores survives a restart, and a
//! second process of a service on the same database is refused at start, with a message
//! that says why, for as long as replicas cannot share one. (The suites that run in every
//! topology run on PostgreSQL too: see `support::Topology::SplitOnPostgres`.)

use dchat::{App, Role};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    http::{browser, get, post, register},
    support::{postgres_configured, spawn_app_with, test_config},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_rooms_and_messages_survive_a_restart_on_postgres() {
    if !postgres_configured("accounts_rooms_and_messages_survive_a_restart_on_postgres") {
        return;
    }
    let database = dchat_storage::testing::TestDatabase::create("a restart").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database_url = Some(database.url.clone());
    let app = spawn_app_with(config.clone()).await;
    let (ada, body) = register(&app, "ada").await;
    let token = body["token"].as_str().unwrap().to_owned();
    post(&ada, &app, "/api/room/create", json!({"room_id": "kept", "name": "Kept"})).await;
    for text in ["one", "two"] {
        let (status, _) =
            post(&ada, &app, "/api/message/append", json!({"room_id": "kept", "text": text, "client_id": text})).await;
        assert_eq!(status, StatusCode::OK);
    }
    app.stop().await;
    assert!(std::fs::read_dir(dir.path()).map(|entries| entries.count()).unwrap_or(0) == 0, "no SQLite file made");

    let app = spawn_app_with(config).await;
    let me = reqwest::Client::new().get(format!("{}/api/me", app.http)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the session survived");
    let (_, page) = get(&ada, &app, "/api/message/list?room_id=kept").await;
    let texts: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two"]);
    // A retry after the restart answers the original offset; the next message counts on.
    let (_, again) =
        post(&ada, &app, "/api/message/append", json!({"room_id": "kept", "text": "two", "client_id": "two"})).await;
    assert_eq!((again["offset"].as_i64(), again["duplicate"].as_bool()), (Some(2), Some(true)));
    let (_, next) = post(&ada, &app, "/api/message/append", json!({"room_id": "kept", "text": "three"})).await;
    assert_eq!(next["offset"].as_i64(), Some(3));
    let (status, _) =
        post(&browser(), &app, "/api/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_of_a_service_on_one_database_is_refused_at_start() {
    if !postgres_configured("a_second_process_of_a_service_on_one_database_is_refused_at_start") {
        return;
    }
    let database = dchat_storage::testing::TestDatabase::create("a second replica").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database_url = Some(database.url.clone());
    config.message.bind = "127.0.0.1:0".parse().unwrap();
    config.room.bind = "127.0.0.1:0".parse().unwrap();
    let first = App::build(config.clone(), Role::Message).await.expect("the first message service starts");
    let err = App::build(config.clone(), Role::Message).await.expect_err("a second is refused");
    let message = format!("{err:#}");
    assert!(message.contains("another message service already uses this database"), "{message}");
    assert!(!message.contains("correct horse"), "{message}");
    // Another service on the same database is fine.
    let room = App::build(config, Role::Room).await.expect("a room service beside it");
    drop((first, room, database));
}
