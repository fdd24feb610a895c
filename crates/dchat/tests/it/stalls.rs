//! Clients that send broken or unfinished requests: a stalled body, a body announced far
//! over the limit, a malformed chunked body, a path that does not exist, and more silent
//! connections than the process has file descriptors. Each gets the 4xx that says what is
//! wrong, the same in both topologies, and none keeps the server from answering the rest.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::Command,
};

use crate::support::{Topology, in_both_topologies, spawn_with, test_config};

/// The `host:port` part of a base URL.
fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Sends `request` as is and reads until the server closes the connection (at most 20 s).
async fn exchange(base: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(authority(base)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes within 20 s")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_stalled_body_is_answered_408_and_an_oversized_one_413_at_once(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.body_timeout_secs = 1;
    let app = spawn_with(topology, config).await;
    let stalled = b"POST /api/login HTTP/1.1\r\nhost: dchat\r\ncontent-type: application/json\r\n\
        content-length: 1000\r\n\r\n{\"email\"";
    let answer = exchange(&app.http, stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // Ten gigabytes announced, none sent: refused before any of it is read. (Waiting for
    // the body would end in the deadline's 408 instead.)
    let oversized = b"POST /api/login HTTP/1.1\r\nhost: dchat\r\ncontent-type: application/json\r\n\
        content-length: 10000000000\r\n\r\n";
    let answer = exchange(&app.http, oversized).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    app.stop().await;
}

/// A body a little over the limit, sent whole: the 413 comes after the server has read it,
/// so the client reads its answer instead of a broken pipe, and the connection serves the
/// next request.
async fn a_body_a_little_over_the_limit_is_refused_on_a_connection_that_stays_usable(topology: Topology) {
    let (app, _dir) = crate::support::spawn(topology).await;
    let body = format!("{{\"email\":\"{}\"}}", "x".repeat(70 * 1024));
    let mut requests = format!(
        "POST /api/login HTTP/1.1\r\nhost: dchat\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    requests.extend_from_slice(b"GET /healthz HTTP/1.1\r\nhost: dchat\r\nconnection: close\r\n\r\n");
    let answer = exchange(&app.http, &requests).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("HTTP/1.1 200"), "the next request on the connection is answered: {answer}");
    app.stop().await;
}

async fn a_malformed_chunked_body_is_400_and_an_unknown_path_404(topology: Topology) {
    let (app, _dir) = crate::support::spawn(topology).await;
    let broken = b"POST /api/login HTTP/1.1\r\nhost: dchat\r\ncontent-type: application/json\r\n\
        transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    let answer = exchange(&app.http, broken).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let unknown = b"GET /no/such/page HTTP/1.1\r\nhost: dchat\r\nconnection: close\r\n\r\n";
    let answer = exchange(&app.http, unknown).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("not_found") && !answer.contains("application/grpc"), "{answer}");
    app.stop().await;
}

/// The probe held 200 gRPC streams whose announced body never came for 45 s. Each now ends
/// at the body deadline, and the connection goes on serving other calls meanwhile.
async fn grpc_streams_whose_body_never_comes_end_at_the_body_deadline(topology: Topology) {
    use http_body_util::{BodyExt, Empty, StreamBody};
    use hyper::body::{Bytes, Frame};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.body_timeout_secs = 1;
    let app = spawn_with(topology, config).await;
    let stream = TcpStream::connect(authority(&app.http)).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let started = std::time::Instant::now();
    let mut stalled = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let mut sender = sender.clone();
        // Headers without END_STREAM, then nothing: a body announced and never sent.
        let never = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, std::convert::Infallible>>());
        let request = hyper::Request::post(format!("{}/gateway.v1.GatewayService/Append", app.http))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(never.boxed())
            .unwrap();
        stalled.spawn(async move {
            // The stream ends either way: an answer read to its end, or a reset.
            if let Ok(response) = sender.send_request(request).await {
                let _ = response.into_body().collect().await;
            }
        });
    }
    let health = hyper::Request::get(format!("{}/healthz", app.http)).body(Empty::<Bytes>::new().boxed()).unwrap();
    let answer = sender.clone().send_request(health).await.unwrap();
    assert_eq!(answer.status(), 200, "the connection serves other calls while the stalled ones wait");
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(joined) = stalled.join_next().await {
            joined.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "every stalled stream ended within 15 s, not held for good");
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the deadline");
    app.stop().await;
}

in_both_topologies!(
    grpc_streams_whose_body_never_comes_end_at_the_body_deadline,
    a_stalled_body_is_answered_408_and_an_oversized_one_413_at_once,
    a_body_a_little_over_the_limit_is_refused_on_a_connection_that_stays_usable,
    a_malformed_chunked_body_is_400_and_an_unknown_path_404,
);

/// More silent connections than the process has descriptors: the server sheds the ones
/// that waited longest and goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_sheds_silent_connections_and_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    // prlimit (util-linux) sets the child's descriptor limit; the cap is set above it, so
    // that the process really runs out.
    let mut child = Command::new("prlimit")
        .args(["--nofile=256:256", env!("CARGO_BIN_EXE_dchat"), "serve"])
        .args(["--grpc-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--max-connections", "100000"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_clear()
        .env("DCHAT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("run prlimit (util-linux) with the dchat binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("dchat reports its HTTP address");
        if let Some(base) = line.strip_prefix("dchat http on ") {
            break base.to_owned();
        }
    };
    let mut silent = Vec::new();
    for _ in 0..400 {
        silent.push(TcpStream::connect(authority(&base)).await.unwrap());
    }
    let health = b"GET /healthz HTTP/1.1\r\nhost: dchat\r\nconnection: close\r\n\r\n";
    let answer = exchange(&base, health).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The oldest silent connections were shed to make that room.
    let mut shed = 0;
    for stream in &mut silent[..50] {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte)).await {
            shed += 1;
        }
    }
    assert!(shed > 0, "some of the oldest silent connections were closed");
    drop(silent);
    let answer = exchange(&base, health).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "and it goes on: {answer}");
    let logged = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(logged.contains("out of file descriptors"), "{logged}");
    child.kill().await.unwrap();
}
