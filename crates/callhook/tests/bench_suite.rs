//! `callhook bench` end to end at a tiny volume: every cell runs every scenario, every
//! notification arrives, every figure has its ceiling, and the report holds what the table
//! shows. On PostgreSQL too (with the second node), unless PostgreSQL is unreachable and
//! `CALLHOOK_REQUIRE_POSTGRES` is not set.

mod common;

use callhook::bench::{run_suite, Backend, SuiteConfig};
use callhook_bench::suite::SuiteOptions;

async fn postgres_reachable(url: &str) -> Result<(), String> {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Ok(c) => {
            let _ = c.close().await;
            Ok(())
        }
        Err(e) => Err(format!("PostgreSQL at {url} is not reachable ({e})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_measures_every_scenario_against_the_ceiling() {
    let admin = common::postgres_admin_url();
    let mut backends = vec![Backend::Sqlite];
    match postgres_reachable(&admin).await {
        Ok(()) => backends.push(Backend::Postgres),
        Err(e) if std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but {e}")
        }
        Err(e) => eprintln!("SKIPPED the PostgreSQL cell of bench_suite: {e}"),
    }
    let options = SuiteOptions {
        ingest_records: 300,
        single_records: 20,
        samples: 20,
        clients: 4,
        load_seconds: 0.2,
        notify_records: 200,
        fanout_records: 5,
        subscriptions: 12,
        receivers: 3,
        rich_events: 120,
        paced_rate: 240,
        paced_seconds: 1,
        simulate_calls: 40,
        neighbour_subscriptions: 2,
        neighbour_notifications: 200,
        neighbour_rate: 50,
        ..SuiteOptions::default()
    };
    let config = SuiteConfig {
        volumes: vec![400],
        backends: backends.clone(),
        postgres_url: Some(admin),
        data_dir: None,
        options,
    };
    let report = run_suite(&config, |_| {}).await.expect("the suite runs");

    assert_eq!(report.cells.len(), backends.len());
    for cell in &report.cells {
        assert!(
            cell.complete,
            "{}: notifications went missing",
            cell.backend
        );
        assert_eq!(cell.volume, 400);
        assert!(cell.stored_records > 400 + 300 + 20);
        // 4 ingest, 3 reads × 5, 4 throughput, 4 × 2 latency figures, the noisy neighbour and
        // the simulator's.
        assert_eq!(
            cell.figures.len(),
            4 + 15 + 4 + 8 + 1 + 1,
            "{}",
            cell.backend
        );
        for f in &cell.figures {
            assert!(
                f.callhook > 0.0,
                "{}: {} {}",
                cell.backend,
                f.scenario,
                f.measure
            );
            if f.scenario.starts_with("simulate: 40 calls") {
                // A whole run has no ceiling; it is compared with batched ingest.
                assert!(f.scenario.contains("% of batched ingest"), "{}", f.scenario);
                continue;
            }
            let ceiling = f
                .ceiling
                .unwrap_or_else(|| panic!("{} has no ceiling", f.scenario));
            assert!(ceiling > 0.0 && f.ratio.is_some(), "{}", f.scenario);
        }
        let n = &cell.notifications;
        assert_eq!(n.basic_many.callhook.subscriptions, 12);
        assert_eq!(n.basic_many.callhook.received_notifications, 5 * 12);
        assert_eq!(n.rich_many.callhook.subscriptions, 12);
        assert_eq!(n.rich_one.callhook.received_notifications, 120);
        assert_eq!(n.rich_many_latency.callhook.received_notifications, 240);
        assert_eq!(n.basic_many_latency.callhook.expected_notifications, 240);
        let neighbour = n.neighbour.as_ref().expect("the noisy neighbour ran");
        assert_eq!(neighbour.stuck_notifications, 200);
        assert_eq!(neighbour.healthy.received_notifications, 50);
        // A report page reads rows that are there (40 rows over 30 days: one or two a day).
        let report_read = &cell.reads_loaded[2].callhook;
        assert!(report_read.mean_response_bytes > 200.0);
    }
    if let Some(pg) = report.cells.iter().find(|c| c.backend == "PostgreSQL") {
        let nodes = pg
            .second_node
            .as_ref()
            .expect("a second node on PostgreSQL");
        assert_eq!(nodes.fanout_two_nodes.received_notifications, 5 * 12);
        assert_eq!(nodes.ingest_two_nodes.records, 300);
    }
    let table = report.table();
    for cell in &report.cells {
        assert!(
            table.contains(&format!("{} — 400 call records", cell.backend)),
            "{table}"
        );
    }
    assert!(table.contains("GET getPstnCalls page"), "{table}");
    let json = serde_json::to_value(&report).expect("the report serializes");
    assert_eq!(json["cells"][0]["figures"][0]["measure"], "records/s");
}
