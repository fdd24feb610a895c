//! The cancellation of one subscription: a flag, and the one task that may wait for it.
//!
//! Every subscription of every connection holds one for as long as it lives, idle or not.
//! tokio-util's `CancellationToken` can have parents, children and any number of waiters,
//! and is about three times the size; a subscription needs none of that: the connection
//! cancels, and at most one task at a time (the subscription's backlog, then each of its
//! catch-ups, one after another) waits.

use std::{
    future::poll_fn,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::Poll,
};

use futures::task::AtomicWaker;

#[derive(Debug, Clone, Default)]
pub(crate) struct Cancel(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    cancelled: AtomicBool,
    waiter: AtomicWaker,
}

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.waiter.wake();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Acquire)
    }

    /// Completes once cancelled. Only one task may wait at a time: a second waiter would
    /// take the first one's place.
    pub(crate) async fn cancelled(&self) {
        // A registered waker keeps its task's memory alive: it must not outlive the wait, or
        // every idle subscription would hold on to its finished backlog task (1.5 KB).
        let _forget = Forget(&self.0.waiter);
        poll_fn(|cx| {
            // Registered before the flag is read, so that a cancel in between still wakes us.
            self.0.waiter.register(cx.waker());
            if self.is_cancelled() { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }
}

/// Takes the waiting task's waker out when the wait ends, however it ends.
struct Forget<'a>(&'a AtomicWaker);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_cancel_from_another() {
        let cancel = Cancel::default();
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!cancel.is_cancelled());
        cancel.cancel();
        waiting.await.unwrap();
        assert!(cancel.is_cancelled());
        // Once cancelled, waiting is over at once.
        cancel.cancelled().await;
    }

    #[tokio::test]
    async fn a_wait_that_ends_lets_go_of_its_task() {
        let cancel = Cancel::default();
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::task::yield_now() => {}
                }
            }
        });
        waiting.await.unwrap();
        assert!(cancel.0.waiter.take().is_none(), "the finished task's waker is still held");
    }
}
