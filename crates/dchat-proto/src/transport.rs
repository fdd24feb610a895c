//! [`Transport`]: how a gRPC client reaches its service.
//!
//! Clients of every service are built on a `Transport`, never on a concrete channel, so the
//! same client code serves both topologies: across processes the transport is an HTTP/2
//! channel; when the service runs in the caller's own process it is the service's gRPC
//! router itself, called directly. Requests still go through the generated client and
//! server (protobuf encoding, status codes, streaming), only without the socket, the HTTP/2
//! framing and the two tasks that would hand each frame across.

use std::{
    fmt,
    task::{Context, Poll},
};

use tonic::{body::Body, service::Routes, transport::Channel};

use crate::{INTERNAL_TOKEN_HEADER, InternalToken};
use tower::{Service, ServiceExt, util::BoxCloneSyncService};

/// What every transport fails with: the channel's connection errors (a local call never fails).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

type Inner = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, BoxError>;

/// A cheap-to-clone handle that carries gRPC requests to a service; see the module docs.
#[derive(Clone)]
pub struct Transport {
    inner: Inner,
    local: bool,
}

impl Transport {
    /// Over the network, through `channel`.
    pub fn remote(channel: Channel) -> Self {
        Self { inner: BoxCloneSyncService::new(channel.map_err(BoxError::from)), local: false }
    }

    /// The same transport, sending `token` with every call (see [`crate::InternalToken`]).
    pub fn with_internal_token(self, token: Option<&InternalToken>) -> Self {
        let Some(token) = token else { return self };
        let value = token.header_value();
        let inner = self.inner.map_request(move |mut request: http::Request<Body>| {
            request.headers_mut().insert(INTERNAL_TOKEN_HEADER, value.clone());
            request
        });
        Self { inner: BoxCloneSyncService::new(inner), local: self.local }
    }

    /// Over any service that carries gRPC requests (the balancer over replicas).
    pub(crate) fn from_service(inner: Inner) -> Self {
        Self { inner, local: false }
    }

    /// Straight into `routes`, served by this very process.
    pub fn local(routes: Routes) -> Self {
        let routes = ServiceExt::<http::Request<Body>>::map_err(routes, |never| -> BoxError { match never {} });
        Self { inner: BoxCloneSyncService::new(routes), local: true }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.local { "Transport::local" } else { "Transport::remote" })
    }
}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = <Inner as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.inner.call(request)
    }
}
