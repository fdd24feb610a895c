//! Helpers every gRPC adapter needs: turning domain failures into `Status`, and lists
//! into server streams.

use std::pin::Pin;

use dchat_core::{RoomId, UserId, ValidationError};
use futures::Stream;
use tonic::Status;

/// The stream type of every server-streaming method dchat implements.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Bad input: INVALID_ARGUMENT with the validation message, which is safe to show.
pub fn from_validation(err: ValidationError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// A room id from the wire, or INVALID_ARGUMENT.
pub fn parse_room_id(raw: &str) -> Result<RoomId, Status> {
    RoomId::parse(raw).map_err(from_validation)
}

/// A user id from the wire, or INVALID_ARGUMENT.
pub fn parse_user_id(raw: &str) -> Result<UserId, Status> {
    UserId::parse(raw).map_err(from_validation)
}

/// An internal failure: logged here, once, with its cause; the caller only learns that it
/// happened, never the details.
pub fn internal(what: &str, err: &dyn std::error::Error) -> Status {
    tracing::error!(error = %err, "failed to {what}");
    Status::internal(format!("failed to {what}: internal error"))
}

/// A server stream that yields `items` and ends.
pub fn stream_of<T: Send + 'static>(items: Vec<T>) -> BoxStream<T> {
    Box::pin(futures::stream::iter(items.into_iter().map(Ok)))
}
