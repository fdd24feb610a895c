//! What standard gRPC tooling relies on: health checks and server reflection. Also: a role
//! whose dependency is down keeps serving and answers UNAVAILABLE instead of crashing.

use dchat::{App, Role};
use dchat_proto::message::v1::AppendReq;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::{connect, spawn_app, test_config};

#[tokio::test]
async fn health_reports_every_service_as_serving() {
    let (app, _dir) = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in
        ["auth.v1.AuthService", "room.v1.RoomService", "message.v1.MessageService", "presence.v1.PresenceService"]
    {
        let status = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service}");
    }
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_every_dchat_service() {
    let (app, _dir) = spawn_app().await;
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    for expected in
        ["auth.v1.AuthService", "room.v1.RoomService", "message.v1.MessageService", "presence.v1.PresenceService"]
    {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_message_role_whose_room_service_is_down_keeps_serving_and_answers_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.message.bind = "127.0.0.1:0".parse().unwrap();
    // Nothing listens on port 1: every membership check fails to connect.
    config.room.addr = "127.0.0.1:1".into();
    let app = App::build(config, Role::Message).await.unwrap();
    let addr = app.grpc_addr().expect("a gRPC listener");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let channel = connect(addr).await;
    let mut messages = dchat_proto::message::v1::message_service_client::MessageServiceClient::new(channel.clone());
    for _ in 0..3 {
        let request = AppendReq {
            room_id: "general".into(),
            user_id: dchat_core::UserId::generate().to_string(),
            text: "hello?".into(),
            idempotency_key: String::new(),
        };
        let status = messages.append(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    }
    let health =
        HealthClient::new(channel).check(HealthCheckRequest { service: "message.v1.MessageService".into() }).await;
    assert_eq!(health.unwrap().into_inner().status(), ServingStatus::Serving, "still up");
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
