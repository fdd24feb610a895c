//! The web app in a real browser: headless Chromium driven through chromedriver with
//! fantoccini. Runs when Debian's `chromium` and `chromium-driver` are installed (CI
//! installs them); elsewhere each test says loudly that it skipped, and under CI a missing
//! browser is a failure.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use fantoccini::{Client, Locator, elements::Element, key::Key};
use serde_json::json;

use crate::support::{TestApp, spawn_app, spawn_app_with, test_config};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(10);

/// Whether the browser is here; says so loudly when it is not (and fails under CI).
// A skipped test must be visible in the test output, which is what stderr is for here.
#[allow(clippy::print_stderr)]
pub(crate) fn browser_available(test: &str) -> bool {
    let present = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium and chromium-driver");
        eprintln!("SKIPPED {test}: install Debian's chromium and chromium-driver to run the browser tests");
    }
    present
}

/// One chromedriver process (the bench's); each [`Driver::browser`] is a fresh headless
/// Chromium with a profile of its own.
pub(crate) struct Driver {
    driver: dchat_bench::ChromeDriver,
    profiles: tempfile::TempDir,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        let driver = dchat_bench::ChromeDriver::start(Path::new(CHROMEDRIVER)).await.expect("start chromedriver");
        Self { driver, profiles: tempfile::tempdir().unwrap() }
    }

    pub(crate) async fn browser(&self, width: u32, height: u32) -> Client {
        let profile = tempfile::tempdir_in(self.profiles.path()).unwrap().keep();
        self.driver.browser(Path::new(CHROMIUM), &profile, width, height).await.expect("a browser session")
    }
}

/// Scrolls the message list to its top until `text` is shown, as a JavaScript expression
/// for [`until`] (each check scrolls up again, so older pages or rows keep coming).
pub(crate) fn scrolled_up_until_shown(text: &str) -> String {
    format!(
        "(() => {{ const s = document.getElementById('scroller'); s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); return {}; }})()",
        shows_message(text)
    )
}

pub(crate) async fn find(browser: &Client, css: &str) -> Element {
    browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|err| panic!("{css}: {err}"))
}

