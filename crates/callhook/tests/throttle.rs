//! Graph's throttling (token buckets answering 429 with Retry-After) and the chaos options.

mod common;

use std::time::{Duration, Instant};

use callhook::server::{self, ServeOptions};
use callhook_api::throttle::Limit;
use common::*;

async fn start_with(configure: impl FnOnce(&mut ServeOptions)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    configure(&mut opts);
    let server = server::start(opts).await.unwrap();
    let creds = read_credentials(dir.path());
    TestServer {
        server,
        dir,
        creds,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

#[tokio::test]
async fn a_burst_on_one_record_meets_429_and_honouring_retry_after_gets_through() {
    let s = start_with(|o| {
        o.api.throttle.enabled = true;
        o.api.throttle.record = Limit::new(3, 2);
    })
    .await;
    let id = uuid_like(0x7417, 1);
    s.put_record(&id, &RecordBuilder::new(&id).build())
        .await
        .expect_status(201);
    let token = s.token().await;
    let path = format!("/v1.0/communications/callRecords/{id}");
    for _ in 0..3 {
        s.get(&path, &token).await.expect_status(200);
    }
    let a = s.get(&path, &token).await;
    assert_graph_error(&a, 429, "TooManyRequests");
    let retry: u64 = a
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Other records and the list have buckets of their own.
    let other = s
        .get(
            "/v1.0/communications/callRecords/00000000-0000-4000-8000-000000000001",
            &token,
        )
        .await;
    assert_eq!(other.status, 404);
    s.get("/v1.0/communications/callRecords", &token)
        .await
        .expect_status(200);
    // Honouring Retry-After is what lets the client through.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    s.get(&path, &token).await.expect_status(200);
    s.stop().await;
}

#[tokio::test]
async fn tenants_have_separate_buckets_and_reports_have_their_own_limits() {
    let s = start_with(|o| {
        o.api.throttle.enabled = true;
        o.api.throttle.tenant = Limit::new(2, 60);
        o.api.throttle.pstn_collection = Limit::new(1, 60);
    })
    .await;
    let token = s.token().await;
    let list = "/v1.0/communications/callRecords";
    s.get(list, &token).await.expect_status(200);
    s.get(list, &token).await.expect_status(200);
    assert_graph_error(&s.get(list, &token).await, 429, "TooManyRequests");
    // Another tenant is not slowed down by the first one's burst.
    let (t2, c2, secret2) = s.add_tenant(1).await;
    let token2 = s.token_for(&t2, &c2, &secret2).await;
    s.get(list, &token2).await.expect_status(200);
    // Users and other routes are not call records: not throttled by these buckets.
    s.get("/v1.0/users", &token).await.expect_status(200);
    let report = "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)";
    s.get(report, &token2).await.expect_status(200);
    assert_graph_error(&s.get(report, &token2).await, 429, "TooManyRequests");
    s.stop().await;
}

#[tokio::test]
async fn chaos_answers_graph_requests_with_429_or_503_and_adds_latency() {
    let s = start_with(|o| {
        o.api.chaos.error_rate = 1.0;
        o.api.chaos.retry_after_secs = 7;
        o.api.chaos.latency_min = Duration::from_millis(40);
        o.api.chaos.latency_max = Duration::from_millis(60);
    })
    .await;
    let token = s.token().await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..24 {
        let started = Instant::now();
        let a = s.get("/v1.0/communications/callRecords", &token).await;
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert_eq!(a.header("retry-after"), Some("7"));
        let code = if a.status == 429 {
            "TooManyRequests"
        } else {
            "serviceNotAvailable"
        };
        assert_graph_error(&a, a.status.as_u16(), code);
        seen.insert(a.status.as_u16());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![429, 503]);
    // The token endpoint, ingest and health are left alone.
    let resp = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    s.stop().await;
}
