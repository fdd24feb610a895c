//! Fan-out: R rooms with M WebSocket members each, S senders at a target rate. Every
//! member counts what it receives per offset, so loss, duplication and reordering are
//! measured, not assumed; every delivery's send-to-receive latency goes into a histogram.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::json;
use tokio::sync::{Semaphore, watch};

use crate::{
    BenchError, Progress, Report,
    client::{BenchUser, Server, next_frame, send_frame},
    member::Member,
    process,
    report::{Latency, histogram},
};

#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub rooms: usize,
    /// WebSocket connections subscribed to each room.
    pub members: usize,
    /// Distinct users behind a room's member connections (0: one user per connection). A
    /// user may hold several connections, as with several tabs or devices; registering
    /// thousands of users would measure argon2, not fan-out.
    pub users_per_room: usize,
    /// Sender connections; sender `s` sends to room `s % rooms`, so with fewer senders than
    /// rooms only the first `senders` rooms get messages.
    pub senders: usize,
    /// Messages per second over all senders; 0 sends as fast as acknowledgements allow.
    pub rate_per_sec: f64,
    pub duration: Duration,
    /// Sending before `duration` whose latencies are not recorded (deliveries are still
    /// checked): the first message of a room warms caches that a steady state has warm.
    pub warmup: Duration,
    /// Makes user names and room ids unique, so runs against one server do not collide.
    pub run_id: String,
    /// The server process, for its CPU and memory over the measured window.
    pub server_pid: Option<u32>,
    /// Counts deliveries as they arrive.
    pub progress: Progress,
}

/// Sends in flight per sender when sending as fast as possible.
const OPEN_LOOP_WINDOW: usize = 64;
/// How long stragglers may take once sending has stopped.
const DRAIN: Duration = Duration::from_secs(10);

/// The fields of a pushed frame that a member checks.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Delivery<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    offset: i64,
    #[serde(default, borrow)]
    text: std::borrow::Cow<'a, str>,
}

impl<'a> Delivery<'a> {
    /// Reads the checked fields of a frame. With ten thousand members sharing the machine
    /// with the server, parsing whole frames into serde was the load generator's largest
    /// cost (about a third of its work per delivery), so in a frame that is a flat object
    /// in compact JSON, as both servers send, the three fields are found by their keys;
    /// anything else is parsed in full.
    fn parse(frame: &'a str) -> Option<Self> {
        Self::read_flat(frame).or_else(|| serde_json::from_str(frame).ok())
    }

    /// Finding a key is exact here: in a flat object, a key's opening quote follows `{` or
    /// `,`, while a quote inside a string follows its escaping backslash.
    fn read_flat(frame: &'a str) -> Option<Self> {
        let bytes = frame.as_bytes();
        // Nothing nested (a brace or bracket inside a string sends the frame to serde too).
        if bytes.first() != Some(&b'{')
            || bytes.last() != Some(&b'}')
            || memchr::memchr2(b'{', b'[', &bytes[1..]).is_some()
        {
            return None;
        }
        let [type_key, offset_key, text_key] = &*KEYS;
        let kind = string(&frame[value_at(bytes, type_key)?..])?;
        if kind != "message" {
            return Some(Self { kind: kind.into(), offset: 0, text: "".into() });
        }
        let digits = value_at(bytes, offset_key)?;
        let end = digits + bytes[digits..].iter().position(|byte| !byte.is_ascii_digit())?;
        let offset = frame[digits..end].parse().ok()?;
        let text = string(&frame[value_at(bytes, text_key)?..])?;
        Some(Self { kind: kind.into(), offset, text: text.into() })
    }
}

/// The keys a member reads, with what follows them in compact JSON: `"type":"`,
/// `"offset":` and `"text":"`.
static KEYS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> = std::sync::LazyLock::new(|| {
    [b"\"type\":\"".as_slice(), b"\"offset\":", b"\"text\":\""].map(memchr::memmem::Finder::new)
});

/// Where the value after `key` starts (after its opening quote, for a string), if the key's
/// first occurrence is one.
fn value_at(bytes: &[u8], key: &memchr::memmem::Finder<'_>) -> Option<usize> {
    let at = key.find(bytes)?;
    matches!(bytes.get(at.checked_sub(1)?), Some(b'{' | b',')).then_some(at + key.needle().len())
}

/// A JSON string's contents, from after its opening quote up to its closing one. `None`
/// for a string with an escape in it, which only a full parse reads right.
fn string(quoted: &str) -> Option<&str> {
    let end = memchr::memchr2(b'"', b'\\', quoted.as_bytes())?;
    (quoted.as_bytes()[end] == b'"').then(|| &quoted[..end])
}

