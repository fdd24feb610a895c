//! Accounts in a real browser (see `browser.rs` for the driver): messages and the member
//! list show each sender's `@username`, with a look-alike display name marked; a personal
//! access token is shown once in the settings and then only listed; two-factor sign-in is
//! set up from the settings with a code computed here from the key the page shows, and the
//! login form then asks for a code after the password.

use serde_json::{Value, json};

use crate::{
    accounts::code,
    browser::{Driver, browser_available, fill, find, register, screenshot, send, shows_message, until},
    support::spawn_app,
};

async fn text_of(browser: &fantoccini::Client, script: &str) -> Value {
    browser.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_tokens_and_two_factor_sign_in_work_in_the_browser() {
    if !browser_available("handles_tokens_and_two_factor_sign_in_work_in_the_browser") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let ada = driver.browser(1280, 900).await;
    register(&ada, &app, "ada", "Ada Lovelace").await;
    // Someone else takes a look-alike name (a Cyrillic а) and writes in general.
    let imitator = app.register("mallory").await;
    app.auth
        .clone()
        .set_display_name(dchat_proto::auth::v1::SetDisplayNameRequest {
            user_id: imitator.user_id.clone(),
            display_name: "Аda Lovelace".into(),
        })
        .await
        .unwrap();
    app.append("general", &imitator, "it is me, Ada", "k1").await.unwrap();
    send(&ada, "the real one").await;
    until(&ada, "her message", &shows_message("the real one")).await;

    // Reopening the room loads its members: both marked, each with a handle.
    ada.refresh().await.unwrap();
    until(&ada, "the member list", "document.querySelectorAll('#member-list li').length === 2").await;
    let marks = text_of(
        &ada,
        "return [...document.querySelectorAll('#member-list li')].map(li => li.querySelector('.handle').textContent + (li.querySelector('.lookalike') ? ' marked' : ''));",
    )
    .await;
    let mut marks: Vec<String> = serde_json::from_value(marks).unwrap();
    marks.sort();
    assert_eq!(marks, ["@ada marked", "@mallory marked"]);
    until(&ada, "the imitator's message", &shows_message("it is me, Ada")).await;
    let headers = text_of(
        &ada,
        "return [...document.querySelectorAll('#messages .message-header')].map(h => h.querySelector('.handle').textContent + (h.querySelector('.lookalike') ? ' marked' : ''));",
    )
    .await;
    assert_eq!(headers, json!(["@mallory marked", "@ada marked"]));
    find(&ada, "#members summary").await.click().await.unwrap();
    screenshot(&ada, "handles-and-lookalikes.png").await;

    // A personal token: shown once, then listed by name only.
    find(&ada, "#open-settings").await.click().await.unwrap();
    fill(&ada, "#token-name", "deploy").await;
    find(&ada, "#token-form button[type=submit]").await.click().await.unwrap();
    until(&ada, "the new token", "document.querySelector('#fresh-token .secret') !== null").await;
    let secret = text_of(&ada, "return document.querySelector('#fresh-token .secret').textContent;").await;
    let secret = secret.as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let me = reqwest::Client::new().get(format!("{}/api/me", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::OK, "the token shown works");
    until(&ada, "the token listed", "document.querySelectorAll('#token-list li').length === 1").await;

    // Two-factor sign-in: set up with the key the page shows and a code computed from it.
    find(&ada, "#two-factor-begin").await.click().await.unwrap();
    until(&ada, "the key", "document.getElementById('two-factor-secret') !== null").await;
    let key = text_of(&ada, "return document.getElementById('two-factor-secret').textContent;").await;
    let key = key.as_str().unwrap().to_owned();
    fill(&ada, "#two-factor-code", &code(&key, 0)).await;
    find(&ada, "#two-factor-on button[type=submit]").await.click().await.unwrap();
    until(&ada, "the recovery codes", "document.querySelectorAll('#recovery-codes li').length === 10").await;
    screenshot(&ada, "settings-two-factor.png").await;
    find(&ada, "#settings header button").await.click().await.unwrap();

    // The page is reloaded, so that no listing of the settings survives, and the secret is
    // nowhere in it.
    ada.refresh().await.unwrap();
    until(&ada, "the chat", "!document.getElementById('chat-view').hidden").await;
    let source = ada.source().await.unwrap();
    assert!(!source.contains(&secret));
    find(&ada, "#open-settings").await.click().await.unwrap();
    until(&ada, "the token listed", "document.querySelectorAll('#token-list li').length === 1").await;
    let settings = text_of(&ada, "return document.getElementById('settings').textContent;").await;
    assert!(!settings.as_str().unwrap().contains(&secret), "a token's secret is never shown twice");
    find(&ada, "#settings header button").await.click().await.unwrap();

    // Signing in again takes the password, then a code.
    find(&ada, "#logout").await.click().await.unwrap();
    until(&ada, "the sign-in form", "!document.getElementById('auth-view').hidden").await;
    fill(&ada, "#login-name", "ada").await;
    fill(&ada, "#login-password", "correct horse").await;
    find(&ada, "#login-form button[type=submit]").await.click().await.unwrap();
    until(&ada, "the code field", "!document.getElementById('login-code-group').hidden").await;
    let password = text_of(&ada, "return document.getElementById('login-password').value;").await;
    assert_eq!(password, json!(""), "no password stays in the form while the code is asked");
    fill(&ada, "#login-code", &code(&key, 1)).await;
    find(&ada, "#login-form button[type=submit]").await.click().await.unwrap();
    until(&ada, "the chat", "!document.getElementById('chat-view').hidden").await;
    until(&ada, "General Chat", "document.getElementById('room-title').textContent === 'General Chat'").await;
    app.stop().await;
}
