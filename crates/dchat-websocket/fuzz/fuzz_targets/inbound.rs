//! Fuzzes the client frame reader: any bytes, read as a client's whole stream, must end in
//! messages and at most one fault, never a panic, and never a message over the limit or
//! text that is not UTF-8.

#![no_main]

use dchat_websocket::{Inbound, Reader};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fuzz_target!(|bytes: &[u8]| {
    let (messages, _fault) = Reader::read_all(bytes, LIMIT);
    for message in messages {
        match message {
            // A `String` is UTF-8 by construction; its length is what the limit bounds.
            Inbound::Text(text) => assert!(text.len() <= LIMIT),
            Inbound::Binary(payload) => assert!(payload.len() <= LIMIT),
            Inbound::Ping(payload) => assert!(payload.len() <= 125),
            Inbound::Close(Some((_, reason))) => assert!(reason.len() <= 123),
            Inbound::Pong | Inbound::Close(None) => {}
        }
    }
});
