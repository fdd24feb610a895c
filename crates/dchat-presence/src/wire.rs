//! [`PeerCodec`]: what a presence replica received, as bytes on the bus between replicas
//! (`presence.v1.PeerInput`, built of the gRPC requests it came as). Only `dchat-proto`
//! knows protobuf; this only maps.

use dchat_bus::Codec;
use dchat_core::{DisplayName, RoomId, UserId};
use dchat_proto::presence::v1::{self as pb, peer_input::Input};

use crate::PeerInput;

/// Encodes and decodes the payloads of `Topic::PresencePeers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerCodec;

fn heartbeat(
    room_id: &RoomId,
    user_id: UserId,
    display_name: Option<&DisplayName>,
    session_id: &str,
) -> pb::HeartbeatReq {
    pb::HeartbeatReq {
        room_id: room_id.to_string(),
        user_id: user_id.to_string(),
        display_name: display_name.map(ToString::to_string).unwrap_or_default(),
        session_id: session_id.to_owned(),
    }
}

/// The parts every input has, parsed; `None` for bytes no replica of ours would send.
fn parts(room_id: &str, user_id: &str, display_name: &str) -> Option<(RoomId, UserId, Option<DisplayName>)> {
    let display_name = if display_name.is_empty() { None } else { Some(DisplayName::parse(display_name).ok()?) };
    Some((RoomId::parse(room_id).ok()?, UserId::parse(user_id).ok()?, display_name))
}

impl Codec<(u64, PeerInput)> for PeerCodec {
    fn encode(&self, (origin, input): &(u64, PeerInput)) -> Vec<u8> {
        let input = match input {
            PeerInput::Heartbeat { room_id, user_id, display_name, session_id } => {
                Input::Heartbeat(heartbeat(room_id, *user_id, display_name.as_ref(), session_id))
            }
            PeerInput::Typing { room_id, user_id, display_name } => {
                Input::Typing(heartbeat(room_id, *user_id, display_name.as_ref(), ""))
            }
            PeerInput::Disconnect { room_id, user_id, session_id } => Input::Disconnect(pb::DisconnectReq {
                room_id: room_id.to_string(),
                user_id: user_id.to_string(),
                session_id: session_id.clone(),
            }),
        };
        dchat_proto::encode(&pb::PeerInput { origin: *origin, input: Some(input) })
    }

    fn decode(&self, bytes: &[u8]) -> Option<(u64, PeerInput)> {
        let peer: pb::PeerInput = dchat_proto::decode(bytes)?;
        let input = match peer.input? {
            Input::Heartbeat(beat) => {
                let (room_id, user_id, display_name) = parts(&beat.room_id, &beat.user_id, &beat.display_name)?;
                PeerInput::Heartbeat { room_id, user_id, display_name, session_id: beat.session_id }
            }
            Input::Typing(beat) => {
                let (room_id, user_id, display_name) = parts(&beat.room_id, &beat.user_id, &beat.display_name)?;
                PeerInput::Typing { room_id, user_id, display_name }
            }
            Input::Disconnect(ended) => {
                let (room_id, user_id, _) = parts(&ended.room_id, &ended.user_id, "")?;
                PeerInput::Disconnect { room_id, user_id, session_id: ended.session_id }
            }
        };
        Some((peer.origin, input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_crosses_the_wire_unchanged() {
        let (room_id, user_id) = (RoomId::general(), UserId::generate());
        let name = Some(DisplayName::parse("Ada").unwrap());
        for input in [
            PeerInput::Heartbeat {
                room_id: room_id.clone(),
                user_id,
                display_name: name.clone(),
                session_id: "s1".into(),
            },
            PeerInput::Heartbeat { room_id: room_id.clone(), user_id, display_name: None, session_id: String::new() },
            PeerInput::Typing { room_id: room_id.clone(), user_id, display_name: name },
            PeerInput::Disconnect { room_id: room_id.clone(), user_id, session_id: "s1".into() },
        ] {
            let peer = (42, input);
            assert_eq!(PeerCodec.decode(&PeerCodec.encode(&peer)), Some(peer));
        }
        assert_eq!(PeerCodec.decode(b"\xff\xff not an input"), None);
    }
}
