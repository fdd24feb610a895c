//! Validated text values: names, emails, passwords, message bodies.
//!
//! Lengths are counted in Unicode scalar values (what a person calls characters), and
//! control characters are refused in names because they corrupt terminals and logs.
//!
//! Human names are NFKC-normalized, so that look-alike spellings of one name (full-width
//! letters, ligatures, composed and decomposed accents) are stored as one, and the
//! characters that make a name show something other than what it is are refused: the
//! bidirectional overrides and isolates (which reorder what follows them) and the invisible
//! ones (zero-width spaces, word joiners, the byte order mark, soft hyphens). The
//! zero-width joiner and non-joiner stay: emoji sequences and several scripts need them.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::ValidationError;

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters that reorder or hide text: they let a name pass for another.
fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'                      // Arabic letter mark
            | '\u{200E}' | '\u{200F}'    // left-to-right and right-to-left marks
            | '\u{202A}'..='\u{202E}'    // embeddings and overrides
            | '\u{2066}'..='\u{2069}'    // isolates
            | '\u{200B}'                  // zero-width space
            | '\u{2060}'..='\u{2064}'    // word joiner and invisible operators
            | '\u{FEFF}'                  // zero-width no-break space (byte order mark)
            | '\u{00AD}'                  // soft hyphen
            | '\u{180E}' // Mongolian vowel separator
    )
}

/// Checks a single-line human name: trimmed, NFKC-normalized, 1..=max characters, no
/// control or deceptive characters.
fn parse_name(field: &'static str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let normalized: String = raw.trim().nfkc().collect();
    let name = normalized.trim();
    if name.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if name.chars().count() > max_chars {
        return Err(ValidationError::new(field, format!("is longer than {max_chars} characters")));
    }
    if has_control_chars(name) {
        return Err(ValidationError::new(field, "contains control characters"));
    }
    if name.chars().any(is_deceptive) {
        return Err(ValidationError::new(field, "contains invisible or direction-changing characters"));
    }
    Ok(name.to_owned())
}

/// The shape every machine name (username, room id) shares beyond its alphabet: it starts
/// with a letter or digit and has no `..`, so that none reads as a path or hides its start.
pub(crate) fn plain_machine_name(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || s.contains("..") {
        return Err(ValidationError::new(field, "must start with a letter or digit and may not contain '..'"));
    }
    Ok(())
}

macro_rules! string_newtype_accessors {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A room's human name, such as "General Chat": 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);
string_newtype_accessors!(RoomName);

impl RoomName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_name("name", raw, Self::MAX_CHARS).map(Self)
    }
}

/// The name shown next to a user's messages: 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);
string_newtype_accessors!(DisplayName);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_name("display_name", raw, Self::MAX_CHARS).map(Self)
    }
}

/// What a name looks like, for telling whether one display name imitates another: the
/// UTS #39 confusable skeleton (Cyrillic `а` and Latin `a`, `0` and `O`, `rn` and `m` map
/// to one prototype) of the lowercased name, without accents, spaces or punctuation. Two
/// names with one skeleton read as the same name to a person.
pub fn name_skeleton(name: &str) -> String {
    let lowered: String = name.nfkc().flat_map(char::to_lowercase).collect();
    let bare: String = lowered.nfd().filter(|c| !is_combining_mark(*c)).collect();
    let skeleton: String = unicode_security::confusable_detection::skeleton(&bare).collect();
    // The skeleton may map a letter to an upper-case prototype (`l` to `I`); fold again.
    let folded: String = skeleton.chars().flat_map(char::to_lowercase).collect();
    let letters: String = folded.chars().filter(|c| c.is_alphanumeric()).collect();
    // A name of symbols alone (emoji) is compared as it is, not as nothing.
    if letters.is_empty() { folded.chars().filter(|c| !c.is_whitespace()).collect() } else { letters }
}

