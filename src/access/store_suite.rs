//! The key store's test suite, run against every store: SQLite always, PostgreSQL when
//! `IONOS_MCP_TEST_POSTGRES` names a database server (CI starts one; each test gets a
//! database of its own). Then the limits every replica shares, and what only PostgreSQL does:
//! migrations started at once, reconnection, and the password kept out of messages.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::backend::{self, Backend, Location};
use super::confirmations::{Binding, Confirmations, KEPT_SECS, Redeemed, id_of};
use super::key::ApiKey;
use super::limits::Limits;
use super::now;
use super::scopes::Scopes;
use super::store::{Bucket, KeyState, KeyStore, NewKey, Outcome, StoreError, UsageEvent};
use super::test_support::{PgTestDb, TempDir, usage_event};

/// A database for one test: a SQLite file, or a PostgreSQL database of its own.
pub(crate) enum TestDb {
    Sqlite { _dir: TempDir, location: Location },
    Postgres(PgTestDb),
}

impl TestDb {
    fn sqlite(tag: &str) -> TestDb {
        let dir = TempDir::new(tag);
        let location = Location::Sqlite(dir.path().join("keys.db"));
        TestDb::Sqlite {
            _dir: dir,
            location,
        }
    }

    fn location(&self) -> &Location {
        match self {
            TestDb::Sqlite { location, .. } => location,
            TestDb::Postgres(db) => &db.location,
        }
    }

    /// Opens the database as `serve` and `keys` do.
    async fn backend(&self) -> Backend {
        backend::open(self.location())
            .await
            .unwrap_or_else(|e| panic!("{} opens: {e}", self.location().shown()))
    }

    /// A store on the database; each call opens another, as another process would.
    async fn open(&self) -> Arc<dyn KeyStore> {
        self.backend().await.store
    }

    /// The confirmations kept on the database; each call opens another store.
    async fn confirmations(&self) -> Arc<dyn Confirmations> {
        self.backend()
            .await
            .confirmations
            .unwrap_or_else(|| panic!("{} keeps no confirmations", self.location().shown()))
    }
}

/// Each test of the suite, once per store.
macro_rules! store_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(&super::TestDb::sqlite(stringify!($test))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = super::PgTestDb::create(stringify!($test)).await else {
                        return;
                    };
                    super::$test(&super::TestDb::Postgres(db)).await;
                }
            )*
        }
    };
}

store_suite!(
    create_find_get_list,
    new_keys_are_checked,
    revoke_keeps_the_earliest_time,
    rotate_keeps_the_old_key_working_for_the_grace_period,
    expired_keys_are_not_usable,
    usage_is_aggregated,
    usage_past_the_retention_is_forgotten,
    two_stores_on_one_database_see_each_other,
    large_usage_batches_are_written_whole,
    limits_count_calls_per_key_and_window,
    limits_refuse_a_signature_used_before,
    confirmations_are_used_once_and_only_for_their_call,
    confirmations_are_forgotten_an_hour_after_they_expire,
    a_confirmation_used_at_once_through_two_stores_is_valid_once,
);

fn new_key(name: &str) -> NewKey {
    NewKey::named(name)
}

pub(super) async fn create_find_get_list(db: &TestDb) {
    let store = db.open().await;
    let mut new = new_key("ci");
    new.scopes = Scopes::parse("dns:write,billing:read").expect("scopes");
    new.allow_ips = vec!["10.0.0.0/8".parse().expect("net")];
    new.rate_per_min = Some(30);
    new.require_signature = true;
    new.meta.insert("owner".into(), "ops@example.com".into());
    new.expires_at = Some(now() + 3600);
    let first = store.create(new).await.expect("created");
    let second = store.create(new_key("laptop")).await.expect("created");

    assert_eq!(first.record.prefix, first.key.display_prefix());
    assert_eq!(first.record.name, "ci");
    assert_eq!(first.record.state(now()), KeyState::Active);

    let found = store
        .find_by_hash(first.key.hash())
        .await
        .expect("looked up")
        .expect("found");
    assert_eq!(found, first.record);
    assert_eq!(
        store.get(first.record.id.clone()).await,
        Ok(first.record.clone())
    );
    assert_eq!(
        store.find_by_hash(ApiKey::generate().hash()).await,
        Ok(None)
    );

    let listed = store.list().await.expect("listed");
    assert_eq!(listed, vec![first.record.clone(), second.record.clone()]);

    let err = store.get("key_nope".into()).await.expect_err("unknown");
    assert_eq!(
        err,
        StoreError::NotFound {
            id: "key_nope".into()
        }
    );
    assert!(err.to_string().contains("ionos-mcp keys list"));
}

