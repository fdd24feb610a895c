//! A connection's writer: the one task that writes to its socket.
//!
//! Two things reach it. Frames other tasks queue in the connection's `Outbox` (acks,
//! errors, backlogs, rosters), and the live feeds of the rooms the client is subscribed to,
//! which the writer reads itself once a subscription has caught up: a message published to
//! a room wakes each subscribed connection's writer once, and nothing in between.
//!
//! Whatever is ready when the writer wakes goes out together, the frames' own bytes handed
//! to the socket in as few write calls as it takes (see `poll_write`). While a write waits for
//! the client, the writer keeps taking what arrives; a client that lets more than the
//! connection's frame limit pile up is lagging, and the connection is closed (4008) rather
//! than slowing anyone down or holding unbounded memory.

use std::{
    collections::VecDeque,
    io::{self, IoSlice},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use axum::body::Bytes;
use futures::task::AtomicWaker;
use tokio::sync::broadcast::error::TryRecvError;

use crate::{
    live::{
        cancel::Cancel,
        connections::Control,
        feeds::{FeedHandle, LiveMessage, RoomEvent},
        forward,
        mailbox::{self, Refused},
    },
    state::GatewayState,
};
use dchat_websocket::{Frame, SocketWrite};

/// What the connection's tasks hand its writer, in the order the client must see it.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A frame to send as it is.
    Frame(Frame),
    /// A subscription that has caught up: from here on the writer sends its live frames.
    Live(Box<Live>),
    /// Some subscriptions were cancelled: the writer lets go of those it holds.
    Sweep,
    /// The connection is over: the writer sends this close frame, if any, and stops. What
    /// is still queued is dropped (a lagging client could not take it anyway). Always the
    /// queue's last item (`mailbox::Sender::finish`).
    Close(Option<Frame>),
}

/// A live subscription: the room's feed and the last offset sent to the client.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) feed: FeedHandle,
    pub(crate) last_sent: i64,
    pub(crate) cancel: Cancel,
}

/// A connection's queue to its writer. Pushing never waits: a client whose queue is full is
/// lagging, and the connection is closed (4008).
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    pub(crate) queue: mailbox::Sender<Outgoing>,
    /// How many may wait in the queue.
    pub(crate) limit: usize,
    /// The connection's orders, where a lagging client's close is ordered.
    pub(crate) control: mailbox::Sender<Control>,
}

impl Outbox {
    /// Queues a frame; false when the connection is gone or lagging.
    pub(crate) fn push(&self, frame: Frame) -> bool {
        self.send(Outgoing::Frame(frame))
    }

    /// Gives a caught-up subscription to the writer; false when the connection is gone or
    /// lagging.
    pub(crate) fn hand_over(&self, live: Live) -> bool {
        self.send(Outgoing::Live(Box::new(live)))
    }

    /// Tells the writer to drop the subscriptions that were cancelled.
    pub(crate) fn sweep(&self) {
        self.send(Outgoing::Sweep);
    }

    /// The client is not keeping up: nothing more is queued, and the connection closes with
    /// 4008 (ordered once, whoever notices first).
    pub(crate) fn lagging(&self) {
        if self.queue.close() {
            let _ = self.control.send(Control::Close { code: 4008, reason: "lagged" }, None);
        }
    }

    /// The connection is over: the writer sends `frame` (if any) and stops, after nothing
    /// else. Taken even by a queue that was closed for lagging.
    pub(crate) fn finish(&self, frame: Option<Frame>) {
        self.queue.finish(Outgoing::Close(frame));
    }

    fn send(&self, outgoing: Outgoing) -> bool {
        match self.queue.send(outgoing, Some(self.limit)) {
            Ok(()) => true,
            Err(Refused::Full) => {
                self.lagging();
                false
            }
            Err(Refused::Closed) => false,
        }
    }
}

/// What subscriptions need to know about their client.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) user_id: String,
    pub(crate) outbox: Outbox,
}