/// Combining marks of the ranges accents live in (enough for names: Latin, Greek, Cyrillic,
/// and the general combining blocks).
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
}

/// The name a user gives a personal access token or a webhook: a single-line human name
/// of 1 to 64 characters, like a display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);
string_newtype_accessors!(TokenName);

impl TokenName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_name("name", raw, Self::MAX_CHARS).map(Self)
    }
}

/// A login name: 3 to 32 characters from `A-Z a-z 0-9 _ - .`, unique without regard to case.
/// Stored lowercased, so `Alice` and `alice` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);
string_newtype_accessors!(UserName);

impl UserName {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new("username", "is required"));
        }
        if s.len() < Self::MIN_CHARS || s.len() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "username",
                format!("must be {} to {} characters long", Self::MIN_CHARS, Self::MAX_CHARS),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(ValidationError::new("username", "may only contain letters, digits, '_', '-' and '.'"));
        }
        plain_machine_name("username", s)?;
        Ok(Self(s.to_ascii_lowercase()))
    }
}

/// An email address, lowercased. Only the shape is checked (one `@`, something on each
/// side, no spaces); whether mail reaches it is not our concern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype_accessors!(Email);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new("email", "is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ValidationError::new("email", format!("is longer than {} characters", Self::MAX_LEN)));
        }
        let valid_shape = match s.split_once('@') {
            Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
            None => false,
        };
        if !valid_shape || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new("email", "is not an email address"));
        }
        Ok(Self(s.to_lowercase()))
    }
}

