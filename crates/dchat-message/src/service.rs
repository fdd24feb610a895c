//! The message rules: validation, authorization, and the entry points to the writer,
//! history and live subscriptions.

use std::sync::Arc;

use dchat_bus::{Bus, LocalBus};
use dchat_core::{IdempotencyKey, MessageText, RoomId, UserId};
use dchat_proto::{Transport, room::v1::room_service_client::RoomServiceClient};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    MessageError,
    head_checks::HeadChecks,
    heads::CommittedHeads,
    membership::Membership,
    reader::MessageReader,
    store::{MessageAppender, MessageLog},
    subscription::{self, Delivery, Subscription},
    writer::{AppendCommand, Writer},
};

/// The message service's section of the configuration.
#[derive(Debug, Clone)]
pub struct MessageConfig {
    /// Longest message text accepted, in characters (default 4,000).
    pub max_text_chars: usize,
    /// Appends that may wait for the writer before new ones are refused with
    /// RESOURCE_EXHAUSTED (default 16,384).
    pub max_queued_appends: usize,
    /// Other processes append to the same log (replicas on one PostgreSQL database): what
    /// this process remembers of heads is then only a lower bound, re-read from the
    /// database where it matters, and live subscriptions check the head every
    /// [`RECONCILE_EVERY`](crate::RECONCILE_EVERY) for messages whose bus hint never came.
    pub shared_log: bool,
}

/// A stored message. Shared by reference between all live subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub room_id: RoomId,
    pub offset: i64,
    pub user_id: UserId,
    pub text: String,
    pub ts_ms: i64,
    pub idempotency_key: Option<String>,
}

/// The answer to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub offset: i64,
    pub ts_ms: i64,
    /// True when the idempotency key matched an earlier append, whose offset this is.
    pub duplicate: bool,
}

/// How committed messages reach live subscribers: `Topic::RoomMessages`, a fast path only
/// (a gap is read from the database).
pub type MessageBus = Arc<dyn Bus<Arc<StoredMessage>>>;

/// Who reads a room's history or subscribes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A user: only the room's members may read it.
    Member(UserId),
    /// Another service on the internal port, which names no user (the seed's own gateway
    /// calls `List` and `Subscribe` that way). Internal callers are trusted with the
    /// `user_id` they pass anyway, so one that passes none is trusted with the room: the
    /// internal port must not be reachable by clients (see `DCHAT_INTERNAL_TOKEN`).
    Service,
}

/// Largest history page.
pub(crate) const MAX_PAGE: i64 = 500;
/// History page size when the caller gives none.
pub(crate) const DEFAULT_PAGE: i64 = 100;

