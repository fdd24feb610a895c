//! [`Transport::balanced`]: one client over several replicas of a service.
//!
//! Calls go round-robin to the replicas that answered their last health check. Every
//! replica is checked every [`PROBE_EVERY`] (the standard gRPC health check, answered within
//! [`PROBE_TIMEOUT`]), so one that died or stopped (SIGSTOP) is skipped within a second,
//! and one that comes back is used again from its first answer.
//!
//! A call whose request is one message (every method but the client-streaming ones) is
//! kept so that it can be sent again, to the next replica:
//! - when the connection to the first was refused (the call never left, so any method);
//! - when it failed in flight, answered UNAVAILABLE, or gave no answer within
//!   [`ATTEMPT_TIMEOUT`] while another replica could, for the methods a repetition cannot
//!   harm: every method but those in [`NOT_REPEATABLE`]. Appends are repeatable because
//!   each carries its idempotency key (the gateway makes one when its client gave none).

use std::{
    collections::HashSet,
    sync::{
        Arc, OnceLock, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use prost::Message;
use tonic::body::Body;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tower::{Service, ServiceExt, util::BoxCloneSyncService};

use crate::transport::{BoxError, Transport};

/// How often each replica's health is checked.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// A replica that does not answer its check within this is skipped until it does.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a repeatable call waits for a replica's answer before it asks the next one.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Methods that a repetition after they took effect would make act twice or answer
/// wrongly (a second registration is "taken", a second password change "wrong password").
/// They are sent again only when their connection was refused.
pub const NOT_REPEATABLE: &[&str] = &[
    "/auth.v1.AuthService/Register",
    "/auth.v1.AuthService/ChangePassword",
    "/auth.v1.AuthService/SetUsername",
    "/auth.v1.AuthService/RevokeSession",
    "/auth.v1.AuthService/CreatePersonalToken",
    "/auth.v1.AuthService/RevokePersonalToken",
    "/auth.v1.AuthService/CreateWebhook",
    "/auth.v1.AuthService/DeleteWebhook",
    "/auth.v1.AuthService/BeginTotp",
    "/auth.v1.AuthService/EnableTotp",
    "/auth.v1.AuthService/DisableTotp",
    "/room.v1.RoomService/CreateRoom",
];

/// The paths of the methods whose request is a stream, read from the descriptor set once.
fn client_streaming() -> &'static HashSet<String> {
    static PATHS: OnceLock<HashSet<String>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let Ok(set) = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET) else {
            return HashSet::new();
        };
        let mut paths = HashSet::new();
        for file in set.file {
            for service in &file.service {
                for method in service.method.iter().filter(|method| method.client_streaming()) {
                    paths.insert(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
                }
            }
        }
        paths
    })
}

#[derive(Debug)]
struct Replica {
    addr: String,
    transport: Transport,
    healthy: AtomicBool,
}

impl Replica {
    fn set_healthy(&self, healthy: bool) {
        if self.healthy.swap(healthy, Ordering::AcqRel) != healthy {
            if healthy {
                tracing::info!(addr = %self.addr, "replica answers again");
            } else {
                tracing::warn!(addr = %self.addr, "replica does not answer; calls go to the others");
            }
        }
    }
}

#[derive(Debug)]
struct Replicas {
    replicas: Vec<Replica>,
    next: AtomicUsize,
}

impl Replicas {
    /// The replicas in the order a call tries them: the healthy ones from the next in
    /// turn, then the others (when none answers, trying them is all that is left).
    fn order(&self) -> Vec<usize> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let turn = (0..n).map(|i| (start + i) % n);
        let (healthy, rest): (Vec<usize>, Vec<usize>) =
            turn.partition(|&i| self.replicas[i].healthy.load(Ordering::Acquire));
        healthy.into_iter().chain(rest).collect()
    }

    async fn probe_all(&self) {
        let checks = self.replicas.iter().map(|replica| async move {
            let mut client = HealthClient::new(replica.transport.clone());
            let check = client.check(HealthCheckRequest::default());
            let healthy = matches!(
                tokio::time::timeout(PROBE_TIMEOUT, check).await,
                Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving
            );
            replica.set_healthy(healthy);
        });
        futures::future::join_all(checks).await;
    }
}

