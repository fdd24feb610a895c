//! Bodies as the HTTP server hands them on: a request's body must arrive whole within the
//! body deadline, and its connection counts as working (see `admission`) from the moment
//! the request is wholly received until its answer, a stream's included, has been sent.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::admission::{Slot, Working};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request body fails with when the fault is the client's: whoever reads it (a
/// handler, the ui's proxy) answers 4xx, not as if a service had failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error("the request body is malformed: {0}")]
    Broken(#[source] BoxError),
}

impl ClientBodyError {
    /// The client's fault that `err` was caused by, if it was.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut cause = Some(err);
        while let Some(err) = cause {
            if let Some(found) = err.downcast_ref::<Self>() {
                return Some(found);
            }
            cause = err.source();
        }
        None
    }
}

/// One request's part in its connection's account, shared by its two bodies: the work
/// starts when the request body ends and stops when both bodies are gone.
#[derive(Debug)]
pub(crate) struct Progress {
    slot: Slot,
    working: OnceLock<Working>,
}

impl Progress {
    pub(crate) fn new(slot: Slot) -> Arc<Self> {
        Arc::new(Self { slot, working: OnceLock::new() })
    }

    fn received(&self) {
        self.working.get_or_init(|| self.slot.start_work());
    }
}

/// A request body with a deadline.
#[derive(Debug)]
pub(crate) struct RequestBody<B> {
    inner: B,
    /// Until the body has ended; none for a request without one.
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    progress: Arc<Progress>,
}

impl<B: Body> RequestBody<B> {
    pub(crate) fn new(inner: B, progress: &Arc<Progress>, timeout: Duration) -> Self {
        let deadline = if inner.is_end_stream() {
            progress.received();
            None
        } else {
            Some((Box::pin(tokio::time::sleep(timeout)), timeout))
        };
        Self { inner, deadline, progress: Arc::clone(progress) }
    }

    fn ended(&mut self) {
        self.deadline = None;
        self.progress.received();
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(ClientBodyError::Broken(err.into()).into()))),
            Poll::Pending => {
                let Some((sleep, timeout)) = &mut this.deadline else { return Poll::Pending };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let timeout = *timeout;
                this.deadline = None;
                Poll::Ready(Some(Err(ClientBodyError::TimedOut(timeout).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request's work going until it has been sent.
#[derive(Debug)]
pub(crate) struct ResponseBody<B> {
    inner: B,
    _progress: Arc<Progress>,
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, progress: Arc<Progress>) -> Self {
        Self { inner, _progress: progress }
    }
}

impl<B: Body + Unpin> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
