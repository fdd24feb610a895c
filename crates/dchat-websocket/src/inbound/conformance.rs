//! The Autobahn test suite's case groups 1 to 7, walked against [`Reader`]: framing, pings
//! and pongs, reserved bits, opcodes, fragmentation, UTF-8 (failing fast inside fragmented
//! text) and close handling, each case as Autobahn sends it (whole, or cut into chops) and
//! with the outcome RFC 6455 asks of a server. (Groups 9 to 13, performance and
//! compression, are not conformance; dchat does not offer compression.)

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::*;

/// Large enough for group 1's longest message (65,536 bytes) with room to spare.
const LIMIT: usize = 1 << 20;

const TEXT: u8 = 0x01;
const BINARY: u8 = 0x02;
const CLOSE: u8 = 0x08;
const PING: u8 = 0x09;
const PONG: u8 = 0x0A;
const FINAL: u8 = 0x80;

/// A masked client frame; `first` is the frame's first byte as sent (FIN, RSV, opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(first, payload, [0x0F, 0xA3, 0x5C, 0x71])
}

fn frames(parts: &[(u8, &[u8])]) -> Vec<u8> {
    parts.iter().flat_map(|(first, payload)| frame(*first, payload)).collect()
}

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// Feeds `bytes` in writes of `chop` bytes (the whole at once for 0), then ends the
/// stream; returns what the reader made of it: its messages, and how it stopped (`Lost`
/// when everything was read without fault).
async fn outcome(bytes: Vec<u8>, chop: usize) -> (Vec<Inbound>, InboundError) {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let mut reader = Reader::new(Box::pin(server), Bytes::new(), LIMIT);
    let feeding = tokio::spawn(async move {
        for chunk in bytes.chunks(if chop == 0 { bytes.len().max(1) } else { chop }) {
            // The reader may stop (and drop its end) before everything is sent.
            if client.write_all(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut messages = Vec::new();
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), reader.next()).await.expect("the reader answers") {
            Ok(message) => messages.push(message),
            Err(err) => break err,
        }
    };
    feeding.await.unwrap();
    (messages, ended)
}

fn text(text: &str) -> Inbound {
    Inbound::Text(text.to_owned())
}

#[tokio::test]
async fn group_1_framing_text_and_binary_of_every_length_encoding_whole_and_in_chops() {
    for len in [0, 125, 126, 127, 128, 65_535, 65_536] {
        let payload = "*".repeat(len);
        assert_eq!(
            outcome(frame(FINAL | TEXT, payload.as_bytes()), 0).await,
            (vec![text(&payload)], InboundError::Lost)
        );
        let binary = vec![0xFE; len];
        let expected = vec![Inbound::Binary(binary.clone())];
        assert_eq!(outcome(frame(FINAL | BINARY, &binary), 0).await, (expected, InboundError::Lost), "{len}");
    }
    let payload = "*".repeat(65_536);
    assert_eq!(outcome(frame(FINAL | TEXT, payload.as_bytes()), 997).await.0, vec![text(&payload)], "1.1.8");
    let binary = vec![0xFE; 65_536];
    assert_eq!(outcome(frame(FINAL | BINARY, &binary), 997).await.0, vec![Inbound::Binary(binary)], "1.2.8");
}

#[tokio::test]
async fn group_2_pings_and_pongs() {
    let all_bytes: Vec<u8> = (0..=255u8).take(125).collect();
    for (case, payload) in
        [("2.1", &b""[..]), ("2.2", b"Hello, world!"), ("2.3", &[0x00, 0xFF, 0xFE, 0xFD]), ("2.4", &all_bytes)]
    {
        assert_eq!(outcome(frame(FINAL | PING, payload), 0).await.0, vec![Inbound::Ping(payload.to_vec())], "{case}");
    }
    let too_long = outcome(frame(FINAL | PING, &[0xFE; 126]), 0).await;
    assert_eq!(too_long, (vec![], InboundError::Protocol(Violation::ControlFrameShape)), "2.5");
    assert_eq!(outcome(frame(FINAL | PING, &all_bytes), 1).await.0, vec![Inbound::Ping(all_bytes.clone())], "2.6");
    assert_eq!(outcome(frame(FINAL | PONG, b""), 0).await.0, vec![Inbound::Pong], "2.7");
    assert_eq!(outcome(frame(FINAL | PONG, b"unsolicited"), 0).await.0, vec![Inbound::Pong], "2.8");
    let pong_then_ping = frames(&[(FINAL | PONG, b"unsolicited"), (FINAL | PING, b"sent")]);
    assert_eq!(outcome(pong_then_ping, 0).await.0, vec![Inbound::Pong, Inbound::Ping(b"sent".to_vec())], "2.9");
    let ten: Vec<u8> = (0..10).flat_map(|_| frame(FINAL | PING, b"payload")).collect();
    for chop in [0, 1] {
        assert_eq!(outcome(ten.clone(), chop).await.0.len(), 10, "2.10 and 2.11");
    }
}

#[tokio::test]
async fn group_3_reserved_bits_fail_the_connection_on_any_frame() {
    let reserved = InboundError::Protocol(Violation::ReservedBits);
    for (case, first, payload) in [
        ("3.1", FINAL | 0x40 | TEXT, &b"Hello"[..]),
        ("3.4", FINAL | 0x70 | TEXT, b"Hello"),
        ("3.5", FINAL | 0x50 | BINARY, &[0xFF; 8]),
        ("3.6", FINAL | 0x60 | PING, b"Hello"),
        ("3.7", FINAL | 0x70 | CLOSE, &[0x03, 0xE8]),
    ] {
        assert_eq!(outcome(frame(first, payload), 0).await, (vec![], reserved), "{case}");
    }
    // 3.2 and 3.3: a good message first, then the bad frame, then one never read.
    let bytes = frames(&[(FINAL | TEXT, b"Hello"), (FINAL | 0x20 | TEXT, b"Hello"), (FINAL | PING, b"")]);
    for chop in [0, 1] {
        assert_eq!(outcome(bytes.clone(), chop).await, (vec![text("Hello")], reserved), "3.2/3.3 chop {chop}");
    }
}

#[tokio::test]
async fn group_4_reserved_opcodes_fail_the_connection() {
    let unknown = InboundError::Protocol(Violation::UnknownOpcode);
    for opcode in [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
        assert_eq!(outcome(frame(FINAL | opcode, b""), 0).await, (vec![], unknown), "opcode {opcode}");
        let bytes = frames(&[(FINAL | TEXT, b"Hello"), (FINAL | opcode, b"reserved"), (FINAL | PING, b"")]);
        assert_eq!(outcome(bytes, 0).await, (vec![text("Hello")], unknown), "opcode {opcode} after a message");
    }
}

#[tokio::test]
async fn group_5_fragmentation() {
    let shape = InboundError::Protocol(Violation::ControlFrameShape);
    let fragmented_ping = frames(&[(PING, b"frag1"), (FINAL, b"frag2")]);
    assert_eq!(outcome(fragmented_ping, 0).await, (vec![], shape), "5.1");
    let fragmented_pong = frames(&[(PONG, b"frag1"), (FINAL, b"frag2")]);
    assert_eq!(outcome(fragmented_pong, 0).await, (vec![], shape), "5.2");

    let two = frames(&[(TEXT, b"frag1"), (FINAL, b"frag2")]);
    for chop in [0, 1, 7] {
        assert_eq!(outcome(two.clone(), chop).await.0, vec![text("frag1frag2")], "5.3-5.5 chop {chop}");
    }
    let with_ping = frames(&[(TEXT, b"frag1"), (FINAL | PING, b"ping"), (FINAL, b"frag2")]);
    for chop in [0, 1] {
        let expected = vec![Inbound::Ping(b"ping".to_vec()), text("frag1frag2")];
        assert_eq!(outcome(with_ping.clone(), chop).await.0, expected, "5.6-5.8 chop {chop}");
    }
    let orphan = InboundError::Protocol(Violation::ContinuationWithoutMessage);
    for (case, bytes) in [
        ("5.9-5.11", frames(&[(FINAL, b"fragment"), (FINAL | TEXT, b"message")])),
        ("5.12-5.14", frames(&[(0x00, b"fragment"), (FINAL, b"end"), (FINAL | TEXT, b"message")])),
    ] {
        for chop in [0, 1] {
            assert_eq!(outcome(bytes.clone(), chop).await, (vec![], orphan), "{case} chop {chop}");
        }
    }
    let interrupted = frames(&[(TEXT, b"fragment1"), (FINAL | TEXT, b"fragment2"), (FINAL, b"fragment3")]);
    assert_eq!(outcome(interrupted, 0).await, (vec![], InboundError::Protocol(Violation::MessageInterrupted)), "5.18");
    let many = frames(&[
        (TEXT, b"f1"),
        (0x00, b"f2"),
        (FINAL | PING, b"p1"),
        (0x00, b"f3"),
        (0x00, b"f4"),
        (FINAL | PING, b"p2"),
        (FINAL, b"f5"),
    ]);
    let expected = vec![Inbound::Ping(b"p1".to_vec()), Inbound::Ping(b"p2".to_vec()), text("f1f2f3f4f5")];
    assert_eq!(outcome(many, 0).await.0, expected, "5.19/5.20");
}

/// Valid text from group 6: multi-byte characters, every boundary of the code space.
const VALID: [&str; 5] = [
    "Hello-µ@ßöäüàá-UTF-8!!",
    "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}",
    "\u{0}\u{80}\u{800}\u{10000}",
    "\u{7f}\u{7ff}\u{ffff}\u{10ffff}",
    "\u{d7ff}\u{e000}\u{fffd}",
];

/// Invalid text from group 6: a bad continuation, an overlong form, a surrogate, a code
/// point past U+10FFFF, bytes that never occur, and a sequence cut at the message's end.
const INVALID: [&[u8]; 7] = [
    &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64],
    &[0xC0, 0xAF],
    &[0xED, 0xA0, 0x80],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xFE],
    &[0x68, 0x69, 0xFF],
    &[0xE2, 0x82],
];

