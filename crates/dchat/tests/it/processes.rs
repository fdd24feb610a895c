//! Roles of the built `dchat` binary, and nats-servers, as child processes a test can kill
//! (SIGKILL), pause (SIGSTOP) and start again on the same port.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic::transport::Channel;

/// One role running as a child process; killed if the test ends early.
pub(crate) struct RoleProcess {
    child: Child,
    args: Vec<String>,
    log: PathBuf,
    /// Its gRPC address, or for the gateway and ui roles its HTTP address.
    pub(crate) addr: SocketAddr,
}

impl RoleProcess {
    /// Starts `dchat <role>` on port 0 and returns once it has bound its listener.
    pub(crate) async fn start(role: &str, data_dir: &Path, extra: &[String]) -> Self {
        Self::start_named(role, role, data_dir, extra).await
    }

    /// [`RoleProcess::start`] for one of several replicas of a role: `name` names its log.
    pub(crate) async fn start_named(name: &str, role: &str, data_dir: &Path, extra: &[String]) -> Self {
        let mut args = vec![role.to_owned(), "--bind".to_owned(), "127.0.0.1:0".to_owned()];
        args.extend(["--data-dir".to_owned(), data_dir.display().to_string()]);
        args.extend_from_slice(extra);
        let log = data_dir.join(format!("{name}.log"));
        let (child, addr) = spawn(&args, &log).await;
        // A restart must come back where the clients look for it.
        args[2] = addr.to_string();
        Self { child, args, log, addr }
    }

    /// SIGKILL: no shutdown handler runs, whatever was in memory is gone.
    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.expect("kill the process");
    }

    pub(crate) async fn restart(&mut self) {
        let (child, addr) = spawn(&self.args, &self.log).await;
        assert_eq!(addr, self.addr);
        self.child = child;
    }

    /// SIGSTOP (`pause: true`) or SIGCONT: the process holds its sockets and locks but
    /// does nothing, as a process stalled by its machine would.
    pub(crate) fn pause(&self, pause: bool) {
        let pid = self.child.id().expect("a running process");
        let signal = if pause { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: `kill` only sends a signal to our own child, whose pid we hold.
        let sent = unsafe { libc::kill(libc::pid_t::try_from(pid).expect("a pid"), signal) };
        assert_eq!(sent, 0, "signal the process");
    }

    /// A client channel to this process. Its listener is bound, so calls queue until it serves.
    pub(crate) fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect_lazy()
    }
}

/// The arguments of a gateway in front of the given services (each an address or a list),
/// with abuse limits off.
pub(crate) fn gateway_args(room: &str, auth: &str, message: &str, presence: &str) -> Vec<String> {
    [
        ("--room-addr", room),
        ("--auth-addr", auth),
        ("--message-addr", message),
        ("--presence-addr", presence),
        ("--rate-limit", "off"),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value.to_owned()])
    .collect()
}

/// Starts the binary and reads the address from the line it prints once its port is bound
/// (its gRPC port, or for the roles that serve only HTTP, its HTTP port).
async fn spawn(args: &[String], log: &Path) -> (Child, SocketAddr) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open the log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dchat"))
        .args(args)
        // Only what the test says: no stray AUTH_ADDR or RUST_LOG from the environment.
        .env_clear()
        .env("DCHAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start the dchat binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the process reports its address within 30 s")
        .expect("read stdout")
        .expect("the process printed a line before exiting");
    let addr = line
        .strip_prefix("dchat listening on ")
        .or_else(|| line.strip_prefix("dchat http on http://"))
        .expect("the listening line")
        .parse()
        .expect("an address");
    (child, addr)
}

/// A nats-server of the test's own, on a free loopback port, killed with the test.
pub(crate) struct NatsProcess {
    child: Option<std::process::Child>,
    pub(crate) port: u16,
}

impl NatsProcess {
    /// Starts one, or `None` when no nats-server binary is installed.
    pub(crate) async fn start() -> Option<Self> {
        // The port is free now; nats-server takes it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut server = Self { child: None, port };
        server.restart().await.then_some(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and returns once it accepts connections.
    pub(crate) async fn restart(&mut self) -> bool {
        let Some(binary) =
            ["/usr/sbin/nats-server", "/usr/bin/nats-server"].into_iter().find(|p| Path::new(p).exists())
        else {
            return false;
        };
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "nats-server listens within 10 s");
            tokio::task::yield_now().await;
        }
        true
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
