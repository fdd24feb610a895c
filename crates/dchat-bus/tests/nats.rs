//! [`NatsBus`] against a real nats-server (the one `DCHAT_TEST_NATS_URL` names; skipped,
//! loudly, without it, and failing under CI): what one process publishes reaches another's
//! subscribers, in order, per topic, each stream marking with a gap the moment it is live.

use std::time::Duration;

use dchat_bus::{Bus, BusEvent, Codec, NatsBus, NatsConnection, Topic};
use dchat_core::RoomId;
use futures::StreamExt;

#[derive(Debug)]
struct Numbers;

impl Codec<u64> for Numbers {
    fn encode(&self, payload: &u64) -> Vec<u8> {
        payload.to_be_bytes().to_vec()
    }

    fn decode(&self, bytes: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }
}

#[allow(clippy::print_stderr)] // A skipped test must be visible in the test output.
fn nats_url() -> Option<String> {
    let url = std::env::var("DCHAT_TEST_NATS_URL").ok();
    if url.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must set DCHAT_TEST_NATS_URL");
        eprintln!("SKIPPED the NATS bus tests: set DCHAT_TEST_NATS_URL (for example nats://127.0.0.1:4222)");
    }
    url
}

/// A prefix of this test run's own, so that runs sharing a server never hear each other.
fn prefix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos();
    format!("dchat-test.{}-{nanos}.", std::process::id())
}

async fn next(stream: &mut dchat_bus::BusStream<u64>) -> BusEvent<u64> {
    tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("an event within 5 s").expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_process_publishes_reaches_another_in_order_per_topic() {
    let Some(url) = nats_url() else { return };
    let prefix = prefix();
    // Two connections stand for two processes.
    let (publisher, subscriber) =
        (NatsConnection::connect(&url, &prefix).await.unwrap(), NatsConnection::connect(&url, &prefix).await.unwrap());
    let (sending, receiving) = (NatsBus::new(&publisher, Numbers), NatsBus::new(&subscriber, Numbers));
    let (room, other) = (Topic::RoomMessages(RoomId::general()), Topic::RoomMessages(RoomId::parse("other").unwrap()));
    let mut stream = receiving.subscribe(&room);
    let mut others = receiving.subscribe(&other);
    assert_eq!(next(&mut stream).await, BusEvent::Gap, "the stream says when it is live");
    assert_eq!(next(&mut others).await, BusEvent::Gap);

    for n in 1..=1_000u64 {
        sending.publish(&room, n);
        if n % 100 == 0 {
            sending.publish(&other, n);
        }
    }
    publisher.flush().await;
    for n in 1..=1_000u64 {
        assert_eq!(next(&mut stream).await, BusEvent::Payload(n), "in order, nothing missed");
    }
    for n in (100..=1_000u64).step_by(100) {
        assert_eq!(next(&mut others).await, BusEvent::Payload(n), "only its own topic");
    }

    // Bytes that are not a payload (another program on the subject) are a gap, not a
    // made-up value.
    let raw = async_nats::connect(&url).await.unwrap();
    raw.publish(format!("{prefix}{room}"), "not a number".into()).await.unwrap();
    raw.flush().await.unwrap();
    assert_eq!(next(&mut stream).await, BusEvent::Gap);
    sending.publish(&room, 1_001);
    publisher.flush().await;
    assert_eq!(next(&mut stream).await, BusEvent::Payload(1_001));
}

/// Deployments sharing a NATS server keep apart by their prefixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_with_their_own_prefixes_do_not_hear_each_other() {
    let Some(url) = nats_url() else { return };
    let (ours, theirs) = (prefix(), format!("{}other", prefix()));
    let (ours, theirs) =
        (NatsConnection::connect(&url, &ours).await.unwrap(), NatsConnection::connect(&url, &theirs).await.unwrap());
    let (our_bus, their_bus) = (NatsBus::new(&ours, Numbers), NatsBus::new(&theirs, Numbers));
    let topic = Topic::RoomMessages(RoomId::general());
    let mut stream = our_bus.subscribe(&topic);
    assert_eq!(next(&mut stream).await, BusEvent::Gap);
    their_bus.publish(&topic, 7);
    theirs.flush().await;
    our_bus.publish(&topic, 8);
    ours.flush().await;
    assert_eq!(next(&mut stream).await, BusEvent::Payload(8), "only our own deployment's");
}

/// A nats-server of the test's own, on a free loopback port, killed with the test.
struct OwnServer {
    child: std::process::Child,
    port: u16,
}

impl OwnServer {
    fn start(port: Option<u16>) -> Option<Self> {
        let binary =
            ["/usr/sbin/nats-server", "/usr/bin/nats-server"].into_iter().find(|p| std::path::Path::new(p).exists())?;
        let port = port.unwrap_or_else(|| {
            // The port is free now; nats-server takes it a moment later.
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
        });
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Connects, retrying while a server just started is not listening yet.
async fn connect_when_up(url: &str, prefix: &str) -> NatsConnection {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match NatsConnection::connect(url, prefix).await {
            Ok(connection) => return connection,
            Err(err) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %err, "nats-server not up yet");
                tokio::task::yield_now().await;
            }
            Err(err) => panic!("{err}"),
        }
    }
}

/// NATS keeps nothing for a subscriber that was away: after the server restarts, every
/// stream says so with a gap, and carries on with what is published afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_nats_is_a_gap_and_publications_flow_again() {
    if nats_url().is_none() {
        return;
    }
    let Some(mut server) = OwnServer::start(None) else {
        panic!("DCHAT_TEST_NATS_URL is set but no nats-server binary is installed to start one");
    };
    let prefix = prefix();
    let publisher = connect_when_up(&server.url(), &prefix).await;
    let subscriber = connect_when_up(&server.url(), &prefix).await;
    let (sending, receiving) = (NatsBus::new(&publisher, Numbers), NatsBus::new(&subscriber, Numbers));
    let topic = Topic::Revocations;
    let mut stream = receiving.subscribe(&topic);
    assert_eq!(next(&mut stream).await, BusEvent::Gap);
    // A server that has just started may take a moment before both ends are fully in
    // place: publish until one arrives.
    flows(&sending, &publisher, &mut stream, &topic, 0).await;
    // Nothing else is pending: the gap below is the restart's, not a leftover.
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err());

    server.kill();
    let _restarted = OwnServer::start(Some(server.port)).expect("nats-server starts again");
    // The clients reconnect by themselves; the stream marks what it may have missed.
    let gap = tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("a gap within 20 s");
    assert_eq!(gap, Some(BusEvent::Gap));
    // Publications flow again once both ends are back (the publisher may reconnect later
    // than the subscriber).
    flows(&sending, &publisher, &mut stream, &topic, 100).await;
}

/// Publishes numbers above `after` until one arrives (within 20 s); gaps on the way are
/// allowed, a number at or below `after` is not.
async fn flows(
    sending: &NatsBus<u64>,
    publisher: &NatsConnection,
    stream: &mut dchat_bus::BusStream<u64>,
    topic: &Topic,
    after: u64,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut n = after;
    loop {
        n += 1;
        sending.publish(topic, n);
        publisher.flush().await;
        match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
            Ok(Some(BusEvent::Payload(got))) => {
                assert!(got > after && got <= n, "only what was published from here on: {got}");
                return;
            }
            Ok(Some(BusEvent::Gap)) | Err(_) => assert!(std::time::Instant::now() < deadline, "nothing flows"),
            Ok(None) => panic!("the stream ended"),
        }
    }
}