#[tokio::test]
async fn group_6_utf8_is_checked_whole_and_fragment_by_fragment() {
    assert_eq!(outcome(frame(FINAL | TEXT, b""), 0).await.0, vec![text("")], "6.1.1");
    assert_eq!(outcome(frames(&[(TEXT, b""), (0x00, b""), (FINAL, b"")]), 0).await.0, vec![text("")], "6.1.2");
    for valid in VALID {
        assert_eq!(outcome(frame(FINAL | TEXT, valid.as_bytes()), 0).await.0, vec![text(valid)], "{valid:?}");
        // Cut at every byte, characters split across fragments (6.2.3, 6.2.4, 6.6.x).
        let bytes = valid.as_bytes();
        let mut fragments = Vec::new();
        for (index, byte) in bytes.iter().enumerate() {
            let first = match (index, index + 1 == bytes.len()) {
                (0, true) => FINAL | TEXT,
                (0, false) => TEXT,
                (_, true) => FINAL,
                (_, false) => 0x00,
            };
            fragments.extend(frame(first, &[*byte]));
        }
        assert_eq!(outcome(fragments, 0).await.0, vec![text(valid)], "{valid:?} byte by byte");
    }
    for invalid in INVALID {
        assert_eq!(outcome(frame(FINAL | TEXT, invalid), 0).await, (vec![], InboundError::NotUtf8), "{invalid:x?}");
        assert_eq!(
            outcome(frame(FINAL | TEXT, invalid), 1).await,
            (vec![], InboundError::NotUtf8),
            "{invalid:x?} chopped"
        );
    }
}

