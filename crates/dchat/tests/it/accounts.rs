//! Accounts as people tell them apart and scripts use them: unique `@usernames` on every
//! message, member list and presence entry (derived for email-only registrations and then
//! changeable once), look-alike display names marked, the bot badge, personal access tokens
//! (shown once, listed without their secrets, revoked with their sockets), and two-factor
//! sign-in with codes computed here as an authenticator app would.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{
    http::{browser, get, post, register},
    support::{Topology, in_both_topologies, spawn},
    wsclient::WsClient,
};

fn token_of(body: &Value) -> String {
    body["token"].as_str().unwrap().to_owned()
}

async fn every_account_has_a_unique_handle_shown_everywhere(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    // The seed's variant 1 registers by email alone; variant 2 by username, with names that
    // must stay free. Two addresses with one local part get two handles.
    let (ada, ada_body) = register(&app, "ada").await;
    let (_, other_body) = post(
        &browser(),
        &app,
        "/api/register",
        json!({"email": "ada@elsewhere.org", "password": "correct horse", "display_name": "Ada Lovelace"}),
    )
    .await;
    assert_eq!(ada_body["user"]["username"], "ada");
    assert_eq!(other_body["user"]["username"], "ada2", "the next free one");
    let (status, body) = post(
        &browser(),
        &app,
        "/api/register",
        json!({"email": "user_1733000000000123@test.local", "password": "correct horse"}),
    )
    .await;
    assert_eq!((status, body["user"]["username"].as_str()), (StatusCode::OK, Some("user_1733000000000123")));
    let (status, body) =
        post(&browser(), &app, "/api/register", json!({"username": "user1", "password": "correct horse"})).await;
    assert_eq!((status, body["user"]["username_changeable"].as_bool()), (StatusCode::OK, Some(false)), "{body}");

    // A derived handle may be replaced once, by a free one; a chosen one stays.
    let (status, _) = post(&ada, &app, "/api/profile/username", json!({"username": "user1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "taken");
    let (status, _) = post(&ada, &app, "/api/profile/username", json!({"username": "a b"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&ada, &app, "/api/profile/username", json!({"username": "Countess"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = get(&ada, &app, "/api/me").await;
    assert_eq!((me["username"].as_str(), me["username_changeable"].as_bool()), (Some("countess"), Some(false)));
    let (status, _) = post(&ada, &app, "/api/profile/username", json!({"username": "ada-again"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "once only");
    let (status, _) =
        post(&browser(), &app, "/api/login", json!({"username": "countess", "password": "correct horse"})).await;
    assert_eq!(status, StatusCode::OK, "the new handle signs in");

    // An imitator: a display name that reads the same (Cyrillic а, another case) in the
    // same room. Both are marked; their handles tell them apart.
    let (status, _) = post(
        &browser(),
        &app,
        "/api/register",
        json!({"username": "mallory", "password": "correct horse", "display_name": "аda DISPLAY"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, members) = get(&ada, &app, "/api/room/members?room_id=general").await;
    let marked: Vec<(&str, bool)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["lookalike"].as_bool().unwrap()))
        .collect();
    assert!(marked.contains(&("countess", true)) && marked.contains(&("mallory", true)), "{marked:?}");
    assert!(marked.contains(&("user1", false)), "{marked:?}");

    // Messages, live and in history, and presence name the handle; a bot's carry its badge.
    let token = token_of(&ada_body);
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("general", None).await;
    post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": "hello"})).await;
    let live = ws.next_of("message").await;
    assert_eq!((live["username"].as_str(), live.get("bot")), (Some("countess"), None), "{live}");
    assert_eq!(post(&ada, &app, "/api/profile/bot", json!({"bot": true})).await.0, StatusCode::OK);
    post(&ada, &app, "/api/message/append", json!({"room_id": "general", "text": "beep"})).await;
    let live = ws.next_of("message").await;
    assert_eq!((live["username"].as_str(), live["bot"].as_bool()), (Some("countess"), Some(true)), "{live}");
    let (_, page) = get(&ada, &app, "/api/message/list?room_id=general&limit=2").await;
    let badges: Vec<(&str, Option<bool>)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["bot"].as_bool()))
        .collect();
    assert_eq!(badges, [("countess", Some(true)), ("countess", Some(true))], "the badge is the account's now");
    assert_eq!(post(&ada, &app, "/api/presence/heartbeat", json!({"room_id": "general"})).await.0, StatusCode::OK);
    let (_, roster) = get(&ada, &app, "/api/presence/roster?room_id=general").await;
    assert_eq!(roster["users"][0]["username"], "countess");
    app.stop().await;
}

in_both_topologies!(every_account_has_a_unique_handle_shown_everywhere);

async fn personal_tokens_are_shown_once_work_as_bearers_and_end_when_revoked(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let (status, first) = post(&ada, &app, "/api/tokens", json!({"name": "deploy script", "expires_in_days": 7})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = post(&ada, &app, "/api/tokens", json!({"name": "backup"})).await;
    let (secret, other_secret) = (token_of(&first), token_of(&second));
    assert_ne!(secret, other_secret);
    let week = first["info"]["expires_ms"].as_i64().unwrap() - first["info"]["created_ms"].as_i64().unwrap();
    assert_eq!(week, 7 * 86_400_000);
    for bad in
        [json!({"name": ""}), json!({"name": "x", "expires_in_days": 0}), json!({"name": "x", "expires_in_days": 366})]
    {
        assert_eq!(post(&ada, &app, "/api/tokens", bad.clone()).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Listed by name and id, never with a secret, however often it is listed.
    for _ in 0..2 {
        let (status, listed) = get(&ada, &app, "/api/tokens").await;
        assert_eq!(status, StatusCode::OK);
        let text = listed.to_string();
        assert!(!text.contains(&secret) && !text.contains(&other_secret), "a secret in the listing: {text}");
        let names: Vec<&str> =
            listed["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"deploy script") && names.contains(&"backup"));
    }
    let (_, sessions) = get(&ada, &app, "/api/sessions").await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1, "a token is no session: {sessions}");

    // The token acts as its owner, over REST and the WebSocket, but cannot manage the
    // account: no listing of sessions or tokens, no new tokens, no password change.
    let script = reqwest::Client::new();
    let me = script.get(format!("{}/api/me", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let appended = script
        .post(format!("{}/api/message/append", app.http))
        .bearer_auth(&secret)
        .json(&json!({"room_id": "general", "text": "from the script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), StatusCode::OK);
    for (path, body) in [
        ("/api/tokens", Some(json!({"name": "more"}))),
        ("/api/sessions/revoke", Some(json!({"everywhere": true}))),
        ("/api/password", Some(json!({"current_password": "correct horse", "new_password": "another horse"}))),
        ("/api/2fa/setup", None),
    ] {
        let mut request = script.post(format!("{}{path}", app.http)).bearer_auth(&secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::FORBIDDEN, "{path}");
    }
    let listed = script.get(format!("{}/api/tokens", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::FORBIDDEN);
    // "Sign out everywhere" ends sessions, not scripts' tokens.
    let mut ws = WsClient::connect(&app, &secret).await;
    ws.subscribe("general", None).await;
    let (_, login) =
        post(&browser(), &app, "/api/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
    let other_session = browser();
    let everywhere = other_session
        .post(format!("{}/api/sessions/revoke", app.http))
        .bearer_auth(token_of(&login))
        .json(&json!({"everywhere": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), StatusCode::OK);
    let me = script.get(format!("{}/api/me", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the token outlives the sessions");

    // Revoked from a new session: refused at once, and its open socket closes (4001).
    let (_, login) =
        post(&browser(), &app, "/api/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
    let manager = reqwest::Client::new();
    let token_id = first["info"]["token_id"].as_str().unwrap();
    let revoked = manager
        .post(format!("{}/api/tokens/revoke", app.http))
        .bearer_auth(token_of(&login))
        .json(&json!({"token_id": token_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let close = ws.until_closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    let me = script.get(format!("{}/api/me", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let again = manager
        .post(format!("{}/api/tokens/revoke", app.http))
        .bearer_auth(token_of(&login))
        .json(&json!({"token_id": token_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

in_both_topologies!(personal_tokens_are_shown_once_work_as_bearers_and_end_when_revoked);

/// The code an authenticator app shows for `secret`, `steps_ahead` steps of 30 s from now.
pub(crate) fn code(secret: &str, steps_ahead: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    totp.generate(now + 30 * steps_ahead)
}

async fn two_factor_sign_in_takes_a_fresh_code_or_a_recovery_code(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (ada, _) = register(&app, "ada").await;
    let login = |second_factor: Option<String>| {
        let mut body = json!({"email": "ada@example.com", "password": "correct horse"});
        if let Some(code) = second_factor {
            body["second_factor"] = json!(code);
        }
        body
    };
    let (_, status) = get(&ada, &app, "/api/2fa").await;
    assert_eq!((status["enabled"].as_bool(), status["recovery_codes_left"].as_u64()), (Some(false), Some(0)));

    // Enrolment: a secret, then a code computed from it; a wrong code turns nothing on.
    let (status, setup) = post(&ada, &app, "/api/2fa/setup", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/dchat:ada?secret=") && url.contains(&secret), "{url}");
    let (status, _) = post(&ada, &app, "/api/2fa/enable", json!({"code": "12345"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(post(&browser(), &app, "/api/login", login(None)).await.0, StatusCode::OK, "not on yet");
    let (status, enabled) = post(&ada, &app, "/api/2fa/enable", json!({"code": code(&secret, 0)})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let recovery: Vec<String> =
        enabled["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(post(&ada, &app, "/api/2fa/setup", json!({})).await.0, StatusCode::FORBIDDEN, "on already");

    // Sign-in: the password alone asks for the code; a wrong one is refused; the next
    // step's code works once; a recovery code works once.
    let (status, body) = post(&browser(), &app, "/api/login", login(None)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("second_factor_required")));
    let (status, body) = post(
        &browser(),
        &app,
        "/api/login",
        json!({"email": "ada@example.com", "password": "wrong horse", "second_factor": code(&secret, 1)}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let wrong = if code(&secret, 1) == "000000" { "000001" } else { "000000" };
    let (status, body) = post(&browser(), &app, "/api/login", login(Some(wrong.to_owned()))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let next = code(&secret, 1);
    let (status, body) = post(&browser(), &app, "/api/login", login(Some(next.clone()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(post(&browser(), &app, "/api/login", login(Some(next))).await.0, StatusCode::UNAUTHORIZED, "replayed");
    let spoken = recovery[3].to_uppercase().replace('-', " ");
    assert_eq!(post(&browser(), &app, "/api/login", login(Some(spoken))).await.0, StatusCode::OK, "any case, spaced");
    let reused = post(&browser(), &app, "/api/login", login(Some(recovery[3].clone()))).await.0;
    assert_eq!(reused, StatusCode::UNAUTHORIZED, "a recovery code is good once");
    let (_, status) = get(&ada, &app, "/api/2fa").await;
    assert_eq!((status["enabled"].as_bool(), status["recovery_codes_left"].as_u64()), (Some(true), Some(9)));

    // Off again, with the password only.
    assert_eq!(post(&ada, &app, "/api/2fa/disable", json!({"password": "wrong horse"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(post(&ada, &app, "/api/2fa/disable", json!({"password": "correct horse"})).await.0, StatusCode::OK);
    assert_eq!(post(&browser(), &app, "/api/login", login(None)).await.0, StatusCode::OK);
    app.stop().await;
}

in_both_topologies!(two_factor_sign_in_takes_a_fresh_code_or_a_recovery_code);
