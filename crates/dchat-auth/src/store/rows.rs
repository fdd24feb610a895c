//! Reading the auth tables' rows, the same for every backend: the columns each query
//! selects ([`USER_COLUMNS`], [`TOKEN_COLUMNS`]) and what they become.

use dchat_core::{DisplayName, Email, RoomId, UserId, UserName};
use dchat_storage::StoreError;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Credentials, TokenDetails, TokenKind, TokenRecord};
use crate::service::User;

/// The columns [`credentials_from_row`] reads, in its order, the password hash last.
pub(super) const USER_COLUMNS: &str =
    "u.user_id, u.email, u.username, u.display_name, u.bot, u.username_derived, u.password_hash";

/// The columns [`token_from_row`] reads.
pub(super) const TOKEN_COLUMNS: &str =
    "t.session_id, t.kind, t.name, t.user_agent, t.address, t.room_id, t.created_by, t.user_id,
    t.created_ms, t.last_used_ms, t.expires_ms, t.token_hash";

pub(super) fn decode_err(err: dchat_core::ValidationError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(err))
}

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt auth row: {what}").into())
}

/// Reads the [`USER_COLUMNS`] at the start of a row.
pub(super) fn credentials_from_row<R>(row: &R) -> Result<Credentials, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let user_id: String = row.try_get(0)?;
    let email: Option<String> = row.try_get(1)?;
    let username: Option<String> = row.try_get(2)?;
    let display_name: String = row.try_get(3)?;
    // Every account has a username once the service has started (it names the old ones).
    let username = username.ok_or_else(|| corrupt("an account without a username"))?;
    Ok(Credentials {
        user: User {
            user_id: UserId::parse(&user_id).map_err(decode_err)?,
            email: email.as_deref().map(Email::parse).transpose().map_err(decode_err)?,
            username: UserName::parse(&username).map_err(decode_err)?,
            display_name: DisplayName::parse(&display_name).map_err(decode_err)?,
            bot: row.try_get(4)?,
            username_derived: row.try_get(5)?,
        },
        password_hash: row.try_get(6)?,
    })
}

pub(super) fn kind_from_row<R>(row: &R) -> Result<TokenKind, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    TokenKind::parse(&kind).ok_or_else(|| corrupt("an unknown token kind"))
}

/// Reads the [`TOKEN_COLUMNS`].
pub(super) fn token_from_row<R>(row: &R) -> Result<TokenRecord, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let room_id: Option<String> = row.try_get("room_id")?;
    let created_by: Option<String> = row.try_get("created_by")?;
    let user_id: String = row.try_get("user_id")?;
    Ok(TokenRecord {
        details: TokenDetails {
            id: row.try_get::<Option<String>, _>("session_id")?.unwrap_or_default(),
            kind: kind_from_row(row)?,
            name: row.try_get("name")?,
            user_agent: row.try_get("user_agent")?,
            address: row.try_get("address")?,
            room_id: room_id.as_deref().map(RoomId::parse).transpose().map_err(decode_err)?,
            created_by: created_by.as_deref().map(UserId::parse).transpose().map_err(decode_err)?,
        },
        user_id: UserId::parse(&user_id).map_err(decode_err)?,
        created_ms: row.try_get("created_ms")?,
        last_used_ms: row.try_get("last_used_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        token_hash: row.try_get("token_hash")?,
    })
}
