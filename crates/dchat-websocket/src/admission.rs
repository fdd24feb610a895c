//! Which connections the HTTP server keeps: at most so many in all and from each address,
//! and, when full, room made by closing the connection that has waited longest for its
//! client.
//!
//! A connection is *waiting* while the server waits for its client: for a request's head,
//! or for the rest of a request's body. It is *working* from the moment a request is
//! wholly received until its answer has been sent (a stream's answer included), and for
//! as long as it is a WebSocket. A client that opens connections and then sends nothing,
//! or a byte now and then, only ever makes waiting connections; so when the cap is reached
//! a new connection is admitted by shedding the oldest waiting one, and refused only when
//! every connection is working. Peers that front many clients (the ui role, a reverse
//! proxy: the trusted proxies) are exempt from the per-address cap, which they must apply
//! themselves; so, when asked, are loopback addresses: processes on this machine (a load
//! generator among them) are held by the total cap only.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

/// The server's connection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once, WebSockets included.
    pub max_connections: usize,
    /// Connections open at once from one address, except from `exempt` ones.
    pub max_per_address: usize,
    /// Addresses the per-address cap does not apply to.
    pub exempt: Vec<IpAddr>,
    /// Whether the per-address cap spares every loopback address too.
    pub exempt_loopback: bool,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 10_000, max_per_address: 512, exempt: Vec::new(), exempt_loopback: false }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address holds its share already.
    AddressFull,
    /// The server is full of working connections.
    Full,
}

/// The registry of open connections; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limits: ConnectionLimits,
    state: Mutex<State>,
}

/// Everything behind the one lock. Each connection's own part lives in its slot
/// ([`Connection`]), changed only under this lock, so that an idle WebSocket costs the
/// registry nothing but its counts.
#[derive(Debug, Default)]
struct State {
    /// Connections open, upgraded ones included.
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Stamps of waits, in the order they began: the first is the longest wait.
    next_wait: u64,
    waiting: BTreeMap<u64, Weak<SlotInner>>,
}

impl Admission {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self { shared: Arc::new(Shared { limits, state: Mutex::new(State::default()) }) }
    }

    /// Admits a connection from `address`, shedding the longest-waiting one if the server
    /// is full. The connection counts until the returned slot and its clones are dropped
    /// (or, once upgraded, until its [`Upgraded`] is).
    pub(crate) fn admit(&self, address: IpAddr) -> Result<Slot, Refused> {
        let limits = &self.shared.limits;
        let mut state = self.shared.lock();
        let from_address = state.per_address.get(&address).copied().unwrap_or(0);
        let exempt = limits.exempt.contains(&address) || (limits.exempt_loopback && address.is_loopback());
        if from_address >= limits.max_per_address && !exempt {
            return Err(Refused::AddressFull);
        }
        if state.open >= limits.max_connections && !state.shed_longest_waiting() {
            return Err(Refused::Full);
        }
        state.open += 1;
        *state.per_address.entry(address).or_default() += 1;
        let inner = Arc::new(SlotInner {
            shared: Arc::clone(&self.shared),
            address,
            shed: Notify::new(),
            connection: Mutex::new(Connection::default()),
        });
        inner.begin_wait(&mut state);
        Ok(Slot(inner))
    }

    /// Closes the connection that has waited longest for its client, if any; for when the
    /// process is out of file descriptors.
    pub(crate) fn shed_one(&self) -> bool {
        self.shared.lock().shed_longest_waiting()
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.shared.lock().open
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that changes it; a panic elsewhere
        // while it was held leaves nothing half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops counting a connection from `address`.
    fn close(&self, address: IpAddr) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        if let Some(count) = state.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                state.per_address.remove(&address);
            }
        }
    }
}

impl State {
    /// Tells the longest-waiting connection to close, and stops counting it as waiting.
    /// (It still counts as open until its task lets go of it.)
    fn shed_longest_waiting(&mut self) -> bool {
        while let Some((_, slot)) = self.waiting.pop_first() {
            // A slot being dropped right now has left nothing to shed.
            if let Some(slot) = slot.upgrade() {
                slot.connection().wait = None;
                slot.shed.notify_one();
                return true;
            }
        }
        false
    }
}

/// One connection's part of the account, changed only under the registry's lock.
#[derive(Debug, Default)]
struct Connection {
    /// Requests received and not yet answered.
    working: usize,
    /// The stamp and start of the current wait, while `working` is 0.
    wait: Option<(u64, Instant)>,
    /// Counted by an [`Upgraded`] from now on.
    upgraded: bool,
}

/// One admitted connection. Clones share it; the last one dropped closes its account.
#[derive(Debug, Clone)]
pub(crate) struct Slot(Arc<SlotInner>);

#[derive(Debug)]
struct SlotInner {
    shared: Arc<Shared>,
    address: IpAddr,
    shed: Notify,
    connection: Mutex<Connection>,
}

