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
//! themselves.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
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
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 10_000, max_per_address: 512, exempt: Vec::new() }
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

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Stamps of waits, in the order they began: the first is the longest wait.
    next_wait: u64,
    open: HashMap<u64, Open>,
    per_address: HashMap<IpAddr, usize>,
    waiting: BTreeMap<u64, u64>,
}

#[derive(Debug)]
struct Open {
    address: IpAddr,
    /// Requests received and not yet answered (1 for a WebSocket, for good).
    working: usize,
    /// The stamp and start of the current wait, while `working` is 0.
    wait: Option<(u64, Instant)>,
    shed: Arc<Notify>,
}

impl Admission {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self { shared: Arc::new(Shared { limits, state: Mutex::new(State::default()) }) }
    }

    /// Admits a connection from `address`, shedding the longest-waiting one if the server
    /// is full. The connection counts until the returned slot and its clones are dropped.
    pub(crate) fn admit(&self, address: IpAddr) -> Result<Slot, Refused> {
        let limits = &self.shared.limits;
        let mut state = self.shared.lock();
        let from_address = state.per_address.get(&address).copied().unwrap_or(0);
        if from_address >= limits.max_per_address && !limits.exempt.contains(&address) {
            return Err(Refused::AddressFull);
        }
        if state.open.len() >= limits.max_connections && !state.shed_longest_waiting() {
            return Err(Refused::Full);
        }
        let id = state.next_id;
        state.next_id += 1;
        let shed = Arc::new(Notify::new());
        let wait = state.begin_wait(id);
        state.open.insert(id, Open { address, working: 0, wait: Some(wait), shed: Arc::clone(&shed) });
        *state.per_address.entry(address).or_default() += 1;
        Ok(Slot(Arc::new(SlotInner { shared: Arc::clone(&self.shared), id, shed })))
    }

    /// Closes the connection that has waited longest for its client, if any; for when the
    /// process is out of file descriptors.
    pub(crate) fn shed_one(&self) -> bool {
        self.shared.lock().shed_longest_waiting()
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.shared.lock().open.len()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that changes it; a panic elsewhere
        // while it was held leaves nothing half done.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn begin_wait(&mut self, id: u64) -> (u64, Instant) {
        let stamp = self.next_wait;
        self.next_wait += 1;
        self.waiting.insert(stamp, id);
        (stamp, Instant::now())
    }

    /// Tells the longest-waiting connection to close, and stops counting it as waiting.
    /// (It still counts as open until its task lets go of it.)
    fn shed_longest_waiting(&mut self) -> bool {
        let Some((_, id)) = self.waiting.pop_first() else { return false };
        if let Some(open) = self.open.get_mut(&id) {
            open.wait = None;
            open.shed.notify_one();
        }
        true
    }
}

/// One admitted connection. Clones share it; the last one dropped closes its account.
#[derive(Debug, Clone)]
pub(crate) struct Slot(Arc<SlotInner>);

#[derive(Debug)]
struct SlotInner {
    shared: Arc<Shared>,
    id: u64,
    shed: Arc<Notify>,
}

impl Slot {
    /// Completes when the connection is to be closed to make room for a new one.
    pub(crate) async fn shed(&self) {
        self.0.shed.notified().await;
    }

    /// A request was wholly received: the connection works until the guard is dropped.
    pub(crate) fn start_work(&self) -> Working {
        let mut state = self.0.shared.lock();
        if let Some(open) = state.open.get_mut(&self.0.id) {
            open.working += 1;
            if let Some((stamp, _)) = open.wait.take() {
                state.waiting.remove(&stamp);
            }
        }
        Working(self.clone())
    }

    /// Whether the connection has been waiting for its client, without a break, for
    /// longer than `limit`.
    pub(crate) fn waited_longer_than(&self, limit: Duration) -> bool {
        let state = self.0.shared.lock();
        state.open.get(&self.0.id).and_then(|open| open.wait).is_some_and(|(_, since)| since.elapsed() > limit)
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(open) = state.open.remove(&self.id) else { return };
        if let Some((stamp, _)) = open.wait {
            state.waiting.remove(&stamp);
        }
        if let Some(count) = state.per_address.get_mut(&open.address) {
            *count -= 1;
            if *count == 0 {
                state.per_address.remove(&open.address);
            }
        }
    }
}

/// A request in progress on a connection (see [`Slot::start_work`]).
#[derive(Debug)]
pub(crate) struct Working(Slot);

impl Drop for Working {
    fn drop(&mut self) {
        let inner = &(self.0).0;
        let mut state = inner.shared.lock();
        let Some(open) = state.open.get(&inner.id) else { return };
        if open.working > 1 {
            if let Some(open) = state.open.get_mut(&inner.id) {
                open.working -= 1;
            }
            return;
        }
        let wait = state.begin_wait(inner.id);
        if let Some(open) = state.open.get_mut(&inner.id) {
            open.working = 0;
            open.wait = Some(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn admission(max_connections: usize, max_per_address: usize, exempt: Vec<IpAddr>) -> Admission {
        Admission::new(ConnectionLimits { max_connections, max_per_address, exempt })
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
