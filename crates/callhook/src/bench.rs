//! `callhook bench`: runs the benchmark suite ([`callhook_bench::suite`]) on fresh servers, one
//! per backend and volume. SQLite cells live in a temporary data directory; PostgreSQL cells
//! each get a fresh database (created through `--postgres-url`, dropped afterwards), and a
//! second node on it for the scale-out figures.

use std::path::PathBuf;

use anyhow::Context;
use callhook_bench::suite::{self, SuiteOptions, SuiteReport};
use callhook_bench::Target;

use crate::server::{self, RunningServer, ServeOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub volumes: Vec<usize>,
    pub backends: Vec<Backend>,
    /// A PostgreSQL URL whose role may create databases; the postgres cells are skipped
    /// (and say so) without one.
    pub postgres_url: Option<String>,
    /// Parent of the SQLite cells' data directories (default: the system's temporary one).
    pub data_dir: Option<PathBuf>,
    pub options: SuiteOptions,
}

/// A server's app and ingest key as the load generator needs them.
async fn target_of(running: &RunningServer, data_dir: &std::path::Path) -> anyhow::Result<Target> {
    let creds = match &running.created {
        Some(c) => c.clone(),
        None => crate::bootstrap::read_credentials(data_dir)?,
    };
    let app = running
        .state
        .store
        .app(&creds.client_id)
        .await?
        .context("the development app is missing")?;
    let (token, _) =
        callhook_api::token::mint_access_token(&running.state, &running.base_url, &app)?;
    Ok(Target {
        base_url: running.base_url.clone(),
        tenant_id: creds.tenant_id,
        ingest_key: creds.ingest_key,
        access_token: token,
    })
}

/// Tenant the simulator's run feeds, so it meets none of the cell's subscriptions.
const SIMULATE_TENANT: &str = "bench-simulate";

/// `callhook simulate` on the cell's server, as a user runs it (over HTTP, generation
/// included), into a tenant of its own.
async fn simulate(
    mut cell: suite::CellReport,
    running: &RunningServer,
    data_dir: &std::path::Path,
    options: &SuiteOptions,
    backend: Backend,
    progress: impl Fn(&str),
) -> anyhow::Result<suite::CellReport> {
    let calls = options.simulate_calls;
    if calls == 0 {
        return Ok(cell);
    }
    progress(&format!("{}: simulate {calls} calls", backend.label()));
    let summary = callhook_sim::run(callhook_sim::SimulateOptions {
        url: running.base_url.clone(),
        data_dir: data_dir.to_path_buf(),
        tenant: Some(SIMULATE_TENANT.into()),
        create_tenant: true,
        calls,
        seed: Some(1),
        concurrency: options.concurrency.max(1),
        ..Default::default()
    })
    .await
    .context("the simulator's run")?;
    suite::add_simulator(&mut cell, calls, summary.records_per_second);
    Ok(cell)
}

/// A second tenant of the same server with its own app and token: the noisy neighbour.
async fn neighbour_of(running: &RunningServer, first: &Target) -> anyhow::Result<Target> {
    let store = running.state.store.as_ref();
    let graph = |e: callhook_api::error::GraphError| anyhow::anyhow!("{}", e.message);
    let tenant = callhook_api::admin::create_tenant(store, None, Some("bench neighbour"))
        .await
        .map_err(graph)?;
    let created = callhook_api::admin::create_app(
        store,
        &tenant.id,
        "bench neighbour",
        &["CallRecords.Read.All".to_string()],
    )
    .await
    .map_err(graph)?;
    let (token, _) =
        callhook_api::token::mint_access_token(&running.state, &running.base_url, &created.app)?;
    Ok(Target {
        tenant_id: tenant.id,
        access_token: token,
        ..first.clone()
    })
}

/// The development tenant's target and a neighbour tenant's on the same server.
pub async fn targets(
    running: &RunningServer,
    data_dir: &std::path::Path,
) -> anyhow::Result<(Target, Target)> {
    let first = target_of(running, data_dir).await?;
    let neighbour = neighbour_of(running, &first).await?;
    Ok((first, neighbour))
}