/// Writes to the socket until a close order (sending its close frame) or until the socket
/// fails. Set up before the future is made, so that it keeps no second copy of its
/// arguments (see `session::serve`).
pub(crate) fn run(
    mut socket: SocketWrite,
    queue: mailbox::Receiver<Outgoing>,
    state: GatewayState,
    subscriber: Subscriber,
) -> impl Future<Output = ()> + Send + 'static {
    let limit = subscriber.outbox.limit;
    let alarm = Arc::new(Alarm::default());
    let mut inbox = Inbox {
        queue,
        arrived: VecDeque::new(),
        live: Vec::new(),
        pending: VecDeque::new(),
        state,
        subscriber,
        alarm_waker: Waker::from(alarm.clone()),
        alarm,
        armed: false,
        closing: None,
    };
    let mut batch = VecDeque::new();
    // Whether the batch's first frame is partly written: a close must not cut it.
    let mut started = false;
    async move {
        let order = 'connection: loop {
            while inbox.pending.is_empty() && inbox.closing.is_none() {
                inbox.gather().await;
            }
            if let Some(order) = inbox.closing.take() {
                break 'connection order;
            }
            std::mem::swap(&mut batch, &mut inbox.pending);
            {
                let mut write = std::future::poll_fn(|cx| poll_write(&mut socket, &mut batch, &mut started, cx));
                loop {
                    tokio::select! {
                        biased;
                        written = &mut write => {
                            if written.is_err() {
                                break 'connection None;
                            }
                            break;
                        }
                        () = inbox.gather() => {
                            // A close order does not wait for a write the client may never take.
                            if let Some(order) = inbox.closing.take() {
                                break 'connection order;
                            }
                            if inbox.pending.len() > limit {
                                inbox.subscriber.outbox.lagging();
                            }
                        }
                    }
                }
            }
            // A large batch's room goes back to the allocator: most connections wait far
            // longer than they write, and a deque keeps the size of its largest burst (a
            // backlog, a roster) for good. A small one is kept, or every live delivery would
            // allocate a deque and free it again.
            if batch.capacity() > KEPT_BATCH_CAPACITY {
                batch = VecDeque::new();
            }
        };
        if let Some(frame) = order {
            batch.truncate(usize::from(started));
            batch.push_back(frame.into_bytes());
            let _ = std::future::poll_fn(|cx| poll_write(&mut socket, &mut batch, &mut started, cx)).await;
        }
        let _ = std::future::poll_fn(|cx| socket.as_mut().poll_shutdown(cx)).await;
    }
}

/// Frames a written batch may keep room for (their handles, 32 bytes each): as many as a
/// connection's first live delivery allocates.
const KEPT_BATCH_CAPACITY: usize = 4;

/// Frames one write takes at most: each is one slice of a vectored write.
const FRAMES_PER_WRITE: usize = 64;

/// Writes the frames of `batch` and flushes them, emptying it; `started` tells whether its
/// first frame is partly written. A poll function rather than an `async fn`: it keeps
/// nothing between polls that `batch` does not, so the connection's future need not hold
/// room for one while it waits.
///
/// The frames are written as they are, one write call for a live delivery and one for up
/// to [`FRAMES_PER_WRITE`] frames of a burst: no copy into a buffer of the connection's.
fn poll_write(
    socket: &mut SocketWrite,
    batch: &mut VecDeque<Bytes>,
    started: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while let Some(first) = batch.front() {
        let written = if batch.len() == 1 {
            std::task::ready!(socket.as_mut().poll_write(cx, first))?
        } else {
            let mut slices = [IoSlice::new(&[]); FRAMES_PER_WRITE];
            let count = batch.iter().zip(&mut slices).map(|(frame, slice)| *slice = IoSlice::new(frame)).count();
            std::task::ready!(socket.as_mut().poll_write_vectored(cx, &slices[..count]))?
        };
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        consume(batch, written, started);
    }
    socket.as_mut().poll_flush(cx)
}

/// Drops the first `written` bytes of the batch: whole frames, then part of the next.
fn consume(batch: &mut VecDeque<Bytes>, mut written: usize, started: &mut bool) {
    while let Some(first) = batch.front_mut() {
        if written < first.len() {
            if written > 0 {
                *first = first.slice(written..);
                *started = true;
            }
            return;
        }
        written -= first.len();
        batch.pop_front();
        *started = false;
    }
}

/// What the writer has received and not yet written.
struct Inbox {
    queue: mailbox::Receiver<Outgoing>,
    /// What was taken from the queue and not yet sorted.
    arrived: VecDeque<Outgoing>,
    live: Vec<Live>,
    pending: VecDeque<Bytes>,
    state: GatewayState,
    subscriber: Subscriber,
    /// What the sources wake: it notes that something arrived, then wakes the task.
    alarm: Arc<Alarm>,
    alarm_waker: Waker,
    /// Every source was last left pending with `alarm_waker` registered: until the alarm
    /// rings, looking at them again would find nothing.
    armed: bool,
    /// The close order taken from the queue, once there is one.
    closing: Option<Option<Frame>>,
}

