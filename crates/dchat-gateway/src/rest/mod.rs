//! The JSON API under `/api`: one module per resource. Each handler's doc starts with its
//! route. Handlers decode, call a service over gRPC, and encode; rules live in the services.

pub(crate) mod account;
pub(crate) mod forms;
pub(crate) mod messages;
mod page;
pub(crate) mod presence;
pub(crate) mod rooms;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod webhooks;

use crate::{auth::CurrentUser, error::ApiError, state::GatewayState};

/// Fails with 403 unless `user` is a member of `room_id` (a missing room answers the same).
pub(crate) async fn require_member(state: &GatewayState, room_id: &str, user: &CurrentUser) -> Result<(), ApiError> {
    if state.is_member(room_id, &user.user_id).await? { Ok(()) } else { Err(ApiError::room_forbidden(room_id)) }
}
