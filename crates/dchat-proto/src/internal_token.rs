//! The shared secret of the internal gRPC ports (`DCHAT_INTERNAL_TOKEN`).
//!
//! The services trust what internal callers say: the `user_id` of an append, a list
//! without any user (a trusted service call). So the internal ports must be reachable only
//! by dchat's own roles. On loopback that holds by itself; on a network the operator sets
//! one token for every role: each role's clients send it as `x-dchat-internal-token`
//! metadata ([`Transport::with_internal_token`](crate::Transport::with_internal_token)),
//! and each service answers a call without it UNAUTHENTICATED ([`RequireInternalToken`]).
//! gRPC health stays open, so that probes work without the secret; it tells nothing.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::HeaderValue;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// The metadata key that carries the token.
pub const INTERNAL_TOKEN_HEADER: &str = "x-dchat-internal-token";

/// Shortest token accepted: a guessable secret is no secret.
const MIN_CHARS: usize = 16;

/// gRPC paths served without the token.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// A validated shared secret; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct InternalToken(Arc<HeaderValue>);

/// Why a configured token is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalTokenError {
    #[error("DCHAT_INTERNAL_TOKEN must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("DCHAT_INTERNAL_TOKEN may hold only visible ASCII characters (it travels as gRPC metadata)")]
    NotVisibleAscii,
}

impl InternalToken {
    pub fn parse(raw: &str) -> Result<Self, InternalTokenError> {
        if raw.chars().count() < MIN_CHARS {
            return Err(InternalTokenError::TooShort);
        }
        if !raw.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(InternalTokenError::NotVisibleAscii);
        }
        let mut value = HeaderValue::from_str(raw).map_err(|_| InternalTokenError::NotVisibleAscii)?;
        value.set_sensitive(true);
        Ok(Self(Arc::new(value)))
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        HeaderValue::clone(&self.0)
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), presented))
    }
}

impl fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalToken(..)")
    }
}

/// A layer for the internal gRPC server: with a token, every call but health must carry
/// it; without one (loopback deployments, the seed's own clients), every call passes.
#[derive(Debug, Clone)]
pub struct RequireInternalToken {
    token: Option<InternalToken>,
}

impl RequireInternalToken {
    pub fn new(token: Option<InternalToken>) -> Self {
        Self { token }
    }
}

impl<S> Layer<S> for RequireInternalToken {
    type Service = InternalTokenCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InternalTokenCheck { inner, token: self.token.clone() }
    }
}

/// The service [`RequireInternalToken`] wraps around a server.
#[derive(Debug, Clone)]
pub struct InternalTokenCheck<S> {
    inner: S,
    token: Option<InternalToken>,
}

impl<S> InternalTokenCheck<S> {
    fn admits(&self, request: &http::Request<Body>) -> bool {
        let Some(token) = &self.token else { return true };
        request.uri().path().starts_with(OPEN_PREFIX)
            || request.headers().get(INTERNAL_TOKEN_HEADER).is_some_and(|presented| token.matches(presented.as_bytes()))
    }
}

impl<S> Service<http::Request<Body>> for InternalTokenCheck<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, std::future::Ready<Result<http::Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if self.admits(&request) {
            futures::future::Either::Left(self.inner.call(request))
        } else {
            let refusal = Status::unauthenticated(format!(
                "this internal port requires the {INTERNAL_TOKEN_HEADER} metadata (DCHAT_INTERNAL_TOKEN)"
            ));
            futures::future::Either::Right(std::future::ready(Ok(refusal.into_http())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_unprintable_tokens_are_refused_and_debug_hides_the_secret() {
        assert_eq!(InternalToken::parse("short"), Err(InternalTokenError::TooShort));
        assert_eq!(InternalToken::parse("sixteen chars ok"), Err(InternalTokenError::NotVisibleAscii));
        let token = InternalToken::parse("0123456789abcdef").unwrap();
        assert_eq!(format!("{token:?}"), "InternalToken(..)");
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b"0123456789abcde"));
        assert!(!token.matches(b"0123456789abcdef0"));
    }
}
