#[macro_use]
mod common;

use callhook_store::*;
use chrono::{DateTime, Duration, Utc};

fn rec(id: &str, parts: &[&str]) -> CallRecordWrite {
    CallRecordWrite {
        id: id.into(),
        start: Utc::now(),
        participant_ids: parts.iter().map(|s| s.to_string()).collect(),
        body: "{}".into(),
        sessions: "[]".into(),
        participants: "[]".into(),
    }
}

fn sub(
    id: &str,
    tenant: &str,
    change_type: &str,
    filter: &[&str],
    expiration: DateTime<Utc>,
) -> SubscriptionRow {
    SubscriptionRow {
        id: id.into(),
        tenant_id: tenant.into(),
        app_id: format!("app-{id}"),
        resource_kind: "callRecords".into(),
        resource: format!("communications/callRecords{}", filter.join("")),
        change_type: change_type.into(),
        notify_created: change_type.contains("created"),
        notify_updated: change_type.contains("updated"),
        participant_filter: filter.iter().map(|s| s.to_string()).collect(),
        notification_url: "http://127.0.0.1:1/hook".into(),
        lifecycle_url: None,
        client_state: Some("secret".into()),
        expiration,
        authorized_until: expiration,
        scope: None,
        created: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        encryption: None,
        notification_url_app_id: None,
        body: "{}".into(),
    }
}

fn q(limit: u32) -> [QuotaRule; 1] {
    [QuotaRule::per_tenant("callRecords", limit)]
}

fn events(rows: &[OutboxRow], sub: &str) -> Vec<(String, String)> {
    rows.iter()
        .filter(|r| r.subscription_id == sub)
        .map(|r| (r.event.clone(), r.resource_id.clone().unwrap_or_default()))
        .collect()
}

backend_tests! {
async fn storing_a_record_queues_notifications_for_matching_subscriptions_only() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let later = now + Duration::hours(1);
    for row in [
        sub("created", "t", "created", &[], later),
        sub("updated", "t", "updated", &[], later),
        sub("both", "t", "created,updated", &[], later),
        sub("u1-only", "t", "created,updated", &["u1"], later),
        sub("other-tenant", "t2", "created,updated", &[], later),
        sub(
            "expired",
            "t",
            "created,updated",
            &[],
            now - Duration::seconds(1),
        ),
    ] {
        s.create_subscription(&row, &q(100)).await.unwrap().unwrap();
    }
    s.put_call_records("t", &[rec("r1", &["u1"]), rec("r2", &["u2"])], now)
        .await
        .unwrap();
    s.put_call_records("t", &[rec("r1", &["u1"])], now)
        .await
        .unwrap();

    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events(&due, "created"),
        pairs(&[("created", "r1"), ("created", "r2")])
    );
    assert_eq!(
        events(&due, "updated"),
        pairs(&[("updated", "r1"), ("updated", "r2"), ("updated", "r1")])
    );
    assert_eq!(
        events(&due, "both"),
        pairs(&[("created", "r1"), ("created", "r2"), ("updated", "r1")])
    );
    assert_eq!(
        events(&due, "u1-only"),
        pairs(&[("created", "r1"), ("updated", "r1")])
    );
    assert!(events(&due, "other-tenant").is_empty());
    assert!(events(&due, "expired").is_empty());
    // Stable, distinct notification ids.
    let mut ids: Vec<_> = due.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), due.len());
}

