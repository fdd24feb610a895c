//! The seed's variant 2 form flow, as its Locust workload drives it.

use reqwest::{Client, StatusCode, header, redirect::Policy};
use serde_json::json;

use crate::support::{Topology, in_both_topologies, spawn};

fn form_client() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn the_variant_2_form_flow_registers_logs_in_sends_and_reads_history(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let url = |path: &str| format!("{}{path}", app.http);
    let client = form_client();
    let registered = client
        .post(url("/register"))
        .form(&[("username", "locust_1"), ("password", "long secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(registered.headers()[header::LOCATION], "/chat");
    assert!(registered.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("dchat_token="));

    let other = form_client();
    let bad =
        other.post(url("/login")).form(&[("username", "locust_1"), ("password", "wrong one")]).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let good =
        other.post(url("/login")).form(&[("username", "locust_1"), ("password", "long secret")]).send().await.unwrap();
    assert_eq!((good.status(), good.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/chat"));

    let sent = client.post(url("/send")).form(&[("message", "from the form")]).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    // The Locust file's shape: room_id, username and text.
    let sent = other
        .post(url("/send"))
        .form(&[("room_id", "general"), ("username", "ignored"), ("text", "from locust")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    let empty = other.post(url("/send")).form(&[("message", "")]).send().await.unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let history: serde_json::Value = client.get(url("/history")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        history,
        json!([{"sender": "locust_1", "content": "from the form"}, {"sender": "locust_1", "content": "from locust"}])
    );

    let out = client.get(url("/logout")).send().await.unwrap();
    assert_eq!((out.status(), out.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(client.get(url("/history")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        client.post(url("/send")).form(&[("message", "x")]).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// The seed's variant 2 Locust file names users `user<N>` by spawn count, so a second run
/// (or its own ramp-up) registers names that exist; and it posts `room_id=room1`.
async fn registering_a_taken_name_with_its_password_signs_in_and_unknown_rooms_mean_general(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let url = |path: &str| format!("{}{path}", app.http);
    let register = |client: &Client, password: &'static str| {
        client.post(url("/register")).form(&[("username", "user1"), ("password", password)]).send()
    };
    let first = form_client();
    assert_eq!(register(&first, "long secret").await.unwrap().status(), StatusCode::SEE_OTHER);
    let again = form_client();
    let signed_in = register(&again, "long secret").await.unwrap();
    assert_eq!(
        (signed_in.status(), signed_in.headers()[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/chat"),
        "the account's own password signs in"
    );
    // Two users of one name registering at once (the ramp-up): both get in.
    let (a, b) = (form_client(), form_client());
    let both = |client: &Client| {
        client.post(url("/register")).form(&[("username", "user2"), ("password", "long secret 2")]).send()
    };
    let (a, b) = tokio::join!(both(&a), both(&b));
    assert_eq!((a.unwrap().status(), b.unwrap().status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));

    let stranger = form_client();
    let refused = register(&stranger, "another one").await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT, "another password is refused");
    assert!(refused.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(stranger.get(url("/history")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // A room of the sender's is honoured; any other room_id (missing, not theirs,
    // malformed) goes to `general`.
    app.create_room("team", &app.register("owner").await).await;
    let team = dchat_proto::room::v1::CreateRoomReq {
        room_id: "mine".into(),
        name: "Mine".into(),
        creator_user_id: String::new(),
    };
    app.rooms.clone().create_room(team).await.unwrap();
    let me: serde_json::Value = again.get(url("/api/me")).send().await.unwrap().json().await.unwrap();
    let join =
        dchat_proto::room::v1::JoinLeaveReq { room_id: "mine".into(), user_id: me["user_id"].as_str().unwrap().into() };
    app.rooms.clone().join_room(join).await.unwrap();
    for room_id in ["room1", "team", "a b", "mine"] {
        let sent = again
            .post(url("/send"))
            .form(&[("room_id", room_id), ("username", "user1"), ("text", room_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), StatusCode::NO_CONTENT, "{room_id}");
    }
    let history: serde_json::Value = again.get(url("/history")).send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = history.as_array().unwrap().iter().map(|item| item["content"].as_str().unwrap()).collect();
    assert_eq!(texts, ["room1", "team", "a b"], "only the sender's own room is honoured");
    let (status, page) = crate::http::get(&again, &app, "/api/message/list?room_id=mine&from_offset=1").await;
    assert_eq!((status, page["messages"][0]["text"].as_str()), (StatusCode::OK, Some("mine")));
    app.stop().await;
}

in_both_topologies!(
    the_variant_2_form_flow_registers_logs_in_sends_and_reads_history,
    registering_a_taken_name_with_its_password_signs_in_and_unknown_rooms_mean_general,
);
