//! Change notifications end to end, in-process: subscriptions created over HTTP against real
//! webhook receivers on 127.0.0.1, call records ingested over HTTP, and what arrives at the
//! receivers — who gets what, with which fields, in which order, and what happens when a
//! receiver fails, stalls, or its subscription is deleted.
//!
//! Absence is proven without sleeping: PUTs commit their notifications before they answer, so
//! once the outbox is empty every notification ever queued has reached a receiver (which records
//! a POST before answering it) or was dropped.

mod common;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use common::{ts, uuid_like, Answer, RecordBuilder, TestServer};
use webhook::{distinct_ids, record_of, Post, Webhook};

const LIMIT: StdDuration = StdDuration::from_secs(30);

impl TestServer {
    /// `POST /v1.0/subscriptions` expiring in 50 minutes (so no lifecycle URL is needed); asserts
    /// 201 and returns the id.
    async fn subscribe(
        &self,
        token: &str,
        url: &str,
        change_type: &str,
        resource: &str,
        client_state: &str,
    ) -> String {
        let body = json!({
            "changeType": change_type,
            "notificationUrl": url,
            "resource": resource,
            "expirationDateTime": ts(Utc::now() + Duration::minutes(50)),
            "clientState": client_state,
        });
        let resp = self
            .http
            .post(self.url("/v1.0/subscriptions"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST subscription");
        let a = Answer::from(resp).await;
        a.expect_status(201);
        a.json["id"].as_str().expect("subscription id").to_string()
    }

    async fn unsubscribe(&self, token: &str, id: &str) {
        let resp = self
            .http
            .delete(self.url(&format!("/v1.0/subscriptions/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE subscription");
        Answer::from(resp).await.expect_status(204);
    }

    /// `PUT`s a record into `tenant` and asserts it was stored.
    async fn put_into(&self, tenant: &str, record: &Value) {
        let id = record["id"].as_str().expect("record id");
        let url = format!(
            "{}/ingest/v1/tenants/{tenant}/callRecords/{id}",
            self.base()
        );
        let a = self
            .ingest_raw(
                reqwest::Method::PUT,
                &url,
                serde_json::to_vec(record).expect("json"),
            )
            .await;
        assert!(a.status.is_success(), "PUT {id} into {tenant}: {}", a.text);
    }

    async fn put(&self, record: &Value) {
        let tenant = self.tenant().to_string();
        self.put_into(&tenant, record).await;
    }

    /// Moves the server's clock so retries are due, and wakes the delivery engine.
    fn hurry(&self) {
        self.server.state.clock.advance(Duration::seconds(15));
        self.server.state.notify.wake.notify_one();
    }

    /// Waits until the outbox is empty: everything queued was delivered or dropped.
    async fn quiesce(&self) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let n = self.server.state.store.outbox_len().await.expect("outbox");
            if n == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "outbox still holds {n}");
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
    }
}

/// Asserts every field of a change notification item.
#[track_caller]
fn assert_item(item: &Value, sub: &str, change: &str, record: &str, state: &str, tenant: &str) {
    let resource = format!("communications/callRecords/{record}");
    assert_eq!(item["subscriptionId"], sub, "{item}");
    assert_eq!(item["changeType"], change, "{item}");
    assert_eq!(item["resource"], resource.as_str(), "{item}");
    assert_eq!(item["clientState"], state, "{item}");
    assert_eq!(item["tenantId"], tenant, "{item}");
    assert_eq!(
        item["resourceData"],
        json!({ "@odata.type": "#Microsoft.Graph.callRecord", "@odata.id": resource, "id": record }),
        "{item}"
    );
    assert!(item["id"].as_str().is_some_and(|s| !s.is_empty()), "{item}");
    assert!(
        item["subscriptionExpirationDateTime"]
            .as_str()
            .is_some_and(|s| s.ends_with("+00:00")),
        "{item}"
    );
}

/// (record, changeType) of each item, in order.
fn changes(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| {
            (
                record_of(i),
                i["changeType"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn all_items(rx: &Webhook) -> Vec<Value> {
    rx.items().into_iter().map(|(i, _)| i).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Redeliveries repeat the first delivery's item exactly, and only what was not acknowledged is
/// sent again: each id is acknowledged once, unless the receiver stalled past the timeout.
#[track_caller]
fn assert_redeliveries_are_exact(posts: &[Post]) {
    let mut first: HashMap<String, Value> = HashMap::new();
    let mut acked: HashMap<String, usize> = HashMap::new();
    for p in posts {
        for i in p.items() {
            let id = i["id"].as_str().expect("notification id").to_string();
            let before = first.entry(id.clone()).or_insert_with(|| i.clone());
            assert_eq!(
                *before, i,
                "a redelivery of {id} differs from its first delivery"
            );
            if p.acknowledged() {
                let n = acked.entry(id.clone()).or_insert(0);
                *n += 1;
                assert_eq!(*n, 1, "{id} was sent again after it was acknowledged");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_gets_one_per_new_record_and_updated_one_per_version() {
    let srv = common::start().await;
    let token = srv.token().await;
    let tenant = srv.tenant().to_string();
    let (mut rx_c, mut rx_u, mut rx_cu) = (
        Webhook::start().await,
        Webhook::start().await,
        Webhook::start().await,
    );
    let resource = "communications/callRecords";
    let sub_c = srv
        .subscribe(&token, &rx_c.url("/c"), "created", resource, "state-c")
        .await;
    let sub_u = srv
        .subscribe(&token, &rx_u.url("/u"), "updated", resource, "state-u")
        .await;
    let sub_cu = srv
        .subscribe(
            &token,
            &rx_cu.url("/cu"),
            "created,updated",
            resource,
            "state-cu",
        )
        .await;
    assert_eq!(rx_c.validations(), 1, "one validation request per URL");

    let a = uuid_like(0xe2e_0001, 1);
    let b = uuid_like(0xe2e_0001, 2);
    // Three versions of `a`, then `b`.
    for sessions in 1..=3 {
        srv.put(&RecordBuilder::new(&a).sessions(sessions).build())
            .await;
    }
    srv.put(&common::record(&b)).await;

    let has = |n: usize| move |seen: &[Post]| distinct_ids(seen) >= n;
    rx_c.wait_until(LIMIT, || {}, has(2)).await;
    rx_u.wait_until(LIMIT, || {}, has(4)).await;
    rx_cu.wait_until(LIMIT, || {}, has(4)).await;
    srv.quiesce().await;
    rx_c.drain();
    rx_u.drain();
    rx_cu.drain();

    let got_c = all_items(&rx_c);
    let got_u = all_items(&rx_u);
    let got_cu = all_items(&rx_cu);
    // Nothing failed, so nothing was sent twice: exactly these, in this order.
    assert_eq!(
        changes(&got_c),
        pairs(&[(&a, "created"), (&b, "created")]),
        "no notification for later versions"
    );
    assert_eq!(
        changes(&got_u),
        pairs(&[
            (&a, "updated"),
            (&a, "updated"),
            (&a, "updated"),
            (&b, "updated")
        ])
    );
    assert_eq!(
        changes(&got_cu),
        pairs(&[
            (&a, "created"),
            (&a, "updated"),
            (&a, "updated"),
            (&b, "created")
        ])
    );
    for i in &got_c {
        assert_item(i, &sub_c, "created", &record_of(i), "state-c", &tenant);
    }
    for i in &got_u {
        assert_item(i, &sub_u, "updated", &record_of(i), "state-u", &tenant);
    }
    for i in &got_cu {
        let change = i["changeType"].as_str().unwrap_or_default();
        assert_item(i, &sub_cu, change, &record_of(i), "state-cu", &tenant);
    }
    for rx in [&rx_c, &rx_u, &rx_cu] {
        for p in &rx.seen {
            assert_eq!(p.content_type.as_deref(), Some("application/json"));
            let keys: Vec<&String> = p.body.as_object().expect("object body").keys().collect();
            assert_eq!(
                keys,
                ["value"],
                "the body is a changeNotificationCollection"
            );
        }
    }
    let ids: HashSet<&str> = got_c
        .iter()
        .chain(&got_u)
        .chain(&got_cu)
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2 + 4 + 4, "notification ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_filtered_subscription_only_gets_records_with_that_participant() {
    let srv = common::start().await;
    let token = srv.token().await;
    let mut rx = Webhook::start().await;
    let uid = "5f1a0000-0000-4000-8000-00000000beef";
    let resource =
        format!("communications/callRecords?$filter=participants_v2/any(p:p/id eq '{uid}')");
    let sub = srv
        .subscribe(
            &token,
            &rx.url("/p"),
            "created,updated",
            &resource,
            "filtered",
        )
        .await;

    let with_first = uuid_like(0xe2e_0002, 1);
    let without = uuid_like(0xe2e_0002, 2);
    let with_third = uuid_like(0xe2e_0002, 3);
    let other = "5f1a0000-0000-4000-8000-00000000f00d";
    srv.put(
        &RecordBuilder::new(&with_first)
            .participant_ids(&[uid])
            .build(),
    )
    .await;
    srv.put(
        &RecordBuilder::new(&without)
            .participant_ids(&[other])
            .build(),
    )
    .await;
    srv.put(
        &RecordBuilder::new(&with_third)
            .participant_ids(&[other, "5f1a0000-0000-4000-8000-000000000002", uid])
            .build(),
    )
    .await;
    // A new version of the record without the participant, still without it.
    srv.put(
        &RecordBuilder::new(&without)
            .participant_ids(&[other])
            .sessions(2)
            .build(),
    )
    .await;

    rx.wait_until(LIMIT, || {}, |seen| distinct_ids(seen) >= 2)
        .await;
    srv.quiesce().await;
    rx.drain();
    let got = all_items(&rx);
    assert_eq!(
        changes(&got),
        pairs(&[(&with_first, "created"), (&with_third, "created")])
    );
    for i in &got {
        assert_item(i, &sub, "created", &record_of(i), "filtered", srv.tenant());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_never_gets_another_tenants_records() {
    let srv = common::start().await;
    let tenant_a = srv.tenant().to_string();
    let (tenant_b, client_b, secret_b) = srv.add_tenant(1).await;
    let token_a = srv.token().await;
    let token_b = srv.token_for(&tenant_b, &client_b, &secret_b).await;
    let (mut rx_a, mut rx_b) = (Webhook::start().await, Webhook::start().await);
    let resource = "communications/callRecords";
    let sub_a = srv
        .subscribe(&token_a, &rx_a.url("/a"), "created,updated", resource, "a")
        .await;
    let sub_b = srv
        .subscribe(&token_b, &rx_b.url("/b"), "created,updated", resource, "b")
        .await;

    let only_a = uuid_like(0xe2e_0003, 1);
    let only_b = uuid_like(0xe2e_0003, 2);
    // The same id in both tenants: two independent records.
    let both = uuid_like(0xe2e_0003, 3);
    srv.put_into(&tenant_b, &common::record(&only_b)).await;
    srv.put_into(&tenant_b, &common::record(&both)).await;
    srv.put_into(&tenant_a, &common::record(&only_a)).await;
    srv.put_into(&tenant_a, &common::record(&both)).await;
    srv.put_into(&tenant_b, &RecordBuilder::new(&both).sessions(2).build())
        .await;

    rx_a.wait_until(LIMIT, || {}, |s| distinct_ids(s) >= 2)
        .await;
    rx_b.wait_until(LIMIT, || {}, |s| distinct_ids(s) >= 3)
        .await;
    srv.quiesce().await;
    rx_a.drain();
    rx_b.drain();
    let got_a = all_items(&rx_a);
    let got_b = all_items(&rx_b);
    assert_eq!(
        changes(&got_a),
        pairs(&[(&only_a, "created"), (&both, "created")]),
        "tenant A's subscription sees only tenant A's records"
    );
    assert_eq!(
        changes(&got_b),
        pairs(&[(&only_b, "created"), (&both, "created"), (&both, "updated")]),
        "tenant B's subscription sees only tenant B's records"
    );
    for i in &got_a {
        let change = i["changeType"].as_str().unwrap_or_default();
        assert_item(i, &sub_a, change, &record_of(i), "a", &tenant_a);
    }
    for i in &got_b {
        let change = i["changeType"].as_str().unwrap_or_default();
        assert_item(i, &sub_b, change, &record_of(i), "b", &tenant_b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_500s_everything_arrives_in_order_and_repeats_are_redeliveries() {
    let srv = common::start().await;
    let token = srv.token().await;
    let mut rx = Webhook::start().await;
    let sub = srv
        .subscribe(
            &token,
            &rx.url("/flaky"),
            "created,updated",
            "communications/callRecords",
            "flaky",
        )
        .await;
    rx.fail_next(3, 500);

    // Ten records, every third one written twice: 14 notifications in this order.
    let mut expected = Vec::new();
    for n in 0..10u64 {
        let id = uuid_like(0xe2e_0004, n);
        srv.put(&common::record(&id)).await;
        expected.push((id.clone(), "created".to_string()));
        if n % 3 == 0 {
            srv.put(&RecordBuilder::new(&id).sessions(2).build()).await;
            expected.push((id, "updated".to_string()));
        }
    }
    let total = expected.len();
    rx.wait_until(
        LIMIT,
        || srv.hurry(),
        |seen| {
            // Done when every distinct notification has been acknowledged once.
            seen.iter()
                .filter(|p| p.acknowledged())
                .flat_map(Post::items)
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect::<HashSet<_>>()
                .len()
                >= total
        },
    )
    .await;
    srv.quiesce().await;
    rx.drain();

    let failed = rx.seen.iter().filter(|p| p.status == 500).count();
    assert_eq!(failed, 3, "the receiver failed three POSTs");
    assert!(
        rx.items().len() > total,
        "the failed notifications were sent again"
    );
    assert_eq!(
        changes(&rx.first_seen()),
        expected,
        "first deliveries keep ingest order"
    );
    assert_redeliveries_are_exact(&rx.seen);
    // Every POST carries its subscription's notifications in outbox order: the acknowledged
    // sequence, read POST by POST, is exactly the ingest order.
    let acked: Vec<Value> = rx
        .seen
        .iter()
        .filter(|p| p.acknowledged())
        .flat_map(Post::items)
        .collect();
    assert_eq!(changes(&acked), expected);
    for i in &acked {
        let change = i["changeType"].as_str().unwrap_or_default();
        assert_item(i, &sub, change, &record_of(i), "flaky", srv.tenant());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_answered_after_the_timeout_is_sent_again_with_the_same_ids() {
    let srv = common::start().await;
    let token = srv.token().await;
    let mut rx = Webhook::start().await;
    srv.subscribe(
        &token,
        &rx.url("/slow"),
        "created",
        "communications/callRecords",
        "slow",
    )
    .await;
    // Longer than the 3 s a first delivery may take.
    rx.stall_next(1, StdDuration::from_secs(4));

    let first = uuid_like(0xe2e_0005, 1);
    srv.put(&common::record(&first)).await;
    // The stalled POST is recorded as it arrives; more records queue up behind it.
    rx.wait_until(LIMIT, || {}, |seen| !seen.is_empty()).await;
    let stalled: Vec<String> = rx.seen[0]
        .items()
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect();
    assert!(rx.seen[0].stalled);
    let later = uuid_like(0xe2e_0005, 2);
    srv.put(&common::record(&later)).await;

    rx.wait_until(
        LIMIT,
        || srv.hurry(),
        |seen| {
            seen.iter()
                .filter(|p| p.acknowledged())
                .flat_map(Post::items)
                .count()
                >= 2
        },
    )
    .await;
    srv.quiesce().await;
    rx.drain();

    let again: Vec<(Value, &Post)> = rx.items().into_iter().filter(|(_, p)| !p.stalled).collect();
    let again_ids: Vec<&str> = again.iter().filter_map(|(i, _)| i["id"].as_str()).collect();
    for id in &stalled {
        assert!(
            again_ids.contains(&id.as_str()),
            "{id} was sent again after the stall"
        );
    }
    assert_eq!(
        changes(&rx.first_seen()),
        pairs(&[(&first, "created"), (&later, "created")])
    );
    assert_eq!(
        again_ids.len(),
        2,
        "after the stall each notification is acknowledged once"
    );
    assert_redeliveries_are_exact(&rx.seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_subscription_stops_delivery_and_drops_pending_notifications() {
    let srv = common::start().await;
    let token = srv.token().await;
    let mut rx = Webhook::start().await;
    let sub = srv
        .subscribe(
            &token,
            &rx.url("/gone"),
            "created,updated",
            "communications/callRecords",
            "gone",
        )
        .await;

    let delivered = uuid_like(0xe2e_0006, 1);
    srv.put(&common::record(&delivered)).await;
    rx.wait_until(LIMIT, || {}, |s| s.iter().any(Post::acknowledged))
        .await;

    // A notification stuck in retries when the subscription goes.
    rx.fail_all(true);
    let pending = uuid_like(0xe2e_0006, 2);
    srv.put(&common::record(&pending)).await;
    rx.wait_until(LIMIT, || {}, |s| s.iter().any(|p| p.status == 500))
        .await;
    srv.unsubscribe(&token, &sub).await;
    assert_eq!(
        srv.server.state.store.outbox_len().await.expect("outbox"),
        0,
        "deleting a subscription drops its pending notifications"
    );
    rx.fail_all(false);
    rx.drain();
    let seen_before = rx.seen.len();

    // Records after the deletion: no notification is even queued.
    let after = uuid_like(0xe2e_0006, 3);
    srv.put(&common::record(&after)).await;
    srv.put(&RecordBuilder::new(&delivered).sessions(2).build())
        .await;
    assert_eq!(
        srv.server.state.store.outbox_len().await.expect("outbox"),
        0,
        "nothing is queued for a deleted subscription"
    );
    // Retries would be due by now; give the engine a few rounds to prove nothing goes out.
    for _ in 0..5 {
        srv.hurry();
        srv.quiesce().await;
    }
    rx.drain();
    let late: Vec<String> = rx.seen[seen_before..]
        .iter()
        .flat_map(Post::items)
        .map(|i| record_of(&i))
        .collect();
    assert!(
        late.len() <= 1,
        "at most a retry already in flight: {late:?}"
    );
    assert!(
        !late.contains(&after),
        "a record stored after DELETE was notified"
    );
    assert!(
        !rx.seen
            .iter()
            .flat_map(Post::items)
            .any(|i| record_of(&i) == after
                || (record_of(&i) == delivered && i["changeType"] == "updated")),
        "no notification for changes after DELETE"
    );
}

/// Measures, for `n` records sent one at a time, how long after the ingest answer each
/// notification reaches the receiver. Before each record the engine is left alone for longer
/// than its idle poll (500 ms), so no earlier wake-up is still pending: only the ingest itself
/// can wake it.
async fn ingest_to_webhook_latencies(
    srv: &TestServer,
    rx: &mut Webhook,
    n: u64,
    batch: bool,
) -> Vec<StdDuration> {
    let mut out = Vec::new();
    for k in 0..n {
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        let id = uuid_like(0xe2e_0007, k + if batch { 100 } else { 0 });
        let rec = common::record(&id);
        let sent = Instant::now();
        if batch {
            srv.post_records(std::slice::from_ref(&rec))
                .await
                .expect_status(200);
        } else {
            srv.put(&rec).await;
        }
        rx.wait_until(
            LIMIT,
            || {},
            |seen| {
                seen.iter()
                    .flat_map(Post::items)
                    .any(|i| record_of(&i) == id)
            },
        )
        .await;
        out.push(sent.elapsed());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_put_wakes_the_delivery_engine_like_a_batch_does() {
    // With a one-minute idle poll, only a wake-up gets a notification out within seconds.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = common::serve_options(dir.path()).await;
    opts.notify.idle_poll = StdDuration::from_secs(60);
    let server = callhook::server::start(opts).await.expect("server starts");
    let creds = common::read_credentials(dir.path());
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let srv = common::TestServer {
        server,
        dir,
        creds,
        http,
    };
    let token = srv.token().await;
    let mut rx = Webhook::start().await;
    srv.subscribe(
        &token,
        &rx.url("/fast"),
        "created",
        "communications/callRecords",
        "fast",
    )
    .await;
    let fast = StdDuration::from_secs(10);
    // The batch route wakes the engine: its notifications leave at once.
    let batch = ingest_to_webhook_latencies(&srv, &mut rx, 8, true).await;
    assert!(batch.iter().all(|d| *d < fast), "batch POST: {batch:?}");
    // A single PUT too; without a wake-up each would wait for the one-minute poll.
    let put = ingest_to_webhook_latencies(&srv, &mut rx, 8, false).await;
    assert!(put.iter().all(|d| *d < fast), "PUT: {put:?}");
}
