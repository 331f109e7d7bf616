//! Delivery leases: several nodes share one database and each subscription's notifications are
//! sent by one node at a time, in order; a dead node's subscriptions are taken over when its
//! leases run out. Also the races the PostgreSQL store must win across nodes (quotas, settings).

#[macro_use]
mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use callhook_store::*;
use chrono::{DateTime, Duration, Utc};
use common::TestDatabase;

fn rec(id: &str) -> CallRecordWrite {
    CallRecordWrite {
        id: id.into(),
        start: Utc::now(),
        participant_ids: Vec::new(),
        body: "{}".into(),
        sessions: "[]".into(),
        participants: "[]".into(),
    }
}

fn sub(id: &str, tenant: &str, expiration: DateTime<Utc>) -> SubscriptionRow {
    SubscriptionRow {
        id: id.into(),
        tenant_id: tenant.into(),
        app_id: format!("app-{id}"),
        resource_kind: "callRecords".into(),
        resource: "communications/callRecords".into(),
        change_type: "created,updated".into(),
        notify_created: true,
        notify_updated: true,
        participant_filter: Vec::new(),
        notification_url: "http://127.0.0.1:1/hook".into(),
        lifecycle_url: None,
        client_state: None,
        expiration,
        authorized_until: expiration,
        scope: None,
        created: DateTime::<Utc>::UNIX_EPOCH,
        encryption: None,
        notification_url_app_id: None,
        body: "{}".into(),
    }
}

fn quota(limit: u32) -> [QuotaRule; 1] {
    [QuotaRule::per_tenant("callRecords", limit)]
}

async fn subscribe(s: &dyn Store, ids: &[&str], now: DateTime<Utc>) {
    for id in ids {
        s.create_subscription(&sub(id, "t", now + Duration::hours(1)), &quota(1000))
            .await
            .unwrap()
            .unwrap();
    }
}

fn subs_of(rows: &[OutboxRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.subscription_id.clone()).collect()
}

/// A PostgreSQL database for a multi-node test, or `None` (with the skip notice) without one.
async fn pg(test: &str) -> Option<TestDatabase> {
    if common::postgres_available(test).await {
        Some(TestDatabase::create().await)
    } else {
        None
    }
}

backend_tests! {
async fn one_node_claims_exactly_the_due_notifications() {
    let (_d, s) = store().await;
    let now = Utc::now();
    subscribe(&*s, &["a", "b"], now).await;
    s.put_call_records("t", &[rec("r1"), rec("r2")], now).await.unwrap();
    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    assert_eq!(due.len(), 4);
    let claimed = s.claim_due("n1", Duration::seconds(30), &DueQuery::new(now, 100, &[])).await.unwrap();
    assert_eq!(claimed, due);
    // The ordering guard and the skip list hold for claims too.
    let first_of_a = due.iter().find(|r| r.subscription_id == "a").unwrap().seq;
    s.reschedule_notifications(&[first_of_a], now + Duration::minutes(1), now).await.unwrap();
    let first_of_b = due.iter().find(|r| r.subscription_id == "b").unwrap().seq;
    let claimed = s.claim_due("n1", Duration::seconds(30), &DueQuery::new(now, 100, &[first_of_b])).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].subscription_id, "b");
    assert_ne!(claimed[0].seq, first_of_b);
    let held = s
        .renew_leases("n1", &["b".to_string()], now, Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(held, ["b"]);
    assert!(s.next_due_for("n1", now).await.unwrap().is_some());
    s.release_leases("n1").await.unwrap();
}
}