/// Rung by whichever of the writer's sources has something new.
///
/// After a write the writer looks for more; without the alarm it would poll every source
/// again (the queue's lock, each feed's channel lock) only to find them as empty as it left
/// them a moment before, once per delivery.
///
/// The writer is always polled by its own task, so the alarm keeps that task's waker once
/// and wakes it by reference. An `AtomicWaker` gives its waker up when it wakes it, and
/// registering it again after every wake was, per delivery, the costliest thing the writer
/// did. A poll with some other waker is still served, through `other`.
#[derive(Debug, Default)]
struct Alarm {
    rung: AtomicBool,
    /// The waker of the first poll: the writer's task.
    task: OnceLock<Waker>,
    other: AtomicWaker,
    /// Whether `other` was ever registered; until then a ring skips it.
    other_used: AtomicBool,
}

impl Alarm {
    /// Makes the next ring wake whoever polls with `waker`.
    fn register(&self, waker: &Waker) {
        let task = self.task.get_or_init(|| waker.clone());
        if !task.will_wake(waker) {
            self.other_used.store(true, Ordering::SeqCst);
            self.other.register(waker);
        }
    }

    /// Whether it rang since the last look. Called after `register`, so that a ring from
    /// here on wakes the poller again.
    fn take(&self) -> bool {
        self.rung.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Rung already and not yet taken: that ring woke the writer, which will look at
        // every source when it takes it.
        if self.rung.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(task) = self.task.get() {
            task.wake_by_ref();
        }
        if self.other_used.load(Ordering::SeqCst) {
            self.other.wake();
        }
    }
}

impl Inbox {
    /// Waits until something arrives, then takes everything that is ready.
    async fn gather(&mut self) {
        std::future::poll_fn(|cx| self.poll_gather(cx)).await;
    }

    /// Ready when anything was taken. The queue is taken whole, and each live feed is read
    /// until it is empty (or for [`READS_PER_LOOK`] events, when the alarm is rung to come
    /// back), so that one wake-up takes whatever has accumulated.
    fn poll_gather(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered and reset before the sources are looked at, so that anything arriving
        // from here on rings again and wakes this task.
        let Self { queue, arrived, live: lives, pending, state, subscriber, alarm, alarm_waker, armed, closing } = self;
        alarm.register(cx.waker());
        let rung = alarm.take();
        if *armed && !rung {
            return Poll::Pending;
        }
        let mut took = queue.poll_take_all(&mut Context::from_waker(alarm_waker), arrived).is_ready();
        for outgoing in arrived.drain(..) {
            match outgoing {
                Outgoing::Close(order) => {
                    *closing = Some(order);
                    return Poll::Ready(());
                }
                Outgoing::Frame(frame) => pending.push_back(frame.into_bytes()),
                Outgoing::Live(live) if live.cancel.is_cancelled() => {}
                Outgoing::Live(live) => {
                    // Most connections hold one subscription: no room for more until needed.
                    lives.reserve_exact(1);
                    lives.push(*live);
                }
                Outgoing::Sweep => lives.retain(|live| !live.cancel.is_cancelled()),
            }
        }
        // Emptied, and swapped into the queue at the next take: without this the queue and
        // this deque would each keep the room of the largest burst for the connection's life.
        *arrived = VecDeque::new();
        let mut index = 0;
        while index < lives.len() {
            match poll_live(&mut lives[index], alarm_waker, &subscriber.user_id, pending) {
                (taken, Next::Keep) => {
                    took |= taken;
                    index += 1;
                }
                (taken, Next::CatchUp) => {
                    took |= taken;
                    metrics::counter!("dchat_ws_catch_ups_total").increment(1);
                    let mut live = lives.swap_remove(index);
                    // History fills the hole; the feed need not wake this writer meanwhile.
                    live.feed.quiet();
                    tokio::spawn(forward::resume(state.clone(), subscriber.clone(), live));
                }
            }
        }
        // Each source was polled until pending (the queue registers before it looks), and a
        // source that ended or fell behind left the list.
        *armed = true;
        if took { Poll::Ready(()) } else { Poll::Pending }
    }
}

/// What becomes of a live subscription after it was polled.
enum Next {
    Keep,
    /// Its feed skipped offsets, or its channel was replaced: history must fill the hole
    /// before it is live again.
    CatchUp,
}

/// Events a live subscription gives its writer in one look; a look that stops there rings
/// the writer's alarm to come back, so that one busy room does not hold the thread.
const READS_PER_LOOK: usize = 256;

