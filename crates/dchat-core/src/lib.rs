//! dchat's domain vocabulary: identifiers and validated values shared by every service.
//!
//! Nothing here does IO or knows a wire format. A value of one of these types has passed
//! validation, so code that holds a [`RoomId`] never re-checks it. Validation happens on the
//! receiving side (a service's gRPC adapter, the gateway's HTTP handlers) by calling `parse`.

mod ids;
mod offset;
mod text;
mod time;

pub use crate::{
    ids::{RoomId, UserId},
    offset::{MAX_OFFSET, check_offset},
    text::{DisplayName, Email, IdempotencyKey, MessageText, Password, RoomName, TokenName, UserName, name_skeleton},
    time::now_ms,
};

/// A value from outside failed validation. The message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The name of the field as the caller spelled it (`room_id`, `text`, ...).
    pub field: &'static str,
    /// What is wrong with it, as a sentence fragment.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}