/// Waits until `script` (a JavaScript expression) is true in the page.
pub(crate) async fn until(browser: &Client, what: &str, script: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = browser.execute(&format!("return Boolean({script});"), vec![]).await.unwrap();
        if value == json!(true) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn fill(browser: &Client, css: &str, text: &str) {
    let input = find(browser, css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Registers through the page and waits for the chat to show.
pub(crate) async fn register(browser: &Client, app: &TestApp, username: &str, display_name: &str) {
    browser.goto(&app.http).await.unwrap();
    find(browser, "#tab-register").await.click().await.unwrap();
    fill(browser, "#register-username", username).await;
    fill(browser, "#register-display", display_name).await;
    fill(browser, "#register-password", "correct horse").await;
    find(browser, "#register-form button[type=submit]").await.click().await.unwrap();
    until(browser, "the chat view", "!document.getElementById('chat-view').hidden").await;
    until(browser, "General Chat", "document.getElementById('room-title').textContent === 'General Chat'").await;
}

/// Creates a room through the sidebar form and waits until the page shows it.
pub(crate) async fn create_room(browser: &Client, room_id: &str, name: &str) {
    find(browser, "#create summary").await.click().await.unwrap();
    fill(browser, "#create-id", room_id).await;
    fill(browser, "#create-name", name).await;
    find(browser, "#create-form button[type=submit]").await.click().await.unwrap();
    let shown = format!("document.getElementById('room-title').textContent === {}", json!(name));
    until(browser, "the new room", &shown).await;
}

pub(crate) async fn send(browser: &Client, text: &str) {
    let composer = find(browser, "#composer-text").await;
    composer.send_keys(text).await.unwrap();
    composer.send_keys(&Key::Enter.to_string()).await.unwrap();
}

/// A JavaScript expression: whether a confirmed message with exactly this text is shown.
pub(crate) fn shows_message(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages .message:not(.pending):not(.failed) .text')].some(t => t.textContent === {})",
        json!(text)
    )
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_see_each_other_online_and_chat_live() {
    if !browser_available("two_people_see_each_other_online_and_chat_live") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    let bob = driver.browser(1280, 800).await;
    alice.goto(&app.http).await.unwrap();
    find(&alice, "#login-form").await;
    screenshot(&alice, "login.png").await;
    register(&alice, &app, "alice", "Alice").await;
    register(&bob, &app, "bob", "Bob").await;

    // Each online user shows with the display name and the handle.
    let online =
        |name: &str| format!("[...document.querySelectorAll('.online-user')].some(u => u.textContent === '{name}')");
    until(&alice, "Bob online for Alice", &online("Bob @bob")).await;
    until(&bob, "Alice online for Bob", &online("Alice @alice")).await;

    // A mention of a member names them, and stands out for the one it names.
    send(&alice, "hi @bob!").await;
    let mention = "(m => m !== null && m.textContent === '@bob' && m.title === 'Bob' && m.classList.contains('me'))        (document.querySelector('#messages .mention'))";
    until(&bob, "the mention, marked for Bob", mention).await;

    send(&alice, "hello Bob").await;
    // Live delivery: well under a second in practice; the wait allows a loaded machine 2 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    until(&bob, "Alice's message at Bob", &shows_message("hello Bob")).await;
    assert!(std::time::Instant::now() < deadline, "the message took more than 2 s to arrive");
    until(&alice, "Alice's message confirmed", &shows_message("hello Bob")).await;

    // Typing shows on the other side.
    find(&bob, "#composer-text").await.send_keys("typing").await.unwrap();
    until(&alice, "Bob typing", "document.getElementById('typing').textContent.includes('Bob')").await;
    find(&bob, "#composer-text").await.clear().await.unwrap();

    for i in 0..12 {
        let (who, text) = if i % 3 == 0 {
            (&bob, format!("Reply {i}: sounds good https://example.com/{i}"))
        } else {
            (&alice, format!("Message {i} about the plan"))
        };
        send(who, &text).await;
        until(&alice, "the conversation", &shows_message(&text)).await;
    }
    screenshot(&alice, "chat-desktop.png").await;
    alice.set_window_size(390, 844).await.unwrap();
    until(&alice, "the phone layout", "getComputedStyle(document.getElementById('toggle-sidebar')).display !== 'none'")
        .await;
    screenshot(&alice, "chat-phone.png").await;
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_created_and_joined_and_a_reload_keeps_history() {
    if !browser_available("rooms_are_created_and_joined_and_a_reload_keeps_history") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    let bob = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    register(&bob, &app, "bob", "Bob").await;

    create_room(&alice, "book-club", "Book Club").await;
    send(&alice, "first chapter tonight").await;
    until(&alice, "the message", &shows_message("first chapter tonight")).await;

    // Creating a taken id changes nothing and says so; joining is the way in.
    find(&bob, "#create summary").await.click().await.unwrap();
    fill(&bob, "#create-id", "book-club").await;
    fill(&bob, "#create-name", "Mine now").await;
    find(&bob, "#create-form button[type=submit]").await.click().await.unwrap();
    until(&bob, "the taken-id message", "document.getElementById('create-error').textContent.includes('taken')").await;
    assert!(
        bob.find(fantoccini::Locator::Css("#room-list button[data-room-id='book-club']")).await.is_err(),
        "the taken room is not added to bob's list"
    );

    find(&bob, "#browse summary").await.click().await.unwrap();
    find(&bob, "#public-list button[data-room-id='book-club']").await.click().await.unwrap();
    until(&bob, "the joined room", "document.getElementById('room-title').textContent === 'Book Club'").await;
    until(&bob, "the room's history", &shows_message("first chapter tonight")).await;

    bob.refresh().await.unwrap();
    find(&bob, "#room-list button[data-room-id='book-club']").await.click().await.unwrap();
    until(&bob, "history after a reload", &shows_message("first chapter tonight")).await;
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_the_server_restarts_is_delivered_exactly_once() {
    if !browser_available("a_message_sent_while_the_server_restarts_is_delivered_exactly_once") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(test_config(dir.path())).await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    send(&alice, "before the restart").await;
    until(&alice, "the first message", &shows_message("before the restart")).await;

    let (http_addr, grpc_addr) = (app.http.trim_start_matches("http://").to_owned(), app.services.auth.addr.clone());
    app.stop().await;
    until(&alice, "the reconnecting banner", "!document.getElementById('connection').hidden").await;
    send(&alice, "during the restart").await;
    until(&alice, "the pending message", "document.querySelector('#messages .message.pending') !== null").await;

    let mut config = test_config(dir.path());
    config.http_bind = http_addr.parse().unwrap();
    config.grpc_bind = grpc_addr.parse().unwrap();
    let app = spawn_app_with(config).await;
    until(&alice, "the message after reconnecting", &shows_message("during the restart")).await;
    until(&alice, "no pending message", "document.querySelector('#messages .message.pending') === null").await;

    let user = app.register("observer").await;
    let stored = app.all_messages("general", &user).await;
    let copies = stored.iter().filter(|message| message.text == "during the restart").count();
    assert_eq!(copies, 1, "stored exactly once");
    alice.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_messages_and_names_is_shown_as_text_and_never_runs() {
    if !browser_available("html_in_messages_and_names_is_shown_as_text_and_never_runs") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let mallory = driver.browser(1280, 800).await;
    let victim = driver.browser(1280, 800).await;
    let evil_name = "<img src=x onerror=\"window.__xss='name'\">";
    register(&mallory, &app, "mallory", evil_name).await;
    register(&victim, &app, "victim", "Victim").await;
    let payload =
        "<script>window.__xss='script'</script><img src=x onerror=\"window.__xss='img'\"> javascript:alert(1)";
    send(&mallory, payload).await;
    until(&victim, "the payload as text", &shows_message(payload)).await;
    until(
        &victim,
        "the name as text",
        &format!("[...document.querySelectorAll('.sender')].some(s => s.textContent === {})", json!(evil_name)),
    )
    .await;
    let executed = victim.execute("return window.__xss === undefined && document.querySelectorAll('#messages img, #messages script').length === 0;", vec![]).await.unwrap();
    assert_eq!(executed, json!(true), "nothing in the payload ran or became markup");
    let links = victim.execute("return document.querySelectorAll('#messages a').length;", vec![]).await.unwrap();
    assert_eq!(links, json!(0), "javascript: is never a link");
    mallory.close().await.unwrap();
    victim.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_older_history_on_scroll_and_leaving_a_room() {
    if !browser_available("unread_counts_older_history_on_scroll_and_leaving_a_room") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    // 120 older messages in general, written by someone else through the services.
    let bob = app.register("bob").await;
    for i in 0..120 {
        app.append("general", &bob, &format!("old {i}"), "").await.unwrap();
    }
    alice.refresh().await.unwrap();
    until(&alice, "the latest page", &shows_message("old 119")).await;
    until(&alice, "only the latest page", &format!("!({})", shows_message("old 0"))).await;
    // Scrolling to the top loads older pages until the beginning.
    until(&alice, "the first message after scrolling up", &scrolled_up_until_shown("old 0")).await;
    until(
        &alice,
        "the beginning marker",
        "document.getElementById('history-status').textContent.includes('beginning')",
    )
    .await;

    // A message in another room counts as unread there.
    create_room(&alice, "side", "Side").await;
    find(&alice, "#room-list button[data-room-id='general']").await.click().await.unwrap();
    app.rooms
        .clone()
        .join_room(dchat_proto::room::v1::JoinLeaveReq { room_id: "side".into(), user_id: bob.user_id.clone() })
        .await
        .unwrap();
    app.append("side", &bob, "psst", "").await.unwrap();
    until(
        &alice,
        "an unread badge",
        "document.querySelector(\"#room-list button[data-room-id='side'] .unread\")?.textContent === '1'",
    )
    .await;
    find(&alice, "#room-list button[data-room-id='side']").await.click().await.unwrap();
    until(&alice, "the unread message", &shows_message("psst")).await;
    until(
        &alice,
        "the badge cleared",
        "document.querySelector(\"#room-list button[data-room-id='side'] .unread\") === null",
    )
    .await;

    find(&alice, "#leave").await.click().await.unwrap();
    until(&alice, "back in General Chat", "document.getElementById('room-title').textContent === 'General Chat'").await;
    until(
        &alice,
        "the room gone from the list",
        "document.querySelector(\"#room-list button[data-room-id='side']\") === null",
    )
    .await;
    alice.close().await.unwrap();
    app.stop().await;
}