async fn a_stuck_backlog_takes_no_room_from_other_subscriptions_and_tenants() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let later = now + Duration::hours(1);
    // Tenant b: three subscriptions with a backlog; tenant a: one, whose record comes last.
    for id in ["b1", "b2", "b3"] {
        s.create_subscription(&sub(id, "b", "created", &[], later), &q(100))
            .await
            .unwrap()
            .unwrap();
    }
    s.create_subscription(&sub("a1", "a", "created", &[], later), &q(100))
        .await
        .unwrap()
        .unwrap();
    let backlog: Vec<CallRecordWrite> = (0..40).map(|i| rec(&format!("b-{i:02}"), &[])).collect();
    s.put_call_records("b", &backlog, now).await.unwrap();
    s.put_call_records("a", &[rec("a-0", &[])], now).await.unwrap();

    // One POST's worth per stream, and the read reaches a's row although b's backlog alone
    // is larger than the read.
    let round = DueQuery {
        per_stream: 5,
        ..DueQuery::new(now, 16, &[])
    };
    let due = s.due_notifications(&round).await.unwrap();
    assert_eq!(due.len(), 16);
    assert_eq!(events(&due, "a1"), [("created".to_string(), "a-0".to_string())]);
    for id in ["b1", "b2", "b3"] {
        let mine: Vec<_> = due.iter().filter(|r| r.subscription_id == id).collect();
        assert_eq!(mine.len(), 5, "{id}: one POST's worth");
        assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq), "{id} in order");
        assert_eq!(mine[0].resource_id.as_deref(), Some("b-00"));
    }

    // b1 has a POST in flight, b2 backs off: neither is read, and they block nobody.
    let b2_head: Vec<i64> = due
        .iter()
        .filter(|r| r.subscription_id == "b2")
        .map(|r| r.seq)
        .collect();
    s.reschedule_notifications(&b2_head, now + Duration::seconds(30), now)
        .await
        .unwrap();
    let busy = [("b1".to_string(), NotificationKind::Change)];
    let round = DueQuery {
        per_stream: 5,
        busy: &busy,
        ..DueQuery::new(now, 6, &[])
    };
    let due = s.due_notifications(&round).await.unwrap();
    let subs: std::collections::BTreeSet<&str> =
        due.iter().map(|r| r.subscription_id.as_str()).collect();
    assert_eq!(subs, ["a1", "b3"].into_iter().collect());
    // Each tenant's oldest ready stream before any stream's second row: a1's one row is read
    // first-round whatever the limit.
    let round = DueQuery {
        per_stream: 5,
        busy: &busy,
        ..DueQuery::new(now, 2, &[])
    };
    let due = s.due_notifications(&round).await.unwrap();
    let subs: std::collections::BTreeSet<&str> =
        due.iter().map(|r| r.subscription_id.as_str()).collect();
    assert_eq!(subs, ["a1", "b3"].into_iter().collect());
}

async fn a_waiting_notification_holds_back_the_later_ones_of_its_subscription() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.create_subscription(
        &sub("a", "t", "updated", &[], now + Duration::hours(1)),
        &q(100),
    )
    .await
    .unwrap()
    .unwrap();
    s.create_subscription(
        &sub("b", "t", "created", &[], now + Duration::hours(1)),
        &q(100),
    )
    .await
    .unwrap()
    .unwrap();
    s.put_call_records("t", &[rec("r1", &[]), rec("r2", &[])], now)
        .await
        .unwrap();
    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    assert_eq!(due.len(), 4);
    let first_of_a = due.iter().find(|r| r.subscription_id == "a").unwrap().seq;
    s.reschedule_notifications(&[first_of_a], now + Duration::minutes(1), now)
        .await
        .unwrap();

    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    assert!(
        due.iter().all(|r| r.subscription_id == "b"),
        "a's second notification waits for its first"
    );
    let later = s
        .due_notifications(&DueQuery::new(now + Duration::minutes(2), 100, &[]))
        .await
        .unwrap();
    let a: Vec<_> = later.iter().filter(|r| r.subscription_id == "a").collect();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].attempts, a[0].first_attempt.is_some()), (1, true));
    assert_eq!(
        s.next_due().await.unwrap(),
        Some(DateTime::from_timestamp_nanos(
            now.timestamp_nanos_opt().unwrap()
        ))
    );

    s.remove_notifications(&later.iter().map(|r| r.seq).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 0);
}

async fn quota_and_duplicates_are_refused_atomically() {
    let (_d, s) = store().await;
    let later = Utc::now() + Duration::hours(1);
    s.create_subscription(&sub("a", "t", "created", &[], later), &q(2))
        .await
        .unwrap()
        .unwrap();
    let same_app = SubscriptionRow {
        id: "b".into(),
        ..sub("a", "t", "created", &[], later)
    };
    let dup = s.create_subscription(&same_app, &q(2)).await.unwrap();
    assert_eq!(
        dup,
        Err(SubscriptionRefusal::Duplicate {
            existing_id: "a".into()
        })
    );
    s.create_subscription(&sub("c", "t", "updated", &[], later), &q(2))
        .await
        .unwrap()
        .unwrap();
    let full = s
        .create_subscription(&sub("d", "t", "created,updated", &[], later), &q(2))
        .await
        .unwrap();
    assert_eq!(full, Err(SubscriptionRefusal::Quota { rule: 0, limit: 2 }));
    // Another tenant has its own quota.
    s.create_subscription(&sub("e", "t2", "created", &[], later), &q(2))
        .await
        .unwrap()
        .unwrap();
}

