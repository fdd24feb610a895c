//! [`Pages`]: committed history kept in memory in blocks of [`BLOCK`] consecutive offsets.
//!
//! A message never changes once committed and offsets are gapless, so a block that holds
//! all of its offsets is final: it can be served from memory forever, by any replica,
//! without asking the database whether it is still right. Only complete blocks are kept;
//! the growing tail of a room is always read from the database. History reads are the
//! hottest read path (clients page through a room, and catching-up subscribers replay
//! it), and each database read costs a round trip to SQLite's worker thread per row.

use std::sync::Arc;

use dchat_core::RoomId;
use quick_cache::sync::Cache;

use crate::service::StoredMessage;

/// Offsets per block: block `b` holds offsets `b * BLOCK + 1 ..= (b + 1) * BLOCK`.
const BLOCK: i64 = 64;

/// Blocks kept at most (65,536 messages; about 10 MB with short texts). The cache evicts
/// by S3-FIFO, so a scan of old history does not push out the pages readers keep asking for.
const MAX_BLOCKS: usize = 1024;

/// A room and the index of one of its blocks.
type BlockKey = (RoomId, i64);

#[derive(Debug, Clone)]
pub(crate) struct Pages {
    blocks: Arc<Cache<BlockKey, Arc<[StoredMessage]>>>,
}

impl Default for Pages {
    fn default() -> Self {
        Self { blocks: Arc::new(Cache::new(MAX_BLOCKS)) }
    }
}

/// The block an offset (>= 1) belongs to.
fn block_of(offset: i64) -> i64 {
    (offset - 1).div_euclid(BLOCK)
}

/// The first and last offsets of the blocks that cover `lo..=hi`: the range worth reading
/// from the database so that every block it touches can be remembered whole.
pub(crate) fn covering(lo: i64, hi: i64) -> (i64, i64) {
    (block_of(lo) * BLOCK + 1, (block_of(hi) + 1) * BLOCK)
}

impl Pages {
    /// The messages with offsets `lo..=hi` (`lo >= 1`), if every block covering them is
    /// remembered; `None` sends the caller to the database.
    pub(crate) fn range(&self, room_id: &RoomId, lo: i64, hi: i64) -> Option<Vec<StoredMessage>> {
        let mut messages = Vec::with_capacity(usize::try_from(hi - lo + 1).unwrap_or(0));
        let mut key = (room_id.clone(), block_of(lo));
        while key.1 <= block_of(hi) {
            let block = self.blocks.get(&key)?;
            messages.extend(block.iter().filter(|message| (lo..=hi).contains(&message.offset)).cloned());
            key.1 += 1;
        }
        Some(messages)
    }

    /// Remembers every complete block among `messages`, which are in offset order.
    pub(crate) fn remember(&self, room_id: &RoomId, messages: &[StoredMessage]) {
        let mut rest = messages;
        while let Some(first) = rest.first() {
            let skip = usize::try_from((BLOCK - (first.offset - 1).rem_euclid(BLOCK)) % BLOCK).unwrap_or(usize::MAX);
            if skip > 0 {
                // `first` is inside a block whose start we did not read.
                rest = rest.get(skip..).unwrap_or_default();
                continue;
            }
            let Some(block) = rest.get(..BLOCK as usize) else { return };
            let complete = block.iter().zip(first.offset..).all(|(message, offset)| message.offset == offset);
            if complete {
                let key = (room_id.clone(), block_of(first.offset));
                if self.blocks.get(&key).is_none() {
                    self.blocks.insert(key, block.into());
                }
            }
            rest = &rest[BLOCK as usize..];
        }
    }
}

#[cfg(test)]
mod tests {
    use dchat_core::UserId;

    use super::*;

    fn room() -> RoomId {
        RoomId::parse("general").unwrap()
    }

    fn messages(offsets: std::ops::RangeInclusive<i64>) -> Vec<StoredMessage> {
        let user_id = UserId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        offsets
            .map(|offset| StoredMessage {
                room_id: room(),
                offset,
                user_id,
                text: format!("message {offset}"),
                ts_ms: offset,
                idempotency_key: None,
            })
            .collect()
    }

    fn offsets(messages: &[StoredMessage]) -> Vec<i64> {
        messages.iter().map(|message| message.offset).collect()
    }

    #[test]
    fn covering_widens_to_whole_blocks() {
        assert_eq!(covering(1, 50), (1, 64));
        assert_eq!(covering(64, 65), (1, 128));
        assert_eq!(covering(129, 129), (129, 192));
    }

    #[test]
    fn serves_only_ranges_inside_complete_blocks() {
        let pages = Pages::default();
        // Offsets 1..=150: blocks 1..=64 and 65..=128 are complete, 129..=150 is the tail.
        pages.remember(&room(), &messages(1..=150));
        assert_eq!(offsets(&pages.range(&room(), 1, 50).unwrap()), (1..=50).collect::<Vec<_>>());
        assert_eq!(offsets(&pages.range(&room(), 60, 128).unwrap()), (60..=128).collect::<Vec<_>>());
        assert!(pages.range(&room(), 100, 129).is_none(), "the tail block is never remembered");
        assert!(pages.range(&RoomId::parse("other").unwrap(), 1, 10).is_none());
    }

    #[test]
    fn blocks_read_from_the_middle_or_with_a_gap_are_not_remembered() {
        let pages = Pages::default();
        pages.remember(&room(), &messages(2..=65));
        assert!(pages.range(&room(), 2, 10).is_none(), "block 1..=64 was read without offset 1");
        let mut gap = messages(65..=129);
        gap.remove(10);
        pages.remember(&room(), &gap);
        assert!(pages.range(&room(), 65, 70).is_none(), "a block with a gap is not final");
    }
}