pub(super) async fn new_keys_are_checked(db: &TestDb) {
    let store = db.open().await;
    let mut blank = new_key(" ");
    assert!(matches!(
        store.create(blank.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    blank.name = "x".into();
    blank.rate_per_min = Some(0);
    assert!(matches!(
        store.create(blank.clone()).await,
        Err(StoreError::Invalid(_))
    ));
    blank.rate_per_min = None;
    blank.expires_at = Some(now() - 1);
    assert!(matches!(
        store.create(blank).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.list().await, Ok(Vec::new()));
}

pub(super) async fn revoke_keeps_the_earliest_time(db: &TestDb) {
    let store = db.open().await;
    let issued = store.create(new_key("ci")).await.expect("created");
    let id = issued.record.id.clone();
    let now = super::now();

    let revoked = store.revoke(id.clone(), now).await.expect("revoked");
    assert_eq!(revoked.revoked_at, Some(now));
    assert_eq!(revoked.state(now), KeyState::Revoked);
    let again = store.revoke(id.clone(), now + 100).await.expect("again");
    assert_eq!(again.revoked_at, Some(now));
    let earlier = store.revoke(id.clone(), now - 100).await.expect("earlier");
    assert_eq!(earlier.revoked_at, Some(now - 100));
    assert_eq!(store.count_usable(now).await, Ok(0));

    let err = store
        .revoke("key_nope".into(), now)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(err.to_string().contains("ionos-mcp keys list"));
}

pub(super) async fn rotate_keeps_the_old_key_working_for_the_grace_period(db: &TestDb) {
    let store = db.open().await;
    let mut new = new_key("ci");
    new.scopes = Scopes::parse("compute:read").expect("scopes");
    new.rate_per_min = Some(10);
    new.allow_ips = vec!["192.0.2.0/24".parse().expect("net")];
    new.require_signature = true;
    new.meta.insert("team".into(), "platform".into());
    let now = super::now();
    new.expires_at = Some(now + 86_400);
    let old = store.create(new).await.expect("created");

    let (old_after, fresh) = store
        .rotate(old.record.id.clone(), 3600)
        .await
        .expect("rotated");
    let now = super::now();
    assert_eq!(
        old_after.rotated_to.as_deref(),
        Some(fresh.record.id.as_str())
    );
    let grace_end = old_after.revoked_at.expect("revocation set");
    assert!((now + 3599..=now + 3600).contains(&grace_end));
    assert_eq!(old_after.state(now), KeyState::Active);
    assert_eq!(old_after.state(grace_end - 1), KeyState::Active);
    assert_eq!(old_after.state(grace_end), KeyState::Revoked);
    assert_eq!(fresh.record.state(grace_end + 1), KeyState::Active);
    assert_ne!(fresh.key.expose(), old.key.expose());

    assert_eq!(fresh.record.name, "ci");
    assert_eq!(fresh.record.scopes, old.record.scopes);
    assert_eq!(fresh.record.rate_per_min, Some(10));
    assert_eq!(fresh.record.allow_ips, old.record.allow_ips);
    assert!(fresh.record.require_signature);
    assert_eq!(fresh.record.meta, old.record.meta);
    let lifetime = fresh.record.expires_at.expect("expires") - fresh.record.created_at;
    assert_eq!(lifetime, 86_400);

    // Both keys are found by their hashes; the store says which is which.
    let by_old = store
        .find_by_hash(old.key.hash())
        .await
        .expect("ok")
        .expect("found");
    assert_eq!(by_old, old_after);
    let by_new = store
        .find_by_hash(fresh.key.hash())
        .await
        .expect("ok")
        .expect("found");
    assert_eq!(by_new, fresh.record);
    assert_eq!(store.count_usable(now).await, Ok(2));
    assert_eq!(store.count_usable(grace_end).await, Ok(1));

    let again = store
        .rotate(old.record.id.clone(), 60)
        .await
        .expect_err("rotated");
    assert!(matches!(&again, StoreError::Invalid(m) if m.contains(&fresh.record.id)));

    store
        .revoke(fresh.record.id.clone(), now)
        .await
        .expect("revoked");
    let revoked = store
        .rotate(fresh.record.id.clone(), 60)
        .await
        .expect_err("revoked");
    assert!(matches!(revoked, StoreError::Invalid(_)));
    let unknown = store
        .rotate("key_nope".into(), 60)
        .await
        .expect_err("unknown");
    assert!(matches!(unknown, StoreError::NotFound { .. }));
    assert!(unknown.to_string().contains("ionos-mcp keys list"));

    let other = store.create(new_key("other")).await.expect("created");
    let negative = store.rotate(other.record.id.clone(), -1).await;
    assert!(matches!(negative, Err(StoreError::Invalid(_))));
    let (now_revoked, _) = store.rotate(other.record.id, 0).await.expect("rotated");
    assert_eq!(
        now_revoked.state(now_revoked.revoked_at.expect("set")),
        KeyState::Revoked
    );
}

pub(super) async fn expired_keys_are_not_usable(db: &TestDb) {
    let store = db.open().await;
    let now = super::now();
    let mut new = new_key("short");
    new.expires_at = Some(now + 10);
    let short = store.create(new).await.expect("created");
    store.create(new_key("long")).await.expect("created");
    assert_eq!(short.record.state(now + 9), KeyState::Active);
    assert_eq!(short.record.state(now + 10), KeyState::Expired);
    assert_eq!(store.count_usable(now).await, Ok(2));
    assert_eq!(store.count_usable(now + 10).await, Ok(1));
}

pub(super) async fn usage_past_the_retention_is_forgotten(db: &TestDb) {
    let store = db.open().await;
    let a = store.create(new_key("a")).await.expect("created").record.id;
    let day = 20_000 * 86_400;
    store
        .record_usage(vec![
            usage_event(&a, Some("list_datacenters"), Outcome::Ok, day - 86_400),
            usage_event(&a, Some("list_datacenters"), Outcome::Ok, day - 1),
            usage_event(&a, Some("list_servers"), Outcome::Ok, day),
            usage_event(&a, Some("list_servers"), Outcome::Ok, day + 10),
        ])
        .await
        .expect("recorded");
    // At most one at a time, oldest first, then nothing is left to delete.
    assert_eq!(store.forget_usage_before(day, 1).await.expect("deleted"), 1);
    assert_eq!(
        store.forget_usage_before(day, 10).await.expect("deleted"),
        1
    );
    assert_eq!(
        store.forget_usage_before(day, 10).await.expect("deleted"),
        0
    );
    let report = store.usage(Some(a.clone()), 0).await.expect("report");
    assert_eq!(report.requests, 2, "only the events from `day` on are left");
    let last = store.get(a).await.expect("key").last_used_at;
    assert_eq!(last, Some(day + 10), "the key keeps its last use");
}

pub(super) async fn usage_is_aggregated(db: &TestDb) {
    let store = db.open().await;
    let a = store.create(new_key("a")).await.expect("created").record.id;
    let b = store.create(new_key("b")).await.expect("created").record.id;
    let day = 20_000 * 86_400;
    let mut events = vec![
        usage_event(&a, Some("dns_zones_list"), Outcome::Ok, day + 10),
        usage_event(&a, Some("dns_zones_list"), Outcome::ToolError, day + 20),
        usage_event(
            &a,
            Some("billing_invoices_list"),
            Outcome::Ok,
            day + 3600 + 5,
        ),
        usage_event(&a, None, Outcome::Ok, day + 3600 + 6),
        usage_event(
            &a,
            Some("dns_zones_list"),
            Outcome::RateLimited,
            day + 86_400 + 1,
        ),
        usage_event(
            &a,
            Some("dns_zones_list"),
            Outcome::Refused,
            day + 86_400 + 2,
        ),
        usage_event(&b, Some("compute_servers_list"), Outcome::Ok, day + 30),
    ];
    events[0].latency_us = 1000;
    events[1].latency_us = 3000;
    events[4].ip = Some([198, 51, 100, 7].into());
    events[5].ip = None;
    // Older than `since`: left out of the report, but counts for the last use.
    events.push(usage_event(
        &a,
        Some("dns_zones_list"),
        Outcome::Ok,
        day - 1,
    ));
    store.record_usage(events).await.expect("recorded");

    let report = store.usage(Some(a.clone()), day).await.expect("report");
    assert_eq!(report.key_id.as_deref(), Some(a.as_str()));
    assert_eq!(report.since, day);
    assert_eq!(report.requests, 6);
    assert_eq!(report.errors, 3);
    assert!((report.error_rate - 0.5).abs() < 1e-9);
    assert_eq!(report.rate_limited, 1);
    assert_eq!(
        report.per_hour,
        vec![
            Bucket {
                start: day,
                requests: 2,
                errors: 1
            },
            Bucket {
                start: day + 3600,
                requests: 2,
                errors: 0
            },
            Bucket {
                start: day + 86_400,
                requests: 2,
                errors: 2
            },
        ]
    );
    assert_eq!(
        report.per_day,
        vec![
            Bucket {
                start: day,
                requests: 4,
                errors: 1
            },
            Bucket {
                start: day + 86_400,
                requests: 2,
                errors: 2
            },
        ]
    );
    let tools: Vec<(&str, u64, u64)> = report
        .per_tool
        .iter()
        .map(|t| (t.tool.as_str(), t.calls, t.errors))
        .collect();
    assert_eq!(
        tools,
        vec![
            ("dns_zones_list", 4, 3),
            ("billing_invoices_list", 1, 0),
            ("tools/list", 1, 0),
        ]
    );
    let dns = &report.per_tool[0];
    assert!((dns.avg_latency_ms - (1.0 + 3.0 + 2.0 + 2.0) / 4.0).abs() < 1e-9);
    // The refused request had no address: the last known one stays.
    assert_eq!(report.last_used_at, Some(day + 86_400 + 2));
    assert_eq!(report.last_used_ip.as_deref(), Some("198.51.100.7"));
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["requests"], 6);

    let all = store.usage(None, 0).await.expect("report");
    assert_eq!(all.key_id, None);
    assert_eq!(all.requests, 8);
    assert_eq!(all.per_tool[0].tool, "dns_zones_list");
    assert_eq!(all.last_used_at, Some(day + 86_400 + 2));

    let record = store.get(b.clone()).await.expect("found");
    assert_eq!(record.last_used_at, Some(day + 30));
    assert_eq!(record.last_used_ip.as_deref(), Some("192.0.2.10"));

    let empty = store.usage(Some(b), day + 86_400).await.expect("report");
    assert_eq!(empty.requests, 0);
    assert_eq!(empty.error_rate, 0.0);
    assert!(empty.per_hour.is_empty() && empty.per_tool.is_empty());

    let unknown = store.usage(Some("key_nope".into()), 0).await;
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })));
}

