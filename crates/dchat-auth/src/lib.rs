//! Auth service: accounts, password hashing and tokens.
//!
//! Passwords are hashed with argon2id and never stored or logged in clear. Tokens are 256
//! random bits handed to the client once; the database keeps only their SHA-256, with an
//! expiry and a persisted revocation, so a restart never brings a revoked token back.
//!
//! The service keeps its accounts in an [`AccountStore`], their second factors in a
//! [`TotpStore`] and its tokens (sessions, personal access tokens, webhooks) in a
//! [`TokenStore`] (all [`SqliteAuthStore`] today), which the binary opens and hands it.
//!
//! A new account joins the `general` room through the room service's gRPC client: this
//! crate never touches the room service's tables.

mod error;
mod grpc;
mod password;
mod service;
mod store;
mod token;

pub use crate::{
    error::AuthError,
    grpc::AuthGrpc,
    service::{
        AuthConfig, AuthService, Client, Login, Minted, Registration, RevocationBus, SecondFactor, Session,
        SessionInfo, TokenInfo, TotpEnrolment, TotpStatus, User, WebhookInfo,
    },
    store::{
        AccountStore, Credentials, PgAuthStore, Revoke, SCHEMA, SqliteAuthStore, TokenDetails, TokenKind, TokenRecord,
        TokenStore, TokenTimes, TotpState, TotpStore, Unnamed,
    },
};
