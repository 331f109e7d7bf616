//! Concurrent single-record writers right after a fresh start never see SQLite's "database is
//! locked" (a 503), also while another connection writes to the same file, as `callhook tenant
//! …` run beside the server does. `CALLHOOK_STRESS_SECONDS` sets how long the writers run
//! (default 3; the trial ran 20).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callhook_store::{CallRecordWrite, SqliteStore, Store};
use common::*;

const WRITERS: usize = 16;

fn stress_seconds() -> u64 {
    std::env::var("CALLHOOK_STRESS_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_single_record_writers_never_get_database_is_locked() {
    let s = Arc::new(start().await);
    let deadline = Instant::now() + Duration::from_secs(stress_seconds());
    // A second connection writing to the same file: the server's one writer connection is not
    // the only one, as with the admin commands run beside it. (None on PostgreSQL.)
    let db = s.dir.path().join("callhook.db");
    let other = if db.exists() {
        Some(SqliteStore::open(&db).await.expect("a second connection"))
    } else {
        None
    };
    let neighbour = other.map(|store| {
        tokio::spawn(async move {
            let mut i = 0u64;
            let mut failures = Vec::new();
            while Instant::now() < deadline {
                let write = CallRecordWrite {
                    id: format!("other-{i}"),
                    start: chrono::Utc::now(),
                    participant_ids: vec![],
                    body: "{}".into(),
                    sessions: "[]".into(),
                    participants: "[]".into(),
                };
                if let Err(e) = store
                    .put_call_records("other-process-tenant", &[write], chrono::Utc::now())
                    .await
                {
                    failures.push(e.to_string());
                }
                i += 1;
            }
            store.close().await;
            failures
        })
    });

    let written = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s, written) = (s.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut refused = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let id = uuid_like(0x5700 + w as u32, n);
                let a = s.put_record(&id, &record(&id)).await;
                if a.status.is_success() {
                    written.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.push(format!("{} {}", a.status, a.text));
                }
                n += 1;
            }
            refused
        }));
    }
    for w in writers {
        let refused = w.await.expect("writer");
        assert!(refused.is_empty(), "refused writes: {refused:?}");
    }
    if let Some(n) = neighbour {
        let failures = n.await.expect("second connection");
        assert!(
            failures.is_empty(),
            "the other connection failed: {failures:?}"
        );
    }
    assert!(written.load(Ordering::Relaxed) > WRITERS as u64);
}
