//! A fan-out member's WebSocket: the client side of the protocol, only as much of it as a
//! subscriber that reads text frames needs.
//!
//! Ten thousand members share the machine with the server they measure, so what each
//! delivery costs the load generator is taken from the server. Through tokio-tungstenite a
//! delivery cost the member about 2,000 instructions before its frame was looked at (the
//! stream adapters, the codec's buffers, a fresh `Bytes` per frame); here it is one read
//! into the member's own buffer, a header of two bytes, and a slice of that buffer. Frames
//! from a server are never masked, so reading one is just that. What this does not handle
//! (fragmented messages, binary frames, a masked or reserved bit from the server) is an
//! error, never a guess.

use std::hash::{BuildHasher, RandomState};

use dchat_websocket::{
    FIN, MASKED, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, decode_length, encode_header,
};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

use crate::{
    BenchError,
    client::{BenchUser, Server, closed_while_subscribing, subscribe_frame, subscribed},
};

/// Starting size of a member's read buffer; it grows only for a frame larger than itself.
const READ_BUFFER: usize = 1024;
/// The largest response to the upgrade request a member reads.
const MAX_HANDSHAKE: usize = 16 * 1024;

/// One member's connection.
pub(crate) struct Member {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Where the first byte not yet taken is.
    start: usize,
    /// How far `buffer` holds bytes read from the socket.
    end: usize,
    /// The masking key of this member's frames (any key works: a server only unmasks).
    mask: [u8; 4],
}

/// A frame's header, read from the front of the buffer.
struct Header {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: usize,
}

impl Member {
    /// Opens a WebSocket to `server` as `user`, checking the server's answer to the upgrade.
    pub(crate) async fn connect(server: &Server, user: &BenchUser) -> Result<Self, BenchError> {
        let url = server.ws_url();
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| BenchError::Protocol(format!("a member speaks plain ws://, not {url}")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let stream = TcpStream::connect(authority).await?;
        // Nagle off, as on the server: a benchmark of small frames must not measure delayed ACKs.
        stream.set_nodelay(true)?;
        let key = generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {}\r\n\r\n",
            user.token
        );
        let mask = RandomState::new().hash_one(&key).to_le_bytes();
        let mut member =
            Self { stream, buffer: vec![0; READ_BUFFER], start: 0, end: 0, mask: [mask[0], mask[1], mask[2], mask[3]] };
        member.stream.write_all(request.as_bytes()).await?;
        member.read_handshake(&derive_accept_key(key.as_bytes())).await?;
        Ok(member)
    }