pub(super) async fn two_stores_on_one_database_see_each_other(db: &TestDb) {
    let server = db.open().await;
    let cli = db.open().await;

    let issued = cli.create(new_key("ci")).await.expect("created");
    let seen = server.find_by_hash(issued.key.hash()).await.expect("ok");
    assert_eq!(seen, Some(issued.record.clone()));

    server
        .record_usage(vec![usage_event(&issued.record.id, None, Outcome::Ok, 5)])
        .await
        .expect("recorded");
    let now = super::now();
    cli.revoke(issued.record.id.clone(), now)
        .await
        .expect("revoked");

    let record = server.get(issued.record.id.clone()).await.expect("found");
    assert_eq!(record.state(now), KeyState::Revoked);
    assert_eq!(cli.usage(None, 0).await.expect("report").requests, 1);
}

pub(super) async fn large_usage_batches_are_written_whole(db: &TestDb) {
    let store = db.open().await;
    let a = store.create(new_key("a")).await.expect("created").record.id;
    let b = store.create(new_key("b")).await.expect("created").record.id;
    let events: Vec<UsageEvent> = (0..2500)
        .map(|i| {
            let key = if i % 2 == 0 { &a } else { &b };
            let mut e = usage_event(key, Some("list_datacenters"), Outcome::Ok, 1_000 + i);
            e.ip = (i % 3 != 0).then(|| [192, 0, 2, (i % 200) as u8].into());
            e
        })
        .collect();
    store.record_usage(events).await.expect("recorded");
    store
        .record_usage(Vec::new())
        .await
        .expect("nothing to write");
    assert_eq!(store.usage(None, 0).await.expect("report").requests, 2500);
    let a_report = store.usage(Some(a.clone()), 0).await.expect("report");
    assert_eq!(a_report.requests, 1250);
    // The last event of `a` is number 2498, which has an address (2498 % 3 != 0).
    assert_eq!(a_report.last_used_at, Some(1_000 + 2498));
    assert_eq!(a_report.last_used_ip.as_deref(), Some("192.0.2.98"));
    // Events for a key that does not exist (deleted meanwhile) are kept, not refused.
    store
        .record_usage(vec![usage_event("key_gone", None, Outcome::Ok, 5)])
        .await
        .expect("recorded");
    assert_eq!(store.usage(None, 0).await.expect("report").requests, 2501);
}

