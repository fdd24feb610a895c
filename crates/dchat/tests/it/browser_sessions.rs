//! Sessions in a real browser (see `browser.rs` for the driver): a session that ends while
//! a message waits to be sent loses nothing. The page sends its user to sign in, keeps the
//! waiting message and the draft, and after the sign-in sends the message once and opens
//! the same room; the password field never keeps a password.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::json;

use crate::{
    browser::{Driver, browser_available, create_room, fill, find, register, screenshot, send, shows_message, until},
    support::{spawn_app_with, test_config},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_while_a_message_waits_loses_nothing() {
    if !browser_available("a_session_that_ends_while_a_message_waits_loses_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Sessions end 8 s after sign-in, used or not.
    let config = |dir: &std::path::Path| {
        let mut config = test_config(dir);
        config.auth.session_max_secs = 8;
        config
    };
    let app = spawn_app_with(config(dir.path())).await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    // The session began before this: it surely ends 8 s from now.
    let signed_in = Instant::now();
    create_room(&alice, "side", "Side").await;
    send(&alice, "before the end").await;
    until(&alice, "the first message", &shows_message("before the end")).await;

    // The server goes away; a message waits; a draft is typed; the session ends meanwhile.
    let (http_addr, grpc_addr) = (app.http.trim_start_matches("http://").to_owned(), app.services.auth.addr.clone());
    app.stop().await;
    until(&alice, "the reconnecting banner", "!document.getElementById('connection').hidden").await;
    send(&alice, "sent while away").await;
    until(&alice, "the waiting message", "document.querySelector('#messages .message.pending') !== null").await;
    find(&alice, "#composer-text").await.send_keys("half a thought").await.unwrap();
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(signed_in.elapsed()) + Duration::from_millis(300)).await;

    // Back, the server refuses the ended session: the page asks its user to sign in.
    let mut restarted = config(dir.path());
    restarted.http_bind = http_addr.parse().unwrap();
    restarted.grpc_bind = grpc_addr.parse().unwrap();
    let app = spawn_app_with(restarted).await;
    until(&alice, "the sign-in form", "!document.getElementById('auth-view').hidden").await;
    until(&alice, "the notice", "document.getElementById('login-error').textContent.includes('1 unsent message')")
        .await;
    let name = alice.execute("return document.getElementById('login-name').value;", vec![]).await.unwrap();
    assert_eq!(name, json!("alice"), "the name is filled in");

    // A wrong password: refused, and the field is emptied.
    fill(&alice, "#login-password", "wrong horse").await;
    find(&alice, "#login-form button[type=submit]").await.click().await.unwrap();
    let refused = "(t => t !== '' && !t.includes('session ended'))(document.getElementById('login-error').textContent)";
    until(&alice, "the refusal", refused).await;
    let password = alice.execute("return document.getElementById('login-password').value;", vec![]).await.unwrap();
    assert_eq!(password, json!(""), "no password stays in the form");

    fill(&alice, "#login-password", "correct horse").await;
    find(&alice, "#login-form button[type=submit]").await.click().await.unwrap();
    until(&alice, "the same room", "document.getElementById('room-title').textContent === 'Side'").await;
    until(&alice, "the waiting message, sent", &shows_message("sent while away")).await;
    until(&alice, "nothing waiting", "document.querySelector('#messages .message.pending') === null").await;
    until(&alice, "the draft", "document.getElementById('composer-text').value === 'half a thought'").await;

    let observer = app.register("observer").await;
    app.rooms
        .clone()
        .join_room(dchat_proto::room::v1::JoinLeaveReq { room_id: "side".into(), user_id: observer.user_id.clone() })
        .await
        .unwrap();
    let stored = app.all_messages("side", &observer).await;
    let texts: Vec<&str> = stored.iter().map(|message| message.text.as_str()).collect();
    assert_eq!(texts, ["before the end", "sent while away"], "each stored once");

    // Signing out empties the password field too.
    find(&alice, "#logout").await.click().await.unwrap();
    until(&alice, "the sign-in form", "!document.getElementById('auth-view').hidden").await;
    assert!(
        alice.find(Locator::Css("#login-password")).await.unwrap().prop("value").await.unwrap() == Some(String::new())
    );
    alice.close().await.unwrap();
    app.stop().await;
}

/// The settings page: the sessions signed in to the account, one ended from another
/// browser (which is sent to sign in at once), a password change that asks for the
/// current one, the theme, and signing out everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_shows_and_ends_sessions_changes_the_password_and_the_theme() {
    if !browser_available("the_settings_page_shows_and_ends_sessions_changes_the_password_and_the_theme") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(test_config(dir.path())).await;
    let driver = Driver::start().await;
    let laptop = driver.browser(1280, 800).await;
    let phone = driver.browser(390, 844).await;
    register(&laptop, &app, "alice", "Alice").await;
    phone.goto(&app.http).await.unwrap();
    fill(&phone, "#login-name", "alice").await;
    fill(&phone, "#login-password", "correct horse").await;
    find(&phone, "#login-form button[type=submit]").await.click().await.unwrap();
    until(&phone, "the phone signed in", "!document.getElementById('chat-view').hidden").await;

    find(&laptop, "#open-settings").await.click().await.unwrap();
    until(&laptop, "two sessions", "document.querySelectorAll('#session-list li').length === 2").await;
    let this_one =
        "[...document.querySelectorAll('#session-list .device')].some(d => d.textContent.includes('(this browser)'))";
    until(&laptop, "this browser marked", this_one).await;

    // Ending the phone's session sends the phone to sign in, at once.
    find(&laptop, "#session-list li button").await.click().await.unwrap();
    until(&laptop, "one session left", "document.querySelectorAll('#session-list li').length === 1").await;
    until(&phone, "the phone at the sign-in form", "!document.getElementById('auth-view').hidden").await;

    // A password change asks for the current password; a wrong one changes nothing.
    fill(&laptop, "#settings-current", "wrong horse").await;
    fill(&laptop, "#settings-new", "battery staple horse").await;
    fill(&laptop, "#settings-again", "battery staple horse").await;
    find(&laptop, "#settings-password-form button[type=submit]").await.click().await.unwrap();
    until(
        &laptop,
        "the refusal",
        "document.querySelector('#settings-password-form .note').textContent.includes('wrong')",
    )
    .await;
    fill(&laptop, "#settings-current", "correct horse").await;
    fill(&laptop, "#settings-new", "battery staple horse").await;
    fill(&laptop, "#settings-again", "battery staple horse").await;
    find(&laptop, "#settings-password-form button[type=submit]").await.click().await.unwrap();
    until(
        &laptop,
        "the change",
        "document.querySelector('#settings-password-form .note').textContent.includes('changed')",
    )
    .await;
    let emptied = laptop.execute("return document.getElementById('settings-current').value;", vec![]).await.unwrap();
    assert_eq!(emptied, json!(""), "no password stays in the form");

    // The theme applies at once and stays for the next visit.
    find(&laptop, "input[name=theme][value=dark]").await.click().await.unwrap();
    until(&laptop, "the dark theme", "document.documentElement.dataset.theme === 'dark'").await;
    screenshot(&laptop, "settings.png").await;

    // Everywhere: this browser too is signed out.
    find(&laptop, "#sign-out-everywhere").await.click().await.unwrap();
    until(&laptop, "signed out", "!document.getElementById('auth-view').hidden").await;
    laptop.refresh().await.unwrap();
    until(&laptop, "still signed out after a reload", "!document.getElementById('auth-view').hidden").await;
    until(&laptop, "the theme kept", "document.documentElement.dataset.theme === 'dark'").await;
    laptop.close().await.unwrap();
    phone.close().await.unwrap();
    app.stop().await;
}
