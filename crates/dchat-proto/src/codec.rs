//! [`SliceCodec`]: the protobuf codec of every generated client and server.
//!
//! It encodes as `tonic_prost::ProstCodec` does, but decodes each message from one
//! contiguous slice. tonic hands a decoder the message as a `DecodeBuf`, a window on the
//! connection's buffer; prost reading through that window pays for every varint byte and
//! every field twice over (bounds, then the `BytesMut` underneath), which made decoding
//! the biggest single cost of a history page (about 2,200 instructions per message under
//! callgrind). tonic always gathers a whole message into one buffer before decoding it,
//! so the window's first chunk is normally the whole message and prost can read the plain
//! slice; a message that is not contiguous after all is decoded through the window as before.

use std::marker::PhantomData;

use prost::{Message, bytes::Buf};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;

/// See the module docs. The generated code names it through `codec_path` in `build.rs`.
#[derive(Debug, Clone)]
pub(crate) struct SliceCodec<T, U> {
    types: PhantomData<(T, U)>,
}

impl<T, U> Default for SliceCodec<T, U> {
    fn default() -> Self {
        Self { types: PhantomData }
    }
}

impl<T, U> Codec for SliceCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = SliceDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        SliceDecoder { types: PhantomData }
    }
}

/// Decodes a `U` from the message's bytes in one slice; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct SliceDecoder<U> {
    types: PhantomData<U>,
}

impl<U: Message + Default> Decoder for SliceDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let len = buf.remaining();
        let decoded = if buf.chunk().len() == len {
            let decoded = U::decode(buf.chunk());
            buf.advance(len);
            decoded
        } else {
            U::decode(buf)
        };
        // As tonic_prost does: a message that does not parse is INTERNAL, per gRPC's codes.
        decoded.map(Some).map_err(|err| Status::internal(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use futures::{StreamExt, stream};
    use http_body::Frame;
    use http_body_util::StreamBody;
    use prost::bytes::{BufMut, Bytes, BytesMut};
    use tonic::codec::Streaming;

    use super::*;
    use crate::message::v1::Msg;

    fn message(offset: i64, text: &str) -> Msg {
        Msg {
            room_id: "général".to_owned(),
            offset,
            user_id: "5f0c2a52-58d8-4a8e-9a8e-0c7d7c1f4b10".to_owned(),
            text: text.to_owned(),
            ts_ms: 1_764_000_000_000,
            idempotency_key: String::new(),
        }
    }

    /// A stream of messages arrives in chunks that cut through headers, varints and
    /// multi-byte characters; the decoder reads every message back whole and in order.
    #[tokio::test]
    async fn decodes_a_stream_cut_at_every_odd_place() {
        let sent = vec![message(1, "héllo, wörld 🙂"), message(1 << 40, ""), message(3, &"x".repeat(300))];
        let mut wire = BytesMut::new();
        for msg in &sent {
            let encoded = msg.encode_to_vec();
            wire.put_u8(0);
            wire.put_u32(u32::try_from(encoded.len()).expect("small"));
            wire.put_slice(&encoded);
        }
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            wire.freeze().chunks(7).map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk)))).collect();
        let body = StreamBody::new(stream::iter(chunks));
        let decoded: Vec<Msg> = Streaming::new_request(SliceDecoder::<Msg> { types: PhantomData }, body, None, None)
            .map(|msg| msg.expect("decodes"))
            .collect()
            .await;
        assert_eq!(decoded, sent);
    }

    /// Bytes that are not a message are INTERNAL, as with tonic's own codec.
    #[tokio::test]
    async fn refuses_bytes_that_are_not_a_message() {
        let frame: Result<Frame<Bytes>, std::convert::Infallible> =
            Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 2, 0x0a, 0x05])));
        let body = StreamBody::new(stream::iter([frame]));
        let mut decoded = Streaming::new_request(SliceDecoder::<Msg> { types: PhantomData }, body, None, None);
        let status = decoded.next().await.expect("an item").expect_err("a truncated field");
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