/// `secs` after the Unix epoch.
fn at(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub(super) async fn limits_count_calls_per_key_and_window(db: &TestDb) {
    let limits = db.backend().await.limits;
    // 20 s into a window.
    let start = 30_000_000 * 60 + 20;
    for i in 0..5u32 {
        let d = limits
            .count_call("key_a", 5, at(start + u64::from(i)))
            .await
            .expect("counted");
        assert!(d.allowed, "call {i}");
        assert_eq!(d.limit, 5);
        assert_eq!(d.remaining, 4 - i);
        assert_eq!(d.reset_secs, 40 - u64::from(i));
    }
    let refused = limits
        .count_call("key_a", 5, at(start + 39))
        .await
        .expect("counted");
    assert!(!refused.allowed);
    assert_eq!((refused.remaining, refused.reset_secs), (0, 1));
    // Refused calls are not counted: a higher rate sees five used.
    let d = limits
        .count_call("key_a", 6, at(start + 39))
        .await
        .expect("counted");
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    assert!(
        limits
            .count_call("key_b", 5, at(start))
            .await
            .expect("counted")
            .allowed
    );
    let next = limits
        .count_call("key_a", 5, at(start + 40))
        .await
        .expect("counted");
    assert!(next.allowed);
    assert_eq!((next.remaining, next.reset_secs), (4, 60));
}

pub(super) async fn limits_refuse_a_signature_used_before(db: &TestDb) {
    let limits = db.backend().await.limits;
    let t = now();
    assert_eq!(limits.first_use([7; 32], t).await, Ok(true));
    assert_eq!(limits.first_use([7; 32], t + 1).await, Ok(false));
    assert_eq!(limits.first_use([8; 32], t + 1).await, Ok(true));
    // Forgotten once the replay window has passed.
    let later = t + super::signature::REPLAY_WINDOW_SECS;
    assert_eq!(limits.first_use([7; 32], later).await, Ok(true));
    assert_eq!(limits.first_use([7; 32], later).await, Ok(false));
}

fn binding(caller: &str, args: &str) -> Binding {
    Binding {
        caller: caller.into(),
        tool: "stop_server".into(),
        args: args.into(),
        label: format!("server {args}"),
    }
}

pub(super) async fn confirmations_are_used_once_and_only_for_their_call(db: &TestDb) {
    // Two stores, as two servers on the database would open them.
    let a = db.confirmations().await;
    let b = db.confirmations().await;
    let key = a.sealing_key().await.expect("sealing key");
    assert_eq!(key.len(), 32);
    assert_eq!(b.sealing_key().await.expect("sealing key"), key);
    assert_eq!(a.sealing_key().await.expect("sealing key"), key);

    let t = now();
    let id = id_of("ct_shared");
    a.issue(id.clone(), binding("key_1", "web-01"), t + 300)
        .await
        .expect("issued");
    let redeem = |store: &Arc<dyn Confirmations>, b: Binding, at: i64| {
        let store = store.clone();
        let id = id.clone();
        async move { store.redeem(id, b, at).await }
    };
    // Refusals leave it untouched.
    assert_eq!(
        redeem(&b, binding("key_2", "web-01"), t).await,
        Ok(Redeemed::OtherCaller)
    );
    let mut other_tool = binding("key_1", "web-01");
    other_tool.tool = "reboot_server".into();
    assert_eq!(
        redeem(&b, other_tool, t).await,
        Ok(Redeemed::OtherTarget {
            label: "server web-01".into()
        })
    );
    assert_eq!(
        redeem(&b, binding("key_1", "web-02"), t).await,
        Ok(Redeemed::OtherTarget {
            label: "server web-01".into()
        })
    );
    assert_eq!(
        redeem(&b, binding("key_1", "web-01"), t + 300).await,
        Ok(Redeemed::Expired)
    );
    // The label the caller brings does not matter; caller, tool and arguments do.
    let mut asked = binding("key_1", "web-01");
    asked.label = String::new();
    assert_eq!(redeem(&b, asked.clone(), t).await, Ok(Redeemed::Valid));
    assert_eq!(
        redeem(&a, asked.clone(), t).await,
        Ok(Redeemed::AlreadyUsed)
    );
    assert_eq!(
        redeem(&b, asked.clone(), t).await,
        Ok(Redeemed::AlreadyUsed)
    );
    assert_eq!(
        a.redeem(id_of("ct_never_issued"), asked, t).await,
        Ok(Redeemed::Unknown)
    );
}

pub(super) async fn confirmations_are_forgotten_an_hour_after_they_expire(db: &TestDb) {
    let store = db.confirmations().await;
    let t = now();
    let long_gone = id_of("ct_long_gone");
    let just_expired = id_of("ct_just_expired");
    store
        .issue(long_gone.clone(), binding("key_1", "a"), t - KEPT_SECS - 60)
        .await
        .expect("issued");
    // Until the next issue, it is still known as expired.
    assert_eq!(
        store
            .redeem(long_gone.clone(), binding("key_1", "a"), t)
            .await,
        Ok(Redeemed::Expired)
    );
    // Issuing another forgets it; one expired within the hour is kept.
    store
        .issue(just_expired.clone(), binding("key_1", "a"), t - 60)
        .await
        .expect("issued");
    store
        .issue(id_of("ct_fresh"), binding("key_1", "a"), t + 300)
        .await
        .expect("issued");
    assert_eq!(
        store.redeem(long_gone, binding("key_1", "a"), t).await,
        Ok(Redeemed::Unknown)
    );
    assert_eq!(
        store.redeem(just_expired, binding("key_1", "a"), t).await,
        Ok(Redeemed::Expired)
    );
    assert_eq!(
        store
            .redeem(id_of("ct_fresh"), binding("key_1", "a"), t)
            .await,
        Ok(Redeemed::Valid)
    );
}

pub(super) async fn a_confirmation_used_at_once_through_two_stores_is_valid_once(db: &TestDb) {
    let stores = [db.confirmations().await, db.confirmations().await];
    let t = now();
    for round in 0..4 {
        let id = id_of(&format!("ct_race_{round}"));
        stores[0]
            .issue(id.clone(), binding("key_1", "a"), t + 300)
            .await
            .expect("issued");
        let attempts: Vec<_> = (0..16)
            .map(|i| {
                let store = stores[i % 2].clone();
                let id = id.clone();
                tokio::spawn(async move { store.redeem(id, binding("key_1", "a"), t).await })
            })
            .collect();
        let mut valid = 0;
        for attempt in attempts {
            match attempt.await.expect("task").expect("redeemed") {
                Redeemed::Valid => valid += 1,
                Redeemed::AlreadyUsed => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(
            valid, 1,
            "round {round}: used once, whichever store was first"
        );
    }
}

/// A PostgreSQL database for a test that only PostgreSQL can run.
async fn postgres(tag: &str) -> Option<TestDb> {
    PgTestDb::create(tag).await.map(TestDb::Postgres)
}

#[tokio::test]
async fn replicas_share_call_windows_and_signatures() {
    let Some(db) = postgres("shared_limits").await else {
        return;
    };
    let replicas: Vec<Arc<dyn Limits>> = vec![db.backend().await.limits, db.backend().await.limits];
    let t = at(30_000_000 * 60 + 1);
    let mut allowed = 0;
    let mut tasks = Vec::new();
    for i in 0..90 {
        let limits = replicas[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            limits
                .count_call("key_shared", 60, t)
                .await
                .expect("counted")
                .allowed
        }));
    }
    for task in tasks {
        if task.await.expect("task") {
            allowed += 1;
        }
    }
    assert_eq!(
        allowed, 60,
        "60 calls in all, whichever replica counted them"
    );
    assert_eq!(replicas[0].first_use([9; 32], now()).await, Ok(true));
    assert_eq!(replicas[1].first_use([9; 32], now()).await, Ok(false));
}

#[tokio::test]
async fn replicas_starting_at_once_migrate_once() {
    let Some(db) = postgres("concurrent_migrations").await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let location = db.location().clone();
            tokio::spawn(async move { backend::open(&location).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.expect("task").expect("every replica starts");
    }
    let TestDb::Postgres(pg) = &db else {
        unreachable!()
    };
    let client = pg.connect().await;
    let versions = client
        .query("SELECT version FROM ionos_mcp_schema ORDER BY version", &[])
        .await
        .expect("versions");
    let versions: Vec<i32> = versions.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=versions.len() as i32).collect::<Vec<_>>());
    assert!(!versions.is_empty());
    // A database migrated by a newer build is refused with a message that says so.
    client
        .execute(
            "INSERT INTO ionos_mcp_schema (version, applied_at) VALUES (1000, 0)",
            &[],
        )
        .await
        .expect("inserted");
    let err = backend::open(db.location())
        .await
        .expect_err("newer schema");
    assert!(err.to_string().contains("newer ionos-mcp"), "{err}");
}

