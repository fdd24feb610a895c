//! Client frames off the wire (RFC 6455 section 5), for the connection's reader loop.
//!
//! The reader keeps no buffer while a connection is idle: a read goes through a buffer on
//! the stack, and only bytes that do not yet make a whole frame are kept. Most connections
//! send a subscribe frame or two and then only listen, and every byte kept for them is
//! kept as many times as there are clients.
//!
//! What the protocol forbids closes the connection with the status the RFC gives for it:
//! 1002 for a broken frame, 1007 for text that is not UTF-8, 1009 for a message over the
//! limit (checked from the frame's header, before its payload is read). Text that arrives in
//! fragments is checked as each fragment arrives, so invalid UTF-8 fails at once rather than
//! when the message ends (what Autobahn calls failing fast).

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::body::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

use crate::frame::{FIN, MASKED, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, decode_length};

/// The reading half of a connection's socket.
pub type SocketRead = Pin<Box<dyn AsyncRead + Send>>;

/// How much one read takes at most (on the stack, then kept only if it is not all taken).
const READ_CHUNK: usize = 4096;

/// A whole message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary(Vec<u8>),
    /// To be answered with a pong carrying the same bytes.
    Ping(Vec<u8>),
    Pong,
    /// The client is closing, with its status code and reason if it gave one.
    Close(Option<(u16, String)>),
}

/// What a client did that RFC 6455 forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("reserved bits set without an extension")]
    ReservedBits,
    #[error("client frames must be masked")]
    Unmasked,
    #[error("unknown opcode")]
    UnknownOpcode,
    #[error("control frames must be whole and at most 125 bytes")]
    ControlFrameShape,
    #[error("a continuation frame without a message")]
    ContinuationWithoutMessage,
    #[error("a new message before the last one ended")]
    MessageInterrupted,
    #[error("a close frame's status needs two bytes")]
    CloseStatusTooShort,
    #[error("a close status no peer may send")]
    CloseStatusNotAllowed,
}

/// Why the connection cannot go on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("protocol error: {0}")]
    Protocol(Violation),
    #[error("text is not UTF-8")]
    NotUtf8,
    #[error("message over the size limit")]
    TooBig,
    /// The socket ended or failed: there is nobody to tell.
    #[error("connection lost")]
    Lost,
}

impl InboundError {
    /// The close frame's status and reason to send, if the client can still be told.
    pub fn close_status(&self) -> Option<(u16, &'static str)> {
        match self {
            Self::Protocol(_) => Some((1002, "protocol error")),
            Self::NotUtf8 => Some((1007, "text is not UTF-8")),
            Self::TooBig => Some((1009, "message too big")),
            Self::Lost => None,
        }
    }
}

/// A message whose first fragments arrived and whose last has not.
#[derive(Debug)]
struct Fragmented {
    text: bool,
    payload: Vec<u8>,
    /// For text: how much of `payload` is known to be UTF-8 (the rest, at most three bytes,
    /// is the start of a character the next fragment completes).
    checked: usize,
}

impl Fragmented {
    /// Appends a fragment; text that can no longer become UTF-8 fails now.
    fn append(&mut self, fragment: &[u8]) -> Result<(), InboundError> {
        self.payload.extend_from_slice(fragment);
        if self.text {
            match std::str::from_utf8(&self.payload[self.checked..]) {
                Ok(_) => self.checked = self.payload.len(),
                // A character cut at the end may be completed by the next fragment.
                Err(err) if err.error_len().is_none() => self.checked += err.valid_up_to(),
                Err(_) => return Err(InboundError::NotUtf8),
            }
        }
        Ok(())
    }
}

/// Reads whole client frames from a socket.
pub struct Reader {
    io: SocketRead,
    /// Bytes read and not yet taken, from `start` on. No room at all when everything read
    /// was taken.
    buffer: Vec<u8>,
    start: usize,
    fragmented: Option<Fragmented>,
    /// The largest message, in payload bytes, the client may send.
    limit: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("buffered", &(self.buffer.len() - self.start)).finish_non_exhaustive()
    }
}

/// A frame's header, once all of it has arrived.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header bytes, mask included.
    len: usize,
    payload_len: usize,
}

impl Reader {
    /// `already` holds bytes the HTTP server read past the upgrade request.
    pub fn new(io: SocketRead, already: Bytes, limit: usize) -> Self {
        Self { io, buffer: already.to_vec(), start: 0, fragmented: None, limit }
    }

