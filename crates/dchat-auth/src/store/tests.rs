//! The contract every [`AccountStore`] and [`TokenStore`] keeps, checked against each
//! backend.

use dchat_core::{DisplayName, Email, RoomId, UserId, UserName};
use dchat_storage::StoreError;

use super::{
    AccountStore, AttemptStore, Gcra, PgAuthStore, Revoke, SCHEMA, SqliteAuthStore, TokenDetails, TokenKind,
    TokenRevoke, TokenStore, TokenTimes, TotpState, TotpStore,
};
use crate::User;

fn user(email: Option<&str>, username: &str, name: &str) -> User {
    User {
        user_id: UserId::generate(),
        email: email.map(|email| Email::parse(email).unwrap()),
        username: UserName::parse(username).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        bot: false,
        username_derived: false,
    }
}

fn details(session_id: &str) -> TokenDetails {
    TokenDetails::session(session_id.to_owned(), format!("agent {session_id}"), "::1".to_owned())
}

fn session(expires_ms: i64, last_used_ms: i64) -> TokenTimes {
    TokenTimes { kind: TokenKind::Session, expires_ms, last_used_ms }
}

/// Runs the whole contract against stores that hold nothing yet.
async fn keeps_the_contract(accounts: &dyn AccountStore, tokens: &dyn TokenStore) {
    let ada = user(Some("ada@example.com"), "ada", "Ada");
    let bob = user(None, "bob", "Bob");
    accounts.insert_user(&ada, "hash-a", 1).await.unwrap();
    accounts.insert_user(&bob, "hash-b", 2).await.unwrap();

    // A taken email or username conflicts, in any case, and changes nothing.
    for taken in [user(Some("ada@example.com"), "xavier", "X"), user(None, "ADA", "X"), user(None, "bob", "X")] {
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
    assert_eq!((owner.user_id, times), (ada.user_id, session(1_000, 10)));
    assert!(tokens.user_by_token(&expiring, 99, long).await.unwrap().is_some());
    assert!(tokens.user_by_token(&expiring, 100, long).await.unwrap().is_none(), "expired at its expiry");
    assert_eq!(tokens.last_revocation().await.unwrap(), 0);
    assert_eq!(tokens.revoke_token(&revoked, 60).await.unwrap(), TokenRevoke::Revoked(1));
    assert_eq!(tokens.revoke_token(&revoked, 61).await.unwrap(), TokenRevoke::AlreadyRevoked);
    assert_eq!(tokens.revoke_token(&[9u8; 32], 62).await.unwrap(), TokenRevoke::Unknown);
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
    let listed = tokens.tokens_of(bob.user_id, TokenKind::Session, 310, long).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|session| session.details.id.as_str()).collect();
    assert_eq!(ids, ["b1", "b3", "b2"], "the last used first; the revoked and expired ones are not listed");
    assert_eq!(
        (listed[0].details.user_agent.as_str(), listed[0].last_used_ms, listed[0].created_ms),
        ("agent b1", 300, 200)
    );
    assert_eq!(listed[0].token_hash, first.to_vec());
    assert!(
        tokens.revoke_tokens(ada.user_id, TokenKind::Session, &Revoke::One("b2".into()), 320).await.unwrap().is_empty(),
        "not ada's"
    );
    assert_eq!(
        tokens.revoke_tokens(bob.user_id, TokenKind::Session, &Revoke::One("b2".into()), 320).await.unwrap(),
        [(2, second.to_vec())]
    );
    let session_kind = TokenKind::Session;
    assert!(tokens.revoke_tokens(bob.user_id, session_kind, &Revoke::One("b2".into()), 321).await.unwrap().is_empty());
    assert_eq!(
        tokens.revoke_tokens(bob.user_id, session_kind, &Revoke::AllBut(first.to_vec()), 330).await.unwrap(),
        [(3, third.to_vec())]
    );
    assert_eq!(tokens.tokens_of(bob.user_id, session_kind, 340, long).await.unwrap().len(), 1);
    let all = tokens.revoke_tokens(bob.user_id, session_kind, &Revoke::All, 350).await.unwrap();
    assert_eq!(all, [(4, first.to_vec())]);
    assert!(tokens.tokens_of(bob.user_id, session_kind, 360, long).await.unwrap().is_empty());

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

/// Personal tokens and webhooks: kinds apart from sessions.
async fn keeps_the_token_kinds_apart(accounts: &dyn AccountStore, tokens: &dyn TokenStore) {
    let cid = user(None, "cid", "Cid");
    let bot = User { bot: true, ..user(None, "alerts-bot", "Alerts") };
    accounts.insert_user(&cid, "hash-c", 1).await.unwrap();
    accounts.insert_user(&bot, "!", 1).await.unwrap();
    assert!(accounts.user(bot.user_id).await.unwrap().unwrap().bot);

    // A personal token: its own kind, never ended by idleness, listed and revoked apart
    // from sessions ("sign out everywhere" leaves it).
    let (script, signed_in) = ([20u8; 32], [21u8; 32]);
    let personal = TokenDetails { kind: TokenKind::Personal, name: "deploy".into(), ..details("p1") };
    tokens.insert_token(&script, cid.user_id, 100, 1_000_000, &personal).await.unwrap();
    tokens.insert_token(&signed_in, cid.user_id, 100, 1_000_000, &details("c1")).await.unwrap();
    let (_, times) = tokens.user_by_token(&script, 500_000, 10).await.unwrap().unwrap();
    assert_eq!(times, TokenTimes { kind: TokenKind::Personal, expires_ms: 1_000_000, last_used_ms: 100 });
    assert!(tokens.user_by_token(&signed_in, 500_000, 10).await.unwrap().is_none(), "a session idles out");
    let listed = tokens.tokens_of(cid.user_id, TokenKind::Personal, 500_000, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| (t.details.id.as_str(), t.details.name.as_str())).collect::<Vec<_>>(),
        [("p1", "deploy")]
    );
    assert!(tokens.revoke_tokens(cid.user_id, TokenKind::Session, &Revoke::All, 600).await.unwrap().len() == 1);
    assert!(tokens.user_by_token(&script, 700, 10_000).await.unwrap().is_some());
    // Idle sessions go (cid's and those left by the tests before); the unused personal token stays.
    assert!(tokens.delete_tokens_expired_before(900_000, 10).await.unwrap() >= 1);
    assert!(tokens.user_by_token(&script, 900_000, 10).await.unwrap().is_some());
    let p1 = Revoke::One("p1".into());
    let revoked = tokens.revoke_tokens(cid.user_id, TokenKind::Personal, &p1, 900_001).await.unwrap();
    assert_eq!(revoked, [(6, script.to_vec())]);

    // The revocation log: every revocation of a session or personal token, numbered in
    // order; trimming keeps the numbering.
    assert_eq!(tokens.last_revocation().await.unwrap(), 6);
    let logged = tokens.revocations_after(0, 10).await.unwrap();
    let seqs: Vec<u64> = logged.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(logged[0], (1, [3u8; 32].to_vec()), "the first revoked token");
    assert_eq!(tokens.revocations_after(4, 1).await.unwrap().len(), 1);
    tokens.delete_revocations_through(6).await.unwrap();
    assert!(tokens.revocations_after(0, 10).await.unwrap().is_empty());
    assert_eq!(tokens.last_revocation().await.unwrap(), 6, "trimming does not rewind the numbers");

    // A webhook: opens its bot for its room only, never as a bearer token; its room lists
    // and revokes it.
    let (hook, room) = ([22u8; 32], RoomId::parse("ops").unwrap());
    let webhook = TokenDetails {
        kind: TokenKind::Webhook,
        name: "Alerts".into(),
        room_id: Some(room.clone()),
        created_by: Some(cid.user_id),
        ..details("w1")
    };
    tokens.insert_token(&hook, bot.user_id, 100, i64::MAX, &webhook).await.unwrap();
    assert!(tokens.user_by_token(&hook, 200, 1_000).await.unwrap().is_none(), "a webhook is no bearer token");
    assert_eq!(tokens.revoke_token(&hook, 200).await.unwrap(), TokenRevoke::Unknown, "nor is it logged out");
    assert!(tokens.webhook_by_token(&script, 200).await.unwrap().is_none(), "a personal token is no webhook");
    let (poster, posts_to, id) = tokens.webhook_by_token(&hook, 200).await.unwrap().unwrap();
    assert_eq!((poster.user_id, posts_to, id.as_str()), (bot.user_id, room.clone(), "w1"));
    let listed = tokens.webhooks_of(&room, 200).await.unwrap();
    assert_eq!((listed.len(), listed[0].details.created_by, listed[0].user_id), (1, Some(cid.user_id), bot.user_id));
    assert!(tokens.webhooks_of(&RoomId::parse("elsewhere").unwrap(), 200).await.unwrap().is_empty());
    assert_eq!(tokens.revoke_webhook(&RoomId::parse("elsewhere").unwrap(), "w1", 300).await.unwrap(), None);
    assert_eq!(tokens.revoke_webhook(&room, "w1", 300).await.unwrap(), Some(hook.to_vec()));
    assert_eq!(tokens.revoke_webhook(&room, "w1", 301).await.unwrap(), None);
    assert!(tokens.webhook_by_token(&hook, 400).await.unwrap().is_none());
}