/// Checks every replica's health until the transport is dropped.
async fn probe(replicas: Weak<Replicas>) {
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(replicas) = replicas.upgrade() else { return };
        replicas.probe_all().await;
    }
}

/// Whether a call's failure says the connection was refused: the request never left.
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether a response is a gRPC UNAVAILABLE (a trailers-only answer carries its status in
/// its headers).
fn unavailable(response: &http::Response<Body>) -> bool {
    response.headers().get("grpc-status").is_some_and(|status| status.as_bytes() == b"14")
}

#[derive(Debug, Clone)]
struct Balanced {
    replicas: Arc<Replicas>,
}

impl Service<http::Request<Body>> for Balanced {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call waits for the readiness of the replica it goes to.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(call(self.replicas.clone(), request))
    }
}

async fn call(replicas: Arc<Replicas>, request: http::Request<Body>) -> Result<http::Response<Body>, BoxError> {
    let order = replicas.order();
    let path = request.uri().path().to_owned();
    if client_streaming().contains(&path) {
        return replicas.replicas[order[0]].transport.clone().oneshot(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = body.collect().await?.to_bytes();
    let repeatable = !NOT_REPEATABLE.contains(&path.as_str());
    let mut outcome = None;
    for (attempt, &i) in order.iter().enumerate() {
        let replica = &replicas.replicas[i];
        let others_left = attempt + 1 < order.len();
        let mut request = http::Request::new(Body::new(http_body_util::Full::new(bytes.clone())));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        let sent = replica.transport.clone().oneshot(request);
        let answer = if repeatable && others_left {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, sent).await {
                Ok(answer) => answer,
                Err(_) => {
                    replica.set_healthy(false);
                    outcome = Some(Err(format!("no answer from {} within {ATTEMPT_TIMEOUT:?}", replica.addr).into()));
                    continue;
                }
            }
        } else {
            sent.await
        };
        match answer {
            Ok(response) if repeatable && others_left && unavailable(&response) => outcome = Some(Ok(response)),
            Ok(response) => return Ok(response),
            Err(error) => {
                // Skipped until its next health check answers.
                replica.set_healthy(false);
                let resend = refused(error.as_ref()) || repeatable;
                outcome = Some(Err(error));
                if !resend {
                    break;
                }
            }
        }
    }
    outcome.unwrap_or_else(|| Err("no replica to call".into()))
}

impl Transport {
    /// One transport over several replicas of a service (`addr` names each for the logs);
    /// see the module docs. Starts checking their health at once (it needs a runtime).
    pub fn balanced(replicas: Vec<(String, Transport)>) -> Self {
        let replicas = Arc::new(Replicas {
            replicas: replicas
                .into_iter()
                .map(|(addr, transport)| Replica { addr, transport, healthy: AtomicBool::new(true) })
                .collect(),
            next: AtomicUsize::new(0),
        });
        tokio::spawn(probe(Arc::downgrade(&replicas)));
        Self::from_service(BoxCloneSyncService::new(Balanced { replicas }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_client_streaming_method_is_the_membership_watch() {
        let paths: Vec<&str> = client_streaming().iter().map(String::as_str).collect();
        assert_eq!(paths, ["/room.v1.RoomService/WatchMembership"]);
    }

    #[test]
    fn every_method_named_not_repeatable_exists() {
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let mut paths = HashSet::new();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    paths.insert(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
                }
            }
        }
        for path in NOT_REPEATABLE {
            assert!(paths.contains(*path), "{path} is no method");
        }
    }
}
