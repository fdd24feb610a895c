//! [`RevocationCodec`]: the hint of a revocation as bytes on the bus between auth replicas,
//! as the `auth.v1.Revocation` it is on gRPC. Only `dchat-proto` knows protobuf; this only
//! maps.

use dchat_bus::Codec;
use dchat_proto::auth::v1 as pb;

/// Encodes and decodes the payloads of `Topic::Revocations`: a digest and its log entry.
#[derive(Debug, Clone, Copy, Default)]
pub struct RevocationCodec;

impl Codec<(u64, Vec<u8>)> for RevocationCodec {
    fn encode(&self, (seq, token_sha256): &(u64, Vec<u8>)) -> Vec<u8> {
        dchat_proto::encode(&pb::Revocation { token_sha256: token_sha256.clone(), seq: *seq })
    }

    fn decode(&self, bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
        let revocation: pb::Revocation = dchat_proto::decode(bytes)?;
        (!revocation.token_sha256.is_empty()).then_some((revocation.seq, revocation.token_sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_crosses_the_wire_unchanged() {
        let hint = (9, vec![7u8; 32]);
        assert_eq!(RevocationCodec.decode(&RevocationCodec.encode(&hint)), Some(hint));
        assert_eq!(RevocationCodec.decode(b"\xff\xff not a revocation"), None);
    }
}