/// Attempts under a rate: a burst, then one per interval; a refusal charges nothing and
/// says how long to wait; keys are independent; refilled keys are forgotten.
async fn keeps_the_attempt_limits(attempts: &dyn AttemptStore) {
    let rate = Gcra { interval_ms: 1_000, burst: 3 };
    for n in 0..3 {
        assert_eq!(attempts.attempt_wait("ip:a", 10_000, rate).await.unwrap(), 0, "attempt {n} allowed");
        assert_eq!(attempts.take_attempt("ip:a", 10_000, rate).await.unwrap(), 0, "attempt {n} taken");
    }
    assert_eq!(attempts.attempt_wait("ip:a", 10_000, rate).await.unwrap(), 1_000, "the burst is spent");
    assert_eq!(attempts.take_attempt("ip:a", 10_000, rate).await.unwrap(), 1_000, "refused, charging nothing");
    assert_eq!(attempts.attempt_wait("ip:a", 10_400, rate).await.unwrap(), 600);
    assert_eq!(attempts.take_attempt("ip:a", 11_000, rate).await.unwrap(), 0, "one more after an interval");
    assert_eq!(attempts.take_attempt("ip:b", 11_000, rate).await.unwrap(), 0, "keys are independent");
    assert_eq!(attempts.delete_idle_attempts(12_000).await.unwrap(), 1, "ip:b refilled; ip:a has not");
    assert_eq!(attempts.delete_idle_attempts(14_000).await.unwrap(), 1);
    assert_eq!(attempts.attempt_wait("ip:a", 14_000, rate).await.unwrap(), 0);
}

