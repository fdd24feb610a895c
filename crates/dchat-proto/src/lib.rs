//! dchat's wire contracts: the protobuf packages `auth.v1`, `room.v1`, `message.v1`,
//! `presence.v1` and `gateway.v1`, generated at build time from `proto/`.
//!
//! This is the only crate that knows protobuf. The packages are wire-compatible with the
//! seed: every seed field keeps its name, type and number, and dchat's additions use new
//! numbers. [`FILE_DESCRIPTOR_SET`] feeds gRPC reflection.

/// Generated code is not ours to lint.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
mod generated {
    pub mod auth {
        pub mod v1 {
            tonic::include_proto!("auth.v1");
        }
    }
    pub mod room {
        pub mod v1 {
            tonic::include_proto!("room.v1");
        }
    }
    pub mod message {
        pub mod v1 {
            tonic::include_proto!("message.v1");
        }
    }
    pub mod presence {
        pub mod v1 {
            tonic::include_proto!("presence.v1");
        }
    }
    pub mod gateway {
        pub mod v1 {
            tonic::include_proto!("gateway.v1");
        }
    }
}

pub use generated::{auth, gateway, message, presence, room};

/// The encoded `FileDescriptorSet` of every dchat package, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dchat_descriptor.bin"));

/// Metadata of a RESOURCE_EXHAUSTED status: whole seconds until the caller may try again.
pub const RETRY_AFTER_METADATA: &str = "retry-after";
/// Metadata of a RESOURCE_EXHAUSTED status: which limit refused (for metrics).
pub const LIMIT_METADATA: &str = "x-dchat-limit";

mod balance;
mod codec;
mod internal_token;
mod status;
mod transport;

pub use balance::{ATTEMPT_TIMEOUT, NOT_REPEATABLE, PROBE_EVERY, PROBE_TIMEOUT};
pub use internal_token::{
    INTERNAL_TOKEN_HEADER, InternalToken, InternalTokenCheck, InternalTokenError, RequireInternalToken,
};
pub use status::{BoxStream, from_validation, internal, parse_room_id, parse_user_id, stream_of};
pub use transport::Transport;

/// A protobuf message as bytes, for carrying one outside gRPC (the NATS bus).
pub fn encode<M: prost::Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

/// Bytes as a protobuf message; `None` when they are not one.
pub fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}
