//! Seed: the seed project's HTTP workload (its Locust file), per simulated user: register,
//! log in, create the shared room (200 whether or not another user was first) and
//! join it; then append a random 5-20 character text and list the room's messages from
//! offset 1 (limit 50), in a 4:2 ratio. Paced like the seed (0.5-1.5 s between tasks) or
//! closed loop (no wait: each user has one request in flight, always) to find saturation.
//! Each user has its own keep-alive connection, as in Locust.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use http::Method;
use serde_json::{Value, json};

use crate::{
    BenchError, Progress, Report, RouteReport,
    http1::{Http1, bearer},
    process,
    report::{Latency, histogram},
};

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub users: usize,
    /// Wait 0.5-1.5 s between tasks, as the seed's Locust users do; otherwise none.
    pub paced: bool,
    /// The measured window, which starts once every user has set up.
    pub duration: Duration,
    pub run_id: String,
    pub server_pid: Option<u32>,
    pub progress: Progress,
}

/// Latencies and errors per route, merged from every user at the end.
#[derive(Default)]
struct Routes {
    routes: BTreeMap<&'static str, (Histogram<u64>, u64)>,
}

impl Routes {
    fn record(&mut self, route: &'static str, started: Instant, ok: bool) {
        let (latencies, errors) = self.routes.entry(route).or_insert_with(|| (histogram(), 0));
        if ok {
            let _ = latencies.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
        } else {
            *errors += 1;
        }
    }

    fn merge(&mut self, other: Routes) {
        for (route, (latencies, errors)) in other.routes {
            let (mine, my_errors) = self.routes.entry(route).or_insert_with(|| (histogram(), 0));
            let _ = mine.add(&latencies);
            *my_errors += errors;
        }
    }
}

/// A tiny xorshift generator: which task comes next and what text to send need no more.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SETUP_ROUTES: [&str; 4] =
    ["POST /api/register", "POST /api/login", "POST /api/room/create", "POST /api/room/join"];
const APPEND: &str = "POST /api/message/append";
const LIST: &str = "GET /api/message/list";

pub async fn seed(base_url: &str, options: &SeedOptions) -> Result<Report, BenchError> {
    let base = base_url.trim_end_matches('/').to_owned();
    let room_id = format!("seed-{}", options.run_id);
    let ready = Arc::new(tokio::sync::Barrier::new(options.users + 1));
    // The window's end, sent once every user is set up.
    let (window_tx, window) = tokio::sync::watch::channel(None::<Instant>);
    let users: Vec<_> = (0..options.users)
        .map(|user| {
            let (base, room_id, ready, window, options) =
                (base.clone(), room_id.clone(), ready.clone(), window.clone(), options.clone());
            tokio::spawn(async move { simulate_user(&base, &room_id, user, &options, &ready, window).await })
        })
        .collect();
    // Every user has set up: the measured window starts now for all of them.
    ready.wait().await;
    let server_before = process::start(options.server_pid);
    let started = Instant::now();
    let _ = window_tx.send(Some(started + options.duration));
    let mut routes = Routes::default();
    for user in users {
        routes.merge(user.await.map_err(|err| BenchError::Protocol(err.to_string()))??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server = process::finish(options.server_pid, server_before);
    let mut total = histogram();
    let mut route_reports = Vec::new();
    let (mut requests, mut errors) = (0, 0);
    for (route, (latencies, route_errors)) in &routes.routes {
        let steady = !SETUP_ROUTES.contains(route);
        if steady {
            let _ = total.add(latencies);
            requests += latencies.len();
            errors += route_errors;
        }
        route_reports.push(RouteReport {
            route: (*route).to_owned(),
            requests: latencies.len(),
            // Setup requests happen before the window; a rate over it would mean nothing.
            rate_per_sec: if steady { latencies.len() as f64 / elapsed } else { 0.0 },
            errors: *route_errors,
            latency: Latency::from_micros(latencies),
        });
    }
    Ok(Report {
        scenario: if options.paced { "seed-paced" } else { "seed-closed" }.to_owned(),
        parameters: json!({"users": options.users, "paced": options.paced, "duration_secs": options.duration.as_secs_f64()}),
        rate_per_sec: requests as f64 / elapsed,
        operations: requests,
        duration_secs: elapsed,
        latency: Latency::from_micros(&total),
        errors,
        server,
        routes: route_reports,
        ..Report::default()
    })
}

async fn simulate_user(
    base: &str,
    room_id: &str,
    user: usize,
    options: &SeedOptions,
    ready: &tokio::sync::Barrier,
    mut window: tokio::sync::watch::Receiver<Option<Instant>>,
) -> Result<Routes, BenchError> {
    let mut routes = Routes::default();
    let email = format!("seed-{}-{user}@example.com", options.run_id);
    let password = "seed secret";
    let steps: [(&'static str, &str, Value); 4] = [
        (
            SETUP_ROUTES[0],
            "/api/register",
            json!({"email": email, "password": password, "display_name": format!("seed {user}")}),
        ),
        (SETUP_ROUTES[1], "/api/login", json!({"email": email, "password": password})),
        (SETUP_ROUTES[2], "/api/room/create", json!({"room_id": room_id, "name": "Seed_test"})),
        (SETUP_ROUTES[3], "/api/room/join", json!({"room_id": room_id})),
    ];
    // Whatever happens here, the barrier must be reached, or every other user waits forever.
    let set_up = async {
        let mut http = Http1::connect(base).await?;
        let mut token = None;
        for (route, path, body) in steps {
            let started = Instant::now();
            let answer = http.send(Method::POST, path, token.as_ref(), Some(body.to_string().into_bytes())).await?;
            let parsed: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            let ok = answer.status.is_success();
            routes.record(route, started, ok);
            if !ok {
                return Err(BenchError::Refused {
                    what: path.to_owned(),
                    status: answer.status.as_u16(),
                    body: String::from_utf8_lossy(&answer.body).into_owned(),
                });
            }
            if let Some(new_token) = parsed["token"].as_str() {
                token = Some(bearer(new_token)?);
            }
        }
        let token = token.ok_or_else(|| BenchError::Protocol("login returned no token".to_owned()))?;
        Ok::<_, BenchError>((http, token))
    }
    .await;
    ready.wait().await;
    let (mut http, token) = set_up?;
    let deadline = window
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|deadline| *deadline)
        .ok_or_else(|| BenchError::Protocol("the seed run ended before it started".to_owned()))?;
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (user as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let list_path = format!("/api/message/list?room_id={room_id}&from_offset=1&limit=50");
    while Instant::now() < deadline {
        let started = Instant::now();
        // Weights 4:2, as the seed's tasks.
        let (route, answer) = if dice.below(6) < 4 {
            let length = 5 + dice.below(16) as usize;
            let text: String = (0..length).map(|_| char::from(b'a' + dice.below(26) as u8)).collect();
            let body = json!({"room_id": room_id, "text": text}).to_string().into_bytes();
            (APPEND, http.send(Method::POST, "/api/message/append", Some(&token), Some(body)).await)
        } else {
            (LIST, http.send(Method::GET, &list_path, Some(&token), None).await)
        };
        let ok = match answer {
            Ok(answer) => answer.status.is_success(),
            // The connection broke: count the failure and carry on over a new one.
            Err(_) => {
                http = Http1::connect(base).await?;
                false
            }
        };
        routes.record(route, started, ok);
        if ok {
            options.progress.add(1);
        } else {
            options.progress.error();
        }
        if options.paced {
            tokio::time::sleep(Duration::from_millis(500 + dice.below(1001))).await;
        }
    }
    Ok(routes)
}