#[tokio::test]
async fn a_lost_connection_is_replaced_by_itself() {
    let Some(db) = postgres("reconnect").await else {
        return;
    };
    let backend = db.backend().await;
    let issued = backend.store.create(new_key("ci")).await.expect("created");
    let TestDb::Postgres(pg) = &db else {
        unreachable!()
    };
    let admin = pg.connect().await;
    // Every connection of the store, as a restarted server would end them.
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminated");
    assert!(!ended.is_empty());
    // The first uses may see the broken connections; within a second the store is back.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match backend.store.find_by_hash(issued.key.hash()).await {
            Ok(found) => {
                assert_eq!(found, Some(issued.record.clone()));
                break;
            }
            Err(StoreError::Unavailable(message)) => {
                assert!(std::time::Instant::now() < deadline, "{message}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
    // Transactions run on a connection of their own, replaced the same way.
    let _ = backend
        .store
        .record_usage(vec![usage_event(&issued.record.id, None, Outcome::Ok, 5)])
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backend.store.usage(None, 0).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "transactions recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        backend
            .limits
            .count_call(&issued.record.id, 10, std::time::SystemTime::now())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("postgres://ionos:Very-Secret-9@127.0.0.1:{port}/keys");
    let err = backend::open(&Location::parse(&url))
        .await
        .expect_err("unreachable");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)));
    assert!(
        message.contains(&format!("postgres://ionos:***@127.0.0.1:{port}/keys")),
        "{message}"
    );
    assert!(!message.contains("Very-Secret-9"), "{message}");
    assert!(
        message.contains("cannot reach the PostgreSQL database"),
        "{message}"
    );
    let bad = backend::open(&Location::parse(
        "postgres://ionos:Very-Secret-9@h:notaport/db",
    ))
    .await
    .expect_err("invalid");
    assert!(
        bad.to_string().contains("not a valid PostgreSQL URL"),
        "{bad}"
    );
    assert!(!bad.to_string().contains("Very-Secret-9"), "{bad}");
}

