//! The single writer: assigns offsets and commits appends in groups.
//!
//! Every append of this process goes through one task that owns the store's
//! [`MessageAppender`]. It takes whatever appends are queued (up to [`MAX_BATCH`]), settles
//! their idempotency keys, and has the appender store the new ones all or none, each at
//! the next offset of its room, in one commit. Only after the commit returns are the callers
//! answered and the messages published to live subscribers, so nobody ever sees a message
//! that could still be lost. The appender makes offsets gapless (see [`MessageAppender`]).

use std::{collections::HashMap, sync::Arc};

use dchat_bus::Topic;
use dchat_core::{IdempotencyKey, MessageText, RoomId, UserId, now_ms};
use dchat_storage::StoreError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    MessageError,
    heads::CommittedHeads,
    service::{Appended, MessageBus, StoredMessage},
    store::MessageAppender,
};

/// Appends committed in one transaction at most. Large enough to amortise an fsync over
/// thousands of messages, small enough to keep a transaction's latency in milliseconds.
const MAX_BATCH: usize = 1024;

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct AppendCommand {
    pub(crate) room_id: RoomId,
    pub(crate) user_id: UserId,
    pub(crate) text: MessageText,
    pub(crate) key: Option<IdempotencyKey>,
    pub(crate) reply: oneshot::Sender<Result<Appended, MessageError>>,
}

/// What a command will become, before the appender has numbered the new messages.
enum Planned {
    /// The `n`th new message of the batch.
    New(usize),
    /// The same key as the `n`th new message of the batch: one message, two answers.
    SameAs(usize),
    /// A retry of a message stored before.
    Stored { offset: i64, ts_ms: i64 },
}

/// What a command turned into inside the transaction.
enum Outcome {
    /// A new message, to publish after the commit.
    New(Arc<StoredMessage>),
    /// A retry of an earlier append: answer its original offset, publish nothing.
    Duplicate { offset: i64, ts_ms: i64 },
}

pub(crate) struct Writer {
    appender: Box<dyn MessageAppender>,
    /// Committed head offset per room, shared with readers (see `heads`): raised after
    /// each commit, before anyone hears of its messages.
    heads: CommittedHeads,
    live: MessageBus,
}

impl Writer {
    pub(crate) fn new(appender: Box<dyn MessageAppender>, heads: CommittedHeads, live: MessageBus) -> Self {
        Self { appender, heads, live }
    }