/// Usernames for accounts made without one, the one change of a derived one, bots.
async fn keeps_the_handles(accounts: &dyn AccountStore) {
    let dee = user(Some("dee@example.com"), "dee", "Dee");
    accounts.insert_user(&dee, "hash-d", 1).await.unwrap();
    assert!(accounts.unnamed_users(10).await.unwrap().is_empty());
    assert!(!accounts.assign_derived_username(dee.user_id, &UserName::parse("dee2").unwrap()).await.unwrap());
    assert!(!accounts.replace_derived_username(dee.user_id, &UserName::parse("d.e.e").unwrap()).await.unwrap());

    let eve = User { username_derived: true, ..user(Some("eve@example.com"), "eve", "Eve") };
    accounts.insert_user(&eve, "hash-e", 1).await.unwrap();
    let err = accounts.replace_derived_username(eve.user_id, &UserName::parse("dee").unwrap()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(accounts.replace_derived_username(eve.user_id, &UserName::parse("evelyn").unwrap()).await.unwrap());
    let renamed = accounts.user(eve.user_id).await.unwrap().unwrap();
    assert_eq!((renamed.username.as_str(), renamed.username_derived), ("evelyn", false));
    assert!(!accounts.replace_derived_username(eve.user_id, &UserName::parse("eve").unwrap()).await.unwrap());

    assert!(accounts.update_bot(eve.user_id, true).await.unwrap());
    assert!(accounts.user(eve.user_id).await.unwrap().unwrap().bot);
    assert!(!accounts.update_bot(UserId::generate(), true).await.unwrap());
}

/// Second factors: begun, enabled once with its recovery codes, each code and step used once.
async fn keeps_the_second_factor(accounts: &dyn AccountStore, totp: &dyn TotpStore) {
    let fay = user(None, "fay", "Fay");
    accounts.insert_user(&fay, "hash-f", 1).await.unwrap();
    assert_eq!(totp.totp(fay.user_id).await.unwrap(), None);
    assert!(!totp.enable_totp(fay.user_id, 5, &[]).await.unwrap(), "nothing begun");
    assert!(totp.begin_totp(fay.user_id, b"first secret").await.unwrap());
    assert!(totp.begin_totp(fay.user_id, b"second secret").await.unwrap(), "a new start replaces the secret");
    let begun = TotpState { secret: b"second secret".to_vec(), enabled: false, last_step: 0 };
    assert_eq!(totp.totp(fay.user_id).await.unwrap(), Some(begun));
    let codes = [vec![1u8; 32], vec![2u8; 32]];
    assert!(totp.enable_totp(fay.user_id, 100, &codes).await.unwrap());
    assert!(!totp.enable_totp(fay.user_id, 101, &codes).await.unwrap(), "on already");
    assert!(!totp.begin_totp(fay.user_id, b"third").await.unwrap(), "no new secret while on");
    assert_eq!(totp.totp(fay.user_id).await.unwrap().unwrap().last_step, 100);
    assert!(!totp.use_totp_step(fay.user_id, 100).await.unwrap(), "the enrolment's code is spent");
    assert!(totp.use_totp_step(fay.user_id, 101).await.unwrap());
    assert!(!totp.use_totp_step(fay.user_id, 101).await.unwrap(), "a code is good once");
    assert!(!totp.use_totp_step(fay.user_id, 99).await.unwrap(), "never an older step");
    assert_eq!(totp.recovery_codes_left(fay.user_id).await.unwrap(), 2);
    assert!(totp.use_recovery_code(fay.user_id, &codes[0], 5).await.unwrap());
    assert!(!totp.use_recovery_code(fay.user_id, &codes[0], 6).await.unwrap());
    assert!(!totp.use_recovery_code(fay.user_id, &[9u8; 32], 6).await.unwrap());
    assert_eq!(totp.recovery_codes_left(fay.user_id).await.unwrap(), 1);
    totp.disable_totp(fay.user_id).await.unwrap();
    assert_eq!(totp.totp(fay.user_id).await.unwrap(), None);
    assert_eq!(totp.recovery_codes_left(fay.user_id).await.unwrap(), 0);
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    let store = SqliteAuthStore::migrate(pool, &path).await.unwrap();
    keeps_the_contract(&store, &store).await;
    keeps_the_token_kinds_apart(&store, &store).await;
    keeps_the_handles(&store).await;
    keeps_the_second_factor(&store, &store).await;
    keeps_the_attempt_limits(&store).await;
}

/// The same contract on PostgreSQL, in a database of the test's own, with two replicas
/// migrating the schema at the same moment first.
#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let Some(db) = dchat_storage::testing::TestDatabase::create("the auth store contract").await else {
        return;
    };
    let open = || dchat_storage::postgres::open_postgres(&db.url, SCHEMA, 4);
    let (first, second) = tokio::join!(async { PgAuthStore::migrate(open().await.unwrap()).await }, async {
        PgAuthStore::migrate(open().await.unwrap()).await
    });
    let (store, _) = (first.unwrap(), second.unwrap());
    let _db = db;
    keeps_the_contract(&store, &store).await;
    keeps_the_token_kinds_apart(&store, &store).await;
    keeps_the_handles(&store).await;
    keeps_the_second_factor(&store, &store).await;
    keeps_the_attempt_limits(&store).await;
}

/// Accounts registered by email alone before every account had a username are found, to
/// be named at start.
#[tokio::test]
async fn the_sqlite_store_finds_accounts_made_before_usernames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
    let store = SqliteAuthStore::migrate(pool.clone(), &path).await.unwrap();
    let old = UserId::generate();
    sqlx::query(
        "INSERT INTO users (user_id, email, display_name, password_hash, created_ms) VALUES (?, ?, 'Old', 'h', 1)",
    )
    .bind(old.to_string())
    .bind("old@example.com")
    .execute(&pool)
    .await
    .unwrap();
    let unnamed = store.unnamed_users(10).await.unwrap();
    assert_eq!(unnamed, [super::Unnamed { user_id: old, email: Some(Email::parse("old@example.com").unwrap()) }]);
    assert!(store.assign_derived_username(old, &UserName::parse("old").unwrap()).await.unwrap());
    let named = store.user(old).await.unwrap().unwrap();
    assert_eq!((named.username.as_str(), named.username_derived), ("old", true));
    assert!(store.unnamed_users(10).await.unwrap().is_empty());
}
