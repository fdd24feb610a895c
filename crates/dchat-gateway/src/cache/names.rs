//! Display names by user id, cached briefly: history pages name every sender, and asking
//! the auth service once per message would multiply the cost of a page.

use std::time::{Duration, Instant};

use dchat_proto::{
    Transport,
    auth::v1::{UserId, auth_service_client::AuthServiceClient},
};

/// How long a name is trusted. A rename through this gateway updates it at once; a rename
/// elsewhere shows here within this time.
const NAME_TTL: Duration = Duration::from_secs(30);
/// Names kept at most; past this the least useful are evicted (S3-FIFO, as quick_cache
/// does it): a spray of lookups of new users does not push out the active ones.
const MAX_NAMES: usize = 50_000;

#[derive(Debug)]
pub(crate) struct DisplayNames {
    auth: AuthServiceClient<Transport>,
    /// User id -> the name and when it was learnt.
    cache: quick_cache::sync::Cache<String, (String, Instant)>,
}

impl DisplayNames {
    pub(crate) fn new(auth: AuthServiceClient<Transport>) -> Self {
        Self { auth, cache: quick_cache::sync::Cache::new(MAX_NAMES) }
    }

    /// The display name of `user_id`; an unknown user shows as an empty name rather than
    /// failing the whole page.
    pub(crate) async fn get(&self, user_id: &str) -> String {
        if let Some((name, at)) = self.cache.get(user_id)
            && at.elapsed() < NAME_TTL
        {
            return name;
        }
        let name = match self.auth.clone().get_user(UserId { user_id: user_id.to_owned() }).await {
            Ok(user) => user.into_inner().display_name,
            // A definite "no such user" is remembered like a name, so that a room feed does
            // not ask again for every message; a passing failure is not.
            Err(status) if status.code() == tonic::Code::NotFound => String::new(),
            Err(status) => {
                tracing::debug!(%status, user_id, "no display name");
                return String::new();
            }
        };
        self.remember(user_id, &name);
        name
    }

    pub(crate) fn remember(&self, user_id: &str, name: &str) {
        self.cache.insert(user_id.to_owned(), (name.to_owned(), Instant::now()));
    }
}
