//! Bounded memory: ingest refuses records over the limits; list pages of the largest records
//! are cut by bytes (fewer records, with a nextLink); four concurrent list requests of them stay
//! within a bounded peak RSS, and the process gives the memory back afterwards. The allocator
//! is the binary's (mimalloc).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::*;

/// (VmRSS, VmHWM) of this process, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

const MB: f64 = 1024.0 * 1024.0;

/// A record whose own properties (what a list page reads) weigh just under the limit.
fn large_record(i: u64) -> serde_json::Value {
    let id = uuid_like(0x1a00_0000, i);
    let mut r = RecordBuilder::new(&id).start(ago(30)).build();
    r["organizer_v2"]["identity"]["user"]["displayName"] = json!("n".repeat(250 * 1024));
    r
}

#[test]
fn list_pages_of_the_largest_records_stay_bounded_and_memory_returns() {
    // The runtime the binary runs on (workers give memory back when idle), with four workers.
    let runtime = callhook::memory::runtime_builder()
        .worker_threads(4)
        .build()
        .expect("runtime");
    runtime.block_on(bounded_pages_and_memory());
}

async fn bounded_pages_and_memory() {
    let s = start().await;
    // Over the limits: Graph's 413, nothing stored.
    let mut big = large_record(999);
    big["organizer_v2"]["identity"]["user"]["displayName"] = json!("n".repeat(300 * 1024));
    let a = s.put_record(big["id"].as_str().unwrap(), &big).await;
    assert_graph_error(&a, 413, "RequestEntityTooLarge");
    let mut huge = RecordBuilder::new(uuid_like(0x1b00_0000, 1))
        .start(ago(30))
        .sessions(700)
        .build();
    huge["sessions"][0]["caller"]["name"] = json!("c".repeat(5 * 1024 * 1024));
    let a = s.put_record(huge["id"].as_str().unwrap(), &huge).await;
    // The request body limit (8 MiB) lets it through; the record limit (4 MiB) does not.
    assert_graph_error(&a, 413, "RequestEntityTooLarge");
    assert!(a.message().contains("at most 4194304"), "{}", a.text);

    for chunk in (0..64u64).collect::<Vec<_>>().chunks(8) {
        let records: Vec<_> = chunk.iter().map(|i| large_record(*i)).collect();
        s.put_records(&records).await;
    }
    let token = s.token().await;
    let first = s.get("/v1.0/communications/callRecords", &token).await;
    first.expect_status(200);
    let n = first.values().len();
    assert!(n > 0 && n < 60, "a page of {n} large records");
    assert!(first.next_link().is_some(), "a cut page has a nextLink");
    let (all, _) = s
        .collect_pages("/v1.0/communications/callRecords", &token, &[])
        .await;
    assert_eq!(
        all.len(),
        64,
        "every record is reachable through the nextLinks"
    );
    drop(all);
    drop(first);

    let (baseline, _) = rss();
    reset_peak();
    let mut lists = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, url, token) = (
            s.http.clone(),
            s.url("/v1.0/communications/callRecords"),
            token.clone(),
        );
        lists.spawn(async move {
            let resp = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap().len()
        });
    }
    let mut page_bytes = 0;
    while let Some(r) = lists.join_next().await {
        page_bytes = page_bytes.max(r.unwrap());
    }
    let (_, peak) = rss();
    let growth = peak.saturating_sub(baseline);
    println!(
        "4 concurrent list pages of {n} records ({:.1} MB each): RSS {:.1} MB before, peak {:.1} MB (+{:.1} MB)",
        page_bytes as f64 / MB,
        baseline as f64 / MB,
        peak as f64 / MB,
        growth as f64 / MB
    );
    assert!(
        growth < 160 * 1024 * 1024,
        "peak grew by {:.1} MB",
        growth as f64 / MB
    );

    // Memory goes back: RSS returns near the baseline (mimalloc purges freed memory).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, _) = rss();
        if now < baseline + 32 * 1024 * 1024 {
            println!("RSS back to {:.1} MB", now as f64 / MB);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS stayed at {:.1} MB (baseline {:.1} MB)",
            now as f64 / MB,
            baseline as f64 / MB
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}