/// `VACUUM (ANALYZE)` on a fresh database whose tables are still empty: statistics that say
/// every table is empty, as autovacuum may leave a new installation. Delivery must keep its
/// speed whatever the statistics say (issue "hardening", item 8), so the benchmark starts there.
pub async fn analyze_empty(database_url: &str) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(database_url)?
        .connect()
        .await?;
    // Shared catalogs are skipped with a warning each for a role that is not superuser.
    sqlx::query("SET client_min_messages = error")
        .execute(&mut conn)
        .await?;
    sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
    let _ = conn.close().await;
    Ok(())
}

/// A fresh database on the PostgreSQL server of `admin_url`, dropped by [`drop_database`].
async fn create_database(admin_url: &str, n: usize) -> anyhow::Result<(String, String)> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let options = sqlx::postgres::PgConnectOptions::from_str(admin_url)
        .context("--postgres-url is not a PostgreSQL URL")?;
    let mut conn = options
        .connect()
        .await
        .with_context(|| format!("PostgreSQL at {} is not reachable", options.get_host()))?;
    let name = format!(
        "callhook_bench_{}_{}_{n}",
        chrono::Utc::now().timestamp(),
        std::process::id()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("cannot create the benchmark database (the role needs CREATEDB)")?;
    let _ = conn.close().await;
    Ok((
        name.clone(),
        options.database(&name).to_url_lossy().to_string(),
    ))
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(admin_url)?
        .connect()
        .await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Runs every cell in turn; `progress` hears each step.
pub async fn run_suite(
    config: &SuiteConfig,
    progress: impl Fn(&str) + Copy,
) -> anyhow::Result<SuiteReport> {
    let mut report = SuiteReport {
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        options: config.options.clone(),
        cells: Vec::new(),
        skipped: Vec::new(),
    };
    let mut n = 0;
    for &backend in &config.backends {
        for &volume in &config.volumes {
            n += 1;
            let temp = match &config.data_dir {
                Some(parent) => {
                    std::fs::create_dir_all(parent)?;
                    tempfile::tempdir_in(parent)?
                }
                None => tempfile::tempdir()?,
            };
            let database = match backend {
                Backend::Sqlite => None,
                Backend::Postgres => {
                    let Some(admin) = &config.postgres_url else {
                        report.skipped.push(format!(
                            "PostgreSQL at {volume} records: no --postgres-url (or CALLHOOK_BENCH_POSTGRES_URL) given"
                        ));
                        continue;
                    };
                    Some((admin.clone(), create_database(admin, n).await?))
                }
            };
            let result = run_one(
                config,
                backend,
                volume,
                &temp,
                database.as_ref().map(|d| d.1 .1.as_str()),
                progress,
            )
            .await;
            if let Some((admin, (name, _))) = &database {
                if let Err(e) = drop_database(admin, name).await {
                    progress(&format!("could not drop {name}: {e:#}"));
                }
            }
            report.cells.push(result?);
        }
    }
    Ok(report)
}

async fn run_one(
    config: &SuiteConfig,
    backend: Backend,
    volume: usize,
    temp: &tempfile::TempDir,
    database_url: Option<&str>,
    progress: impl Fn(&str) + Copy,
) -> anyhow::Result<suite::CellReport> {
    let dir_one = temp.path().join("node-1");
    let mut serve = ServeOptions::new("127.0.0.1:0".parse()?, dir_one.clone());
    serve.database_url = database_url.map(str::to_string);
    let one = server::start(serve).await?;
    if let Some(url) = database_url {
        analyze_empty(url).await?;
    }
    let (t1, neighbour) = targets(&one, &dir_one).await?;
    let cell = suite::run_cell(
        &t1,
        &neighbour,
        backend.label(),
        volume,
        &config.options,
        progress,
    )
    .await;
    let cell = match cell {
        Ok(c) => simulate(c, &one, &dir_one, &config.options, backend, progress).await,
        Err(e) => Err(e),
    };
    let mut cell = match cell {
        Ok(c) => c,
        Err(e) => {
            one.shutdown().await?;
            return Err(e);
        }
    };
    if let Some(url) = database_url {
        // The second node joins the same database, as a load balancer's second backend would.
        let dir_two = temp.path().join("node-2");
        let mut serve = ServeOptions::new("127.0.0.1:0".parse()?, dir_two);
        serve.database_url = Some(url.to_string());
        let two = server::start(serve).await?;
        let t2 = t1.at(&two.base_url);
        let r = suite::second_node(&mut cell, &t1, &t2, &config.options, progress).await;
        two.shutdown().await?;
        r?;
    }
    one.shutdown().await?;
    Ok(cell)
}
