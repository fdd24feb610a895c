//! What can go wrong in the presence service.

use dchat_core::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// The request itself is wrong; retrying it unchanged will fail again.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// One user holds too many sessions in one room.
    #[error("too many sessions for this user in this room")]
    TooManySessions,
}
