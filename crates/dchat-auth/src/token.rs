//! Opaque bearer tokens: 256 random bits, shown to the client once, stored as SHA-256.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Token text as the client holds it: 64 lowercase hex digits.
pub(crate) fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A token's public id: 96 random bits as 24 hex digits, unrelated to its secret, so
/// listing sessions and tokens shows nothing that grants one.
pub(crate) fn public_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores and looks up by.
pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Tokens that cannot be ours are rejected before touching the database.
pub(crate) fn looks_valid(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}
