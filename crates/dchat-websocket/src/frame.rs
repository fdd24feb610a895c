//! Server frames, complete as they go on the wire (RFC 6455 section 5.2).
//!
//! A frame is framed once, when it is made: a message sent to many is the same bytes for
//! every subscriber, so its writers only hand those bytes to their sockets. Server frames
//! are never masked and never fragmented.

use axum::body::Bytes;
use serde::Serialize;

/// The longest header before the mask key: opcode byte, length byte, 64-bit length.
pub const MAX_HEADER: usize = 10;

// Opcodes (RFC 6455 section 5.2), for frames both ways.
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;
/// The last frame of its message: every server frame is.
pub const FIN: u8 = 0x80;
/// Set in the length byte of a masked frame (every client frame, no server frame).
pub const MASKED: u8 = 0x80;

/// A frame header up to the mask key, for `first` (FIN and opcode), a payload of `len`
/// bytes and the `mask` bit (0 or [`MASKED`]): the bytes, and how many of them there are
/// (2, 4 or 10: the shortest encoding of `len`).
#[inline]
pub fn encode_header(first: u8, mask: u8, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut header = [0u8; MAX_HEADER];
    header[0] = first;
    let header_len = if len < 126 {
        // Fits in seven bits: the cast keeps every bit.
        header[1] = mask | len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = mask | 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        header[1] = mask | 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (header, header_len)
}

/// The payload length the header at the front of `bytes` gives, and how many bytes the
/// header takes up to the mask key; `None` until enough of it has arrived.
// Inline across crates: the bench's members read every delivery's header with it.
#[inline]
pub fn decode_length(bytes: &[u8]) -> Option<(usize, u64)> {
    match bytes.get(1)? & 0x7F {
        126 => bytes.get(2..4).map(|length| (4, u64::from(u16::from_be_bytes([length[0], length[1]])))),
        127 => bytes
            .get(2..10)
            .and_then(|length| <[u8; 8]>::try_from(length).ok())
            .map(|length| (10, u64::from_be_bytes(length))),
        short => Some((2, u64::from(short))),
    }
}

/// One WebSocket frame from the server, header and payload. Cloning it shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// A text frame holding `value` as JSON. The JSON is written after room for the
    /// longest header, and the header then goes right before it: no copy of the payload.
    pub fn json(value: &impl Serialize) -> Self {
        let mut buffer = Vec::with_capacity(MAX_HEADER + 128);
        buffer.resize(MAX_HEADER, 0);
        // Serializing our own frame types cannot fail: they are plain strings and numbers.
        if serde_json::to_writer(&mut buffer, value).is_err() {
            buffer.truncate(MAX_HEADER);
        }
        Self::framed(OP_TEXT, buffer)
    }

    /// A ping without payload: the client's answer (or anything else it sends) shows that
    /// it is still there.
    pub fn ping() -> Self {
        // The same two bytes for every connection, and no allocation for any.
        static PING: [u8; 2] = [FIN | OP_PING, 0];
        Self(Bytes::from_static(&PING))
    }

    /// The answer to a ping: its payload (at most 125 bytes, checked by the reader) back.
    pub fn pong(payload: &[u8]) -> Self {
        Self::with_payload(OP_PONG, payload)
    }

    /// A close frame with `code` and `reason`, or an empty one (no status) for `None`.
    pub fn close(status: Option<(u16, &str)>) -> Self {
        let mut payload = Vec::new();
        if let Some((code, reason)) = status {
            payload.extend_from_slice(&code.to_be_bytes());
            // A control frame's payload is at most 125 bytes; our reasons are short phrases,
            // and a client's echoed reason is cut on a character boundary.
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        Self::with_payload(OP_CLOSE, &payload)
    }

    /// The frame's bytes as they go on the wire.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    fn with_payload(opcode: u8, payload: &[u8]) -> Self {
        let mut buffer = Vec::with_capacity(MAX_HEADER + payload.len());
        buffer.resize(MAX_HEADER, 0);
        buffer.extend_from_slice(payload);
        Self::framed(opcode, buffer)
    }

    /// Writes the header into the end of the room left before the payload in `buffer`.
    fn framed(opcode: u8, mut buffer: Vec<u8>) -> Self {
        let (header, header_len) = encode_header(FIN | opcode, 0, buffer.len() - MAX_HEADER);
        let start = MAX_HEADER - header_len;
        buffer[start..MAX_HEADER].copy_from_slice(&header[..header_len]);
        Self(Bytes::from(buffer).slice(start..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_of_the_three_encodings() {
        // A JSON string of n characters is n + 2 bytes with its quotes.
        for (json_len, header) in [(2, &[0x81, 2][..]), (125, &[0x81, 125]), (126, &[0x81, 126, 0, 126])] {
            let frame = Frame::json(&"x".repeat(json_len - 2)).into_bytes();
            assert_eq!(&frame[..header.len()], header, "{json_len}");
            assert_eq!(frame.len(), header.len() + json_len);
        }
        let long = Frame::json(&"y".repeat(70_000)).into_bytes();
        assert_eq!(&long[..2], &[0x81, 127]);
        assert_eq!(long[2..10], 70_002u64.to_be_bytes());
        assert_eq!(long.len(), 10 + 70_002);
    }

    #[test]
    fn a_close_frame_carries_its_code_and_a_reason_cut_to_fit() {
        let frame = Frame::close(Some((4008, "lagged"))).into_bytes();
        assert_eq!(&frame[..], &[0x88, 8, 0x0F, 0xA8, b'l', b'a', b'g', b'g', b'e', b'd']);
        assert_eq!(&Frame::close(None).into_bytes()[..], &[0x88, 0]);
        let long = Frame::close(Some((1000, &"é".repeat(100)))).into_bytes();
        assert!(long[1] <= 125);
        assert!(std::str::from_utf8(&long[4..]).is_ok(), "cut on a character boundary");
    }

    #[test]
    fn a_pong_echoes_the_ping() {
        assert_eq!(&Frame::pong(b"hi").into_bytes()[..], &[0x8A, 2, b'h', b'i']);
        assert_eq!(&Frame::ping().into_bytes()[..], &[0x89, 0]);
    }
}
