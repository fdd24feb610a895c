//! A differential test against tungstenite's server role: random client byte streams,
//! mutated and cut at random, fed to [`Reader`] and to tungstenite, must get the same
//! messages in the same order and stop for the same kind of reason (the peer left, a
//! protocol fault, text that is not UTF-8, a message over the limit).
//!
//! One difference is deliberate and kept out of the streams: tungstenite refuses close code
//! 1014 (IANA's "bad gateway"), which RFC 6455's registry lets a peer send.

use std::io::{self, Read, Write};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::{
    self, Message,
    error::{CapacityError, ProtocolError},
    protocol::{Role, WebSocket, WebSocketConfig},
};

use super::*;

const LIMIT: usize = 4096;

/// How a stream of client bytes went, in terms both readers can be held to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(Option<(u16, String)>),
    /// The bytes ran out (mid-frame or between frames).
    Ended,
    Protocol,
    NotUtf8,
    TooBig,
}

/// Our reader, fed `bytes` in the given chop sizes, until it stops or reads a close.
async fn ours(bytes: &[u8], chops: &[usize]) -> Vec<Seen> {
    let (mut client, server) = tokio::io::duplex(LIMIT * 4);
    let mut reader = Reader::new(Box::pin(server), Bytes::new(), LIMIT);
    let (bytes, chops) = (bytes.to_vec(), chops.to_vec());
    let feeding = tokio::spawn(async move {
        let mut rest = &bytes[..];
        for chop in chops.iter().cycle() {
            if rest.is_empty() || client.write_all(&rest[..(*chop).min(rest.len())]).await.is_err() {
                return;
            }
            rest = &rest[(*chop).min(rest.len())..];
        }
    });
    let mut seen = Vec::new();
    loop {
        let next = match reader.next().await {
            Ok(Inbound::Text(text)) => Seen::Text(text),
            Ok(Inbound::Binary(payload)) => Seen::Binary(payload),
            Ok(Inbound::Ping(payload)) => Seen::Ping(payload),
            Ok(Inbound::Pong) => Seen::Pong,
            Ok(Inbound::Close(status)) => Seen::Close(status),
            Err(InboundError::Lost) => Seen::Ended,
            Err(InboundError::Protocol(_)) => Seen::Protocol,
            Err(InboundError::NotUtf8) => Seen::NotUtf8,
            Err(InboundError::TooBig) => Seen::TooBig,
        };
        let last = !matches!(next, Seen::Text(_) | Seen::Binary(_) | Seen::Ping(_) | Seen::Pong);
        seen.push(next);
        if last {
            break;
        }
    }
    feeding.await.unwrap();
    seen
}

/// A socket that reads from a buffer and throws away what is written (tungstenite answers
/// pings and closes itself).
struct Replay<'a>(&'a [u8]);

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's server role, fed the same bytes.
fn theirs(bytes: &[u8]) -> Vec<Seen> {
    let config = WebSocketConfig::default().max_message_size(Some(LIMIT)).max_frame_size(Some(LIMIT));
    let mut socket = WebSocket::from_raw_socket(Replay(bytes), Role::Server, Some(config));
    let mut seen = Vec::new();
    loop {
        let next = match socket.read() {
            Ok(Message::Text(text)) => Seen::Text(text.as_str().to_owned()),
            Ok(Message::Binary(payload)) => Seen::Binary(payload.to_vec()),
            Ok(Message::Ping(payload)) => Seen::Ping(payload.to_vec()),
            Ok(Message::Pong(_)) => Seen::Pong,
            // tungstenite answers a close frame whose code it refuses with 1002 and reports
            // that answer in its place.
            Ok(Message::Close(Some(frame)))
                if u16::from(frame.code) == 1002 && frame.reason.as_str() == "Protocol violation" =>
            {
                Seen::Protocol
            }
            Ok(Message::Close(frame)) => {
                Seen::Close(frame.map(|frame| (frame.code.into(), frame.reason.as_str().to_owned())))
            }
            Ok(Message::Frame(_)) => continue,
            Err(tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => Seen::Ended,
            Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::UnexpectedEof => Seen::Ended,
            Err(tungstenite::Error::Protocol(_)) => Seen::Protocol,
            Err(tungstenite::Error::Utf8(_)) => Seen::NotUtf8,
            Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. })) => Seen::TooBig,
            Err(err) => panic!("tungstenite stopped for a reason this test does not know: {err:?}"),
        };
        let last = !matches!(next, Seen::Text(_) | Seen::Binary(_) | Seen::Ping(_) | Seen::Pong);
        seen.push(next);
        if last {
            break;
        }
    }
    seen
}

