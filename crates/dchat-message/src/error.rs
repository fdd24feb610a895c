//! What can go wrong in the message service, shaped by what the caller does next.

use dchat_core::{RoomId, ValidationError};
use dchat_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The request itself is wrong; retrying it unchanged will fail again.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The caller is not a member of the room, or the room does not exist; deliberately
    /// the same answer, so that room ids cannot be probed.
    #[error("not a member of room {0}")]
    NotMember(RoomId),
    /// Too many appends are queued; retry after a short wait.
    #[error("too many appends in flight; retry shortly")]
    Overloaded,
    /// A dependency (the room service) or the writer is not available; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed (see [`StoreError`] for whether a retry may help).
    #[error("message storage failed: {0}")]
    Storage(#[from] StoreError),
}