    /// The next message or control frame. Cancel-safe: whatever was read stays in the
    /// reader, so it can wait in a `select!` beside other work.
    pub async fn next(&mut self) -> Result<Inbound, InboundError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Inbound, InboundError>> {
        loop {
            if let Some(inbound) = self.take()? {
                return Poll::Ready(Ok(inbound));
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    /// After the server's close frame went out: reads and throws away what the client still
    /// sends, until it closes its side or `within` passes. A socket closed with unread input
    /// makes the kernel send a reset, which can overtake the close frame before the client
    /// has read it, and the client then never sees why it was closed (HTTP servers linger
    /// the same way).
    pub async fn discard_until_closed(mut self, within: std::time::Duration) {
        let drain = async {
            let mut chunk = [0u8; READ_CHUNK];
            while let Ok(1..) = tokio::io::AsyncReadExt::read(&mut self.io, &mut chunk).await {}
        };
        let _ = tokio::time::timeout(within, drain).await;
    }

    /// Reads once from the socket into the buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), InboundError>> {
        let mut chunk = [0u8; READ_CHUNK];
        let mut read = ReadBuf::new(&mut chunk);
        ready!(self.io.as_mut().poll_read(cx, &mut read)).map_err(|_| InboundError::Lost)?;
        if read.filled().is_empty() {
            return Poll::Ready(Err(InboundError::Lost));
        }
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(read.filled());
        Poll::Ready(Ok(()))
    }

    /// Reads `bytes` as a client's whole stream, without a socket: every message, then the
    /// fault that ended it, if any (for the fuzzer, `fuzz/`).
    #[cfg(fuzzing)]
    pub fn read_all(bytes: &[u8], limit: usize) -> (Vec<Inbound>, Option<InboundError>) {
        let mut reader = Self::new(Box::pin(tokio::io::empty()), Bytes::copy_from_slice(bytes), limit);
        let mut messages = Vec::new();
        loop {
            match reader.take() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => return (messages, None),
                Err(err) => return (messages, Some(err)),
            }
        }
    }

    /// Takes frames from the buffer until one completes a message or is a control frame;
    /// `None` when the buffer runs out first.
    fn take(&mut self) -> Result<Option<Inbound>, InboundError> {
        while let Some(header) = self.header()? {
            let available = self.buffer.len() - self.start;
            if available < header.len + header.payload_len {
                // Room for the rest of the frame at once, rather than growing read by read.
                self.buffer.reserve(header.len + header.payload_len - available);
                return Ok(None);
            }
            let from = self.start + header.len;
            let to = from + header.payload_len;
            unmask(&mut self.buffer[from..to], header.mask);
            let inbound = self.frame(&header, from..to)?;
            self.start = to;
            if self.start == self.buffer.len() {
                // Everything read was taken: the connection goes back to holding nothing.
                self.buffer = Vec::new();
                self.start = 0;
            }
            if inbound.is_some() {
                return Ok(inbound);
            }
        }
        Ok(None)
    }

    /// The header at the front of the buffer, checked, once all of it has arrived.
    fn header(&self) -> Result<Option<Header>, InboundError> {
        let bytes = &self.buffer[self.start..];
        let [first, second, ..] = *bytes else { return Ok(None) };
        // Checked in the order tungstenite checks them (its differential test holds ours to
        // it), so that a frame wrong in two ways is refused for the same one.
        let (fin, opcode) = (first & FIN != 0, first & 0x0F);
        if !matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
            return Err(InboundError::Protocol(Violation::UnknownOpcode));
        }
        let Some((length_end, payload_len)) = decode_length(bytes) else { return Ok(None) };
        let payload_len = usize::try_from(payload_len).map_err(|_| InboundError::TooBig)?;
        if payload_len > self.limit {
            return Err(InboundError::TooBig);
        }
        if second & MASKED == 0 {
            return Err(InboundError::Protocol(Violation::Unmasked));
        }
        if first & 0x70 != 0 {
            return Err(InboundError::Protocol(Violation::ReservedBits));
        }
        if opcode >= OP_CLOSE && (!fin || payload_len > 125) {
            return Err(InboundError::Protocol(Violation::ControlFrameShape));
        }
        match (opcode, &self.fragmented) {
            (OP_CONTINUATION, None) => return Err(InboundError::Protocol(Violation::ContinuationWithoutMessage)),
            (OP_TEXT | OP_BINARY, Some(_)) => return Err(InboundError::Protocol(Violation::MessageInterrupted)),
            (OP_CONTINUATION, Some(message)) if message.payload.len().saturating_add(payload_len) > self.limit => {
                return Err(InboundError::TooBig);
            }
            _ => {}
        }
        let len = length_end + 4;
        let Some(mask) = bytes.get(len - 4..len).and_then(|mask| <[u8; 4]>::try_from(mask).ok()) else {
            return Ok(None);
        };
        Ok(Some(Header { fin, opcode, mask, len, payload_len }))
    }