#[tokio::test]
async fn the_database_never_holds_a_key() {
    let Some(db) = postgres("no_key_text").await else {
        return;
    };
    let store = db.open().await;
    let issued = store.create(new_key("ci")).await.expect("created");
    let (_, rotated) = store
        .rotate(issued.record.id.clone(), 60)
        .await
        .expect("rotated");
    let TestDb::Postgres(pg) = &db else {
        unreachable!()
    };
    let client = pg.connect().await;
    let rows = client
        .query("SELECT row_to_json(k)::text FROM keys k", &[])
        .await
        .expect("rows");
    let dump: String = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert!(dump.contains(&issued.record.id));
    for key in [&issued.key, &rotated.key] {
        assert!(!dump.contains(&key.expose()[12..]), "a key is stored");
        assert!(dump.contains(&key.display_prefix()));
    }

    // Nor a confirmation's secret: only its SHA-256.
    let secret = "ct_Secret-Confirmation-1";
    db.confirmations()
        .await
        .issue(id_of(secret), binding("key_1", "a"), now() + 300)
        .await
        .expect("issued");
    let rows = client
        .query("SELECT row_to_json(c)::text FROM confirmations c", &[])
        .await
        .expect("rows");
    let dump: String = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert!(dump.contains(&id_of(secret)), "{dump}");
    assert!(!dump.contains(secret), "a confirmation secret is stored");
}
