//! Ingest: how many durable appends per second the server acknowledges, over WebSocket
//! (each connection keeps a window of sends in flight) or REST (each worker one request at
//! a time), with ack latency percentiles.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use http::Method;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use crate::{
    BenchError, Progress, Report,
    client::{BenchUser, Server, next_frame, send_frame},
    http1::{Http1, bearer},
    report::{Latency, histogram},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Rest,
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub connections: usize,
    /// Sends in flight per WebSocket connection.
    pub window: usize,
    pub duration: Duration,
    pub transport: Transport,
    pub run_id: String,
    /// Counts acknowledged appends (and refusals) as they come, for live progress.
    pub progress: Progress,
}

pub async fn ingest(base_url: &str, options: &IngestOptions) -> Result<Report, BenchError> {
    let server = Server::new(base_url);
    let users = server.register_users(&format!("i{}u", options.run_id), options.connections).await?;
    let room_id = format!("ingest-{}", options.run_id);
    server.create_room(&users[0], &room_id).await?;
    for user in &users[1..] {
        server.join_room(user, &room_id).await?;
    }
    let latencies = Arc::new(Mutex::new(histogram()));
    let (acked_before, errors_before) = options.progress.read();
    let started = Instant::now();
    let deadline = started + options.duration;
    let workers: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(i, user)| {
            let (server, room_id, latencies) = (server.clone(), room_id.clone(), latencies.clone());
            let options = options.clone();
            tokio::spawn(async move {
                let counters = Counters { latencies, progress: options.progress.clone() };
                match options.transport {
                    Transport::WebSocket => {
                        ws_worker(&server, &user, i, &room_id, options.window, deadline, &counters).await
                    }
                    Transport::Rest => {
                        rest_worker(server.base().to_owned(), &user, i, &room_id, deadline, &counters).await
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.map_err(|err| BenchError::Protocol(err.to_string()))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (acked, errors) = options.progress.read();
    let (acked, errors) = (acked - acked_before, errors - errors_before);
    let latency = Latency::from_micros(&*latencies.lock().await);
    let transport = match options.transport {
        Transport::WebSocket => "ws",
        Transport::Rest => "rest",
    };
    Ok(Report {
        scenario: format!("ingest-{transport}"),
        parameters: json!({"connections": options.connections, "window": options.window, "duration_secs": options.duration.as_secs_f64()}),
        rate_per_sec: acked as f64 / elapsed,
        operations: acked,
        duration_secs: elapsed,
        latency,
        lost: 0,
        duplicated: 0,
        out_of_order: 0,
        errors,
        ..Report::default()
    })
}

struct Counters {
    latencies: Arc<Mutex<hdrhistogram::Histogram<u64>>>,
    progress: Progress,
}

async fn ws_worker(
    server: &Server,
    user: &BenchUser,
    worker: usize,
    room_id: &str,
    window: usize,
    deadline: Instant,
    counters: &Counters,
) -> Result<(), BenchError> {
    let (mut sink, mut stream) = server.connect(user).await?;
    let permits = Arc::new(Semaphore::new(window.max(1)));
    let epoch = Instant::now();
    let n_sent = Arc::new(AtomicU64::new(0));
    let reader = {
        let (permits, n_sent) = (permits.clone(), n_sent.clone());
        let (latencies, progress) = (counters.latencies.clone(), counters.progress.clone());
        tokio::spawn(async move {
            let mut local = histogram();
            let mut answered = 0u64;
            // Reads until every send is answered once sending has stopped.
            while Instant::now() < deadline || answered < n_sent.load(Ordering::Relaxed) {
                let Ok(Ok(Some(frame))) = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut stream)).await
                else {
                    break;
                };
                match frame["type"].as_str() {
                    Some("ack") => {
                        progress.add(1);
                        let sent_us = frame["client_id"]
                            .as_str()
                            .and_then(|id| id.rsplit('-').next())
                            .and_then(|us| us.parse::<u64>().ok());
                        if let Some(sent_us) = sent_us {
                            let now_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                            let _ = local.record(now_us.saturating_sub(sent_us).max(1));
                        }
                    }
                    Some("error") => {
                        progress.error();
                    }
                    _ => continue,
                }
                answered += 1;
                permits.add_permits(1);
            }
            let _ = latencies.lock().await.add(&local);
        })
    };
    let mut seq = 0u64;
    while Instant::now() < deadline {
        permits.acquire().await.map_err(|err| BenchError::Protocol(err.to_string()))?.forget();
        let sent_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let frame = json!({"type": "send", "room_id": room_id, "text": format!("ingest {seq}"), "client_id": format!("{worker}-{seq}-{sent_us}")});
        send_frame(&mut sink, &frame).await?;
        n_sent.fetch_add(1, Ordering::Relaxed);
        seq += 1;
    }
    reader.await.map_err(|err| BenchError::Protocol(err.to_string()))?;
    Ok(())
}

async fn rest_worker(
    base: String,
    user: &BenchUser,
    worker: usize,
    room_id: &str,
    deadline: Instant,
    counters: &Counters,
) -> Result<(), BenchError> {
    let mut http = Http1::connect(&base).await?;
    let token = bearer(&user.token)?;
    let mut local = histogram();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        let body =
            json!({"room_id": room_id, "text": format!("ingest {seq}"), "client_id": format!("r{worker}-{seq}")});
        let answer =
            http.send(Method::POST, "/api/message/append", Some(&token), Some(body.to_string().into_bytes())).await?;
        if answer.status.is_success() {
            counters.progress.add(1);
            let _ = local.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
        } else {
            counters.progress.error();
        }
        seq += 1;
    }
    let _ = counters.latencies.lock().await.add(&local);
    Ok(())
}