    /// What a whole, unmasked frame means: a message or control frame, or nothing yet (a
    /// fragment of a message still arriving).
    fn frame(&mut self, header: &Header, payload: std::ops::Range<usize>) -> Result<Option<Inbound>, InboundError> {
        let bytes = &self.buffer[payload];
        let (text, payload) = match header.opcode {
            OP_PING => return Ok(Some(Inbound::Ping(bytes.to_vec()))),
            OP_PONG => return Ok(Some(Inbound::Pong)),
            OP_CLOSE => return close(bytes).map(Some),
            OP_CONTINUATION => {
                let Some(mut message) = self.fragmented.take() else {
                    return Err(InboundError::Protocol(Violation::ContinuationWithoutMessage));
                };
                message.append(bytes)?;
                if !header.fin {
                    self.fragmented = Some(message);
                    return Ok(None);
                }
                (message.text, message.payload)
            }
            _ if self.fragmented.is_some() => {
                return Err(InboundError::Protocol(Violation::MessageInterrupted));
            }
            opcode if !header.fin => {
                let mut message = Fragmented { text: opcode == OP_TEXT, payload: Vec::new(), checked: 0 };
                message.append(bytes)?;
                self.fragmented = Some(message);
                return Ok(None);
            }
            opcode => (opcode == OP_TEXT, bytes.to_vec()),
        };
        if text {
            String::from_utf8(payload).map(|text| Some(Inbound::Text(text))).or(Err(InboundError::NotUtf8))
        } else {
            Ok(Some(Inbound::Binary(payload)))
        }
    }
}

/// Undoes the client's mask: eight bytes at a time (the mask repeated twice), then the
/// rest one by one. The payload starts the mask's cycle, so its words line up with it.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut words = payload.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (index, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[index % 4];
    }
}

/// A close frame's status code and reason (RFC 6455 section 5.5.1 and 7.4).
fn close(payload: &[u8]) -> Result<Inbound, InboundError> {
    let [high, low, reason @ ..] = payload else {
        return if payload.is_empty() {
            Ok(Inbound::Close(None))
        } else {
            Err(InboundError::Protocol(Violation::CloseStatusTooShort))
        };
    };
    let code = u16::from_be_bytes([*high, *low]);
    // The reason first: text that is not UTF-8 is that fault, whatever the code.
    let reason = std::str::from_utf8(reason).map_err(|_| InboundError::NotUtf8)?;
    // Codes a peer may send: those IANA registered that mean something on the wire (1012
    // to 1014 included: restart, try again later, bad gateway), and the ranges for
    // libraries and applications. 1004 is reserved; 1005, 1006 and 1015 are only ever
    // reported locally, never sent.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(InboundError::Protocol(Violation::CloseStatusNotAllowed));
    }
    Ok(Inbound::Close(Some((code, reason.to_owned()))))
}

