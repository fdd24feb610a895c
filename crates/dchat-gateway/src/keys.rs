//! Idempotency keys the gateway makes for the appends whose client gave none, so that an
//! append may be sent again to another message replica (`dchat_proto::Transport::balanced`
//! does, when the first failed in flight) and still be stored once. Clients never see them
//! (history, live frames and `gateway.v1` show a message's key only when a client chose
//! it), and a client may not send a key that looks like one.

use rand::Rng;

/// What every key of the gateway's own starts with.
const PREFIX: &str = "gw:";

/// The client's key, or a fresh one of the gateway's own (96 random bits).
pub(crate) fn or_fresh(client_id: Option<String>) -> String {
    client_id.unwrap_or_else(|| format!("{PREFIX}{:024x}", rand::rng().random::<u128>() >> 32))
}

/// A stored key as clients see it: theirs, or none.
pub(crate) fn shown(key: &str) -> Option<&str> {
    (!key.is_empty() && !key.starts_with(PREFIX)).then_some(key)
}

/// Whether a client's key would pass for one of the gateway's own (refused with 400).
pub(crate) fn reserved(client_id: Option<&str>) -> bool {
    client_id.is_some_and(|key| key.starts_with(PREFIX))
}

/// The answer to a client whose key is [`reserved`].
pub(crate) const RESERVED: &str = "client_id may not start with \"gw:\", which the server uses for its own keys";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_key_is_the_gateways_own_and_never_shown() {
        let (one, two) = (or_fresh(None), or_fresh(None));
        assert_ne!(one, two);
        assert!(reserved(Some(&one)));
        assert_eq!(shown(&one), None);
        assert_eq!(or_fresh(Some("mine".into())), "mine");
        assert_eq!(shown("mine"), Some("mine"));
        assert_eq!(shown(""), None);
        assert!(!reserved(Some("mine")) && !reserved(None));
    }
}
