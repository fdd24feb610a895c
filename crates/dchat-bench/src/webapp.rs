//! `webapp`: what one incoming message costs the web app in a real browser, with many
//! messages in the room. A headless Chromium (driven through chromedriver) opens the app
//! as a member of a fresh room; another member fills the room with `messages` messages,
//! which arrive live and stay in the page's store; then `measured` more arrive one at a
//! time. The app, told to by `localStorage["dchat:measure"]`, times each message frame
//! from its arrival to the end of its render with layout (a `dchat:message` performance
//! measure); the report's latency is those durations, and its parameters say how many
//! rows the page kept in the DOM.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{BenchError, Latency, Report, client::Server, report::histogram};

/// How long the page may take to show what the scenario waits for.
const WAIT: Duration = Duration::from_secs(60);
/// How long it may take to take in the fill: a web app that re-renders its whole list for
/// every message needs minutes for thousands.
const FILL_WAIT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct WebappOptions {
    /// Messages in the room before the measured ones.
    pub messages: usize,
    /// Messages measured, one at a time.
    pub measured: usize,
    /// The room to measure in; None: a fresh one. (`general`, which every new user is
    /// in and which every version of the app opens first, measures apps that know no
    /// `#/room/` addresses.)
    pub room: Option<String>,
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    pub run_id: String,
}

fn browser_error(what: &str, err: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(format!("browser: {what}: {err}"))
}

/// chromedriver on a free port, stopped when dropped; the browser tests use it too.
#[derive(Debug)]
pub struct ChromeDriver {
    _process: Child,
    port: u16,
}

impl ChromeDriver {
    /// Starts the chromedriver at `path` and waits until it listens.
    pub async fn start(path: &Path) -> Result<Self, BenchError> {
        let mut process = Command::new(path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| browser_error(&format!("start {}", path.display()), err))?;
        let stdout = process.stdout.take().ok_or_else(|| browser_error("chromedriver", "no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // chromedriver announces its port on stdout once it listens.
        let port = loop {
            let line = tokio::time::timeout(WAIT, lines.next_line())
                .await
                .map_err(|_| browser_error("chromedriver", "did not announce its port"))??
                .ok_or_else(|| browser_error("chromedriver", "exited before listening"))?;
            if let Some(port) = line.split("started successfully on port ").nth(1) {
                break port.trim().trim_end_matches('.').parse::<u16>().map_err(|err| browser_error("port", err))?;
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { _process: process, port })
    }

    /// A fresh headless Chromium of `width` x `height` with its profile in `profile`,
    /// started with the flags that keep it off the network.
    pub async fn browser(
        &self,
        chromium: &Path,
        profile: &Path,
        width: u32,
        height: u32,
    ) -> Result<Client, BenchError> {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--user-data-dir={}", profile.display()), format!("--window-size={width},{height}"),
                ],
            }
        });
        let Value::Object(capabilities) = capabilities else {
            return Err(browser_error("capabilities", "not an object"));
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .map_err(|err| browser_error("open a session", err))
    }
}

/// Runs `script` (a JavaScript expression) in the page.
async fn eval(browser: &Client, script: &str) -> Result<Value, BenchError> {
    browser.execute(&format!("return {script};"), vec![]).await.map_err(|err| browser_error(script, err))
}