/// What one member saw.
struct Seen {
    received: u64,
    duplicated: u64,
    out_of_order: u64,
    last_offset: Option<i64>,
    /// Send-to-receive latencies in µs, recorded into one histogram at the end.
    latencies: Vec<u32>,
}

fn room_id(run_id: &str, room: usize) -> String {
    format!("bench-{run_id}-{room}")
}

pub async fn fanout(base_url: &str, options: &FanoutOptions) -> Result<Report, BenchError> {
    fanout_against(Server::new(base_url), options).await
}

/// The same scenario against the bare broadcast server (no accounts, no storage).
pub async fn fanout_bare(base_url: &str, options: &FanoutOptions) -> Result<Report, BenchError> {
    let mut report = fanout_against(Server::bare(base_url), options).await?;
    report.scenario = "fanout-bare".to_owned();
    Ok(report)
}

async fn fanout_against(server: Server, options: &FanoutOptions) -> Result<Report, BenchError> {
    let FanoutOptions { rooms, members, senders, .. } = *options;
    if senders < rooms {
        tracing::warn!(
            "{senders} senders for {rooms} rooms: only {senders} rooms get messages, and the \
             deliveries per second are shared by those; give each room a sender to load them all"
        );
    }
    let run_id = &options.run_id;
    let users_per_room = if options.users_per_room == 0 { members } else { options.users_per_room.min(members) };
    let room_users = server.register_users(&format!("f{run_id}m"), rooms * users_per_room).await?;
    let sender_users = server.register_users(&format!("f{run_id}s"), senders).await?;
    for room in 0..rooms {
        let users = &room_users[room * users_per_room..(room + 1) * users_per_room];
        server.create_room(&users[0], &room_id(run_id, room)).await?;
        for user in &users[1..] {
            server.join_room(user, &room_id(run_id, room)).await?;
        }
    }
    let member_users: Vec<&BenchUser> = (0..rooms * members)
        .map(|i| &room_users[(i / members) * users_per_room + (i % members) % users_per_room])
        .collect();
    for (sender, user) in sender_users.iter().enumerate() {
        server.join_room(user, &room_id(run_id, sender % rooms)).await?;
    }

    let epoch = Instant::now();
    // Latencies of messages sent before this (µs after `epoch`) are not recorded.
    let measure_from = Arc::new(AtomicU64::new(u64::MAX));
    let (stop_tx, stop) = watch::channel(false);
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..rooms).map(|_| AtomicU64::new(0)).collect());

    // Members first: every one of them is subscribed before the first message is sent.
    // Many handshakes at once, as a crowd of clients would: thousands one by one take long.
    let connecting = member_users.iter().enumerate().map(|(i, user)| {
        let server = &server;
        async move {
            let mut member = Member::connect(server, user).await?;
            member.subscribe(&room_id(run_id, i / members)).await?;
            Ok::<_, BenchError>((i / members, member))
        }
    });
    let connected: Vec<_> = futures::stream::iter(connecting).buffered(64).collect().await;
    let mut receivers = Vec::new();
    for member in connected {
        let (room, member) = member?;
        let (stop, acked, progress, measure_from) =
            (stop.clone(), acked.clone(), options.progress.clone(), measure_from.clone());
        receivers.push(tokio::spawn(async move {
            receive(member, (epoch, &measure_from), stop, &acked[room], &progress).await
        }));
    }

    let errors = Arc::new(AtomicU64::new(0));
    let server_before = process::start(options.server_pid);
    let started = Instant::now();
    let warmup_us = u64::try_from((epoch.elapsed() + options.warmup).as_micros()).unwrap_or(u64::MAX);
    measure_from.store(warmup_us, Ordering::Relaxed);
    let mut sending = Vec::new();
    for (s, user) in sender_users.iter().enumerate() {
        let task = send_messages(
            &server,
            user.clone(),
            s,
            room_id(run_id, s % rooms),
            options,
            epoch,
            SenderCounters { acked: acked.clone(), errors: errors.clone(), room: s % rooms },
        );
        sending.push(task);
    }
    // Senders run concurrently in this task; each one's socket reader is its own task.
    futures::future::try_join_all(sending).await?;
    let send_secs = started.elapsed().as_secs_f64();
    let server_usage = process::finish(options.server_pid, server_before);
    let _ = stop_tx.send(true);

    let mut latencies = histogram();
    let (mut received, mut duplicated, mut out_of_order, mut lost) = (0, 0, 0, 0);
    for (i, receiver) in receivers.into_iter().enumerate() {
        let seen = receiver.await.map_err(|err| BenchError::Protocol(err.to_string()))?;
        let expected = acked[i / members].load(Ordering::Relaxed);
        lost += expected.saturating_sub(seen.received);
        received += seen.received;
        duplicated += seen.duplicated;
        out_of_order += seen.out_of_order;
        for &micros in &seen.latencies {
            latencies.saturating_record(u64::from(micros));
        }
    }
    Ok(Report {
        scenario: "fanout".to_owned(),
        parameters: json!({
            "rooms": rooms, "members": members, "users_per_room": users_per_room, "senders": senders,
            "rate_per_sec": options.rate_per_sec, "duration_secs": options.duration.as_secs_f64(),
            "warmup_secs": options.warmup.as_secs_f64(),
        }),
        rate_per_sec: received as f64 / send_secs,
        operations: received,
        duration_secs: send_secs,
        latency: Latency::from_micros(&latencies),
        lost,
        duplicated,
        out_of_order,
        errors: errors.load(Ordering::Relaxed),
        server: server_usage,
        ..Report::default()
    })
}