impl SlotInner {
    /// Its own part; callers hold the registry's lock, so this one is never contended.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin_wait(self: &Arc<Self>, state: &mut State) {
        let stamp = state.next_wait;
        state.next_wait += 1;
        state.waiting.insert(stamp, Arc::downgrade(self));
        self.connection().wait = Some((stamp, Instant::now()));
    }

    fn end_wait(&self, state: &mut State) {
        if let Some((stamp, _)) = self.connection().wait.take() {
            state.waiting.remove(&stamp);
        }
    }
}

impl Slot {
    /// Completes when the connection is to be closed to make room for a new one.
    pub(crate) async fn shed(&self) {
        self.0.shed.notified().await;
    }

    /// A request was wholly received: the connection works until the guard is dropped.
    pub(crate) fn start_work(&self) -> Working {
        let mut state = self.0.shared.lock();
        self.0.end_wait(&mut state);
        self.0.connection().working += 1;
        Working(self.clone())
    }

    /// The connection became a WebSocket: it works, and counts, for as long as the guard
    /// lives, which holds no more than the registry and the address.
    pub(crate) fn upgrade(&self) -> Upgraded {
        let mut state = self.0.shared.lock();
        self.0.end_wait(&mut state);
        self.0.connection().upgraded = true;
        Upgraded { shared: Arc::clone(&self.0.shared), address: self.0.address }
    }

    /// Whether the connection has been waiting for its client, without a break, for
    /// longer than `limit`.
    pub(crate) fn waited_longer_than(&self, limit: Duration) -> bool {
        let _state = self.0.shared.lock();
        self.0.connection().wait.is_some_and(|(_, since)| since.elapsed() > limit)
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let upgraded = {
            let mut state = self.shared.lock();
            let connection = self.connection.get_mut().unwrap_or_else(PoisonError::into_inner);
            if let Some((stamp, _)) = connection.wait.take() {
                state.waiting.remove(&stamp);
            }
            connection.upgraded
        };
        if !upgraded {
            self.shared.close(self.address);
        }
    }
}

/// A request in progress on a connection (see [`Slot::start_work`]).
#[derive(Debug)]
pub(crate) struct Working(Slot);

impl Drop for Working {
    fn drop(&mut self) {
        let slot = &(self.0).0;
        let mut state = slot.shared.lock();
        let idle = {
            let mut connection = slot.connection();
            connection.working = connection.working.saturating_sub(1);
            connection.working == 0 && !connection.upgraded
        };
        if idle {
            slot.begin_wait(&mut state);
        }
    }
}

/// A WebSocket's place in the server's account of connections (see [`Slot::upgrade`]):
/// while it is held, the connection counts as open and is never shed to make room.
#[derive(Debug)]
pub struct Upgraded {
    shared: Arc<Shared>,
    address: IpAddr,
}

impl Drop for Upgraded {
    fn drop(&mut self) {
        self.shared.close(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn admission(max_connections: usize, max_per_address: usize, exempt: Vec<IpAddr>) -> Admission {
        Admission::new(ConnectionLimits { max_connections, max_per_address, exempt, exempt_loopback: false })
    }

    #[tokio::test]
    async fn when_full_the_longest_waiting_connection_is_shed_and_working_ones_are_kept() {
        let admission = admission(3, 10, Vec::new());
        let first = admission.admit(A).unwrap();
        let second = admission.admit(A).unwrap();
        let third = admission.admit(B).unwrap();
        let _busy = first.start_work();
        // The first works; of the waiting two, the second has waited longest.
        let fourth = admission.admit(B).expect("room is made");
        tokio::time::timeout(Duration::from_secs(1), second.shed()).await.expect("the second is told to close");
        drop(second);
        assert_eq!(admission.open(), 3);
        let _third_busy = third.start_work();
        let _fourth_busy = fourth.start_work();
        assert_eq!(admission.admit(B).err(), Some(Refused::Full), "every connection works");
    }

    #[tokio::test]
    async fn a_connection_that_finished_its_request_waits_again_behind_the_others() {
        let admission = admission(2, 10, Vec::new());
        let first = admission.admit(A).unwrap();
        let second = admission.admit(A).unwrap();
        drop(first.start_work());
        // The first began waiting again after the second did: the second goes first.
        let _third = admission.admit(B).unwrap();
        tokio::time::timeout(Duration::from_secs(1), second.shed()).await.expect("the second is told to close");
        let _ = first;
    }

    #[test]
    fn each_address_gets_its_share_unless_exempt_and_a_closed_connection_gives_it_back() {
        let admission = admission(100, 2, vec![B]);
        let a1 = admission.admit(A).unwrap();
        let _a2 = admission.admit(A).unwrap();
        assert_eq!(admission.admit(A).err(), Some(Refused::AddressFull));
        let _b: Vec<Slot> = (0..5).map(|_| admission.admit(B).unwrap()).collect();
        drop(a1);
        assert!(admission.admit(A).is_ok());
    }

    #[test]
    fn the_wait_is_measured_only_while_nothing_is_in_progress() {
        let admission = admission(10, 10, Vec::new());
        let slot = admission.admit(A).unwrap();
        let working = slot.start_work();
        assert!(!slot.waited_longer_than(Duration::ZERO), "a working connection is not waiting");
        drop(working);
        assert!(!slot.waited_longer_than(Duration::from_secs(60)));
    }
}