/// One random client frame: mostly valid, sometimes broken in one of the ways the RFC
/// names.
fn random_frame(rng: &mut StdRng) -> Vec<u8> {
    let texts: [&[u8]; 6] =
        [b"hello", "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes(), b"", &[0xCE], &[0xED, 0xA0, 0x80], &[0xFF]];
    let close_codes: [u16; 18] =
        [1000, 1001, 1003, 1007, 1011, 1012, 1013, 3000, 4999, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000];
    let (mut first, payload): (u8, Vec<u8>) = match rng.random_range(0..10) {
        0..=2 => (0x81, texts[rng.random_range(0..texts.len())].to_vec()),
        3 => (0x01, texts[rng.random_range(0..texts.len())].to_vec()),
        4 => (0x80, texts[rng.random_range(0..texts.len())].to_vec()),
        5 => (0x82, (0..rng.random_range(0..300)).map(|_| rng.random()).collect()),
        6 => (0x89, (0..rng.random_range(0..130)).map(|_| rng.random()).collect()),
        7 => (0x8A, b"pong".to_vec()),
        8 => {
            let mut payload = close_codes[rng.random_range(0..close_codes.len())].to_be_bytes().to_vec();
            payload.extend_from_slice(texts[rng.random_range(0..texts.len())]);
            payload.truncate(rng.random_range(0..=payload.len()));
            (0x88, payload)
        }
        _ => (0x82, vec![0; rng.random_range(LIMIT - 10..LIMIT + 10)]),
    };
    if rng.random_ratio(1, 20) {
        first ^= 1 << rng.random_range(4..7); // A reserved bit.
    }
    if rng.random_ratio(1, 20) {
        first = (first & 0xF0) | rng.random_range(0..16); // Any opcode.
    }
    let mut frame = client_frame(first, &payload, rng.random());
    if rng.random_ratio(1, 30) {
        frame[1] &= 0x7F; // Unmasked: the mask is then taken as payload.
    }
    frame
}

/// Whether `bytes` end inside a frame (its header or payload), walking the frames by their
/// lengths alone.
fn ends_mid_frame(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(&second) = bytes.get(at + 1) else { return true };
        let (extra, len) = match second & 0x7F {
            126 => match bytes.get(at + 2..at + 4) {
                Some(len) => (2, u64::from(u16::from_be_bytes([len[0], len[1]]))),
                None => return true,
            },
            127 => match bytes.get(at + 2..at + 10) {
                Some(len) => (8, u64::from_be_bytes(len.try_into().unwrap())),
                None => return true,
            },
            len => (0, u64::from(len)),
        };
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        let end = (at as u64).saturating_add(2 + extra + mask).saturating_add(len);
        if end > bytes.len() as u64 {
            return true;
        }
        at = end as usize;
    }
    false
}

/// Whether the two readings agree. One difference is allowed, in streams that end inside a
/// frame: ours judges a frame by its header as soon as the header is in, where tungstenite
/// waits for the whole frame, so a broken frame whose payload never comes is a fault for
/// ours and the end of the stream for tungstenite.
fn agree(ours: &[Seen], theirs: &[Seen], cut: bool) -> bool {
    if ours == theirs {
        return true;
    }
    let (Some((our_end, our_messages)), Some((their_end, their_messages))) = (ours.split_last(), theirs.split_last())
    else {
        return false;
    };
    let fault = matches!(our_end, Seen::Protocol | Seen::NotUtf8 | Seen::TooBig);
    cut && fault && *their_end == Seen::Ended && our_messages == their_messages
}

#[tokio::test]
async fn random_mutated_and_cut_streams_are_read_as_tungstenite_reads_them() {
    let mut rng = StdRng::seed_from_u64(0x0064_6368_6174);
    let mut disagreements = Vec::new();
    for case in 0..10_000 {
        let mut bytes: Vec<u8> = (0..rng.random_range(1..6)).flat_map(|_| random_frame(&mut rng)).collect();
        if rng.random_ratio(1, 4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] ^= 1 << rng.random_range(0..8); // One flipped bit anywhere.
        }
        if rng.random_ratio(1, 4) {
            bytes.truncate(rng.random_range(0..bytes.len())); // Cut short.
        }
        let cut = ends_mid_frame(&bytes);
        let chops: Vec<usize> = (0..4).map(|_| rng.random_range(1..64)).collect();
        let (ours, theirs) = (ours(&bytes, &chops).await, theirs(&bytes));
        if !agree(&ours, &theirs, cut) {
            let shown = |seen: &[Seen]| {
                let kinds: Vec<String> = seen
                    .iter()
                    .map(|seen| match seen {
                        Seen::Binary(payload) => format!("Binary({} bytes)", payload.len()),
                        other => format!("{other:?}"),
                    })
                    .collect();
                kinds.join(", ")
            };
            let start = &bytes[..bytes.len().min(16)];
            disagreements.push(format!(
                "case {case}: ours [{}] theirs [{}], {} bytes from {start:02x?}",
                shown(&ours),
                shown(&theirs),
                bytes.len()
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(5)].join("\n")
    );
}
