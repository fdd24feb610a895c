//! The web app's shape in a real browser (see `browser.rs` for the driver): the address
//! names the open room and a reload keeps it with its draft; the message list keeps a
//! bounded window of rows however long the room, and moves it as the reader scrolls (a
//! reader at the bottom stays there when the window is resized);
//! live messages leave focus, the draft and a text selection alone; and screen readers
//! hear new messages through a polite live region.

use fantoccini::key::Key;
use serde_json::json;

use crate::{
    browser::{
        Driver, browser_available, create_room, find, register, scrolled_up_until_shown, send, shows_message, until,
    },
    support::spawn_app,
};

/// The rows of the message list in the DOM, as a JavaScript expression.
const ROWS: &str = "document.querySelectorAll('#messages li').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_names_the_room_and_a_reload_keeps_it_and_its_draft() {
    if !browser_available("the_address_names_the_room_and_a_reload_keeps_it_and_its_draft") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    until(&alice, "general in the address", "location.hash === '#/room/general'").await;
    create_room(&alice, "side", "Side").await;
    until(&alice, "side in the address", "location.hash === '#/room/side'").await;
    find(&alice, "#composer-text").await.send_keys("half a thought").await.unwrap();

    alice.refresh().await.unwrap();
    until(&alice, "the room after a reload", "document.getElementById('room-title').textContent === 'Side'").await;
    until(&alice, "the draft after a reload", "document.getElementById('composer-text').value === 'half a thought'")
        .await;

    // Each room keeps its own draft; back returns to the previous room.
    find(&alice, "#room-list button[data-room-id='general']").await.click().await.unwrap();
    until(&alice, "general's empty draft", "document.getElementById('composer-text').value === ''").await;
    alice.back().await.unwrap();
    until(&alice, "back in Side", "document.getElementById('room-title').textContent === 'Side'").await;
    until(&alice, "Side's draft again", "document.getElementById('composer-text').value === 'half a thought'").await;

    // A sent message's draft is gone, after a reload too.
    find(&alice, "#composer-text").await.send_keys(&Key::Enter.to_string()).await.unwrap();
    until(&alice, "the sent draft", &shows_message("half a thought")).await;
    alice.refresh().await.unwrap();
    until(&alice, "Side after a reload", "document.getElementById('room-title').textContent === 'Side'").await;
    until(&alice, "no draft after sending", "document.getElementById('composer-text').value === ''").await;
    alice.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_room_keeps_a_bounded_window_of_rows_that_follows_the_reader() {
    if !browser_available("a_long_room_keeps_a_bounded_window_of_rows_that_follows_the_reader") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    let bob = app.register("bob").await;
    // 450 messages arrive live while the page is open: the page holds them all.
    for i in 0..450 {
        app.append("general", &bob, &format!("live {i}"), "").await.unwrap();
    }
    until(&alice, "the last message", &shows_message("live 449")).await;
    let rows = alice.execute(&format!("return {ROWS};"), vec![]).await.unwrap();
    assert!(rows.as_u64().unwrap() <= 200, "{rows} rows in the DOM for 451 messages");
    assert!(rows.as_u64().unwrap() >= 100, "{rows} rows: the window shows a useful stretch");
    until(&alice, "the first messages out of the DOM", &format!("!({})", shows_message("live 0"))).await;

    // Scrolling up moves the window to the oldest message, still bounded, the row in
    // view staying in view.
    until(&alice, "the first message after scrolling up", &scrolled_up_until_shown("live 0")).await;
    let rows = alice.execute(&format!("return {ROWS};"), vec![]).await.unwrap();
    assert!(rows.as_u64().unwrap() <= 200, "{rows} rows after scrolling up");
    until(&alice, "the newest out of the DOM while reading the oldest", &format!("!({})", shows_message("live 449")))
        .await;

    // A message that arrives meanwhile raises the button instead of moving the reader.
    app.append("general", &bob, "while reading", "").await.unwrap();
    until(&alice, "the new-messages button", "!document.getElementById('new-messages').hidden").await;
    find(&alice, "#new-messages").await.click().await.unwrap();
    until(&alice, "the newest after the button", &shows_message("while reading")).await;
    let rows = alice.execute(&format!("return {ROWS};"), vec![]).await.unwrap();
    assert!(rows.as_u64().unwrap() <= 200, "{rows} rows back at the bottom");

    // A reader at the bottom stays at the bottom when the window narrows to a phone's and
    // long messages wrap onto more lines.
    for i in 0..5 {
        let long = format!("long {i}: {}", "a sentence that wraps on a narrow screen ".repeat(4));
        app.append("general", &bob, &long, "").await.unwrap();
        until(&alice, "a long message", &shows_message(&long)).await;
    }
    alice.set_window_size(390, 844).await.unwrap();
    let at_bottom = "(() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()";
    until(&alice, "the bottom after a resize", at_bottom).await;
    alice.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_messages_leave_focus_draft_and_selection_alone_and_are_announced() {
    if !browser_available("live_messages_leave_focus_draft_and_selection_alone_and_are_announced") {
        return;
    }
    let (app, _dir) = spawn_app().await;
    let driver = Driver::start().await;
    let alice = driver.browser(1280, 800).await;
    let bob = driver.browser(1280, 800).await;
    register(&alice, &app, "alice", "Alice").await;
    register(&bob, &app, "bob", "Bob").await;
    send(&bob, "select this sentence").await;
    until(&alice, "bob's message", &shows_message("select this sentence")).await;

    // Alice selects Bob's text and starts typing; a select-and-type keeps both.
    let select = "(() => { const t = [...document.querySelectorAll('#messages .text')].find(t => t.textContent === 'select this sentence'); \
                  const r = document.createRange(); r.selectNodeContents(t); const s = getSelection(); s.removeAllRanges(); s.addRange(r); \
                  window.__selected = t; return true; })()";
    alice.execute(&format!("return {select};"), vec![]).await.unwrap();
    find(&alice, "#composer-text").await.send_keys("my reply").await.unwrap();
    alice.execute(&format!("return {select};"), vec![]).await.unwrap();
    for i in 0..5 {
        send(&bob, &format!("more {i}")).await;
        until(&alice, "bob's next message", &shows_message(&format!("more {i}"))).await;
    }
    let kept = alice
        .execute(
            "return [getSelection().toString(), getSelection().anchorNode && window.__selected.contains(getSelection().anchorNode), \
             document.getElementById('composer-text').value];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!(["select this sentence", true, "my reply"]), "selection, its node and the draft survive");

    // Focus stays in the composer while messages arrive.
    find(&alice, "#composer-text").await.click().await.unwrap();
    send(&bob, "one more").await;
    until(&alice, "the last message", &shows_message("one more")).await;
    let focused = alice.execute("return document.activeElement.id;", vec![]).await.unwrap();
    assert_eq!(focused, json!("composer-text"));

    // The polite live region reads the newest message from someone else.
    let region = alice
        .execute(
            "const a = document.getElementById('announcer'); return [a.getAttribute('aria-live'), a.textContent];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(region, json!(["polite", "Bob: one more"]));
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    app.stop().await;
}