#[derive(Debug, Clone)]
pub struct MessageService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    reader: MessageReader,
    /// With a shared log, the heads of subscribed rooms, checked once a second in one query.
    head_checks: HeadChecks,
    bus: MessageBus,
    membership: Membership,
    appends: mpsc::Sender<AppendCommand>,
    max_text_chars: usize,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl MessageService {
    /// The message rules over the log and the appender the binary opened (one appender:
    /// see [`MessageAppender`]); starts the writer and the membership watch. `rooms`
    /// answers membership questions.
    pub fn new(
        config: &MessageConfig,
        log: Arc<dyn MessageLog>,
        appender: Box<dyn MessageAppender>,
        bus: MessageBus,
        rooms: RoomServiceClient<Transport>,
    ) -> Self {
        let membership = Membership::new(rooms);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (appends, commands) = mpsc::channel(config.max_queued_appends.max(1));
        let heads = CommittedHeads::default();
        tasks.spawn(Writer::new(appender, heads.clone(), bus.clone()).run_until_stopped(commands, shutdown.clone()));
        tasks.spawn(membership.clone().run_until_stopped(shutdown.clone()));
        let reader = MessageReader::new(log, heads, config.shared_log);
        let head_checks = HeadChecks::default();
        if config.shared_log {
            tasks.spawn(head_checks.clone().run_until_stopped(reader.clone(), shutdown.clone()));
        }
        tasks.close();
        Self {
            inner: Arc::new(Inner {
                reader,
                head_checks,
                bus,
                membership,
                appends,
                max_text_chars: config.max_text_chars,
                shutdown,
                tasks,
            }),
        }
    }

    /// The bus of one process for live messages: a room's channel holds 64 messages at
    /// first and grows fourfold, to 1,024, for a subscriber that falls behind it (one
    /// further behind reads the database).
    pub fn local_bus() -> LocalBus<Arc<StoredMessage>> {
        LocalBus::new(64, 1024)
    }

    /// Stores a message once it is durable. Members only.
    pub async fn append(
        &self,
        room_id: RoomId,
        user_id: UserId,
        text: &str,
        key: Option<IdempotencyKey>,
    ) -> Result<Appended, MessageError> {
        let answer = self.enqueue(room_id, user_id, text, key).await?;
        wait_for(answer).await
    }

    /// Several appends, queued for the writer in the given order, so that one sender's
    /// messages keep their order while sharing commits. Each has its own outcome.
    pub async fn append_many(
        &self,
        appends: Vec<(RoomId, UserId, String, Option<IdempotencyKey>)>,
    ) -> Vec<Result<Appended, MessageError>> {
        let mut answers = Vec::with_capacity(appends.len());
        for (room_id, user_id, text, key) in appends {
            answers.push(self.enqueue(room_id, user_id, &text, key).await);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Ok(answer) => wait_for(answer).await,
                Err(err) => Err(err),
            });
        }
        results
    }

    /// Validates and authorizes an append and hands it to the writer; the receiver answers
    /// once it is durable.
    async fn enqueue(
        &self,
        room_id: RoomId,
        user_id: UserId,
        text: &str,
        key: Option<IdempotencyKey>,
    ) -> Result<oneshot::Receiver<Result<Appended, MessageError>>, MessageError> {
        let text = MessageText::parse(text, self.inner.max_text_chars)?;
        self.authorize(&room_id, user_id).await?;
        let (reply, answer) = oneshot::channel();
        let command = AppendCommand { room_id, user_id, text, key, reply };
        self.inner.appends.try_send(command).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => MessageError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => {
                MessageError::Unavailable("the message service is stopping".to_owned())
            }
        })?;
        Ok(answer)
    }

    /// Up to `limit` messages from `from_offset` on, oldest first.
    pub async fn list_from(
        &self,
        room_id: RoomId,
        reader: Reader,
        from_offset: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, MessageError> {
        self.authorize_reader(&room_id, reader).await?;
        Ok(self.inner.reader.starting_at(&room_id, from_offset, limit.clamp(1, MAX_PAGE)).await?)
    }

    /// The latest `limit` messages before `before`, oldest first.
    pub async fn list_before(
        &self,
        room_id: RoomId,
        reader: Reader,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, MessageError> {
        self.authorize_reader(&room_id, reader).await?;
        Ok(self.inner.reader.before_offset(&room_id, before, limit.clamp(1, MAX_PAGE)).await?)
    }

    /// The offset the next message of the room will get.
    pub async fn next_offset(&self, room_id: &RoomId) -> Result<i64, MessageError> {
        Ok(self.inner.reader.head(room_id).await? + 1)
    }

    /// Every message after `after` (or, without it, from now on), then live ones, each
    /// exactly once and in order. A member's stream ends with an error if they leave.
    pub async fn subscribe(
        &self,
        room_id: RoomId,
        reader: Reader,
        after: Option<i64>,
    ) -> Result<ReceiverStream<Delivery>, MessageError> {
        self.authorize_reader(&room_id, reader).await?;
        let user_id = match reader {
            Reader::Member(user_id) => Some(user_id),
            Reader::Service => None,
        };
        Ok(self.start(Subscription { room_id, user_id, after }))
    }

    /// [`MessageService::subscribe`] for a service: for gateways, which authorize each of
    /// their clients themselves.
    pub fn tail(&self, room_id: RoomId, after: Option<i64>) -> ReceiverStream<Delivery> {
        self.start(Subscription { room_id, user_id: None, after })
    }

    fn start(&self, subscription: Subscription) -> ReceiverStream<Delivery> {
        let (out, deliveries) = mpsc::channel(256);
        let inner = &self.inner;
        tokio::spawn(subscription::run(
            subscription,
            inner.reader.clone(),
            inner.bus.clone(),
            inner.membership.clone(),
            inner.head_checks.clone(),
            out,
        ));
        ReceiverStream::new(deliveries)
    }

    /// Stops the background tasks after committing every queued append, then closes the
    /// database. Call once the gRPC server has finished its in-flight requests.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.wait().await;
        self.inner.reader.close().await;
    }

    async fn authorize_reader(&self, room_id: &RoomId, reader: Reader) -> Result<(), MessageError> {
        match reader {
            Reader::Member(user_id) => self.authorize(room_id, user_id).await,
            Reader::Service => Ok(()),
        }
    }

    async fn authorize(&self, room_id: &RoomId, user_id: UserId) -> Result<(), MessageError> {
        if self.inner.membership.is_member(room_id, user_id).await? {
            Ok(())
        } else {
            Err(MessageError::NotMember(room_id.clone()))
        }
    }
}

/// The writer's answer to one queued append.
async fn wait_for(answer: oneshot::Receiver<Result<Appended, MessageError>>) -> Result<Appended, MessageError> {
    answer
        .await
        .map_err(|_| MessageError::Unavailable("the message writer stopped before answering; retry".to_owned()))?
}
