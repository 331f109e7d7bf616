//! `callhook simulate` against a real server: an HTTPS server trusted from its data directory,
//! messages that say what to do when the URL, certificate, key or tenant is wrong, feeding
//! another tenant, and the command line's seed and JSON summary.

mod common;

use callhook::server::{self, ServeOptions, TlsMode};
use callhook_sim::SimulateOptions;
use callhook_store::CallRecordQuery;
use serde_json::Value;

use common::*;

fn options(url: &str, dir: &std::path::Path) -> SimulateOptions {
    SimulateOptions {
        url: url.to_string(),
        data_dir: dir.to_path_buf(),
        calls: 30,
        users: 10,
        concurrency: 2,
        ..Default::default()
    }
}

async fn error_of(opts: SimulateOptions) -> String {
    match callhook_sim::run(opts).await {
        Ok(_) => panic!("the run succeeded"),
        Err(e) => format!("{e:#}"),
    }
}

async fn stored(store: &dyn callhook_store::Store, tenant: &str) -> usize {
    store
        .list_call_records(&CallRecordQuery {
            tenant_id: tenant.to_string(),
            after_seq: None,
            start: Vec::new(),
            participant_ids: Vec::new(),
            limit: 1_000,
        })
        .await
        .expect("list")
        .len()
}

#[tokio::test]
async fn a_tls_server_is_trusted_from_its_data_directory_and_wrong_urls_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
    opts.tls = TlsMode::SelfSigned;
    let running = server::start(opts).await.expect("server starts");
    let base = running.base_url.clone();
    assert!(base.starts_with("https://"), "{base}");

    // No --ca-cert: DATA_DIR/tls/cert.pem is trusted.
    let summary = callhook_sim::run(options(&base, dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(summary.records.total, 30);
    let creds = read_credentials(dir.path());
    assert_eq!(
        stored(running.state.store.as_ref(), &creds.tenant_id).await,
        30
    );

    // http:// to the HTTPS server.
    let plain = base.replacen("https://", "http://", 1);
    let err = error_of(options(&plain, dir.path())).await;
    assert!(err.contains("uses TLS"), "{err}");
    assert!(err.contains("--ca-cert or --data-dir"), "{err}");
    assert!(err.contains(&base), "{err}");

    // https:// without the certificate: credentials given by flags, no data directory.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut o = options(&base, elsewhere.path());
    o.tenant = Some(creds.tenant_id.clone());
    o.ingest_key = Some(creds.ingest_key.clone());
    let err = error_of(o.clone()).await;
    assert!(err.contains("does not trust"), "{err}");
    assert!(err.contains("--ca-cert"), "{err}");
    // ... and with it.
    o.ca_cert = Some(dir.path().join("tls").join("cert.pem"));
    o.seed = Some(8);
    callhook_sim::run(o)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        stored(running.state.store.as_ref(), &creds.tenant_id).await,
        60
    );
    running.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn another_tenant_is_fed_once_it_exists_or_is_created_through_the_admin_api() {
    let s = start().await;
    let mut o = options(s.base(), s.dir.path());
    o.tenant = Some("contoso-lab".into());
    let err = error_of(o.clone()).await;
    assert!(
        err.contains("tenant contoso-lab does not exist")
            && err.contains("callhook tenant create --id contoso-lab")
            && err.contains("--create-tenant"),
        "{err}"
    );
    o.create_tenant = true;
    let summary = callhook_sim::run(o.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(summary.tenant_id, "contoso-lab");
    let store = s.server.state.store.as_ref();
    assert!(store.tenant("contoso-lab").await.expect("tenant").is_some());
    assert_eq!(stored(store, "contoso-lab").await, 30);
    assert_eq!(stored(store, s.tenant()).await, 0);
    // Creating is idempotent: a second run feeds the same tenant.
    callhook_sim::run(o.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(stored(store, "contoso-lab").await, 60);

    o.ingest_key = Some("not-the-key".into());
    let err = error_of(o).await;
    assert!(err.contains("refused the ingest key"), "{err}");
    assert!(err.contains("--ingest-key"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn the_command_prints_its_seed_and_a_json_summary_of_the_whole_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = spawn_server(dir.path()).await;
    let run = |seed: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_callhook"));
        cmd.args(["simulate", "--url", &base, "--data-dir"])
            .arg(dir.path())
            .args(["--calls", "25", "--users", "10", "--json"])
            .env_remove("CALLHOOK_TENANT")
            .env_remove("CALLHOOK_INGEST_KEY")
            .env("CALLHOOK_LOG", "warn");
        if let Some(s) = seed {
            cmd.args(["--seed", s]);
        }
        cmd.output().expect("run callhook simulate")
    };
    let out = run(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let seed = summary["seed"].as_u64().expect("seed in the summary");
    assert!(
        stderr.contains(&format!("seed {seed} (pass --seed {seed}")),
        "{stderr}"
    );
    assert_eq!(summary["records"]["total"], 25);
    let elapsed = summary["elapsedSeconds"].as_f64().unwrap_or(0.0);
    assert!(elapsed >= summary["generateSeconds"].as_f64().unwrap_or(f64::MAX));

    // Given a seed, it says nothing about seeds and reports the one given.
    let again = run(Some(&seed.to_string()));
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("pass --seed"));
    let again: Value = serde_json::from_slice(&again.stdout).expect("JSON summary");
    assert_eq!(again["seed"], summary["seed"]);
    child.kill().await.ok();
}

#[tokio::test]
async fn a_live_run_follows_a_manual_server_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = serve_options(dir.path()).await;
    opts.api.manual_clock = true;
    let running = server::start(opts).await.expect("server starts");
    // Ten days ahead of the wall clock: the calls must be dated by the server's time.
    let clock = running.state.clock.clone();
    clock.advance(chrono::Duration::days(10));
    let t0 = clock.now();
    let delay = |mean| callhook_sim::Delay {
        min_minutes: 1.0,
        mean_minutes: mean,
        max_minutes: 10.0,
    };
    let sim = SimulateOptions {
        live: Some(callhook_sim::LiveOptions {
            rate_per_minute: 2.0,
            duration: Some(chrono::Duration::minutes(20)),
            record_delay: delay(3.0),
            version_delay: delay(3.0),
            artifact_delay: delay(3.0),
            tick: std::time::Duration::ZERO,
            ..Default::default()
        }),
        seed: Some(3),
        ..options(&running.base_url, dir.path())
    };
    let run = tokio::spawn(callhook_sim::run(sim));
    // The simulator only follows: the clock moves when this test moves it, a couple of
    // simulated minutes per millisecond, until everything the run's calls make was sent.
    while !run.is_finished() {
        clock.advance(chrono::Duration::minutes(2));
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let summary = run
        .await
        .expect("the run's task")
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(summary.records.total > 10, "{}", summary.records.total);
    let creds = read_credentials(dir.path());
    let records = running
        .state
        .store
        .list_call_records(&CallRecordQuery {
            tenant_id: creds.tenant_id.clone(),
            after_seq: None,
            start: Vec::new(),
            participant_ids: Vec::new(),
            limit: 1_000,
        })
        .await
        .expect("list");
    assert_eq!(records.len(), summary.records.total);
    for r in &records {
        // A meeting's first participant may join a couple of minutes early.
        assert!(
            r.start >= t0 - chrono::Duration::minutes(3),
            "{} starts at {}, before the server's {t0}",
            r.id,
            r.start
        );
    }
    // Later versions arrived too, after version 1.
    if summary.updates > 0 {
        assert!(records.iter().any(|r| r.version > 1));
    }
}