#[tokio::test]
async fn a_subscription_is_claimed_by_one_node_until_its_lease_runs_out() {
    let Some(db) = pg("a_subscription_is_claimed_by_one_node_until_its_lease_runs_out").await
    else {
        return;
    };
    let n1 = db.store(4).await;
    let n2 = db.store(4).await;
    let now = Utc::now();
    let lease = Duration::seconds(30);
    subscribe(&n1, &["a"], now).await;
    n1.put_call_records("t", &[rec("r1"), rec("r2")], now)
        .await
        .unwrap();
    subscribe(&n1, &["b"], now).await;
    n1.put_call_records("t", &[rec("r3")], now).await.unwrap();

    // n1 takes a's stream only (its head is the oldest); n2 gets b's, never a's.
    let got1 = n1
        .claim_due("n1", lease, &DueQuery::new(now, 1, &[]))
        .await
        .unwrap();
    assert_eq!(got1.len(), 1);
    let (a, b) = ("a".to_string(), "b".to_string());
    assert_eq!(subs_of(&got1), BTreeSet::from([a.clone()]));
    let got2 = n2
        .claim_due("n2", lease, &DueQuery::new(now, 100, &[]))
        .await
        .unwrap();
    assert_eq!(subs_of(&got2), BTreeSet::from([b.clone()]));
    assert!(n2
        .claim_due("n2", lease, &DueQuery::new(now, 100, &[]))
        .await
        .unwrap()
        .iter()
        .all(|r| r.subscription_id == b));
    // n1 still sees its own stream, not n2's.
    let again = n1
        .claim_due("n1", lease, &DueQuery::new(now, 100, &[]))
        .await
        .unwrap();
    assert_eq!(subs_of(&again), BTreeSet::from([a.clone()]));

    // n2 delivers b's row; then, for n2, a's rows become claimable when n1's lease runs out.
    n2.settle_delivered(&[got2[0].seq], &[]).await.unwrap();
    assert_eq!(
        n2.next_due_for("n2", now).await.unwrap(),
        Some(now + lease).map(|t| DateTime::from_timestamp_nanos(t.timestamp_nanos_opt().unwrap()))
    );

    // n1 dies. Once its lease has run out, n2 takes a over, with a's rows in order.
    let later = now + lease + Duration::seconds(1);
    let taken = n2
        .claim_due("n2", lease, &DueQuery::new(later, 100, &[]))
        .await
        .unwrap();
    assert_eq!(subs_of(&taken), BTreeSet::from([a.clone()]));
    let seqs: Vec<i64> = taken
        .iter()
        .filter(|r| r.subscription_id == a)
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // n1 comes back: its lease is gone, renewing says so, and it claims nothing.
    assert!(n1
        .renew_leases("n1", std::slice::from_ref(&a), later, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(n1
        .claim_due("n1", lease, &DueQuery::new(later, 100, &[]))
        .await
        .unwrap()
        .is_empty());

    // Releasing hands everything over at once.
    n2.release_leases("n2").await.unwrap();
    let all = n1
        .claim_due("n1", lease, &DueQuery::new(later, 100, &[]))
        .await
        .unwrap();
    assert_eq!(all, taken);
}

#[tokio::test]
async fn renewing_keeps_a_lease_past_its_first_end() {
    let Some(db) = pg("renewing_keeps_a_lease_past_its_first_end").await else {
        return;
    };
    let s = db.store(4).await;
    let now = Utc::now();
    let lease = Duration::seconds(10);
    subscribe(&s, &["a"], now).await;
    s.put_call_records("t", &[rec("r1")], now).await.unwrap();
    assert_eq!(
        s.claim_due("n1", lease, &DueQuery::new(now, 10, &[]))
            .await
            .unwrap()
            .len(),
        1
    );
    let t = now + Duration::seconds(8);
    assert_eq!(
        s.renew_leases("n1", &["a".to_string(), "zz".to_string()], t, lease)
            .await
            .unwrap(),
        ["a"]
    );
    // At now + 12 s the first lease would have run out; the renewed one has not.
    let t2 = now + Duration::seconds(12);
    assert!(s
        .claim_due("n2", lease, &DueQuery::new(t2, 10, &[]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.claim_due("n2", lease, &DueQuery::new(t2 + lease, 10, &[]))
            .await
            .unwrap()
            .len(),
        1
    );
    // A claim in the second half of a lease extends it (a claim early in it does not need to).
    let t3 = t2 + lease + Duration::seconds(6);
    assert_eq!(
        s.claim_due("n2", lease, &DueQuery::new(t3, 10, &[]))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .claim_due(
            "n1",
            lease,
            &DueQuery::new(t3 + Duration::seconds(8), 10, &[])
        )
        .await
        .unwrap()
        .is_empty());
    // Deleting the subscription drops its lease with its rows.
    assert!(s.delete_subscription("t", "a").await.unwrap());
    assert!(s.next_due_for("n1", t2).await.unwrap().is_none());
}

/// A backlog over many subscriptions is not taken whole by the first node that reads it: a
/// round leases at most 8 subscriptions it did not hold, so a second node reading next gets
/// a share; the first node keeps what it holds and takes more on its next rounds.
#[tokio::test]
async fn a_backlog_spreads_over_the_nodes_that_claim_it() {
    let Some(db) = pg("a_backlog_spreads_over_the_nodes_that_claim_it").await else {
        return;
    };
    let n1 = db.store(2).await;
    let n2 = db.store(2).await;
    let now = Utc::now();
    let lease = Duration::minutes(5);
    let ids: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    subscribe(&n1, &id_refs, now).await;
    let recs: Vec<CallRecordWrite> = (0..3).map(|i| rec(&format!("r{i}"))).collect();
    n1.put_call_records("t", &recs, now).await.unwrap();

    let first = subs_of(
        &n1.claim_due("n1", lease, &DueQuery::new(now, 1000, &[]))
            .await
            .unwrap(),
    );
    assert_eq!(first.len(), 8, "one round leases 8 new subscriptions");
    let second = subs_of(
        &n2.claim_due("n2", lease, &DueQuery::new(now, 1000, &[]))
            .await
            .unwrap(),
    );
    assert_eq!(second.len(), 8);
    assert!(first.is_disjoint(&second));
    // n1's next round keeps its 8 and takes the last 4.
    let again = subs_of(
        &n1.claim_due("n1", lease, &DueQuery::new(now, 1000, &[]))
            .await
            .unwrap(),
    );
    assert!(again.is_superset(&first));
    assert_eq!(again.len(), 12);
    assert!(again.is_disjoint(&second));
    // Every row of a leased subscription comes back, in order.
    let rows = n2
        .claim_due("n2", lease, &DueQuery::new(now, 1000, &[]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 8 * 3);
}

/// Three nodes claim at the same moment, over and over: no subscription is ever handed to two.
#[tokio::test]
async fn concurrent_claims_never_hand_a_subscription_to_two_nodes() {
    let Some(db) = pg("concurrent_claims_never_hand_a_subscription_to_two_nodes").await else {
        return;
    };
    let setup = db.store(2).await;
    let now = Utc::now();
    let ids: Vec<String> = (0..40).map(|i| format!("s{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    subscribe(&setup, &id_refs, now).await;
    let recs: Vec<CallRecordWrite> = (0..5).map(|i| rec(&format!("r{i}"))).collect();
    setup.put_call_records("t", &recs, now).await.unwrap();

    let mut tasks = Vec::new();
    for n in 0..3 {
        let store = db.store(3).await;
        tasks.push(tokio::spawn(async move {
            let node = format!("n{n}");
            let mut mine = BTreeSet::new();
            for _ in 0..10 {
                // A small limit, so each claim takes only a few streams and all nodes compete.
                let rows = store
                    .claim_due(&node, Duration::minutes(5), &DueQuery::new(now, 7, &[]))
                    .await
                    .unwrap();
                mine.extend(subs_of(&rows));
            }
            mine
        }));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            *seen.entry(s).or_default() += 1;
            total += 1;
        }
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "a subscription went to two nodes: {seen:?}"
    );
    assert!(total > 0);
}

/// (node, subscription, seq, notification id) of each "POST", in the order they happened.
type Log = Arc<Mutex<Vec<(usize, String, i64, String)>>>;

/// Three nodes deliver a stream of notifications while records keep arriving; one of them dies
/// (stops after claiming, with short leases). Every notification is delivered, none twice except
/// those the dead node had claimed, and each subscription's are delivered in outbox order.
#[tokio::test]
async fn three_nodes_deliver_everything_in_order_when_one_dies() {
    let Some(db) = pg("three_nodes_deliver_everything_in_order_when_one_dies").await else {
        return;
    };
    let writer = db.store(2).await;
    let start = Utc::now();
    let ids: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    subscribe(&writer, &id_refs, start).await;

    let log: Log = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lease = Duration::milliseconds(800);
    let mut nodes = Vec::new();
    for n in 0..3usize {
        let store = db.store(3).await;
        let log = log.clone();
        let stop = stop.clone();
        nodes.push(tokio::spawn(async move {
            let node = format!("n{n}");
            let mut rounds = 0;
            loop {
                let rows = store
                    .claim_due(&node, lease, &DueQuery::new(Utc::now(), 50, &[]))
                    .await
                    .unwrap();
                rounds += 1;
                // Node 2 dies holding its leases after a few rounds with work.
                if n == 2 && rounds > 3 && !rows.is_empty() {
                    return;
                }
                if rows.is_empty() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                {
                    let mut log = log.lock().unwrap();
                    for r in &rows {
                        log.push((n, r.subscription_id.clone(), r.seq, r.id.clone()));
                    }
                }
                let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
                store.settle_delivered(&seqs, &[]).await.unwrap();
            }
        }));
    }
    let mut expected = HashSet::new();
    for i in 0..30 {
        let batch: Vec<CallRecordWrite> = (0..3).map(|j| rec(&format!("r{i}-{j}"))).collect();
        writer
            .put_call_records("t", &batch, Utc::now())
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Wait for the outbox to drain (the dead node's streams after its leases run out).
    for _ in 0..300 {
        if writer.outbox_len().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for n in nodes {
        n.await.unwrap();
    }
    assert_eq!(writer.outbox_len().await.unwrap(), 0);
    let log = log.lock().unwrap();
    for (_, _, _, id) in log.iter() {
        expected.insert(id.clone());
    }
    // 30 batches × 3 records × 8 subscriptions, each created.
    assert_eq!(expected.len(), 30 * 3 * 8);
    // Per subscription, first deliveries come in seq order; the node that delivered them
    // changes only by takeover.
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut delivered: HashSet<&str> = HashSet::new();
    for (_, sub, seq, id) in log.iter() {
        if !delivered.insert(id.as_str()) {
            continue; // a redelivery (at least once)
        }
        let prev = last.insert(sub.as_str(), *seq).unwrap_or(i64::MIN);
        assert!(prev < *seq, "{sub}: seq {seq} delivered after {prev}");
    }
}

#[tokio::test]
async fn quotas_hold_when_nodes_create_subscriptions_at_once() {
    let Some(db) = pg("quotas_hold_when_nodes_create_subscriptions_at_once").await else {
        return;
    };
    let later = Utc::now() + Duration::hours(1);
    let mut tasks = Vec::new();
    for n in 0..3 {
        let store = db.store(4).await;
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..10 {
                let mut row = sub(&format!("n{n}-{i}"), "t", later);
                row.resource = format!("communications/callRecords?{n}-{i}");
                if store
                    .create_subscription(&row, &quota(12))
                    .await
                    .unwrap()
                    .is_ok()
                {
                    created += 1;
                }
            }
            created
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 12);
    let s = db.store(1).await;
    assert_eq!(
        s.list_subscriptions("t", None, None, 100)
            .await
            .unwrap()
            .len(),
        12
    );
}

#[tokio::test]
async fn every_node_reads_the_setting_the_first_one_wrote() {
    let Some(db) = pg("every_node_reads_the_setting_the_first_one_wrote").await else {
        return;
    };
    let mut tasks = Vec::new();
    for n in 0..4u8 {
        let store = db.store(2).await;
        tasks.push(tokio::spawn(async move {
            store.setting_or_insert("secret", &[n]).await.unwrap()
        }));
    }
    let mut values = HashSet::new();
    for t in tasks {
        values.insert(t.await.unwrap());
    }
    assert_eq!(values.len(), 1);
}

/// Writers racing on one tenant: list order (seq) is commit order, so a reader paging by seq
/// that has reached seq N never later finds a new record below N.
#[tokio::test]
async fn paging_by_seq_never_misses_a_record_committed_late() {
    let Some(db) = pg("paging_by_seq_never_misses_a_record_committed_late").await else {
        return;
    };
    let reader = db.store(2).await;
    let mut writers = Vec::new();
    for n in 0..3 {
        let store = db.store(2).await;
        writers.push(tokio::spawn(async move {
            for i in 0..40 {
                store
                    .put_call_records("t", &[rec(&format!("w{n}-{i}"))], Utc::now())
                    .await
                    .unwrap();
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut cursor = None;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = reader
            .list_call_records(&CallRecordQuery {
                tenant_id: "t".into(),
                after_seq: cursor,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        for r in &page {
            seen.insert(r.id.clone());
            cursor = Some(r.seq);
        }
        if done && page.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(seen.len(), 120, "paging by seq skipped a late commit");
}

#[tokio::test]
async fn a_job_is_held_by_one_node_until_it_stops_renewing() {
    let Some(db) = pg("a_job_is_held_by_one_node_until_it_stops_renewing").await else {
        return;
    };
    let s = db.store(2).await;
    let now = Utc::now();
    let lease = Duration::seconds(60);
    assert!(s.claim_job("reauth", "n1", now, lease).await.unwrap());
    assert!(!s.claim_job("reauth", "n2", now, lease).await.unwrap());
    assert!(s.claim_job("other", "n2", now, lease).await.unwrap());
    // n1 renews at +50 s: n2 still cannot take it at +70 s.
    let t = now + Duration::seconds(50);
    assert!(s.claim_job("reauth", "n1", t, lease).await.unwrap());
    assert!(!s
        .claim_job("reauth", "n2", now + Duration::seconds(70), lease)
        .await
        .unwrap());
    // n1 stops; after its lease runs out n2 takes over, and n1 is refused.
    let later = t + lease + Duration::seconds(1);
    assert!(s.claim_job("reauth", "n2", later, lease).await.unwrap());
    assert!(!s.claim_job("reauth", "n1", later, lease).await.unwrap());
    // A job lease never counts as waiting delivery work.
    assert!(s.next_due_for("n3", later).await.unwrap().is_none());
}

/// The next notification's channel on `listener`, waiting at most ten seconds.
async fn next_channel(listener: &mut sqlx::postgres::PgListener) -> String {
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification within 10 s")
        .unwrap();
    n.channel().to_string()
}

/// Asserts that nothing was announced on the outbox channel since the last check:
/// notifications arrive in commit order, so the probe sent now must come next.
async fn nothing_announced(db: &TestDatabase, listener: &mut sqlx::postgres::PgListener) {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('probe', '')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(next_channel(listener).await, "probe");
}

#[tokio::test]
async fn queued_work_is_announced_once_per_write_after_its_commit() {
    let Some(db) = pg("queued_work_is_announced_once_per_write_after_its_commit").await else {
        return;
    };
    let (n1, n2) = (db.store(2).await, db.store(2).await);
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener
        .listen_all([OUTBOX_CHANNEL, "probe"])
        .await
        .unwrap();
    let now = Utc::now();
    let lease = Duration::seconds(30);

    // No subscription, no outbox row: nothing to announce.
    n1.put_call_records("t", &[rec("r0")], now).await.unwrap();
    nothing_announced(&db, &mut listener).await;

    // Rows queued by one batch (two chunks: r1 twice) are announced once.
    subscribe(&n1, &["a"], now).await;
    n2.put_call_records("t", &[rec("r1"), rec("r2"), rec("r1")], now)
        .await
        .unwrap();
    assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);
    nothing_announced(&db, &mut listener).await;

    n2.enqueue_lifecycle("t", "a", "reauthorizationRequired", now)
        .await
        .unwrap();
    assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);

    // Call events and a recording published queue theirs the same way; the recording's
    // metadata and a second upload of its content (published already) queue nothing.
    for (id, kind, scope) in [
        ("e", matching::kind::USER_CALL_EVENTS, Some("u1")),
        ("r", matching::kind::RECORDINGS_TENANT_MEETINGS, None),
    ] {
        let mut row = sub(id, "t", now + Duration::hours(1));
        row.resource_kind = kind.into();
        row.scope = scope.map(Into::into);
        n1.create_subscription(&row, &quota(1000))
            .await
            .unwrap()
            .unwrap();
    }
    let event = CallEventWrite {
        id: "ev1".into(),
        event_type: "callStarted".into(),
        event_time: now,
        user_id: Some("u1".into()),
        join_web_url: None,
        call_id: Some("call-1".into()),
        policy_name: None,
        body: "{}".into(),
    };
    n2.put_call_events("t", &[event], now).await.unwrap();
    assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);
    let key = ArtifactKey {
        kind: ArtifactKind::Recording,
        parent: ArtifactParent::OnlineMeeting,
        parent_id: "m1".into(),
        id: "rec1".into(),
    };
    let recording = ArtifactWrite {
        key: key.clone(),
        organizer_id: "u1".into(),
        created: now,
        received: now,
        content_correlation_id: None,
        body: "{}".into(),
    };
    n2.put_artifact("t", &recording).await.unwrap();
    nothing_announced(&db, &mut listener).await;
    for (content, announced) in [(b"mp4", true), (b"MP4", false)] {
        n2.put_artifact_stream("t", &key, ArtifactStream::Content, content, now)
            .await
            .unwrap();
        if announced {
            assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);
        } else {
            nothing_announced(&db, &mut listener).await;
        }
    }

    // Releasing held rows announces them, releasing nothing does not.
    n1.release_held("a", now).await.unwrap();
    nothing_announced(&db, &mut listener).await;
    let rows = n1
        .due_notifications(&DueQuery::new(now, 100, &[]))
        .await
        .unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    n1.reschedule_notifications(&seqs, now + Duration::hours(1), now)
        .await
        .unwrap();
    n2.release_held("a", now).await.unwrap();
    assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);

    // A node giving up leases over waiting rows tells the others; one with none, or none
    // over waiting rows, does not.
    assert!(!n1
        .claim_due("n1", lease, &DueQuery::new(now, 100, &[]))
        .await
        .unwrap()
        .is_empty());
    n1.release_leases("n1").await.unwrap();
    assert_eq!(next_channel(&mut listener).await, OUTBOX_CHANNEL);
    n1.release_leases("n1").await.unwrap();
    assert!(n1.claim_job("reauth", "n1", now, lease).await.unwrap());
    n1.release_leases("n1").await.unwrap();
    nothing_announced(&db, &mut listener).await;
}

#[tokio::test]
async fn the_outbox_watcher_wakes_for_other_nodes_work_and_survives_a_lost_connection() {
    let Some(db) =
        pg("the_outbox_watcher_wakes_for_other_nodes_work_and_survives_a_lost_connection").await
    else {
        return;
    };
    let within = std::time::Duration::from_secs(10);
    let (n1, n2) = (db.store(2).await, db.store(2).await);
    let now = Utc::now();
    subscribe(&n1, &["a"], now).await;
    let wake = Arc::new(tokio::sync::Notify::new());
    let watcher = n1.spawn_outbox_watcher(wake.clone()).expect("a watcher");
    // Woken once when it starts listening.
    tokio::time::timeout(within, wake.notified()).await.unwrap();

    n2.put_call_records("t", &[rec("r1")], now).await.unwrap();
    tokio::time::timeout(within, wake.notified()).await.unwrap();

    // Its connection is killed: it listens again on a new one, wakes the engine (whatever was
    // committed meanwhile was told to nobody), and hears the next write.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(n2.pool())
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    tokio::time::timeout(within, wake.notified()).await.unwrap();
    n2.put_call_records("t", &[rec("r2")], now).await.unwrap();
    tokio::time::timeout(within, wake.notified()).await.unwrap();
    watcher.abort();
}

#[tokio::test]
async fn sqlite_has_no_outbox_watcher() {
    let (_d, s) = common::sqlite().await;
    let wake = Arc::new(tokio::sync::Notify::new());
    assert!(s.spawn_outbox_watcher(wake).is_none());
}
