//! Auth service: accounts, password hashing and tokens.
//!
//! Passwords are hashed with argon2id and never stored or logged in clear. Tokens are 256
//! random bits handed to the client once; the database keeps only their SHA-256, with an
//! expiry and a persisted revocation, so a restart never brings a revoked token back.
//!
//! The service keeps its accounts in an [`AccountStore`], their second factors in a
//! [`TotpStore`] and its tokens (sessions, personal access tokens, webhooks) in a
//! [`TokenStore`] ([`SqliteAuthStore`] in its own file, or [`PgAuthStore`] in its schema of
//! a PostgreSQL database every replica shares), which the binary opens and hands it.
//! Revocations are numbered in the token store's log and followed by every replica (hints
//! on the bus, [`RevocationCodec`] between processes), so a logout through any replica
//! closes the token's connections on every gateway.
//!
//! A new account joins the `general` room through the room service's gRPC client: this
//! crate never touches the room service's tables.

mod error;
mod grpc;
mod password;
mod service;
mod store;
mod token;
mod wire;

pub use crate::{
    error::AuthError,
    grpc::AuthGrpc,
    service::{
        AttemptLimits, AttemptRate, AuthConfig, AuthService, Client, Login, Minted, Registration, RevocationBus,
        SecondFactor, Session, SessionInfo, TokenInfo, TotpEnrolment, TotpStatus, User, WebhookInfo,
    },
    store::{
        AccountStore, AttemptStore, Credentials, Gcra, PgAuthStore, Revoke, SCHEMA, SqliteAuthStore, TokenDetails,
        TokenKind, TokenRecord, TokenRevoke, TokenStore, TokenTimes, TotpState, TotpStore, Unnamed,
    },
    wire::RevocationCodec,
};