/// Waits (at most `wait`) until `script` is true in the page.
async fn until(browser: &Client, what: &str, script: &str, wait: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + wait;
    while eval(browser, &format!("Boolean({script})")).await? != json!(true) {
        if Instant::now() > deadline {
            let shown = eval(browser, "document.querySelector('#messages li:last-child .text')?.textContent").await?;
            return Err(browser_error(what, format!("timed out; the newest row shown is {shown}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Whether the newest row shown has exactly this text, as a JavaScript expression.
fn shows_last(text: &str) -> String {
    format!("document.querySelector('#messages li:last-child .text')?.textContent === {}", json!(text))
}

/// Runs the scenario against the dchat at `url` (its abuse limits must be off).
pub async fn webapp(url: &str, options: &WebappOptions) -> Result<Report, BenchError> {
    let server = Server::new(url);
    let prefix = format!("web{}u", options.run_id);
    let users = server.register_users(&prefix, 2).await?;
    let (reader, sender) = (&users[0], &users[1]);
    let room = match &options.room {
        Some(room) => room.clone(),
        None => {
            let room = format!("webapp-{}", options.run_id);
            server.create_room(sender, &room).await?;
            server.join_room(reader, &room).await?;
            room
        }
    };

    let driver = ChromeDriver::start(&options.chromedriver).await?;
    let profile = tempfile::tempdir()?;
    let browser = driver.browser(&options.chromium, profile.path(), 1280, 800).await?;
    let outcome = measure(&server, &browser, &prefix, &room, sender, options).await;
    let _ = browser.close().await;
    outcome
}

async fn measure(
    server: &Server,
    browser: &Client,
    prefix: &str,
    room: &str,
    sender: &crate::client::BenchUser,
    options: &WebappOptions,
) -> Result<Report, BenchError> {
    let base = server.base();
    browser.goto(base).await.map_err(|err| browser_error("open the app", err))?;
    eval(browser, "(localStorage.setItem('dchat:measure', '1'), true)").await?;
    // The app reads the flag as it loads: load it again, at the room's address.
    browser.goto(&format!("{base}/#/room/{room}")).await.map_err(|err| browser_error("open the room", err))?;
    browser.refresh().await.map_err(|err| browser_error("reload", err))?;
    let field = |css: &'static str| async move {
        browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.map_err(|err| browser_error(css, err))
    };
    field("#login-name").await?.send_keys(&format!("{prefix}0")).await.map_err(|err| browser_error("type", err))?;
    field("#login-password").await?.send_keys("bench password").await.map_err(|err| browser_error("type", err))?;
    field("#login-form button[type=submit]").await?.click().await.map_err(|err| browser_error("log in", err))?;
    until(browser, "the chat", "!document.getElementById('chat-view').hidden", WAIT).await?;
    let loaded = "document.getElementById('history-status')?.textContent === 'This is the beginning of the room.'";
    until(browser, "the room's first page", loaded, WAIT).await?;

    // The room fills while the page is open: every message arrives live and stays in the
    // page's store.
    let appends = (0..options.messages).map(|i| {
        let text = format!("fill {i}: the quick brown fox jumps over the lazy dog https://example.com/{i}");
        async move { server.append(sender, room, &text).await }
    });
    let filled: Vec<Result<(), BenchError>> = futures::stream::iter(appends).buffered(16).collect().await;
    filled.into_iter().collect::<Result<Vec<()>, _>>()?;
    // The fill's appends raced each other; a last one after them all marks its end.
    server.append(sender, room, "filled").await?;
    until(browser, "the filled room", &shows_last("filled"), FILL_WAIT).await?;
    eval(browser, "(performance.clearMeasures('dchat:message'), true)").await?;

    let started = Instant::now();
    for i in 0..options.measured {
        let text = format!("measured {i}");
        server.append(sender, room, &text).await?;
        until(browser, "a measured message", &shows_last(&text), WAIT).await?;
    }
    let elapsed = started.elapsed();
    let durations = eval(browser, "performance.getEntriesByName('dchat:message').map(e => e.duration)").await?;
    let rows = eval(browser, "document.querySelectorAll('#messages li').length").await?;
    let mut latencies = histogram();
    for duration in durations.as_array().into_iter().flatten().filter_map(Value::as_f64) {
        let _ = latencies.record(((duration * 1000.0).round() as u64).max(1));
    }
    let measured = latencies.len();
    Ok(Report {
        scenario: "webapp".to_owned(),
        parameters: json!({
            "room_messages": options.messages,
            "measured": options.measured,
            "rows_in_dom": rows,
        }),
        rate_per_sec: measured as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        operations: measured,
        duration_secs: elapsed.as_secs_f64(),
        latency: Latency::from_micros(&latencies),
        // A measured message the page did not time is an error of the measurement.
        errors: (options.measured as u64).saturating_sub(measured),
        ..Report::default()
    })
}