    /// Reads the response to the upgrade; what follows its headers stays in the buffer.
    async fn read_handshake(&mut self, accept: &str) -> Result<(), BenchError> {
        loop {
            if let Some(at) = self.buffer[..self.end].windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..at]).into_owned();
                self.start = at + 4;
                let status = head.lines().next().unwrap_or_default();
                if status.split(' ').nth(1) != Some("101") {
                    return Err(BenchError::Protocol(format!("the upgrade was refused: {status}")));
                }
                let accepted = head.lines().any(|line| {
                    line.split_once(':').is_some_and(|(name, value)| {
                        name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == accept
                    })
                });
                if !accepted {
                    return Err(BenchError::Protocol("the upgrade's Sec-WebSocket-Accept is wrong".into()));
                }
                return Ok(());
            }
            if self.end >= MAX_HANDSHAKE {
                return Err(BenchError::Protocol("the upgrade's response has no end".into()));
            }
            if self.end == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            let read = self.stream.read(&mut self.buffer[self.end..]).await?;
            if read == 0 {
                return Err(BenchError::Protocol("the connection closed during the upgrade".into()));
            }
            self.end += read;
        }
    }

    /// Sends a text frame.
    pub(crate) async fn send_text(&mut self, text: &str) -> Result<(), BenchError> {
        self.send(OP_TEXT, text.as_bytes()).await
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), BenchError> {
        let (header, header_len) = encode_header(FIN | opcode, MASKED, payload.len());
        let mut frame = Vec::with_capacity(header_len + self.mask.len() + payload.len());
        frame.extend_from_slice(&header[..header_len]);
        frame.extend_from_slice(&self.mask);
        frame.extend(payload.iter().zip(self.mask.iter().cycle()).map(|(byte, key)| byte ^ key));
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// Subscribes to `room_id` and waits for the `subscribed` frame.
    pub(crate) async fn subscribe(&mut self, room_id: &str) -> Result<(), BenchError> {
        self.send_text(&subscribe_frame(room_id).to_string()).await?;
        loop {
            let Some(text) = self.next_text().await? else { return Err(closed_while_subscribing()) };
            let frame: Value = serde_json::from_str(text).map_err(|err| BenchError::Protocol(err.to_string()))?;
            if subscribed(&frame)? {
                return Ok(());
            }
        }
    }

    /// The next text frame, `None` once the server closed the connection. Cancel-safe: what
    /// was read stays in the buffer for the next call.
    pub(crate) async fn next_text(&mut self) -> Result<Option<&str>, BenchError> {
        loop {
            if let Some(header) = self.header()? {
                let frame_len = header.header_len + header.payload_len;
                if self.end - self.start >= frame_len {
                    let payload = self.start + header.header_len..self.start + frame_len;
                    self.start += frame_len;
                    match header.opcode {
                        OP_TEXT if header.fin => {
                            let text = std::str::from_utf8(&self.buffer[payload])
                                .map_err(|_| BenchError::Protocol("a text frame is not UTF-8".into()))?;
                            return Ok(Some(text));
                        }
                        OP_CLOSE => return Ok(None),
                        OP_PING => {
                            let data = self.buffer[payload].to_vec();
                            self.send(OP_PONG, &data).await?;
                        }
                        OP_PONG => {}
                        opcode => {
                            return Err(BenchError::Protocol(format!(
                                "a frame this member does not read (opcode {opcode}, fin {})",
                                header.fin
                            )));
                        }
                    }
                    continue;
                }
                if frame_len > self.buffer.len() {
                    self.buffer.resize(frame_len, 0);
                }
            }
            self.make_room();
            let read = self.stream.read(&mut self.buffer[self.end..]).await?;
            if read == 0 {
                return Ok(None);
            }
            self.end += read;
        }
    }

    /// The header at the front of the buffer, if all of it is there.
    fn header(&self) -> Result<Option<Header>, BenchError> {
        let bytes = &self.buffer[self.start..self.end];
        let [first, second, ..] = *bytes else { return Ok(None) };
        if first & 0x70 != 0 || second & MASKED != 0 {
            return Err(BenchError::Protocol("a server frame with reserved bits or a mask".into()));
        }
        let Some((header_len, payload_len)) = decode_length(bytes) else { return Ok(None) };
        let payload_len =
            usize::try_from(payload_len).map_err(|_| BenchError::Protocol("a frame larger than memory".into()))?;
        let opcode = first & 0x0F;
        if opcode == OP_CONTINUATION {
            return Err(BenchError::Protocol("a fragmented message".into()));
        }
        Ok(Some(Header { fin: first & FIN != 0, opcode, header_len, payload_len }))
    }

    /// Moves what is left of the buffer to its front, so a read has room after it.
    fn make_room(&mut self) {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    #[tokio::test]
    async fn a_member_reads_what_a_websocket_server_writes_and_answers_its_pings() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Server::new(&format!("http://{}", listener.local_addr().expect("address")));
        let long = "x".repeat(70_000);
        let texts = vec!["short".to_owned(), "é".repeat(100), long];
        let sent = texts.clone();
        let serving = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut socket = tokio_tungstenite::accept_async(stream).await.expect("upgrade");
            let Some(Ok(Message::Text(hello))) = socket.next().await else { panic!("no text from the member") };
            assert_eq!(hello.as_str(), "hello");
            socket.send(Message::Ping(b"are you there".to_vec().into())).await.expect("ping");
            for text in sent {
                socket.send(Message::text(text)).await.expect("send");
            }
            let Some(Ok(Message::Pong(data))) = socket.next().await else { panic!("no pong from the member") };
            assert_eq!(&data[..], b"are you there");
            socket.close(None).await.expect("close");
        });
        let mut member = Member::connect(&server, &BenchUser { token: "t".into() }).await.expect("connect");
        member.send_text("hello").await.expect("send");
        for text in &texts {
            assert_eq!(member.next_text().await.expect("read"), Some(text.as_str()));
        }
        assert_eq!(member.next_text().await.expect("read"), None, "the close ends the stream");
        serving.await.expect("the server saw what it expected");
    }
}
