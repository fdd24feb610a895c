//! Identifiers: [`UserId`] (server-generated UUIDs) and [`RoomId`] (chosen by people).

use std::fmt;

use crate::ValidationError;

/// A user's id: a UUID the auth service generates at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(uuid::Uuid);

impl UserId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::new("user_id", "is required"));
        }
        uuid::Uuid::try_parse(s).map(Self).map_err(|_| ValidationError::new("user_id", "is not a valid user id"))
    }

    /// The same text as `to_string()`, written without the formatting machinery, which
    /// costs several times as much: ids are written for every message a page or a feed sends.
    pub fn to_hyphenated_string(self) -> String {
        self.0.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lowercase, the form `parse` accepts and the databases store.
        self.0.hyphenated().fmt(f)
    }
}

/// A room's id, chosen by whoever creates it: 1 to 64 characters from `A-Z a-z 0-9 _ - .`.
///
/// The seed's rooms (`general`, `001`, `locust_test`) are all valid. The restricted
/// alphabet keeps ids safe in URLs, logs and NATS subjects without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);

impl RoomId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::new("room_id", "is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ValidationError::new("room_id", format!("is longer than {} characters", Self::MAX_LEN)));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(ValidationError::new("room_id", "may only contain letters, digits, '_', '-' and '.'"));
        }
        crate::text::plain_machine_name("room_id", s)?;
        Ok(Self(s.to_owned()))
    }

    /// The room every user belongs to from registration on.
    pub fn general() -> Self {
        Self("general".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of writing an id give the text `parse` reads back.
    #[test]
    fn user_ids_write_the_same_either_way_and_parse_back() {
        for _ in 0..100 {
            let id = UserId::generate();
            assert_eq!(id.to_hyphenated_string(), id.to_string());
            assert_eq!(UserId::parse(&id.to_hyphenated_string()).unwrap(), id);
        }
    }

    #[test]
    fn seed_room_ids_are_valid() {
        for id in ["general", "001", "locust_test", "a.b-c"] {
            assert_eq!(RoomId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn room_ids_with_spaces_slashes_or_excess_length_are_rejected() {
        for id in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(RoomId::parse(id).is_err(), "{id:?} was accepted");
        }
    }

    #[test]
    fn user_ids_round_trip_through_display() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(&id.to_string()).unwrap(), id);
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(UserId::parse("").is_err());
    }
}