/// A password as typed, before hashing. Its `Debug` never shows the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Longer inputs are refused so that hashing cost stays bounded.
    pub const MAX_BYTES: usize = 1024;

    /// Checks a new password against the configured minimum length (in characters).
    pub fn parse_new(raw: &str, min_chars: usize) -> Result<Self, ValidationError> {
        if raw.chars().count() < min_chars {
            return Err(ValidationError::new("password", format!("must be at least {min_chars} characters long")));
        }
        Self::parse_existing(raw)
    }

    /// Accepts any password a login may present; only the size is bounded.
    pub fn parse_existing(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new("password", "is required"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::new("password", format!("is longer than {} bytes", Self::MAX_BYTES)));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The body of a message: not blank, at most a configured number of characters.
/// Kept exactly as sent (no trimming), since whitespace can be meaningful in chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);
string_newtype_accessors!(MessageText);

impl MessageText {
    pub const DEFAULT_MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new("text", "is required"));
        }
        // Byte length bounds the character count from above, so most texts skip the count.
        if raw.len() > max_chars && raw.chars().count() > max_chars {
            return Err(ValidationError::new("text", format!("is longer than {max_chars} characters")));
        }
        // No chat text holds one, and PostgreSQL cannot store one: refused on every backend
        // alike. Other control characters (tabs, line breaks) are text.
        if raw.contains('\0') {
            return Err(ValidationError::new("text", "contains a NUL character"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A client's idempotency key for an append: up to 128 bytes, empty meaning none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);
string_newtype_accessors!(IdempotencyKey);

impl IdempotencyKey {
    pub const MAX_BYTES: usize = 128;

    /// `Ok(None)` for an empty key: the append is then not deduplicated.
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, ValidationError> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::new("idempotency_key", format!("is longer than {} bytes", Self::MAX_BYTES)));
        }
        if has_control_chars(raw) {
            return Err(ValidationError::new("idempotency_key", "contains control characters"));
        }
        Ok(Some(Self(raw.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(RoomName::parse("  General Chat ").unwrap().as_str(), "General Chat");
        assert!(RoomName::parse("   ").is_err());
        assert!(RoomName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("bad\u{0}name").is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn look_alike_spellings_of_a_name_are_one_and_hiding_characters_are_refused() {
        // Full-width letters and a ligature normalize to the plain spelling (NFKC).
        assert_eq!(DisplayName::parse("\u{FF21}lice").unwrap().as_str(), "Alice");
        assert_eq!(RoomName::parse("of\u{FB01}ce").unwrap().as_str(), "office");
        // A composed and a decomposed accent are one name.
        assert_eq!(DisplayName::parse("Jose\u{301}").unwrap(), DisplayName::parse("Jos\u{E9}").unwrap());
        for hiding in ["ad\u{202E}nimda", "ad\u{2066}min", "ad\u{200B}min", "\u{FEFF}admin", "ad\u{AD}min"] {
            assert!(DisplayName::parse(hiding).is_err(), "{hiding:?} was accepted");
            assert!(RoomName::parse(hiding).is_err(), "{hiding:?} was accepted");
        }
        // The joiner that emoji sequences need stays.
        assert!(DisplayName::parse("\u{1F469}\u{200D}\u{1F4BB} Ada").is_ok());
    }

    #[test]
    fn machine_names_start_with_a_letter_or_digit_and_have_no_double_dot() {
        for bad in ["..", ".hidden", "a..b", "-dash", "_under"] {
            assert!(UserName::parse(bad).is_err(), "username {bad:?} was accepted");
            assert!(crate::RoomId::parse(bad).is_err(), "room id {bad:?} was accepted");
        }
        for good in ["001", "book-club", "v1.2", "locust_test"] {
            assert!(crate::RoomId::parse(good).is_ok(), "{good:?}");
        }
        assert!(UserName::parse("a.b_c-d").is_ok());
    }

    #[test]
    fn look_alike_names_share_a_skeleton() {
        let ada = name_skeleton("Ada Lovelace");
        for imitation in
            ["ada lovelace", "Adа Lovelace", "Ada  Lovelace", "Ádá Lovelace", "Ada Love1ace", "ADA.LOVELACE"]
        {
            assert_eq!(name_skeleton(imitation), ada, "{imitation:?} (Cyrillic а, accents, 1 for l...)");
        }
        for different in ["Ada Lovelock", "Adam Lovelace", "Grace Hopper"] {
            assert_ne!(name_skeleton(different), ada, "{different:?}");
        }
        assert_eq!(name_skeleton("rnoon"), name_skeleton("moon"));
        assert_ne!(name_skeleton("🙂"), name_skeleton("🎉"), "names of symbols alone are not all alike");
    }

    #[test]
    fn usernames_and_emails_are_case_insensitive() {
        assert_eq!(UserName::parse("Alice_1").unwrap().as_str(), "alice_1");
        assert!(UserName::parse("al").is_err());
        assert!(UserName::parse("al ice").is_err());
        assert_eq!(Email::parse("Bob@Example.COM").unwrap().as_str(), "bob@example.com");
        for bad in ["bob", "@x", "bob@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn passwords_have_a_minimum_and_a_maximum_and_never_print() {
        assert!(Password::parse_new("short", 8).is_err());
        assert!(Password::parse_new("long enough", 8).is_ok());
        assert!(Password::parse_existing(&"x".repeat(1025)).is_err());
        assert!(!format!("{:?}", Password::parse_existing("hunter22").unwrap()).contains("hunter22"));
    }

    #[test]
    fn message_text_counts_characters_not_bytes() {
        assert!(MessageText::parse(&"é".repeat(4000), 4000).is_ok());
        assert!(MessageText::parse(&"é".repeat(4001), 4000).is_err());
        assert!(MessageText::parse(" \n ", 4000).is_err());
        assert!(MessageText::parse("a\0b", 4000).is_err());
        assert!(MessageText::parse("tab\tand\nline", 4000).is_ok());
        assert_eq!(MessageText::parse(" hi ", 10).unwrap().as_str(), " hi ");
    }

    #[test]
    fn empty_idempotency_key_means_none() {
        assert_eq!(IdempotencyKey::parse_optional("").unwrap(), None);
        assert!(IdempotencyKey::parse_optional(&"k".repeat(129)).is_err());
    }
}
