//! Cross-site requests: another site's page can make the browser send the session cookie
//! (a form post, a link), so cookie-authenticated requests that change state, and logins,
//! registrations and logouts, are refused when a browser says they come from a foreign
//! page. Non-browser clients send no such signal and are served as before.

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::json;

use crate::support::{Topology, in_both_topologies, spawn};

const FOREIGN: &str = "https://evil.example";

fn cookie_client() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn cookie_routes_refuse_foreign_pages_and_serve_the_servers_own_and_non_browsers(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let url = |path: &str| format!("{}{path}", app.http);
    let own = app.http.clone();
    let victim = cookie_client();
    let registered: serde_json::Value = victim
        .post(url("/api/register"))
        .json(&json!({"username": "ada", "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap().to_owned();

    // A foreign page posting with the victim's cookie.
    let foreign_send = victim.post(url("/send")).header("origin", FOREIGN).form(&[("message", "forged")]);
    assert_eq!(foreign_send.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let foreign_append = victim
        .post(url("/api/message/append"))
        .header("origin", FOREIGN)
        .json(&json!({"room_id": "general", "text": "forged"}));
    assert_eq!(foreign_append.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let foreign_logout = victim.post(url("/api/logout")).header("origin", FOREIGN).form(&[("x", "y")]);
    assert_eq!(foreign_logout.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let foreign_link = victim.get(url("/logout")).header("sec-fetch-site", "cross-site");
    assert_eq!(foreign_link.send().await.unwrap().status(), StatusCode::FORBIDDEN, "a link on another site");
    let login = [("username", "ada"), ("password", "correct horse")];
    let foreign_login = Client::new().post(url("/login")).header("origin", FOREIGN).form(&login);
    assert_eq!(foreign_login.send().await.unwrap().status(), StatusCode::FORBIDDEN, "login CSRF");
    let foreign_register = Client::new()
        .post(url("/api/register"))
        .header("origin", FOREIGN)
        .json(&json!({"username": "planted", "password": "correct horse"}));
    assert_eq!(foreign_register.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(victim.get(url("/api/me")).send().await.unwrap().status(), StatusCode::OK, "still signed in");

    // The server's own pages, and clients that are not browsers.
    let own_send = victim.post(url("/send")).header("origin", &own).form(&[("message", "mine")]);
    assert_eq!(own_send.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let plain_send = victim.post(url("/send")).form(&[("message", "curl")]);
    assert_eq!(plain_send.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    // A bearer token is not sent by the browser on its own: no page can forge it.
    let bearer = Client::new()
        .post(url("/api/message/append"))
        .header("origin", FOREIGN)
        .bearer_auth(&token)
        .json(&json!({"room_id": "general", "text": "bearer"}));
    assert_eq!(bearer.send().await.unwrap().status(), StatusCode::OK);
    let own_logout = victim.post(url("/logout")).header("origin", &own).send().await.unwrap();
    assert_eq!(own_logout.status(), StatusCode::SEE_OTHER, "logout is a POST too");
    assert_eq!(victim.get(url("/api/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

in_both_topologies!(cookie_routes_refuse_foreign_pages_and_serve_the_servers_own_and_non_browsers);
