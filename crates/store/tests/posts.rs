//! Webhook POSTs kept for the console: stored byte for byte, listed per subscription newest
//! first with paging, found by id, purged by age — on every backend.
#[macro_use]
mod common;

use callhook_store::*;
use chrono::{Duration, Utc};

fn post(id: &str, subs: &[&str], at: chrono::DateTime<Utc>) -> WebhookPost {
    WebhookPost {
        id: id.into(),
        at,
        url: "http://127.0.0.1:9/hook".into(),
        subscription_ids: subs.iter().map(|s| s.to_string()).collect(),
        notification_ids: vec![format!("n-{id}")],
        latency_ms: 12,
        outcome: "delivered".into(),
        request_headers: vec![("content-type".into(), "application/json".into())],
        // Bytes that are not UTF-8 come back unchanged too.
        request_body: vec![b'{', 0xff, 0x00, b'}'],
        request_body_size: 70_000,
        response_status: Some(202),
        response_headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
        response_body: b"ok".to_vec(),
        response_body_size: 2,
        error: None,
    }
}

backend_tests! {
    async fn posts_are_kept_listed_and_purged() {
        let (_g, s) = store().await;
        let now = Utc::now();
        let mut written = Vec::new();
        for (i, subs) in [vec!["a"], vec!["a", "b"], vec!["b"], vec!["a"]].iter().enumerate() {
            written.push(post(&format!("p{i}"), subs, now - Duration::minutes(40 - 10 * i as i64)));
        }
        s.record_webhook_posts(&written).await.unwrap();

        let got = s.webhook_post("p1").await.unwrap().unwrap();
        assert_eq!(got, written[1]);
        assert!(s.webhook_post("nope").await.unwrap().is_none());

        let ids = |page: &[(i64, WebhookPost)]| page.iter().map(|(_, p)| p.id.clone()).collect::<Vec<_>>();
        let first = s.webhook_posts_page(Some("a"), None, 2).await.unwrap();
        assert_eq!(ids(&first), ["p3", "p1"]);
        let second = s.webhook_posts_page(Some("a"), first.last().map(|(k, _)| *k), 2).await.unwrap();
        assert_eq!(ids(&second), ["p0"]);
        assert_eq!(ids(&s.webhook_posts_page(Some("b"), None, 10).await.unwrap()), ["p2", "p1"]);
        assert_eq!(ids(&s.webhook_posts_page(None, None, 10).await.unwrap()), ["p3", "p2", "p1", "p0"]);

        // Older than 25 minutes: p0 (40) and p1 (30) go, links included.
        assert_eq!(s.purge_webhook_posts(now - Duration::minutes(25)).await.unwrap(), 2);
        assert_eq!(ids(&s.webhook_posts_page(Some("a"), None, 10).await.unwrap()), ["p3"]);
        assert_eq!(ids(&s.webhook_posts_page(Some("b"), None, 10).await.unwrap()), ["p2"]);
    }

    async fn last_delivery_is_the_latest_delivered_attempt() {
        let (_g, s) = store().await;
        let now = Utc::now();
        let attempt = |sub: &str, at, outcome: &str| DeliveryAttempt {
            subscription_id: sub.into(),
            notification_ids: vec!["n".into()],
            url: "http://127.0.0.1:9/".into(),
            at,
            status: Some(202),
            latency_ms: 1,
            outcome: outcome.into(),
            error: None,
        };
        s.record_attempts(&[
            attempt("a", now - Duration::minutes(5), "delivered"),
            attempt("a", now - Duration::minutes(1), "retry"),
            attempt("a", now - Duration::minutes(3), "delivered"),
            attempt("b", now - Duration::minutes(2), "dropped"),
        ])
        .await
        .unwrap();
        let last = s.last_deliveries().await.unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].0, "a");
        assert_eq!(last[0].1.timestamp_micros(), (now - Duration::minutes(3)).timestamp_micros());
        assert!(s.outbox_counts().await.unwrap().is_empty());
    }
}
