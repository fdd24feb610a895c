//! The contract every [`AccountStore`] and [`TokenStore`] keeps, checked against each
//! backend.

use dchat_core::{DisplayName, Email, UserId, UserName};
use dchat_storage::StoreError;

use super::{AccountStore, Revoke, SessionDetails, SqliteAuthStore, TokenStore, TokenTimes};
use crate::User;

fn user(email: Option<&str>, username: Option<&str>, name: &str) -> User {
    User {
        user_id: UserId::generate(),
        email: email.map(|email| Email::parse(email).unwrap()),
        username: username.map(|username| UserName::parse(username).unwrap()),
        display_name: DisplayName::parse(name).unwrap(),
    }
}

fn details(session_id: &str) -> SessionDetails {
    SessionDetails {
        session_id: session_id.to_owned(),
        user_agent: format!("agent {session_id}"),
        address: "::1".to_owned(),
    }
}

/// Runs the whole contract against stores that hold nothing yet.
async fn keeps_the_contract(accounts: &dyn AccountStore, tokens: &dyn TokenStore) {
    let ada = user(Some("ada@example.com"), Some("ada"), "Ada");
    let bob = user(None, Some("bob"), "Bob");
    accounts.insert_user(&ada, "hash-a", 1).await.unwrap();
    accounts.insert_user(&bob, "hash-b", 2).await.unwrap();

    // A taken email or username conflicts, in any case, and changes nothing.
    for taken in [user(Some("ada@example.com"), None, "X"), user(None, Some("ADA"), "X"), user(None, Some("bob"), "X")]
    {
        let err = accounts.insert_user(&taken, "hash-x", 3).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
        assert!(accounts.user(taken.user_id).await.unwrap().is_none());
    }
    let email = Email::parse("ada@example.com").unwrap();
    let username = UserName::parse("Bob").unwrap();
    assert_eq!(accounts.taken(Some(&email), Some(&username)).await.unwrap(), (true, true));
    let (free_email, free_name) = (Email::parse("cid@example.com").unwrap(), UserName::parse("cid").unwrap());
    assert_eq!(accounts.taken(Some(&free_email), Some(&free_name)).await.unwrap(), (false, false));
    assert_eq!(accounts.taken(None, None).await.unwrap(), (false, false));

    // Reads: by email, by username (in any case), by id.
    let found = accounts.credentials_by_email(&email).await.unwrap().unwrap();
    assert_eq!((&found.user, found.password_hash.as_str()), (&ada, "hash-a"));
    let found = accounts.credentials_by_username(&username).await.unwrap().unwrap();
    assert_eq!((&found.user, found.password_hash.as_str()), (&bob, "hash-b"));
    assert!(accounts.credentials_by_email(&free_email).await.unwrap().is_none());
    assert_eq!(accounts.user(ada.user_id).await.unwrap(), Some(ada.clone()));

    // Update.
    let renamed = DisplayName::parse("Ada L.").unwrap();
    assert!(accounts.update_display_name(ada.user_id, &renamed).await.unwrap());
    assert!(!accounts.update_display_name(UserId::generate(), &renamed).await.unwrap());
    assert_eq!(accounts.user(ada.user_id).await.unwrap().unwrap().display_name, renamed);

    // Tokens: live until their hard end, a stretch without use, or revocation; revoking
    // twice is known, a stranger's is not.
    let (live, expiring, revoked, idle) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    let long = 1_000_000;
    tokens.insert_token(&live, ada.user_id, 10, 1_000, &details("s1")).await.unwrap();
    tokens.insert_token(&expiring, bob.user_id, 10, 100, &details("s2")).await.unwrap();
    tokens.insert_token(&revoked, bob.user_id, 10, 1_000, &details("s3")).await.unwrap();
    let (owner, times) = tokens.user_by_token(&live, 50, long).await.unwrap().unwrap();
    assert_eq!((owner.user_id, times), (ada.user_id, TokenTimes { expires_ms: 1_000, last_used_ms: 10 }));
    assert!(tokens.user_by_token(&expiring, 99, long).await.unwrap().is_some());
    assert!(tokens.user_by_token(&expiring, 100, long).await.unwrap().is_none(), "expired at its expiry");
    assert_eq!(tokens.revoke_token(&revoked, 60).await.unwrap(), Some(true));
    assert_eq!(tokens.revoke_token(&revoked, 61).await.unwrap(), Some(false));
    assert_eq!(tokens.revoke_token(&[9u8; 32], 62).await.unwrap(), None);
    assert!(tokens.user_by_token(&revoked, 63, long).await.unwrap().is_none());
    assert!(tokens.user_by_token(&[9u8; 32], 63, long).await.unwrap().is_none());

    // Idle: a token unused for `idle_ms` ends; a use moves its end, never back.
    tokens.insert_token(&idle, ada.user_id, 100, 10_000, &details("s4")).await.unwrap();
    assert!(tokens.user_by_token(&idle, 149, 50).await.unwrap().is_some());
    assert!(tokens.user_by_token(&idle, 150, 50).await.unwrap().is_none(), "ended after 50 ms unused");
    tokens.touch_token(&idle, 140).await.unwrap();
    tokens.touch_token(&idle, 120).await.unwrap();
    let (_, times) = tokens.user_by_token(&idle, 150, 50).await.unwrap().unwrap();
    assert_eq!(times.last_used_ms, 140, "the later use counts");
    assert!(tokens.user_by_token(&idle, 190, 50).await.unwrap().is_none());

    // Sessions: a user's live ones, the last used first, with their details; revoking one
    // by id, all but one, or all, answers the digests it revoked, and only the user's own.
    let (first, second, third) = ([5u8; 32], [6u8; 32], [7u8; 32]);
    tokens.insert_token(&first, bob.user_id, 200, 10_000, &details("b1")).await.unwrap();
    tokens.insert_token(&second, bob.user_id, 210, 10_000, &details("b2")).await.unwrap();
    tokens.insert_token(&third, bob.user_id, 220, 10_000, &details("b3")).await.unwrap();
    tokens.touch_token(&first, 300).await.unwrap();
    let listed = tokens.sessions_of(bob.user_id, 310, long).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|session| session.details.session_id.as_str()).collect();
    assert_eq!(ids, ["b1", "b3", "b2"], "the last used first; the revoked and expired ones are not listed");
    assert_eq!(
        (listed[0].details.user_agent.as_str(), listed[0].last_used_ms, listed[0].created_ms),
        ("agent b1", 300, 200)
    );
    assert_eq!(listed[0].token_hash, first.to_vec());
    assert!(
        tokens.revoke_sessions(ada.user_id, &Revoke::Session("b2".into()), 320).await.unwrap().is_empty(),
        "not ada's"
    );
    assert_eq!(
        tokens.revoke_sessions(bob.user_id, &Revoke::Session("b2".into()), 320).await.unwrap(),
        [second.to_vec()]
    );
    assert!(tokens.revoke_sessions(bob.user_id, &Revoke::Session("b2".into()), 321).await.unwrap().is_empty());
    assert_eq!(
        tokens.revoke_sessions(bob.user_id, &Revoke::AllBut(first.to_vec()), 330).await.unwrap(),
        [third.to_vec()]
    );
    assert_eq!(tokens.sessions_of(bob.user_id, 340, long).await.unwrap().len(), 1);
    assert_eq!(tokens.revoke_sessions(bob.user_id, &Revoke::All, 350).await.unwrap(), [first.to_vec()]);
    assert!(tokens.sessions_of(bob.user_id, 360, long).await.unwrap().is_empty());

    // Passwords: by id, replaced.
    assert!(accounts.update_password_hash(bob.user_id, "hash-b2").await.unwrap());
    assert_eq!(accounts.credentials_by_id(bob.user_id).await.unwrap().unwrap().password_hash, "hash-b2");
    assert!(!accounts.update_password_hash(UserId::generate(), "x").await.unwrap());

    // Deletes: ended tokens go, at their hard end or unused for the idle time (here the two
    // unused since 10), the others stay; a deleted account takes its tokens with it.
    assert_eq!(tokens.delete_tokens_expired_before(500, long).await.unwrap(), 1);
    assert_eq!(tokens.delete_tokens_expired_before(200, 100).await.unwrap(), 2);
    assert!(tokens.user_by_token(&idle, 150, 50).await.unwrap().is_some(), "a token in use stays");
    accounts.delete_user(ada.user_id).await.unwrap();
    assert!(accounts.user(ada.user_id).await.unwrap().is_none());
    assert!(tokens.user_by_token(&idle, 150, 50).await.unwrap().is_none());
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    let store = SqliteAuthStore::migrate(pool, &path).await.unwrap();
    keeps_the_contract(&store, &store).await;
}
