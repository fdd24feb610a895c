//! What can go wrong in the room service, shaped by what the caller does next.

use dchat_core::{RoomId, ValidationError};
use dchat_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The request itself is wrong; retrying it unchanged will fail again.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("room {0} does not exist")]
    NotFound(RoomId),
    /// Another room's id differs from the one asked for only in case.
    #[error("room id {requested} is taken: room {existing} differs from it only in case")]
    IdTaken { requested: RoomId, existing: String },
    /// The store failed (see [`StoreError`] for whether a retry may help).
    #[error("room storage failed: {0}")]
    Storage(#[from] StoreError),
}