/// A client frame as a client sends it: `first` is the frame's first byte (FIN, reserved
/// bits, opcode), the length takes the shortest encoding, and the payload is masked.
#[cfg(test)]
fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        len @ 0..126 => frame.push(MASKED | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(MASKED | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(MASKED | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]));
    frame
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use tokio::io::{AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::{
        WebSocketStream,
        tungstenite::{Message, protocol::Role},
    };

    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn reader() -> (Reader, DuplexStream) {
        let (client, server) = tokio::io::duplex(256 * 1024);
        (Reader::new(Box::pin(server), Bytes::new(), LIMIT), client)
    }

    /// A client frame: `first` is the FIN bit and opcode, the payload is masked.
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(first, payload, [0x37, 0xFA, 0x21, 0x3D])
    }

    async fn read_after(bytes: &[u8]) -> Result<Inbound, InboundError> {
        let (mut reader, mut client) = reader();
        client.write_all(bytes).await.unwrap();
        drop(client);
        reader.next().await
    }

    #[tokio::test]
    async fn reads_what_a_websocket_client_sends_in_every_length_encoding() {
        let (mut reader, client) = reader();
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let medium = "m".repeat(300);
        let largest = "l".repeat(LIMIT);
        for message in [
            Message::text("hello"),
            Message::text(medium.clone()),
            Message::text(largest.clone()),
            Message::Ping(b"are you there".to_vec().into()),
            Message::Binary(vec![1, 2, 3].into()),
            Message::Pong(Vec::new().into()),
            Message::Close(None),
        ] {
            client.feed(message).await.unwrap();
        }
        client.flush().await.unwrap();
        assert_eq!(reader.next().await, Ok(Inbound::Text("hello".into())));
        assert_eq!(reader.next().await, Ok(Inbound::Text(medium)));
        assert_eq!(reader.next().await, Ok(Inbound::Text(largest)));
        assert_eq!(reader.next().await, Ok(Inbound::Ping(b"are you there".to_vec())));
        assert_eq!(reader.next().await, Ok(Inbound::Binary(vec![1, 2, 3])));
        assert_eq!(reader.next().await, Ok(Inbound::Pong));
        assert_eq!(reader.next().await, Ok(Inbound::Close(None)));
        assert_eq!(reader.buffer.capacity(), 0, "nothing is kept once everything read was taken");
    }

    #[tokio::test]
    async fn fragments_make_one_message_and_controls_may_come_between_them() {
        let mut bytes = masked(0x01, "héllo, ".as_bytes());
        bytes.extend(masked(0x89, b"ping"));
        bytes.extend(masked(0x00, b"wor"));
        bytes.extend(masked(0x80, b"ld"));
        bytes.extend(masked(0x88, &[0x03, 0xE8, b'o', b'k']));
        let (mut reader, mut client) = reader();
        // One byte at a time: every split of a frame must be waited out.
        let feeding = tokio::spawn(async move {
            for byte in bytes {
                client.write_all(&[byte]).await.unwrap();
            }
            client
        });
        assert_eq!(reader.next().await, Ok(Inbound::Ping(b"ping".to_vec())));
        assert_eq!(reader.next().await, Ok(Inbound::Text("héllo, world".into())));
        assert_eq!(reader.next().await, Ok(Inbound::Close(Some((1000, "ok".into())))));
        drop(feeding.await.unwrap());
        assert_eq!(reader.next().await, Err(InboundError::Lost));
    }

    #[tokio::test]
    async fn what_the_protocol_forbids_ends_the_connection_with_its_status() {
        let mut unmasked = masked(0x81, b"hi");
        unmasked[1] &= 0x7F;
        let over_limit = {
            // Only the header: the payload is refused before it is read.
            let mut header = vec![0x81, 0x80 | 127];
            header.extend_from_slice(&(LIMIT as u64 + 1).to_be_bytes());
            header
        };
        let mut grown_over_limit = masked(0x01, &vec![b'a'; LIMIT]);
        grown_over_limit.extend(masked(0x80, b"a"));
        let mut interleaved = masked(0x01, b"first");
        interleaved.extend(masked(0x81, b"second"));
        let cases: [(&str, Vec<u8>, InboundError); 11] = [
            ("unmasked", unmasked, InboundError::Protocol(Violation::Unmasked)),
            ("reserved bit", masked(0xC1, b"hi"), InboundError::Protocol(Violation::ReservedBits)),
            ("unknown opcode", masked(0x83, b"hi"), InboundError::Protocol(Violation::UnknownOpcode)),
            ("lone continuation", masked(0x80, b"hi"), InboundError::Protocol(Violation::ContinuationWithoutMessage)),
            ("interleaved", interleaved, InboundError::Protocol(Violation::MessageInterrupted)),
            ("fragmented ping", masked(0x09, b"hi"), InboundError::Protocol(Violation::ControlFrameShape)),
            ("long ping", masked(0x89, &[0; 126]), InboundError::Protocol(Violation::ControlFrameShape)),
            ("over the limit", over_limit, InboundError::TooBig),
            ("fragments over the limit", grown_over_limit, InboundError::TooBig),
            ("not UTF-8", masked(0x81, &[0xC3, 0x28]), InboundError::NotUtf8),
            (
                "reserved close code",
                masked(0x88, &1005u16.to_be_bytes()),
                InboundError::Protocol(Violation::CloseStatusNotAllowed),
            ),
        ];
        for (case, bytes, expected) in cases {
            assert_eq!(read_after(&bytes).await, Err(expected), "{case}");
        }
        assert_eq!(read_after(&masked(0x88, &[3])).await, Err(InboundError::Protocol(Violation::CloseStatusTooShort)));
        assert_eq!(read_after(&masked(0x88, &[0x03, 0xE8, 0xFF])).await, Err(InboundError::NotUtf8));
        assert_eq!(InboundError::TooBig.close_status(), Some((1009, "message too big")));
    }

    #[tokio::test]
    async fn bytes_read_past_the_upgrade_come_first() {
        let (client, server) = tokio::io::duplex(1024);
        let mut reader = Reader::new(Box::pin(server), Bytes::from(masked(0x81, b"early")), LIMIT);
        drop(client);
        assert_eq!(reader.next().await, Ok(Inbound::Text("early".into())));
        assert_eq!(reader.next().await, Err(InboundError::Lost));
    }
}
