//! When a live connection's session ends, as this gateway last heard from the auth service.
//!
//! A session ends after a stretch without use or at its hard end (see `dchat-auth`). A
//! WebSocket's frames are use: while they come, the connection tells the auth service now
//! and then ([`SessionClock::touch_due`]), which moves the end. When the end it knows of
//! comes, the connection asks again before it believes it: the session may have been used
//! elsewhere meanwhile. An answer of "ended" closes the connection (4001) at that moment,
//! and a frame that arrives after the end is never acted on.

use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use crate::state::GatewayState;

/// Touch at most this often, however long the session.
const TOUCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// Touch at least this far apart, however short the session.
const TOUCH_AT_LEAST_EVERY: Duration = Duration::from_millis(250);

/// The session's end as known here, and when its use was last reported.
#[derive(Debug)]
pub(crate) struct SessionClock {
    ends: Instant,
    last_touch: Instant,
    touch_every: Duration,
}

impl SessionClock {
    /// A session that ends at `ends_ms` (ms since the epoch), just verified.
    pub(crate) fn new(ends_ms: i64) -> Self {
        let now = Instant::now();
        let mut clock = Self { ends: now, last_touch: now, touch_every: TOUCH_AT_MOST_EVERY };
        clock.set_end(ends_ms);
        clock
    }

    pub(crate) fn ends(&self) -> Instant {
        self.ends
    }

    /// Whether the end known here has come.
    pub(crate) fn ended(&self) -> bool {
        Instant::now() >= self.ends
    }

    /// The auth service says the session now ends at `ends_ms`.
    pub(crate) fn set_end(&mut self, ends_ms: i64) {
        let left = Duration::from_millis(u64::try_from(ends_ms - dchat_core::now_ms()).unwrap_or(0));
        self.ends = Instant::now() + left;
        // A quarter of what is left: the report of a use arrives long before the end.
        self.touch_every = (left / 4).clamp(TOUCH_AT_LEAST_EVERY, TOUCH_AT_MOST_EVERY);
    }

    /// The connection was used now: whether to report it (and restart the count).
    pub(crate) fn touch_due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last_touch) < self.touch_every {
            return false;
        }
        self.last_touch = now;
        true
    }
}

/// What the auth service says of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// It lives, until this time (ms since the epoch) unless used again.
    Until(i64),
    /// It ended or was revoked.
    Ended,
    /// The auth service did not answer.
    Unknown,
}

/// Asks the auth service about the session of `token`; the question is itself a use. An
/// answered end that is already past counts as ended.
pub(crate) async fn renew(state: &GatewayState, token: &str) -> Renewal {
    let request = dchat_proto::auth::v1::Token { access_token: token.to_owned() };
    match state.auth().verify(request).await {
        Ok(user) => match user.into_inner().token_expires_ms {
            ends_ms if ends_ms > dchat_core::now_ms() => Renewal::Until(ends_ms),
            _ => Renewal::Ended,
        },
        Err(status) if status.code() == Code::Unauthenticated => Renewal::Ended,
        Err(status) => {
            tracing::debug!(%status, "could not renew a live connection's session");
            Renewal::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn uses_are_reported_a_quarter_of_the_time_left_apart() {
        let mut clock = SessionClock::new(dchat_core::now_ms() + 4_000);
        assert!(!clock.ended());
        assert!(!clock.touch_due(), "just verified");
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(!clock.touch_due());
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(clock.touch_due(), "a second after the last report");
        assert!(!clock.touch_due(), "and not again at once");
        tokio::time::advance(Duration::from_millis(3_000)).await;
        assert!(clock.ended());
    }
}