/// Reads a member's frames until told to stop and every acknowledged message of its room
/// arrived (or the drain time ran out).
///
/// Ten thousand of these share the machine with the server under test, so each delivery
/// costs as little as it can: the socket is read by a reader of its own (see `member`),
/// one wait for the stop signal lasts the member's life, and latencies are appended to a
/// vector (a histogram per member scattered its counts over 140 KB of memory each).
async fn receive(
    mut member: Member,
    (epoch, measure_from): (Instant, &AtomicU64),
    mut stop: watch::Receiver<bool>,
    acked: &AtomicU64,
    progress: &Progress,
) -> Seen {
    let mut seen = Seen { received: 0, duplicated: 0, out_of_order: 0, last_offset: None, latencies: Vec::new() };
    let mut unreported = 0u64;
    let mut reported_at_us = 0u64;
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        let frame = tokio::select! {
            frame = member.next_text() => frame,
            _ = &mut stopped => break,
        };
        let Ok(Some(text)) = frame else {
            progress.add(unreported);
            return seen;
        };
        if let Some(now_us) = seen.take(text, epoch, measure_from) {
            unreported += 1;
            // Progress is shared by every member: bump it in steps, not per delivery, but
            // at least every 200 ms, or a member of a slow room would show nothing for long.
            if unreported >= 256 || now_us.saturating_sub(reported_at_us) >= 200_000 {
                progress.add(std::mem::take(&mut unreported));
                reported_at_us = now_us;
            }
        }
    }
    progress.add(unreported);
    // Sending is over and `acked` final: wait for the stragglers.
    let deadline = tokio::time::Instant::now() + DRAIN;
    while seen.received < acked.load(Ordering::Relaxed) {
        let Ok(Ok(Some(text))) = tokio::time::timeout_at(deadline, member.next_text()).await else { break };
        if seen.take(text, epoch, measure_from).is_some() {
            progress.add(1);
        }
    }
    seen
}

impl Seen {
    /// Counts one pushed frame; when it was a message delivery, the time it was taken
    /// (microseconds since `epoch`).
    fn take(&mut self, text: &str, epoch: Instant, measure_from: &AtomicU64) -> Option<u64> {
        let now_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let frame = Delivery::parse(text)?;
        if frame.kind != "message" {
            return None;
        }
        let offset = frame.offset;
        match self.last_offset {
            Some(last) if offset == last + 1 => {}
            Some(last) if offset <= last => {
                self.duplicated += 1;
                return None;
            }
            // A jump past a missing offset: the order broke (the count of what never came
            // is `lost`, from the acknowledged total).
            Some(_) => self.out_of_order += 1,
            None => {}
        }
        self.last_offset = Some(offset);
        self.received += 1;
        // The text is `b:{seq}:{sent_us}`.
        let sent_us = frame.text.rsplit_once(':').and_then(|(_, us)| us.parse::<u64>().ok());
        if let Some(sent_us) = sent_us
            && sent_us >= measure_from.load(Ordering::Relaxed)
        {
            let micros = now_us.saturating_sub(sent_us).max(1);
            self.latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
        Some(now_us)
    }
}

struct SenderCounters {
    acked: Arc<Vec<AtomicU64>>,
    errors: Arc<AtomicU64>,
    room: usize,
}

/// One sender: paced at its share of the rate, or as fast as its window of unacknowledged
/// messages allows. Waits for every acknowledgement before returning.
async fn send_messages(
    server: &Server,
    user: BenchUser,
    sender: usize,
    room_id: String,
    options: &FanoutOptions,
    epoch: Instant,
    counters: SenderCounters,
) -> Result<(), BenchError> {
    let (mut sink, mut stream) = server.connect(&user).await?;
    let window = Arc::new(Semaphore::new(OPEN_LOOP_WINDOW));
    let n_sent = Arc::new(AtomicU64::new(0));
    let (acks_done_tx, acks_done) = watch::channel(false);
    let ack_reader = {
        let (window, n_sent, counters_acked, errors, room) =
            (window.clone(), n_sent.clone(), counters.acked.clone(), counters.errors.clone(), counters.room);
        let mut acks_done = acks_done.clone();
        tokio::spawn(async move {
            let mut n_answered = 0u64;
            loop {
                if *acks_done.borrow() && n_answered >= n_sent.load(Ordering::Relaxed) {
                    return;
                }
                let frame = tokio::select! {
                    frame = next_frame(&mut stream) => frame,
                    _ = acks_done.changed() => continue,
                };
                let Ok(Some(frame)) = frame else { return };
                match frame["type"].as_str() {
                    Some("ack") => counters_acked[room].fetch_add(1, Ordering::Relaxed),
                    Some("error") => errors.fetch_add(1, Ordering::Relaxed),
                    _ => continue,
                };
                n_answered += 1;
                window.add_permits(1);
            }
        })
    };
    let per_sender_rate = options.rate_per_sec / options.senders as f64;
    let mut pace = (per_sender_rate > 0.0).then(|| {
        // Senders take turns within each period: started together, they would all send at
        // the same instant, and the bursts (not the server) would set the latency.
        let period = Duration::from_secs_f64(1.0 / per_sender_rate);
        let offset = period.mul_f64(sender as f64 / options.senders.max(1) as f64);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        ticks
    });
    let deadline = Instant::now() + options.warmup + options.duration;
    let mut seq = 0u64;
    while Instant::now() < deadline {
        match &mut pace {
            Some(ticks) => {
                ticks.tick().await;
            }
            None => window.acquire().await.map_err(|err| BenchError::Protocol(err.to_string()))?.forget(),
        }
        let sent_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let frame = json!({"type": "send", "room_id": room_id, "text": format!("b:{seq}:{sent_us}"), "client_id": format!("{sender}-{seq}")});
        send_frame(&mut sink, &frame).await?;
        n_sent.fetch_add(1, Ordering::Relaxed);
        seq += 1;
    }
    let _ = acks_done_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, ack_reader).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Delivery;

