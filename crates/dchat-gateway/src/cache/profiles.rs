//! Who a user id is, as shown next to what they wrote: display name, `@username` and bot
//! badge, cached briefly. History pages name every sender, and asking the auth service
//! once per message would multiply the cost of a page.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use dchat_proto::{
    Transport,
    auth::v1::{User, UserId, auth_service_client::AuthServiceClient},
};

/// How long a profile is trusted. A change through this gateway updates it at once; a
/// change elsewhere shows here within this time.
const PROFILE_TTL: Duration = Duration::from_secs(30);
/// Profiles kept at most; past this the least useful are evicted (S3-FIFO, as quick_cache
/// does it): a spray of lookups of new users does not push out the active ones.
const MAX_PROFILES: usize = 50_000;

/// How a user is shown. An unknown user shows with empty names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) display_name: String,
    pub(crate) username: String,
    pub(crate) bot: bool,
}

impl From<&User> for Profile {
    fn from(user: &User) -> Self {
        Self { display_name: user.display_name.clone(), username: user.username.clone(), bot: user.bot }
    }
}

#[derive(Debug)]
pub(crate) struct Profiles {
    auth: AuthServiceClient<Transport>,
    /// User id -> the profile and when it was learnt.
    cache: quick_cache::sync::Cache<String, (Arc<Profile>, Instant)>,
}

impl Profiles {
    pub(crate) fn new(auth: AuthServiceClient<Transport>) -> Self {
        Self { auth, cache: quick_cache::sync::Cache::new(MAX_PROFILES) }
    }

    /// The profile of `user_id`; an unknown user shows as empty names rather than failing
    /// the whole page.
    pub(crate) async fn get(&self, user_id: &str) -> Arc<Profile> {
        if let Some((profile, at)) = self.cache.get(user_id)
            && at.elapsed() < PROFILE_TTL
        {
            return profile;
        }
        let profile = match self.auth.clone().get_user(UserId { user_id: user_id.to_owned() }).await {
            Ok(user) => Profile::from(&user.into_inner()),
            // A definite "no such user" is remembered like a profile, so that a room feed
            // does not ask again for every message; a passing failure is not.
            Err(status) if status.code() == tonic::Code::NotFound => Profile::default(),
            Err(status) => {
                tracing::debug!(%status, user_id, "no profile");
                return Arc::default();
            }
        };
        self.remember(user_id, profile)
    }

    pub(crate) fn remember(&self, user_id: &str, profile: Profile) -> Arc<Profile> {
        let profile = Arc::new(profile);
        self.cache.insert(user_id.to_owned(), (profile.clone(), Instant::now()));
        profile
    }
}