    /// Commits appends until `shutdown` fires, then commits whatever is still queued and
    /// returns, so that every append that was accepted is answered.
    pub(crate) async fn run_until_stopped(
        mut self,
        mut commands: mpsc::Receiver<AppendCommand>,
        shutdown: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let received = tokio::select! {
                biased;
                n = commands.recv_many(&mut batch, MAX_BATCH) => n,
                () = shutdown.cancelled() => break,
            };
            if received == 0 {
                return; // Every sender is gone: nothing can arrive any more.
            }
            self.commit_batch(&mut batch).await;
        }
        commands.close();
        while commands.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.commit_batch(&mut batch).await;
        }
        tracing::info!("message writer stopped");
    }

    async fn commit_batch(&mut self, batch: &mut Vec<AppendCommand>) {
        let commands: Vec<AppendCommand> = std::mem::take(batch);
        let started = std::time::Instant::now();
        let written = self.write_batch(&commands).await;
        tracing::debug!(appends = commands.len(), elapsed_us = started.elapsed().as_micros(), "committed a batch");
        match written {
            Ok(outcomes) => {
                // Readers learn the new heads before anyone hears of the messages.
                for outcome in &outcomes {
                    if let Outcome::New(message) = outcome {
                        self.heads.raise(&message.room_id, message.offset);
                    }
                }
                for (command, outcome) in commands.into_iter().zip(outcomes) {
                    let appended = match outcome {
                        Outcome::New(message) => {
                            let appended = Appended { offset: message.offset, ts_ms: message.ts_ms, duplicate: false };
                            self.live.publish(&Topic::RoomMessages(message.room_id.clone()), message);
                            appended
                        }
                        Outcome::Duplicate { offset, ts_ms } => Appended { offset, ts_ms, duplicate: true },
                    };
                    // The caller may have given up waiting; the message is stored all the same.
                    let _ = command.reply.send(Ok(appended));
                }
            }
            Err(err) => {
                // Nothing of the batch is stored.
                tracing::error!(error = %err, appends = commands.len(), "failed to commit a batch of appends");
                for command in commands {
                    let _ = command
                        .reply
                        .send(Err(MessageError::Unavailable("failed to store the message; retry".to_owned())));
                }
            }
        }
    }

    /// What the database already holds for the idempotency keys of `commands`: one lookup
    /// per (room, sender) instead of one per message.
    async fn stored_keys<'c>(
        appender: &mut dyn MessageAppender,
        commands: &'c [AppendCommand],
    ) -> Result<HashMap<(&'c RoomId, UserId, &'c str), (i64, i64)>, StoreError> {
        let mut by_sender: HashMap<(&RoomId, UserId), Vec<&str>> = HashMap::new();
        for command in commands {
            if let Some(key) = &command.key {
                by_sender.entry((&command.room_id, command.user_id)).or_default().push(key.as_str());
            }
        }
        let mut stored = HashMap::new();
        for ((room_id, user_id), keys) in by_sender {
            for (key, earlier) in appender.offsets_of_keys(room_id, user_id, &keys).await? {
                // Borrow the key from the command, not from the row, so the map outlives the query.
                if let Some(&own_key) = keys.iter().find(|candidate| **candidate == key) {
                    stored.insert((room_id, user_id, own_key), earlier);
                }
            }
        }
        Ok(stored)
    }

    /// Stores the new messages of `commands` and says what became of each.
    ///
    /// Retries are rare, so the batch is first written as if none of its keys were stored
    /// yet: that saves a lookup, a round trip to the database, on every commit. When one
    /// was, the store refuses the whole batch (a conflict on the unique index of keys), and
    /// the batch is written again with the stored keys looked up.
    async fn write_batch(&mut self, commands: &[AppendCommand]) -> Result<Vec<Outcome>, StoreError> {
        match self.write_new(commands, &HashMap::new()).await {
            Err(StoreError::Conflict { .. }) => {
                tracing::debug!("a batch holds a retry of a stored message; looking its key up");
                let stored_keys = Self::stored_keys(self.appender.as_mut(), commands).await?;
                self.write_new(commands, &stored_keys).await
            }
            written => written,
        }
    }

    /// Writes the messages of `commands` whose keys are neither in `stored_keys` nor used
    /// earlier in the batch.
    async fn write_new(
        &mut self,
        commands: &[AppendCommand],
        stored_keys: &HashMap<(&RoomId, UserId, &str), (i64, i64)>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let now = now_ms();
        let mut plans = Vec::with_capacity(commands.len());
        // Keys used earlier in this same batch, which the database cannot see yet.
        let mut batch_keys: HashMap<(&RoomId, UserId, &str), usize> = HashMap::new();
        let mut new_messages = Vec::with_capacity(commands.len());
        for command in commands {
            if let Some(key) = &command.key {
                let batch_key = (&command.room_id, command.user_id, key.as_str());
                if let Some(&(offset, ts_ms)) = stored_keys.get(&batch_key) {
                    plans.push(Planned::Stored { offset, ts_ms });
                    continue;
                }
                if let Some(&index) = batch_keys.get(&batch_key) {
                    plans.push(Planned::SameAs(index));
                    continue;
                }
                batch_keys.insert(batch_key, new_messages.len());
            }
            plans.push(Planned::New(new_messages.len()));
            new_messages.push(StoredMessage {
                room_id: command.room_id.clone(),
                offset: 0,
                user_id: command.user_id,
                text: command.text.as_str().to_owned(),
                ts_ms: now,
                idempotency_key: command.key.as_ref().map(|key| key.as_str().to_owned()),
            });
        }
        let stored =
            if new_messages.is_empty() { Vec::new() } else { self.appender.append_batch(new_messages).await? };
        let numbered = |index: usize| {
            stored.get(index).cloned().ok_or_else(|| StoreError::Other("the appender lost a message of a batch".into()))
        };
        plans
            .into_iter()
            .map(|plan| match plan {
                Planned::New(index) => numbered(index).map(Outcome::New),
                Planned::SameAs(index) => {
                    numbered(index).map(|message| Outcome::Duplicate { offset: message.offset, ts_ms: message.ts_ms })
                }
                Planned::Stored { offset, ts_ms } => Ok(Outcome::Duplicate { offset, ts_ms }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MessageLog, ROWS_PER_INSERT, SqliteMessageStore};

    fn command(
        room: &RoomId,
        user: UserId,
        text: &str,
        key: &str,
    ) -> (AppendCommand, oneshot::Receiver<Result<Appended, MessageError>>) {
        let (reply, answer) = oneshot::channel();
        let command = AppendCommand {
            room_id: room.clone(),
            user_id: user,
            text: MessageText::parse(text, MessageText::DEFAULT_MAX_CHARS).expect("a valid text"),
            key: IdempotencyKey::parse_optional(key).expect("a valid key"),
            reply,
        };
        (command, answer)
    }

    /// A batch of more than `ROWS_PER_INSERT` rows is written in a transaction; when one of
    /// its appends retries a stored message, the first attempt must leave nothing behind.
    #[tokio::test]
    async fn a_large_batch_with_a_retry_rolls_back_and_stores_the_rest_without_a_gap() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("message.db");
        let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Full, 2).await.expect("open");
        let store = SqliteMessageStore::migrate(pool, &path).await.expect("migrate");
        let appender = Box::new(store.appender().await.expect("a connection"));
        let bus: MessageBus = Arc::new(crate::MessageService::local_bus());
        let mut writer = Writer::new(appender, CommittedHeads::default(), bus);
        let room = RoomId::parse("general").expect("a valid room id");
        let (alice, bob) = (UserId::generate(), UserId::generate());

        let (first, answer) = command(&room, alice, "stored", "key-1");
        writer.commit_batch(&mut vec![first]).await;
        assert_eq!(answer.await.expect("answered").expect("stored").offset, 1);

        let batch_len = ROWS_PER_INSERT + 100;
        let last_offset = i64::try_from(batch_len).expect("small");
        let mut commands = Vec::new();
        let mut answers = Vec::new();
        for i in 0..batch_len {
            // The retry sits in the second chunk, so the first chunk is already inserted
            // when the unique index refuses the batch.
            let (user, key) =
                if i == ROWS_PER_INSERT + 50 { (alice, "key-1".to_owned()) } else { (bob, format!("b-{i}")) };
            let (command, answer) = command(&room, user, &format!("m{i}"), &key);
            commands.push(command);
            answers.push((key, answer));
        }
        writer.commit_batch(&mut commands).await;

        let mut new_offsets = Vec::new();
        for (key, answer) in answers {
            let appended = answer.await.expect("answered").expect("stored");
            if key == "key-1" {
                assert_eq!((appended.offset, appended.duplicate), (1, true), "the retry gets the original offset");
            } else {
                assert!(!appended.duplicate);
                new_offsets.push(appended.offset);
            }
        }
        assert_eq!(
            new_offsets,
            (2..=last_offset).collect::<Vec<_>>(),
            "the rest take the next offsets, in order, with no gap"
        );
        let stored: Vec<i64> =
            store.range(&room, 1, last_offset + 10).await.expect("read back").iter().map(|m| m.offset).collect();
        assert_eq!(stored, (1..=last_offset).collect::<Vec<_>>());
    }
}
