//! The scenario files under `examples/scenarios/` stay valid, and every kind of incident they
//! stage shows up in a generated plan.

use std::path::PathBuf;

use callhook_sim::scenario::{IncidentKind, Scenario};
use callhook_sim::{generate_staged, SimConfig};
use chrono::{Duration, TimeZone, Utc};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn example_scenarios_load_and_stage_every_incident() {
    let files = examples();
    assert!(files.len() >= 2, "{files:?}");
    let now = Utc
        .with_ymd_and_hms(2026, 3, 12, 15, 0, 0)
        .single()
        .unwrap_or_default();
    let mut kinds = Vec::new();
    for f in files {
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e:#}"));
        let staging = s
            .resolve(now - Duration::days(2), now - Duration::hours(1), 3)
            .unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        let mut cfg = SimConfig::new("11111111-2222-3333-4444-555555555555", now);
        cfg.calls = 50;
        cfg.users = 30;
        cfg.days = 2;
        let plan = generate_staged(&cfg, 0, Some(&staging));
        for inc in &staging.incidents {
            kinds.push(inc.kind);
            let touched = plan
                .staged
                .iter()
                .filter(|i| i.incident == inc.index)
                .count();
            assert!(
                touched >= inc.times.len(),
                "{}: {:?}",
                f.display(),
                inc.kind
            );
        }
    }
    for k in [
        IncidentKind::Network,
        IncidentKind::Device,
        IncidentKind::Wifi,
        IncidentKind::Vpn,
        IncidentKind::Trunk,
        IncidentKind::Emergency,
        IncidentKind::PoorStreak,
    ] {
        assert!(kinds.contains(&k), "no example stages {k:?}");
    }
}
