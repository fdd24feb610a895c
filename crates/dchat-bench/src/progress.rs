//! Live progress: scenarios count operations into a [`Progress`]; the caller may print
//! its readings while the scenario runs.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// A shared counter of completed operations (deliveries, appends, requests, connections)
/// and of errors, cheap to bump from every task.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    operations: AtomicU64,
    errors: AtomicU64,
}

impl Progress {
    pub fn add(&self, operations: u64) {
        self.inner.operations.fetch_add(operations, Ordering::Relaxed);
    }

    pub fn error(&self) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// (operations, errors) so far.
    pub fn read(&self) -> (u64, u64) {
        (self.inner.operations.load(Ordering::Relaxed), self.inner.errors.load(Ordering::Relaxed))
    }
}
