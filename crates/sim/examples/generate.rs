//! Times the generator alone, for profiling: `cargo run --release -p callhook-sim --example
//! generate -- 100000` (or under `valgrind --tool=callgrind` with a small count).

use std::time::Instant;

use callhook_sim::{generate, SimConfig, SimSummary};

fn main() {
    let calls = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut cfg = SimConfig::new("dc368399-474c-4d40-900c-6265431fd81f", chrono::Utc::now());
    cfg.calls = calls;
    cfg.users = 50;
    let t = Instant::now();
    let plan = generate(&cfg);
    let generated = t.elapsed();
    let t = Instant::now();
    let size = |items: &[serde_json::Value]| -> usize {
        items
            .iter()
            .map(|v| serde_json::to_vec(v).map_or(0, |b| b.len()))
            .sum()
    };
    let (records, updates, events) = (
        size(&plan.call_records),
        size(&plan.updates),
        size(&plan.call_events),
    );
    let serialized = t.elapsed();
    let t = Instant::now();
    let summary = SimSummary::of_plan(&plan);
    println!(
        "counted {} streams ({:.1} % poor) in {:.2} s",
        summary.streams,
        100.0 * summary.poor_share,
        t.elapsed().as_secs_f64()
    );
    println!(
        "{calls} calls: generated in {:.2} s, serialized in {:.2} s; {} records ({} KB each on average), \
         {} corrections ({} KB), {} events ({} bytes), {} meetings, {} artifacts",
        generated.as_secs_f64(),
        serialized.as_secs_f64(),
        plan.call_records.len(),
        records / plan.call_records.len().max(1) / 1000,
        plan.updates.len(),
        updates / plan.updates.len().max(1) / 1000,
        plan.call_events.len(),
        events / plan.call_events.len().max(1),
        plan.online_meetings.len(),
        plan.artifacts.len(),
    );
}
