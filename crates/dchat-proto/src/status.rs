//! Helpers every gRPC adapter needs: turning domain failures into `Status`, and lists
//! into server streams.

use std::pin::Pin;

use dchat_core::ValidationError;
use futures::Stream;
use tonic::Status;

/// The stream type of every server-streaming method dchat implements.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Bad input: INVALID_ARGUMENT with the validation message, which is safe to show.
pub fn from_validation(err: ValidationError) -> Status {
    Status::invalid_argument(err.to_string())
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