/// 6.4.x: text whose second fragment can no longer be UTF-8 fails then, without waiting
/// for a third fragment that never comes.
#[tokio::test]
async fn group_6_invalid_text_fails_fast_inside_a_fragmented_message() {
    let (mut client, server) = tokio::io::duplex(1024);
    let mut reader = Reader::new(Box::pin(server), Bytes::new(), LIMIT);
    let first = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes();
    client.write_all(&frames(&[(TEXT, first), (0x00, &[0xF4, 0x90, 0x80, 0x80])])).await.unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(5), reader.next()).await.expect("fails before the end");
    assert_eq!(failed, Err(InboundError::NotUtf8));
    drop(client);
}

#[tokio::test]
async fn group_7_close_frames_their_codes_and_reasons() {
    assert_eq!(outcome(frame(FINAL | CLOSE, b""), 0).await.0, vec![Inbound::Close(None)], "7.3.1");
    let short = outcome(frame(FINAL | CLOSE, &[0x03]), 0).await;
    assert_eq!(short, (vec![], InboundError::Protocol(Violation::CloseStatusTooShort)), "7.3.2");
    let reason = "*".repeat(123);
    let expected = vec![Inbound::Close(Some((1000, reason.clone())))];
    assert_eq!(outcome(frame(FINAL | CLOSE, &close(1000, reason.as_bytes())), 0).await.0, expected, "7.3.5");
    let too_long = outcome(frame(FINAL | CLOSE, &close(1000, &[b'*'; 124])), 0).await;
    assert_eq!(too_long, (vec![], InboundError::Protocol(Violation::ControlFrameShape)), "7.3.6");
    let bad_reason = outcome(frame(FINAL | CLOSE, &close(1000, &[0xCE, 0xBA, 0xED, 0xA0, 0x80])), 0).await;
    assert_eq!(bad_reason, (vec![], InboundError::NotUtf8), "7.5.1");
    for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        let expected = vec![Inbound::Close(Some((code, String::new())))];
        assert_eq!(outcome(frame(FINAL | CLOSE, &close(code, b"")), 0).await.0, expected, "7.7: {code}");
    }
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535] {
        let refused = outcome(frame(FINAL | CLOSE, &close(code, b"")), 0).await;
        assert_eq!(refused, (vec![], InboundError::Protocol(Violation::CloseStatusNotAllowed)), "7.9/7.13: {code}");
    }
    // 7.1.5: a close between a message's fragments is a control frame like any other.
    let between = frames(&[(TEXT, b"fragment1"), (FINAL | CLOSE, &close(1000, b"")), (FINAL, b"fragment2")]);
    assert_eq!(outcome(between, 0).await.0.first(), Some(&Inbound::Close(Some((1000, String::new())))));
}
