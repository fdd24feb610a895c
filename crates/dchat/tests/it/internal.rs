//! The internal gRPC ports: `DCHAT_INTERNAL_TOKEN` between the roles, and the refusal to
//! serve them off loopback unprotected.

use dchat::{App, Role};
use dchat_proto::{
    INTERNAL_TOKEN_HEADER,
    message::v1::{ListReq, message_service_client::MessageServiceClient},
};
use reqwest::StatusCode;
use serde_json::json;
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    http::{get, post, register},
    support::{Topology, assert_code, spawn_with, test_config},
};

const TOKEN: &str = "a-shared-secret-for-tests-only";

/// A seed-shaped service call (no user: trusted), with `token` as the metadata if given.
fn list_general(token: Option<&str>) -> Request<ListReq> {
    let mut request = Request::new(ListReq { room_id: "general".into(), ..Default::default() });
    if let Some(token) = token {
        request.metadata_mut().insert(INTERNAL_TOKEN_HEADER, MetadataValue::try_from(token).unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_roles_work_together_and_a_caller_without_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.internal_token = Some(TOKEN.to_owned());
    let app = spawn_with(Topology::Split, config).await;

    // Through the ui, the gateway reaches every service with the token.
    let (ada, _) = register(&app, "ada").await;
    let (status, _) = post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": "hi"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = get(&ada, &app, "/api/message/list?room_id=general&from_offset=1").await;
    assert_eq!((status, page["messages"][0]["text"].as_str()), (StatusCode::OK, Some("hi")));

    let channel = Channel::from_shared(format!("http://{}", app.services.message.addr)).unwrap().connect_lazy();
    let mut messages = MessageServiceClient::new(channel.clone());
    assert_code(messages.list(list_general(None)).await, Code::Unauthenticated, "no token");
    assert_code(
        messages.list(list_general(Some("a-shared-secret-for-tests-onlY"))).await,
        Code::Unauthenticated,
        "a wrong token",
    );
    let mut page = messages.list(list_general(Some(TOKEN))).await.expect("the right token").into_inner();
    assert_eq!(page.message().await.unwrap().map(|message| message.text).as_deref(), Some("hi"));
    // Health checks need no secret and tell nothing.
    let health = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
    assert!(health.is_ok(), "{health:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_internal_port_off_loopback_is_refused_without_a_token_unless_the_operator_insists() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // Never bound: the refusal comes before the listener.
    config.room.bind = "0.0.0.0:0".parse().unwrap();
    let refused = App::build(config.clone(), Role::Room).await.expect_err("an open internal port");
    let message = format!("{refused:#}");
    assert!(message.contains("DCHAT_INTERNAL_TOKEN") && message.contains("--insecure-internal"), "{message}");

    config.internal_token = Some("too short".to_owned());
    config.room.bind = "127.0.0.1:0".parse().unwrap();
    let refused = App::build(config, Role::Room).await.expect_err("a weak token");
    assert!(format!("{refused:#}").contains("at least 16 characters"), "{refused:#}");
}