    /// Both ways of reading a frame agree.
    fn read(frame: &str) -> Option<Delivery<'_>> {
        let parsed = Delivery::parse(frame);
        assert_eq!(parsed, serde_json::from_str::<Delivery<'_>>(frame).ok(), "{frame}");
        parsed
    }

    fn read_in_one_pass(frame: &str) -> bool {
        Delivery::read_flat(frame).is_some()
    }

    #[test]
    fn frames_of_either_server_read_as_a_full_parse_reads_them() {
        let dchat = r#"{"type":"message","room_id":"bench-1-0","offset":42,"user_id":"u","display_name":"f1m0","text":"b:7:123456","ts_ms":1,"client_id":"0-7"}"#;
        let message = read(dchat).expect("a message");
        assert_eq!((message.kind.as_ref(), message.offset, message.text.as_ref()), ("message", 42, "b:7:123456"));
        // The bare server's keys come in another order.
        let bare = r#"{"client_id":"0-7","offset":43,"room_id":"bench-1-0","text":"b:8:99","type":"message"}"#;
        assert_eq!(read(bare).expect("a message").offset, 43);
        let presence = r#"{"type":"presence","room_id":"r","user_id":"u","online":true}"#;
        assert_eq!(read(presence).expect("a frame").kind, "presence");
        assert!([dchat, bare, presence].into_iter().all(read_in_one_pass));
    }

    #[test]
    fn frames_the_one_pass_cannot_read_are_parsed_in_full() {
        let escaped = r#"{"type":"message","room_id":"r","offset":5,"display_name":"\"offset\":9","text":"say \"text\":\"x\" \\ ok"}"#;
        let message = read(escaped).expect("a message");
        assert_eq!((message.offset, message.text.as_ref()), (5, r#"say "text":"x" \ ok"#));
        let nested = r#"{"type":"message","ref":{"offset":1},"offset":2,"text":"b"}"#;
        assert_eq!(read(nested).expect("a message").offset, 2);
        let spaced = r#"{ "type": "message", "offset": 3, "text": "b" }"#;
        assert_eq!(read(spaced).expect("a message").offset, 3);
        // A key's look-alike inside another key is not taken for it.
        let inside_a_key = r#"{"a\"type":"x","type":"message","offset":1,"text":"b"}"#;
        assert_eq!(read(inside_a_key).expect("a message").offset, 1);
        assert!(![escaped, nested, spaced, inside_a_key].into_iter().any(read_in_one_pass));
        for broken in ["not json", "{}", r#"{"type":"message","offset":1"#, r#"{"type":"message","offset":1}x"#] {
            assert!(read(broken).is_none(), "{broken}");
        }
        assert!(read(r#"{"type":"message","offset":"five"}"#).is_none());
    }
}
