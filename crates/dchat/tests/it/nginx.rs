//! nginx (Debian's package) in front of two gateways, with the configuration dchat ships
//! (`deploy/nginx/dchat.conf`): requests and WebSocket upgrades reach dchat through it, and
//! when a gateway is killed, the WebSocket clients it held reconnect through nginx to the
//! other and resume from their last offset with nothing lost or repeated, while a sender
//! retrying through nginx with its client ids gets every message stored once.
//!
//! Needs the `nginx` binary (skipped loudly without it; CI installs it).

use std::{path::Path, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::processes::{RoleProcess, gateway_args};

/// The configuration dchat ships, with the gateways' and nginx's own addresses put in.
fn configuration(gateways: &[String], port: u16) -> String {
    let shipped = include_str!("../../../../deploy/nginx/dchat.conf");
    let mut servers = gateways.iter().map(|addr| format!("    server {addr} max_fails=1 fail_timeout=2s;"));
    shipped
        .lines()
        .filter_map(|line| {
            if line.contains("# dchat-gateway") {
                servers.next()
            } else if line.contains("# dchat-listen") {
                Some(format!("    listen 127.0.0.1:{port};"))
            } else {
                Some(line.to_owned())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// nginx on a free loopback port with everything it writes in `dir`; killed with the test.
/// One process (`master_process off`): a killed master would leave its workers behind.
struct Nginx {
    child: tokio::process::Child,
    port: u16,
}

impl Nginx {
    async fn start(dir: &Path, gateways: &[String]) -> Option<Self> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|path| Path::new(path).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        std::fs::write(dir.join("dchat.conf"), configuration(gateways, port)).unwrap();
        let d = dir.display();
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             include {d}/dchat.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let child = tokio::process::Command::new(binary)
            .args(["-p", &d.to_string(), "-e", &format!("{d}/nginx-error.log"), "-c", &format!("{d}/nginx.conf")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nginx");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
            assert!(tokio::time::Instant::now() < deadline, "nginx listens within 10 s: {log}");
            tokio::task::yield_now().await;
        }
        Some(Self { child, port })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client through nginx that keeps its connection, and reconnects and resumes
/// from the last offset it saw whenever the connection ends.
struct Resuming {
    base: String,
    token: String,
    room: String,
    socket: Option<Socket>,
    seen: Vec<i64>,
    connections: usize,
}

impl Resuming {
    fn new(base: &str, token: &str, room: &str) -> Self {
        let (base, token, room) = (base.to_owned(), token.to_owned(), room.to_owned());
        Self { base, token, room, socket: None, seen: Vec::new(), connections: 0 }
    }

    fn last(&self) -> i64 {
        self.seen.last().copied().unwrap_or(0)
    }

    async fn connect(&mut self) -> Option<Socket> {
        let url = format!("{}/api/ws", self.base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
        let subscribe = json!({"type": "subscribe", "room_id": self.room, "after": self.last()});
        socket.send(Message::text(subscribe.to_string())).await.ok()?;
        self.connections += 1;
        Some(socket)
    }

    /// Reads until it has seen offset `head`, on its connection or, when that ends, on a
    /// new one that resumes after the last offset seen.
    async fn until(&mut self, head: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.last() < head {
            assert!(tokio::time::Instant::now() < deadline, "saw up to {} of 1..={head} within 30 s", self.last());
            let mut socket = match self.socket.take() {
                Some(socket) => socket,
                None => match self.connect().await {
                    Some(socket) => socket,
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let alive = loop {
                if self.last() >= head {
                    break true;
                }
                match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        if frame["type"] == "message" {
                            self.seen.push(frame["offset"].as_i64().unwrap());
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    // Closed, broken, or silent for 5 s: connect again.
                    _ => break false,
                }
            };
            if alive {
                self.socket = Some(socket);
            }
        }
    }
}

async fn post(client: &reqwest::Client, base: &str, token: Option<&str>, path: &str, body: Value) -> Option<Value> {
    let mut request = client.post(format!("{base}{path}")).json(&body).timeout(Duration::from_secs(2));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    (response.status() == 200).then_some(())?;
    response.json().await.ok()
}

/// Posts until it succeeds (the same body, so an append keeps its client id). While every
/// gateway nginx knows is resting after a failure (at most `fail_timeout`), it answers 502.
async fn post_until_ok(client: &reqwest::Client, base: &str, token: Option<&str>, path: &str, body: Value) -> Value {
    for _ in 0..200 {
        if let Some(answer) = post(client, base, token, path, body.clone()).await {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never succeeded through nginx");
}

#[allow(clippy::print_stderr)] // A skipped test must be visible in the test output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_nginx_ride_out_the_death_of_either_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let room_role = RoleProcess::start("room", dir.path(), &[]).await;
    let with_room = ["--room-addr".to_owned(), room_role.addr.to_string()];
    let auth = RoleProcess::start("auth", dir.path(), &with_room).await;
    let message = RoleProcess::start("message", dir.path(), &with_room).await;
    let presence = RoleProcess::start("presence", dir.path(), &[]).await;
    let (room, auth, message, presence) =
        (room_role.addr.to_string(), auth.addr.to_string(), message.addr.to_string(), presence.addr.to_string());
    let gateway_args = gateway_args(&room, &auth, &message, &presence);
    let mut gateways = Vec::new();
    for n in 0..2 {
        gateways.push(RoleProcess::start_named(&format!("gateway-{n}"), "gateway", dir.path(), &gateway_args).await);
    }
    let addrs: Vec<String> = gateways.iter().map(|gateway| gateway.addr.to_string()).collect();
    let Some(nginx) = Nginx::start(dir.path(), &addrs).await else {
        assert!(std::env::var_os("CI").is_none(), "CI must install nginx");
        eprintln!("SKIPPED clients_behind_nginx_ride_out_the_death_of_either_gateway: install nginx");
        return;
    };
    let base = nginx.base();
    let client = reqwest::Client::new();
    let body = json!({"email": "ada@example.com", "password": "correct horse battery"});
    let ada = post_until_ok(&client, &base, None, "/api/register", body).await;
    let token = ada["token"].as_str().unwrap().to_owned();
    let room = "behind-nginx".to_owned();
    post_until_ok(&client, &base, Some(&token), "/api/room/create", json!({"room_id": room, "name": "N"})).await;
    // Two readers: nginx spreads their upgrades, and each gateway dies once below.
    let mut readers: Vec<Resuming> = (0..2).map(|_| Resuming::new(&base, &token, &room)).collect();

    let mut n = 0;
    let mut send_some = async |count: usize| {
        for _ in 0..count {
            n += 1;
            let body = json!({"room_id": room, "text": format!("m{n}"), "client_id": format!("k{n}")});
            post_until_ok(&client, &base, Some(&token), "/api/message/append", body).await;
        }
        n as i64
    };
    let head = send_some(10).await;
    for reader in &mut readers {
        reader.until(head).await;
    }
    for victim in &mut gateways {
        victim.kill().await;
        let head = send_some(10).await;
        for reader in &mut readers {
            reader.until(head).await;
        }
        victim.restart().await;
    }
    let head = send_some(10).await;
    for reader in &mut readers {
        reader.until(head).await;
        assert_eq!(reader.seen, (1..=head).collect::<Vec<_>>(), "every offset once, in order");
    }
    let reconnections: usize = readers.iter().map(|reader| reader.connections - 1).sum();
    assert!(reconnections >= 2, "each gateway died under a reader, which came back through nginx");
    drop(nginx.child);
}