async fn deleting_or_expiring_a_subscription_drops_its_pending_notifications() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.create_subscription(
        &sub("a", "t", "created", &[], now + Duration::minutes(10)),
        &q(100),
    )
    .await
    .unwrap()
    .unwrap();
    s.create_subscription(
        &sub("b", "t", "updated", &[], now + Duration::hours(2)),
        &q(100),
    )
    .await
    .unwrap()
    .unwrap();
    s.put_call_records("t", &[rec("r1", &[])], now)
        .await
        .unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 2);
    let gone = s
        .purge_expired_subscriptions(now + Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(
        gone.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert!(s.subscription("t", "a").await.unwrap().is_none());
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    assert!(s.delete_subscription("t", "b").await.unwrap());
    assert!(!s.delete_subscription("t", "b").await.unwrap());
    assert_eq!(s.outbox_len().await.unwrap(), 0);
}

async fn delivery_attempts_are_kept_newest_first() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let attempt = |outcome: &str| DeliveryAttempt {
        subscription_id: "a".into(),
        notification_ids: vec!["n1".into()],
        url: "http://127.0.0.1/x".into(),
        at: now,
        status: Some(500),
        latency_ms: 3,
        outcome: outcome.into(),
        error: None,
    };
    s.record_attempts(&[attempt("retry"), attempt("delivered")])
        .await
        .unwrap();
    let got = s.delivery_attempts("a", 10).await.unwrap();
    assert_eq!(
        got.iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(),
        ["delivered", "retry"]
    );
}

async fn skipped_rows_are_left_out_and_settling_removes_them_with_their_attempts() {
    let (_d, s) = store().await;
    let now = Utc::now();
    s.create_subscription(
        &sub("a", "t", "created", &[], now + Duration::hours(1)),
        &q(100),
    )
    .await
    .unwrap()
    .unwrap();
    s.put_call_records("t", &[rec("r1", &[]), rec("r2", &[]), rec("r3", &[])], now)
        .await
        .unwrap();
    let due = s.due_notifications(&DueQuery::new(now, 100, &[])).await.unwrap();
    let seqs: Vec<i64> = due.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 3);

    // The first two were delivered; their removal is pending.
    let rest = s.due_notifications(&DueQuery::new(now, 100, &seqs[..2])).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.seq).collect::<Vec<_>>(), [seqs[2]]);

    let attempt = DeliveryAttempt {
        subscription_id: "a".into(),
        notification_ids: due[..2].iter().map(|r| r.id.clone()).collect(),
        url: "http://127.0.0.1/x".into(),
        at: now,
        status: Some(202),
        latency_ms: 1,
        outcome: "delivered".into(),
        error: None,
    };
    s.settle_delivered(&seqs[..2], &[attempt]).await.unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    let got = s.delivery_attempts("a", 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].notification_ids.len(), 2);
}

async fn delivery_attempts_page_newest_first_and_are_purged_past_their_window() {
    let (_d, s) = store().await;
    let now = Utc::now();
    let attempt = |sub: &str, minutes_ago: i64| DeliveryAttempt {
        subscription_id: sub.into(),
        notification_ids: vec![format!("n-{minutes_ago}")],
        url: "http://127.0.0.1:1/hook".into(),
        at: now - Duration::minutes(minutes_ago),
        status: Some(202),
        latency_ms: 3,
        outcome: "delivered".into(),
        error: None,
    };
    // Oldest first, as they happen; "b" is another subscription's.
    let made: Vec<DeliveryAttempt> = [50, 40, 30, 20, 10]
        .into_iter()
        .map(|m| attempt("a", m))
        .chain([attempt("b", 45)])
        .collect();
    s.record_attempts(&made).await.unwrap();

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = s.delivery_attempts_page("a", before, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|(seq, _)| *seq);
        pages.push(
            page.into_iter()
                .map(|(_, a)| a.notification_ids[0].clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(pages, [vec!["n-10", "n-20"], vec!["n-30", "n-40"], vec!["n-50"]]);

    // Attempts older than 35 minutes go, whoever they belong to; the others stay.
    let purged = s
        .purge_delivery_attempts(now - Duration::minutes(35))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    let left: Vec<String> = s
        .delivery_attempts("a", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.notification_ids[0].clone())
        .collect();
    assert_eq!(left, ["n-10", "n-20", "n-30"]);
    assert!(s.delivery_attempts("b", 10).await.unwrap().is_empty());
}
}
