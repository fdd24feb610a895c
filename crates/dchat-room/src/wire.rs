//! [`MembershipCodec`]: the hint of a membership change as bytes on the bus between
//! processes, as the `room.v1.MembershipEvent` it is on gRPC. Only `dchat-proto` knows
//! protobuf; this only maps.

use dchat_bus::Codec;
use dchat_core::{RoomId, UserId};
use dchat_proto::room::v1 as pb;

use crate::MembershipChange;

/// Encodes and decodes the payloads of `Topic::Memberships`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MembershipCodec;

impl Codec<(u64, MembershipChange)> for MembershipCodec {
    fn encode(&self, (seq, change): &(u64, MembershipChange)) -> Vec<u8> {
        dchat_proto::encode(&pb::MembershipEvent {
            room_id: change.room_id.to_string(),
            user_id: change.user_id.to_string(),
            member: change.member,
            seq: *seq,
        })
    }

    fn decode(&self, bytes: &[u8]) -> Option<(u64, MembershipChange)> {
        let event: pb::MembershipEvent = dchat_proto::decode(bytes)?;
        let change = MembershipChange {
            room_id: RoomId::parse(&event.room_id).ok()?,
            user_id: UserId::parse(&event.user_id).ok()?,
            member: event.member,
        };
        Some((event.seq, change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_crosses_the_wire_unchanged() {
        let hint = (7, MembershipChange { room_id: RoomId::general(), user_id: UserId::generate(), member: false });
        assert_eq!(MembershipCodec.decode(&MembershipCodec.encode(&hint)), Some(hint));
        assert_eq!(MembershipCodec.decode(b"\xff\xff not an event"), None);
    }
}
