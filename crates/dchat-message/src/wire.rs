//! [`MessageCodec`]: a committed message as bytes on the bus between processes, as the
//! `message.v1.Msg` it is on gRPC. Only `dchat-proto` knows protobuf; this only maps.

use std::sync::Arc;

use dchat_bus::Codec;
use dchat_core::{RoomId, UserId};
use dchat_proto::message::v1 as pb;

use crate::service::StoredMessage;

/// Encodes and decodes the payloads of `Topic::RoomMessages`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageCodec;

impl Codec<Arc<StoredMessage>> for MessageCodec {
    fn encode(&self, message: &Arc<StoredMessage>) -> Vec<u8> {
        dchat_proto::encode(&pb::Msg {
            room_id: message.room_id.as_str().to_owned(),
            user_id: message.user_id.to_hyphenated_string(),
            text: message.text.clone(),
            offset: message.offset,
            ts_ms: message.ts_ms,
            idempotency_key: message.idempotency_key.clone().unwrap_or_default(),
        })
    }

    fn decode(&self, bytes: &[u8]) -> Option<Arc<StoredMessage>> {
        let message: pb::Msg = dchat_proto::decode(bytes)?;
        Some(Arc::new(StoredMessage {
            room_id: RoomId::parse(&message.room_id).ok()?,
            offset: message.offset,
            user_id: UserId::parse(&message.user_id).ok()?,
            text: message.text,
            ts_ms: message.ts_ms,
            idempotency_key: (!message.idempotency_key.is_empty()).then_some(message.idempotency_key),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_crosses_the_wire_unchanged() {
        let message = Arc::new(StoredMessage {
            room_id: RoomId::general(),
            offset: 42,
            user_id: UserId::generate(),
            text: "héllo\\n🙂".to_owned(),
            ts_ms: 1_764_000_000_000,
            idempotency_key: Some("k-1".to_owned()),
        });
        assert_eq!(MessageCodec.decode(&MessageCodec.encode(&message)), Some(message.clone()));
        let keyless = Arc::new(StoredMessage { idempotency_key: None, ..(*message).clone() });
        assert_eq!(MessageCodec.decode(&MessageCodec.encode(&keyless)), Some(keyless));
        assert_eq!(MessageCodec.decode(b"\\xff\\xff not a message"), None);
    }
}