/// Takes the ready frames of one live subscription into `pending`: its room's messages
/// in offset order, each once, and its presence events (but not the client's own typing).
/// From the first look on, the feed wakes `alarm` whenever it sends something.
fn poll_live(live: &mut Live, alarm: &Waker, user_id: &str, pending: &mut VecDeque<Bytes>) -> (bool, Next) {
    // Before the first read, so that an event sent after a read that found nothing rings.
    live.feed.ring(alarm);
    for read in 0..READS_PER_LOOK {
        match live.feed.try_next() {
            Ok(RoomEvent::Message(message)) => {
                if !in_order(message, &mut live.last_sent, pending) {
                    return (true, Next::CatchUp);
                }
            }
            Ok(RoomEvent::Presence(note)) => {
                if !(note.typing && note.user_id == user_id) {
                    pending.push_back(note.frame.clone().into_bytes());
                }
            }
            // Messages may be among what was missed (presence, which is advisory, is set
            // right by the next heartbeat). The room's channel grows, so that this happens
            // less; one that was replaced by a larger one is closed, and is caught up from
            // the same way.
            Err(TryRecvError::Lagged(_)) => {
                live.feed.lagged();
                return (true, Next::CatchUp);
            }
            Err(TryRecvError::Closed) => return (true, Next::CatchUp),
            Err(TryRecvError::Empty) => return (read > 0, Next::Keep),
        }
    }
    alarm.wake_by_ref();
    (true, Next::Keep)
}

/// Queues a live message if it is the next offset, skips it if history already sent it,
/// and returns false if there is a hole before it.
fn in_order(message: LiveMessage, last_sent: &mut i64, pending: &mut VecDeque<Bytes>) -> bool {
    if message.offset <= *last_sent {
        return true;
    }
    if message.offset > *last_sent + 1 {
        return false;
    }
    pending.push_back(message.frame.into_bytes());
    *last_sent = message.offset;
    true
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use tokio::io::AsyncWrite;

    use super::*;
    use crate::live::test_waker::counting;

    fn ring(alarm: &Arc<Alarm>) {
        Waker::from(alarm.clone()).wake_by_ref();
    }

    #[test]
    fn a_ring_wakes_the_registered_task_every_time_it_was_taken() {
        let alarm = Arc::new(Alarm::default());
        let (task, waker) = counting();
        for round in 1..=3 {
            alarm.register(&waker);
            assert!(!alarm.take(), "nothing rang yet in round {round}");
            ring(&alarm);
            assert_eq!(task.get(), round, "the task keeps being woken without registering anew");
            assert!(alarm.take());
        }
    }

    #[test]
    fn rings_before_a_take_wake_the_task_once() {
        let alarm = Arc::new(Alarm::default());
        let (task, waker) = counting();
        alarm.register(&waker);
        ring(&alarm);
        ring(&alarm);
        ring(&alarm);
        assert_eq!(task.get(), 1);
        assert!(alarm.take());
        assert!(!alarm.take());
    }

    #[test]
    fn a_ring_before_the_first_poll_is_taken_by_it() {
        let alarm = Arc::new(Alarm::default());
        ring(&alarm);
        let (task, waker) = counting();
        alarm.register(&waker);
        assert!(alarm.take());
        assert_eq!(task.get(), 0, "nobody was there to wake");
    }

    /// A socket that takes at most three bytes per write and is busy every other time.
    struct Trickle {
        taken: Arc<std::sync::Mutex<Vec<u8>>>,
        busy: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
            self.busy = !self.busy;
            if self.busy {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let count = bytes.len().min(3);
            self.taken.lock().unwrap().extend_from_slice(&bytes[..count]);
            Poll::Ready(Ok(count))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn frames_go_out_whole_and_in_order_through_short_writes() {
        let taken = Arc::default();
        let mut socket: SocketWrite = Box::pin(Trickle { taken: Arc::clone(&taken), busy: false });
        let frames = ["first", "second frame", "3"].map(|text| Frame::json(&text).into_bytes());
        let mut batch: VecDeque<Bytes> = frames.iter().cloned().collect();
        let mut started = false;
        std::future::poll_fn(|cx| poll_write(&mut socket, &mut batch, &mut started, cx)).await.unwrap();
        assert!(batch.is_empty() && !started);
        assert_eq!(*taken.lock().unwrap(), frames.concat());
    }

    #[test]
    fn a_partly_written_frame_is_marked_started_until_it_is_done() {
        let mut batch: VecDeque<Bytes> = [&b"12345"[..], b"67890"].into_iter().map(Bytes::from_static).collect();
        let mut started = false;
        consume(&mut batch, 7, &mut started);
        assert_eq!((batch.len(), &batch[0][..], started), (1, &b"890"[..], true));
        consume(&mut batch, 3, &mut started);
        assert!(batch.is_empty() && !started);
    }

    #[test]
    fn a_poll_with_another_waker_is_woken_too() {
        let alarm = Arc::new(Alarm::default());
        let (first, first_waker) = counting();
        let (other, other_waker) = counting();
        alarm.register(&first_waker);
        alarm.register(&other_waker);
        assert!(!alarm.take());
        ring(&alarm);
        assert_eq!(other.get(), 1);
        assert_eq!(first.get(), 1, "a spurious wake of the first is harmless");
    }
}
