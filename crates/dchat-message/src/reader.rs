//! [`MessageReader`]: history and heads as readers ask for them, from memory where the
//! answer is final ([`Pages`], [`CommittedHeads`]) and from the [`MessageLog`] otherwise.

use std::sync::Arc;

use dchat_core::RoomId;
use dchat_storage::StoreError;

use crate::{
    heads::CommittedHeads,
    pages::{Pages, covering},
    service::StoredMessage,
    store::MessageLog,
};

#[derive(Debug, Clone)]
pub(crate) struct MessageReader {
    log: Arc<dyn MessageLog>,
    pages: Pages,
    heads: CommittedHeads,
    /// Other processes append to the log too: a remembered head is only a lower bound.
    shared: bool,
}

impl MessageReader {
    pub(crate) fn new(log: Arc<dyn MessageLog>, heads: CommittedHeads, shared: bool) -> Self {
        Self { log, pages: Pages::default(), heads, shared }
    }

    /// Up to `limit` messages with offset >= `from`, oldest first.
    pub(crate) async fn starting_at(
        &self,
        room_id: &RoomId,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let lo = from.max(1);
        let hi = lo.saturating_add(limit - 1);
        if !self.shared && self.heads.get(room_id).is_some_and(|head| lo > head) {
            // Nothing after the head is committed (a subscriber that is up to date asks
            // this). Only this process appends, so the head it remembers is exact.
            return Ok(Vec::new());
        }
        if let Some(messages) = self.pages.range(room_id, lo, hi) {
            return Ok(messages);
        }
        // Read whole blocks, so that the complete ones serve the next reader from memory.
        let (first, last) = covering(lo, hi);
        let messages = self.log.range(room_id, first, last).await?;
        self.pages.remember(room_id, &messages);
        Ok(messages
            .into_iter()
            .filter(|message| message.offset >= lo)
            .take(usize::try_from(limit).unwrap_or(0))
            .collect())
    }

    /// The latest `limit` messages with offset < `before`, oldest first.
    pub(crate) async fn before_offset(
        &self,
        room_id: &RoomId,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        if before <= 1 {
            return Ok(Vec::new());
        }
        if let Some(messages) = self.pages.range(room_id, before.saturating_sub(limit).max(1), before - 1) {
            return Ok(messages);
        }
        let messages = self.log.before(room_id, before, limit).await?;
        self.pages.remember(room_id, &messages);
        Ok(messages)
    }

    /// The highest committed offset of the room, 0 when it has none: remembered, unless
    /// other processes append too.
    pub(crate) async fn head(&self, room_id: &RoomId) -> Result<i64, StoreError> {
        if !self.shared
            && let Some(head) = self.heads.get(room_id)
        {
            return Ok(head);
        }
        let head = self.log.head(room_id).await?;
        self.heads.raise(room_id, head);
        Ok(head)
    }

    /// Asks the log for the heads of `rooms` at once and remembers them.
    pub(crate) async fn refresh_heads(&self, rooms: &[RoomId]) -> Result<(), StoreError> {
        for (room_id, head) in self.log.heads(rooms).await? {
            self.heads.raise(&room_id, head);
        }
        Ok(())
    }

    /// The head this process knows of (0 before it knows any).
    pub(crate) fn remembered_head(&self, room_id: &RoomId) -> i64 {
        self.heads.get(room_id).unwrap_or(0)
    }

    /// Whether other processes append to the log too.
    pub(crate) fn shared(&self) -> bool {
        self.shared
    }

    /// Lets go of the log's database.
    pub(crate) async fn close(&self) {
        self.log.close().await;
    }
}
