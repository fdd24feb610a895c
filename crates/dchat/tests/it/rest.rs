//! The HTTP API over real sockets: every seed route and dchat's additions, response shapes,
//! and malformed input that must never produce a 5xx (the authorization matrix is `authz`).

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    http::{browser, get, keys, post, register},
    support::{Topology, in_both_topologies, spawn},
};

async fn register_login_me_and_logout_work_with_the_cookie_and_with_a_bearer_token(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (browser_a, registered) = register(&app, "ada").await;
    assert_eq!(keys(&registered), ["expires_at_ms", "ok", "token", "user"]);
    assert_eq!(
        keys(&registered["user"]),
        ["bot", "display_name", "email", "user_id", "username", "username_changeable"]
    );
    assert_eq!(registered["user"]["display_name"], "ada display");
    // Registered by email alone: a username derived from it, which may be changed once.
    assert_eq!(
        (registered["user"]["username"].as_str(), registered["user"]["username_changeable"].as_bool()),
        (Some("ada"), Some(true))
    );

    let (status, me) = get(&browser_a, &app, "/api/me").await;
    assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some("ada@example.com")), "the cookie authenticates");

    // A non-browser client uses the token from the body.
    let token = registered["token"].as_str().unwrap();
    let bare = reqwest::Client::new();
    let response = bare.get(format!("{}/api/me", app.http)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let browser_b = browser();
    let (status, login) =
        post(&browser_b, &app, "/api/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&login), ["expires_at_ms", "ok", "token", "user"]);
    let response = bare
        .post(format!("{}/api/login", app.http))
        .json(&json!({"email": "ada@example.com", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let set_cookie = response.headers().get(header::SET_COOKIE);
    assert!(set_cookie.is_none(), "a failed login sets no cookie");

    let (status, body) = post(&browser_a, &app, "/api/logout", json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"ok": true})));
    assert_eq!(get(&browser_a, &app, "/api/me").await.0, StatusCode::UNAUTHORIZED, "the cookie is gone");
    let response = bare.get(format!("{}/api/me", app.http)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the token is revoked");
    assert_eq!(get(&browser_b, &app, "/api/me").await.0, StatusCode::OK, "other sessions live on");
    app.stop().await;
}

async fn the_session_cookie_is_http_only_and_same_site_lax(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/register", app.http))
        .json(&json!({"username": "bea", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("dchat_token="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    app.stop().await;
}

async fn taken_names_conflict_and_bad_input_is_a_400(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    register(&app, "cid").await;
    let client = browser();
    let (status, body) = post(
        &client,
        &app,
        "/api/register",
        json!({"email": "cid@example.com", "password": "another one", "display_name": "Cid"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(keys(&body), ["error"]);
    assert_eq!(keys(&body["error"]), ["code", "message"]);
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) =
        post(&client, &app, "/api/register", json!({"email": "x@example.com", "password": "short"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_argument")));
    app.stop().await;
}

async fn rooms_can_be_created_joined_listed_and_left(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let (bob, bob_body) = register(&app, "bob").await;

    assert_eq!(
        post(&ada, &app, "/api/room/create", json!({"room_id": "001", "name": "Chat Room 1"})).await,
        (StatusCode::OK, json!({"ok": true, "created": true}))
    );
    assert_eq!(
        post(&bob, &app, "/api/room/create", json!({"room_id": "001", "name": "Again"})).await,
        (StatusCode::OK, json!({"ok": true, "created": false})),
        "the seed's clients create the room they join every time, and count anything but 200 as a failure"
    );
    let (_, bobs) = get(&bob, &app, "/api/room/list").await;
    assert_eq!(bobs["rooms"].as_array().unwrap().len(), 1, "creating a taken id does not make bob a member");
    let (status, _) = post(&ada, &app, "/api/room/create", json!({"room_id": "", "name": "Empty"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the seed's rule: 400 when either is empty");

    let (_, rooms) = get(&ada, &app, "/api/room/list").await;
    assert_eq!(keys(&rooms), ["rooms"]);
    assert_eq!(keys(&rooms["rooms"][0]), ["member_count", "name", "role", "room_id"]);
    let ids: Vec<(&str, &str)> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| (room["room_id"].as_str().unwrap(), room["role"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("001", "owner"), ("general", "member")]);

    let (_, public) = get(&bob, &app, "/api/room/public").await;
    assert_eq!(public["rooms"].as_array().unwrap().len(), 2, "bob can see the room he may join");
    assert_eq!(public["rooms"][0]["name"], "Chat Room 1", "creating a taken id does not rename the room");
    assert_eq!(public["next"], Value::Null, "one page holds them all");
    assert_eq!(keys(&public["rooms"][0]), ["member_count", "name", "room_id"], "no role among rooms to browse");
    // A page at a time.
    let (status, first) = get(&bob, &app, "/api/room/public?limit=1").await;
    assert_eq!(
        (status, first["rooms"][0]["room_id"].as_str(), first["next"].as_str()),
        (StatusCode::OK, Some("001"), Some("001"))
    );
    let (_, second) = get(&bob, &app, "/api/room/public?limit=1&after=001").await;
    assert_eq!(second["rooms"][0]["room_id"], "general");
    let (_, past_the_end) = get(&bob, &app, "/api/room/public?limit=1&after=general").await;
    assert_eq!((past_the_end["rooms"].as_array().unwrap().len(), &past_the_end["next"]), (0, &Value::Null));
    for bad in ["/api/room/public?limit=0", "/api/room/public?limit=501", "/api/room/public?limit=x"] {
        assert_eq!(get(&bob, &app, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(post(&bob, &app, "/api/room/join", json!({"room_id": "001"})).await.0, StatusCode::OK);
    let (status, members) = get(&bob, &app, "/api/room/members?room_id=001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&members["members"][1]), ["bot", "display_name", "joined_ms", "lookalike", "user_id", "username"]);
    assert_eq!(
        (members["members"][1]["username"].as_str(), members["members"][1]["lookalike"].as_bool()),
        (Some("bob"), Some(false))
    );
    assert_eq!(members["members"][1]["user_id"], bob_body["user"]["user_id"]);
    assert_eq!(members["members"][1]["display_name"], "bob display");

    let (status, body) = post(&bob, &app, "/api/room/join", json!({"room_id": "nope"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "missing rooms look forbidden"
    );

    assert_eq!(post(&bob, &app, "/api/room/leave", json!({"room_id": "001"})).await.0, StatusCode::OK);
    let (_, rooms) = get(&bob, &app, "/api/room/list").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn a_room_id_that_differs_from_an_existing_one_only_in_case_is_refused(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    post(&ada, &app, "/api/room/create", json!({"room_id": "club", "name": "Club"})).await;
    for look_alike in ["Club", "CLUB", "General"] {
        let (status, body) = post(&ada, &app, "/api/room/create", json!({"room_id": look_alike, "name": "Fake"})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{look_alike}");
        assert!(body["error"]["message"].as_str().unwrap().contains("only in case"), "{body}");
    }
    assert_eq!(
        post(&ada, &app, "/api/room/create", json!({"room_id": "club", "name": "Again"})).await,
        (StatusCode::OK, json!({"ok": true, "created": false})),
        "the same id is the seed's repeated create"
    );
    let (_, public) = get(&ada, &app, "/api/room/public").await;
    let ids: Vec<&str> =
        public["rooms"].as_array().unwrap().iter().map(|room| room["room_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["club", "general"]);
    app.stop().await;
}

async fn messages_are_appended_idempotently_and_listed_both_ways_with_display_names(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, ada_body) = register(&app, "ada").await;
    let (status, first) =
        post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": "hello", "client_id": "c-1"}))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&first), ["duplicate", "offset", "ok", "ts_ms"]);
    assert_eq!((first["offset"].as_i64(), first["duplicate"].as_bool()), (Some(1), Some(false)));
    let (_, again) =
        post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": "hello", "client_id": "c-1"}))
            .await;
    assert_eq!((again["offset"].as_i64(), again["duplicate"].as_bool()), (Some(1), Some(true)));
    for i in 2..=12 {
        let (_, body) =
            post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": format!("m{i}")})).await;
        assert_eq!(body["offset"].as_i64(), Some(i));
    }

    let (status, page) = get(&ada, &app, "/api/message/list?room_id=general&from_offset=1&limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&page), ["messages"]);
    let first = &page["messages"][0];
    assert_eq!(keys(first), ["client_id", "display_name", "offset", "text", "ts_ms", "user_id", "username"]);
    assert_eq!(first["username"], "ada", "every message carries its sender's handle");
    assert_eq!((first["text"].as_str(), first["client_id"].as_str()), (Some("hello"), Some("c-1")));
    assert_eq!(first["display_name"], "ada display");
    assert_eq!(first["user_id"], ada_body["user"]["user_id"]);
    let offsets = |page: &Value| {
        page["messages"].as_array().unwrap().iter().map(|m| m["offset"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(offsets(&page), [1, 2, 3, 4, 5]);
    assert!(keys(&page["messages"][1]).iter().all(|key| *key != "client_id"), "no key, no field");
    let (_, latest) = get(&ada, &app, "/api/message/list?room_id=general&before=13&limit=3").await;
    assert_eq!(offsets(&latest), [10, 11, 12]);
    let (_, older) = get(&ada, &app, "/api/message/list?room_id=general&before=10&limit=3").await;
    assert_eq!(offsets(&older), [7, 8, 9]);
    let (_, seed_default) = get(&ada, &app, "/api/message/list?room_id=general").await;
    assert_eq!(offsets(&seed_default).len(), 12);
    app.stop().await;
}

/// A page of 500 is streamed from the message service in many gRPC frames (across HTTP/2 in
/// the split topology) and written as JSON by hand: every text must come back exactly,
/// whatever JSON has to escape in it.
async fn a_full_page_of_long_and_awkward_texts_comes_back_exactly(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let awkward =
        ["a \"quoted\" word", "back\\slash", "line\nbreak\ttab\r", "\u{1}\u{1f} control", "\u{7f}\u{2028} 🙂 日本語"];
    let texts: Vec<String> = (0..130)
        .map(|i| format!("{i:03} {} {}", awkward[i % awkward.len()], "é".repeat(if i % 3 == 0 { 1500 } else { 10 })))
        .collect();
    for (i, text) in texts.iter().enumerate() {
        let (status, body) = post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": text})).await;
        assert_eq!((status, body["offset"].as_u64()), (StatusCode::OK, Some(i as u64 + 1)), "{body}");
    }
    for query in ["from_offset=1&limit=500", "before=131&limit=500"] {
        let (status, page) = get(&ada, &app, &format!("/api/message/list?room_id=general&{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let listed: Vec<&str> =
            page["messages"].as_array().unwrap().iter().map(|message| message["text"].as_str().unwrap()).collect();
        assert_eq!(listed, texts, "{query}");
    }
    app.stop().await;
}

async fn presence_profile_and_lookup_routes_answer_in_the_seed_shapes(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, ada_body) = register(&app, "ada").await;
    let ada_id = ada_body["user"]["user_id"].as_str().unwrap();
    assert_eq!(
        post(&ada, &app, "/api/presence/heartbeat", json!({"room_id": "general"})).await,
        (StatusCode::OK, json!({"ok": true}))
    );
    let (status, roster) = get(&ada, &app, "/api/presence/roster?room_id=general").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(roster, json!({"users": [{"user_id": ada_id, "display_name": "ada display", "username": "ada"}]}));

    assert_eq!(
        post(&ada, &app, "/api/profile/setname", json!({"display_name": "Ada L."})).await,
        (StatusCode::OK, json!({"ok": true}))
    );
    let (status, found) = get(&ada, &app, &format!("/api/user/lookup?user_id={ada_id}")).await;
    assert_eq!(
        (status, found),
        (StatusCode::OK, json!({"user_id": ada_id, "display_name": "Ada L.", "username": "ada", "bot": false}))
    );
    app.stop().await;
}

async fn users_can_be_looked_up_only_by_themselves_and_those_who_share_a_room_with_them(topology: Topology) {
    use dchat_proto::{auth::v1::UserId, gateway::v1::gateway_service_client::GatewayServiceClient};
    let (app, _dir) = spawn(topology).await;
    let (ada, ada_body) = register(&app, "ada").await;
    let (_, bob_body) = register(&app, "bob").await;
    let (loner, loner_body) = register(&app, "loner").await;
    assert_eq!(post(&loner, &app, "/api/room/leave", json!({"room_id": "general"})).await.0, StatusCode::OK);
    let id = |body: &Value| body["user"]["user_id"].as_str().unwrap().to_owned();
    let (ada_id, bob_id, loner_id) = (id(&ada_body), id(&bob_body), id(&loner_body));
    let unknown = "0".repeat(32);

    let lookup = |client: &reqwest::Client, user_id: &str| {
        let (client, path) = (client.clone(), format!("/api/user/lookup?user_id={user_id}"));
        let app = &app;
        async move { get(&client, app, &path).await }
    };
    let (status, found) = lookup(&ada, &bob_id).await;
    assert_eq!((status, found["display_name"].as_str()), (StatusCode::OK, Some("bob display")), "they share general");
    assert_eq!(lookup(&ada, &ada_id).await.0, StatusCode::OK, "oneself");
    assert_eq!(lookup(&loner, &loner_id).await.0, StatusCode::OK, "oneself, in no room at all");
    let (stranger, unknown_answer) = (lookup(&ada, &loner_id).await, lookup(&ada, &unknown).await);
    assert_eq!((stranger.0, unknown_answer.0), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(lookup(&loner, &ada_id).await.0, StatusCode::NOT_FOUND, "and the other way round");

    let channel = tonic::transport::Channel::from_shared(app.http.clone()).unwrap().connect().await.unwrap();
    let mut gateway = GatewayServiceClient::new(channel);
    let token = ada_body["token"].as_str().unwrap();
    let get_user = |user_id: &str| {
        let mut request = tonic::Request::new(UserId { user_id: user_id.to_owned() });
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let bob = gateway.get_user(get_user(&bob_id)).await.unwrap().into_inner();
    assert_eq!((bob.user_id.as_str(), bob.display_name.as_str()), (bob_id.as_str(), "bob display"));
    assert_eq!((bob.email.as_str(), bob.token_expires_ms), ("", 0), "not another member's business");
    for (who, user_id) in [("a stranger", &loner_id), ("an unknown id", &unknown)] {
        let status = gateway.get_user(get_user(user_id)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound, "{who}: {status:?}");
        assert!(status.message().ends_with("does not exist"), "{who}: the same answer for both: {status:?}");
    }
    app.stop().await;
}

async fn malformed_requests_get_clear_4xx_answers_and_never_a_5xx(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let url = |path: &str| format!("{}{path}", app.http);
    let huge = "x".repeat(70 * 1024);
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "broken JSON",
            ada.post(url("/api/message/append")).header("content-type", "application/json").body("{\"room_id\": "),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong type",
            ada.post(url("/api/message/append")).json(&json!({"room_id": 5, "text": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            ada.post(url("/api/message/append")).json(&json!({"room_id": "general"})),
            StatusCode::BAD_REQUEST,
        ),
        ("array body", ada.post(url("/api/room/create")).json(&json!([1, 2])), StatusCode::BAD_REQUEST),
        (
            "no content type",
            ada.post(url("/api/room/join")).body("{\"room_id\":\"general\"}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "form body",
            ada.post(url("/api/login")).form(&[("email", "a"), ("password", "b")]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "oversized body",
            ada.post(url("/api/message/append")).json(&json!({"room_id": "general", "text": huge})),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "text over 4000 chars",
            ada.post(url("/api/message/append")).json(&json!({"room_id": "general", "text": "y".repeat(4001)})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty text",
            ada.post(url("/api/message/append")).json(&json!({"room_id": "general", "text": ""})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad room id",
            ada.post(url("/api/room/create")).json(&json!({"room_id": "a/b", "name": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        ("non-numeric limit", ada.get(url("/api/message/list?room_id=general&limit=lots")), StatusCode::BAD_REQUEST),
        ("negative limit", ada.get(url("/api/message/list?room_id=general&limit=-3")), StatusCode::BAD_REQUEST),
        (
            "huge offset",
            ada.get(url("/api/message/list?room_id=general&from_offset=99999999999999999999")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "offset near 2^63",
            ada.get(url("/api/message/list?room_id=general&from_offset=9223372036854775807")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "before past the largest offset",
            ada.get(url("/api/message/list?room_id=general&before=9007199254740992")),
            StatusCode::BAD_REQUEST,
        ),
        ("missing query", ada.get(url("/api/presence/roster")), StatusCode::BAD_REQUEST),
        ("bad user id", ada.get(url("/api/user/lookup?user_id=%00")), StatusCode::BAD_REQUEST),
        ("unknown route", ada.get(url("/api/nothing/here")), StatusCode::NOT_FOUND),
        (
            "control chars in name",
            ada.post(url("/api/profile/setname")).json(&json!({"display_name": "a\u{0}b"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            ada.post(url("/api/message/append"))
                .header("content-type", "application/json")
                .body(vec![b'{', 0xff, 0xfe, b'}']),
            StatusCode::BAD_REQUEST,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, request, expected) in cases {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != expected || body["error"]["code"].as_str().is_none() {
            wrong.push(format!("{what}: {status} {body}"));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    app.stop().await;
}

in_both_topologies!(
    register_login_me_and_logout_work_with_the_cookie_and_with_a_bearer_token,
    the_session_cookie_is_http_only_and_same_site_lax,
    taken_names_conflict_and_bad_input_is_a_400,
    rooms_can_be_created_joined_listed_and_left,
    a_room_id_that_differs_from_an_existing_one_only_in_case_is_refused,
    messages_are_appended_idempotently_and_listed_both_ways_with_display_names,
    a_full_page_of_long_and_awkward_texts_comes_back_exactly,
    presence_profile_and_lookup_routes_answer_in_the_seed_shapes,
    users_can_be_looked_up_only_by_themselves_and_those_who_share_a_room_with_them,
    malformed_requests_get_clear_4xx_answers_and_never_a_5xx,
);
