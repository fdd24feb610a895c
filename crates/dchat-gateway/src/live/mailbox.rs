//! A queue from any number of senders to one waiting task, for the queues every WebSocket
//! connection keeps: the frames for its writer, and the orders for its reader.
//!
//! tokio's channels allocate a block of 32 slots and two cache-padded halves up front,
//! about 1.5 KB per channel, which every idle connection would pay twice. A mailbox is a
//! deque behind a mutex and the receiver's waker: nothing is allocated until something is
//! sent, and the receiver takes everything waiting in one swap.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
};

use futures::task::AtomicWaker;

/// Why a send was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The mailbox holds its limit: the receiver is not keeping up.
    Full,
    /// The receiver is gone.
    Closed,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    receiver: AtomicWaker,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Shared<T> {
    // A std mutex: held to push or to swap a deque, never across an await.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side; clones share the mailbox.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// The receiving side; dropping it closes the mailbox.
#[derive(Debug)]
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A new, empty mailbox.
pub(crate) fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { items: VecDeque::new(), closed: false }),
        receiver: AtomicWaker::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Queues `item` unless `limit` items are already waiting (no limit when `None`).
    pub(crate) fn send(&self, item: T, limit: Option<usize>) -> Result<(), Refused> {
        {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(Refused::Closed);
            }
            if limit.is_some_and(|limit| state.items.len() >= limit) {
                return Err(Refused::Full);
            }
            state.items.push_back(item);
        }
        self.shared.receiver.wake();
        Ok(())
    }
}

impl<T> Sender<T> {
    /// Refuses every send from now on (what is queued stays for the receiver); true for the
    /// call that closed it, false when it was closed already.
    pub(crate) fn close(&self) -> bool {
        !std::mem::replace(&mut self.shared.lock().closed, true)
    }

    /// Closes the mailbox and queues `item` as its last, even if it was closed already: the
    /// one item a closed mailbox still takes, so that the receiver learns why it ends.
    pub(crate) fn finish(&self, item: T) {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            state.items.push_back(item);
        }
        self.shared.receiver.wake();
    }
}

impl<T> Receiver<T> {
    /// Moves everything waiting to the end of `into`; pending while nothing is.
    pub(crate) fn poll_take_all(&mut self, cx: &mut Context<'_>, into: &mut VecDeque<T>) -> Poll<()> {
        // Registered before looking, so that a send after the look wakes us.
        self.shared.receiver.register(cx.waker());
        let mut state = self.shared.lock();
        if state.items.is_empty() {
            return Poll::Pending;
        }
        if into.is_empty() {
            std::mem::swap(into, &mut state.items);
        } else {
            into.append(&mut state.items);
        }
        Poll::Ready(())
    }

    /// The oldest item waiting; pending while there is none.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        self.shared.receiver.register(cx.waker());
        match self.shared.lock().items.pop_front() {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }

    /// Waits for the oldest item.
    pub(crate) async fn recv(&mut self) -> T {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        // What nobody will read is dropped now rather than with the last sender.
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use std::{future::poll_fn, task::Poll};

    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_all_at_once() {
        let (sender, mut receiver) = mailbox();
        for i in 0..3 {
            sender.send(i, None).unwrap();
        }
        let mut into = VecDeque::from([-1]);
        poll_fn(|cx| receiver.poll_take_all(cx, &mut into)).await;
        assert_eq!(into, [-1, 0, 1, 2]);
        sender.send(3, None).unwrap();
        assert_eq!(receiver.recv().await, 3);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_task() {
        let (sender, mut receiver) = mailbox();
        let waiting = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        sender.send("hello", None).unwrap();
        assert_eq!(waiting.await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_finished_mailbox_takes_its_last_item_even_when_closed_already() {
        let (sender, mut receiver) = mailbox();
        sender.send(1, None).unwrap();
        assert!(sender.close());
        sender.finish(2);
        assert_eq!(sender.send(3, None), Err(Refused::Closed));
        assert_eq!(receiver.recv().await, 1);
        assert_eq!(receiver.recv().await, 2);
    }

    #[test]
    fn a_full_mailbox_refuses_and_a_closed_one_too() {
        let (sender, receiver) = mailbox();
        sender.send(1, Some(2)).unwrap();
        sender.send(2, Some(2)).unwrap();
        assert_eq!(sender.send(3, Some(2)), Err(Refused::Full));
        assert_eq!(sender.send(3, None), Ok(()), "the limit is the sender's to set");
        drop(receiver);
        assert_eq!(sender.send(4, None), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn a_mailbox_closed_by_a_sender_keeps_what_was_queued() {
        let (sender, mut receiver) = mailbox();
        sender.send(1, None).unwrap();
        assert!(sender.close(), "the first close closes");
        assert!(!sender.clone().close(), "a second close finds it closed");
        assert_eq!(sender.send(2, None), Err(Refused::Closed));
        assert_eq!(receiver.recv().await, 1);
    }

    #[tokio::test]
    async fn an_empty_mailbox_is_pending() {
        let (_sender, mut receiver) = mailbox::<u8>();
        let mut into = VecDeque::new();
        let polled = poll_fn(|cx| Poll::Ready(receiver.poll_take_all(cx, &mut into))).await;
        assert!(polled.is_pending());
    }
}
