//! The `callhook` command: flags and environment variables mapped onto the library crates.

// JSON handling allocates heavily; mimalloc is markedly faster than the system allocator here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use callhook::server::{self, ServeOptions, TlsMode};

#[derive(Parser)]
#[command(
    name = "callhook",
    version,
    about = "A self-hosted Microsoft Graph call-records server, simulator and benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ClockMode {
    System,
    Manual,
}

/// `--token-form`: the issuer and claim names of access tokens and validation tokens.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum TokenFormArg {
    /// `iss https://sts.windows.net/{tid}/`, ver 1.0 (passes Microsoft's Node sample, the .NET
    /// and Java SDKs' checks).
    EntraV1,
    /// `iss https://login.microsoftonline.com/{tid}/v2.0`, ver 2.0 (.NET and Java SDKs).
    EntraV2,
    /// `iss {base URL}/{tid}/v2.0`: callhook's own authority.
    Callhook,
}

impl From<TokenFormArg> for callhook_crypto::TokenForm {
    fn from(f: TokenFormArg) -> Self {
        match f {
            TokenFormArg::EntraV1 => Self::EntraV1,
            TokenFormArg::EntraV2 => Self::EntraV2,
            TokenFormArg::Callhook => Self::Callhook,
        }
    }
}

/// `--token-form`, shared by `serve` and `token` (which must mint as the server does).
#[derive(Args, Clone, Copy)]
struct TokenFormArgs {
    /// Issuer and claim form of access tokens and validation tokens (docs/encryption.md).
    #[arg(
        long = "token-form",
        env = "CALLHOOK_TOKEN_FORM",
        value_enum,
        default_value = "entra-v1"
    )]
    form: TokenFormArg,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Directory holding the embedded database, credentials.json and generated certificates.
    #[arg(long, env = "CALLHOOK_DATA_DIR", default_value = "./callhook-data")]
    data_dir: PathBuf,
    /// Database URL; default: SQLite in the data directory.
    #[arg(long, env = "CALLHOOK_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL connections this process may open (ignored for SQLite).
    #[arg(long, env = "CALLHOOK_DB_POOL_SIZE", default_value_t = callhook::bootstrap::DEFAULT_DB_POOL_SIZE, value_parser = clap::value_parser!(u32).range(1..=1000))]
    db_pool_size: u32,
}

// Parsed once at start; the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on. Use 0.0.0.0 only if other machines must reach it.
        #[arg(long, env = "CALLHOOK_LISTEN", default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        #[command(flatten)]
        data: DataArgs,
        /// Serve HTTPS with a certificate generated into DATA_DIR/tls on first start.
        #[arg(long, env = "CALLHOOK_TLS")]
        tls: bool,
        /// HTTPS certificate chain (PEM); implies --tls.
        #[arg(long, env = "CALLHOOK_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// HTTPS private key (PEM); implies --tls.
        #[arg(long, env = "CALLHOOK_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Base URL clients use to reach this server (for links in responses), e.g. behind a proxy.
        #[arg(long, env = "CALLHOOK_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        token_form: TokenFormArgs,
        /// Certificates (PEM) to trust for https:// webhooks: as CAs, and pinned as they are (a
        /// receiver presenting one of them is accepted even when it is self-signed CA:TRUE).
        #[arg(long, env = "CALLHOOK_WEBHOOK_CA")]
        webhook_ca: Option<PathBuf>,
        /// Refuse http:// notification URLs even on loopback, as Graph does.
        #[arg(long, env = "CALLHOOK_STRICT_HTTPS")]
        strict_https: bool,
        /// `manual` lets POST /_callhook/clock/advance move the server's clock forward.
        #[arg(long, env = "CALLHOOK_CLOCK", value_enum, default_value = "system")]
        clock: ClockMode,
        /// Most notifications in one webhook POST.
        #[arg(long, env = "CALLHOOK_MAX_BATCH", default_value_t = 100)]
        max_batch: usize,
        /// Minutes a subscription's access authorization lasts (renewed by PATCH or reauthorize).
        #[arg(long, env = "CALLHOOK_AUTHORIZATION_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=43_200))]
        authorization_minutes: u32,
        /// Seconds a node holds a subscription's delivery when several nodes share PostgreSQL
        /// (renewed while it works; a dead node's subscriptions move on after this).
        #[arg(long, env = "CALLHOOK_DELIVERY_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(15..=3600))]
        delivery_lease_seconds: u32,
        /// Days each delivery attempt is kept (`GET /_callhook/subscriptions/{id}/attempts`);
        /// older ones are purged in the background.
        #[arg(long, env = "CALLHOOK_ATTEMPT_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
        attempt_retention_days: u32,
        /// Bytes of each webhook POST's request and response body kept for the console and
        /// `GET /_callhook/posts/…` (longer bodies are cut and marked); 0 keeps no POSTs.
        #[arg(long, env = "CALLHOOK_POST_CAPTURE_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(0..=16_777_216))]
        post_capture_bytes: u32,
        #[command(flatten)]
        limits: callhook::limits::LimitArgs,
    },
    /// Create and list tenants.
    Tenant {
        #[command(flatten)]
        data: callhook::admin::DataArgs,
        #[command(subcommand)]
        command: callhook::admin::TenantCommand,
    },
    /// Register apps, add secrets, grant and revoke permissions, install apps into meetings.
    App {
        #[command(flatten)]
        data: callhook::admin::DataArgs,
        #[command(subcommand)]
        command: callhook::admin::AppCommand,
    },
    /// Add and list users who sign in for delegated tokens.
    User {
        #[command(flatten)]
        data: callhook::admin::DataArgs,
        #[command(subcommand)]
        command: callhook::admin::UserCommand,
    },
    /// Print an access token for the development app (or another app of the data directory).
    Token(TokenArgs),
    /// Feed realistic calls into a running server through its ingest API.
    Simulate(SimulateArgs),
    /// Collect every call record of a tenant (from Graph or a callhook) into SQLite/PostgreSQL.
    Collect(callhook::collect::CollectArgs),
    /// Reports over the collector's database: CQD quality, PSTN, direct routing, SMS,
    /// emergency calls, one call's timeline; the building file.
    Report(callhook::report::ReportArgs),
    /// The benchmark suite: ingest, reads under load, notifications basic and rich, on SQLite
    /// and PostgreSQL at 100,000 and 1,000,000 records, each next to the loopback ceiling.
    Bench(BenchArgs),
    /// Measure change-notification delivery (throughput, fan-out, latency) on a fresh in-process server.
    BenchNotifications(BenchNotificationsArgs),
    /// Measure alert latency through the collector: emergency event → alert webhook, and a
    /// staged building breach → alert (fresh in-process server and collector, loopback).
    BenchAlerts {
        /// Emergency events sent one after another.
        #[arg(long, default_value_t = 20)]
        events: usize,
        /// The alerts' evaluation interval, in seconds.
        #[arg(long, default_value_t = 10)]
        interval_secs: u64,
    },
}

#[derive(Args)]
struct TokenArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Base URL of the running server: with `--token-form callhook` it is the token's issuer.
    #[arg(long, env = "CALLHOOK_URL", default_value = "http://127.0.0.1:8480")]
    url: String,
    /// The server's `--public-url`, if it has one (wins over --url).
    #[arg(long, env = "CALLHOOK_PUBLIC_URL")]
    public_url: Option<String>,
    /// The server's `--token-form`.
    #[command(flatten)]
    token_form: TokenFormArgs,
    /// Tenant of the app (default: the development tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Client id of the app (default: the development app).
    #[arg(long)]
    app: Option<String>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Base URL of the server.
    #[arg(long, env = "CALLHOOK_URL", default_value = "http://127.0.0.1:8480")]
    url: String,
    /// The server's data directory: its credentials.json gives the tenant and ingest key the
    /// flags below leave open, and its tls/cert.pem is trusted for an https:// URL.
    #[arg(long, env = "CALLHOOK_DATA_DIR", default_value = "./callhook-data")]
    data_dir: PathBuf,
    /// Tenant to feed (default: the development tenant in credentials.json).
    #[arg(long, env = "CALLHOOK_TENANT")]
    tenant: Option<String>,
    /// The server's ingest key (default: the one in credentials.json).
    #[arg(long, env = "CALLHOOK_INGEST_KEY", hide_env_values = true)]
    ingest_key: Option<String>,
    /// Create --tenant through the admin API if the server does not have it yet.
    #[arg(long, requires = "tenant")]
    create_tenant: bool,
    /// Number of calls.
    #[arg(long, default_value_t = 200)]
    calls: usize,
    /// Random seed: the same seed makes the same data. Default: a new one each run (printed,
    /// so the run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of directory users.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Spread call start times over the last D days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Share of records that later get a corrected version 2 or 3.
    #[arg(long, default_value_t = 0.2)]
    update_fraction: f64,
    /// How many of the calls are emergency calls (each with its emergencyCallEvent, record and
    /// PSTN or direct-routing row). Default: rare, one per 1,000 calls, one from 100 calls on.
    #[arg(long)]
    emergency_calls: Option<usize>,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Extra CA certificate (PEM) to trust, for a server started with --tls (default:
    /// DATA_DIR/tls/cert.pem when it exists).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Stage the incidents of this scenario file (TOML; see docs/scenarios.md).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Write the ground truth of the scenario as JSON to this file (a CQD building file is
    /// written alongside, FILE's stem + .buildings.csv, when the scenario names buildings).
    #[arg(long, requires = "scenario")]
    truth: Option<PathBuf>,
    /// Live mode: calls start now at --rate and everything they produce arrives when Graph
    /// would make it available, until Ctrl-C or --duration (see docs/simulate-live.md).
    #[arg(long)]
    live: bool,
    /// Live: calls starting per minute.
    #[arg(long, default_value_t = 2.0, requires = "live")]
    rate: f64,
    /// Live: vary the rate over the day and week (busy mornings, quiet nights and weekends).
    #[arg(long, requires = "live")]
    daily_profile: bool,
    /// Live: how long calls keep starting (simulated time: 90m, 2h, 1d); then the run ends once
    /// their records, versions, artifacts and report rows have arrived. Default: until Ctrl-C.
    #[arg(long, requires = "live")]
    duration: Option<String>,
    /// Live: simulated time runs N times faster (ignored when the server runs --clock manual:
    /// then the simulator follows the server's clock).
    #[arg(long, default_value_t = 1.0, requires = "live")]
    speed: f64,
    /// Live: minutes from a call's end to its record, MIN,MEAN,MAX (exponential with that mean,
    /// cut to [MIN, MAX]; Graph: on average under 30, at most 150).
    #[arg(long, default_value = "2,15,150", requires = "live")]
    record_delay: String,
    /// Live: minutes from one version of a record to the next, MIN,MEAN,MAX.
    #[arg(long, default_value = "10,60,720", requires = "live")]
    version_delay: String,
}

/// `MIN,MEAN,MAX` minutes.
fn delay_arg(text: &str, flag: &str) -> anyhow::Result<callhook_sim::Delay> {
    let n: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("{flag} takes MIN,MEAN,MAX minutes, e.g. 2,15,150"))?;
    match n[..] {
        [min, mean, max] if 0.0 <= min && min <= mean && mean <= max && max.is_finite() => {
            Ok(callhook_sim::Delay {
                min_minutes: min,
                mean_minutes: mean,
                max_minutes: max,
            })
        }
        _ => anyhow::bail!(
            "{flag} takes MIN,MEAN,MAX minutes with MIN <= MEAN <= MAX, e.g. 2,15,150"
        ),
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum BenchBackend {
    Sqlite,
    Postgres,
}

#[derive(Args)]
struct BenchArgs {
    /// Call records stored in each cell before it is measured (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [100_000usize, 1_000_000])]
    volumes: Vec<usize>,
    /// Backends to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [BenchBackend::Sqlite, BenchBackend::Postgres])]
    backends: Vec<BenchBackend>,
    /// PostgreSQL for the postgres cells: a URL whose role may create databases (each cell
    /// gets a fresh one, dropped afterwards). Without it those cells are skipped, and say so.
    #[arg(long, env = "CALLHOOK_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench-report.json")]
    out: PathBuf,
    /// Parent directory of the SQLite cells' data (default: the system's temporary directory;
    /// a 1,000,000-record cell needs about 6 GB).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A small run to try the suite: 10,000 records, shorter loads (overrides the sizes below).
    #[arg(long)]
    quick: bool,
    /// Concurrent clients of each loaded read.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds each loaded read lasts.
    #[arg(long, default_value_t = 5.0)]
    load_seconds: f64,
    /// Requests of each one-client read.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Records ingested in batches once the volume is stored (a tenth as many as single PUTs).
    #[arg(long, default_value_t = 20_000)]
    ingest_records: usize,
    /// Ingest requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Basic notifications to one subscription, drained as a backlog.
    #[arg(long, default_value_t = 20_000)]
    notify_records: usize,
    /// Records notifying each of the many subscriptions, drained as a backlog.
    #[arg(long, default_value_t = 1_000)]
    fanout_records: usize,
    /// Subscriptions of the "many" figures, and the receivers they are spread over.
    #[arg(long, default_value_t = 100)]
    subscriptions: usize,
    #[arg(long, default_value_t = 10)]
    receivers: usize,
    /// Rich notifications (call events) in each rich throughput figure.
    #[arg(long, default_value_t = 20_000)]
    rich_events: usize,
    /// Notifications per second, and seconds, of each latency figure.
    #[arg(long, default_value_t = 1_000)]
    paced_rate: usize,
    #[arg(long, default_value_t = 5)]
    paced_seconds: u64,
    /// Calls of the simulator's run (`callhook simulate`, into a tenant of its own; 0: none).
    #[arg(long, default_value_t = 20_000)]
    simulate_calls: usize,
}

impl BenchArgs {
    fn config(&self) -> callhook::bench::SuiteConfig {
        let mut o = callhook_bench::suite::SuiteOptions {
            concurrency: self.concurrency.max(1),
            ingest_records: self.ingest_records.max(1),
            single_records: (self.ingest_records / 10).max(1),
            samples: self.samples.max(1),
            clients: self.clients.max(1),
            load_seconds: self.load_seconds,
            notify_records: self.notify_records.max(1),
            fanout_records: self.fanout_records.max(1),
            subscriptions: self.subscriptions.max(1),
            receivers: self.receivers.max(1),
            rich_events: self.rich_events.max(1),
            paced_rate: self.paced_rate.max(1),
            paced_seconds: self.paced_seconds.max(1),
            simulate_calls: self.simulate_calls,
            ..Default::default()
        };
        let mut volumes = self.volumes.clone();
        if self.quick {
            volumes = vec![10_000];
            o.ingest_records = 5_000;
            o.single_records = 500;
            o.samples = 300;
            o.load_seconds = 2.0;
            o.notify_records = 5_000;
            o.fanout_records = 200;
            o.rich_events = 5_000;
            o.paced_seconds = 2;
            o.simulate_calls = o.simulate_calls.min(5_000);
        }
        callhook::bench::SuiteConfig {
            volumes,
            backends: self
                .backends
                .iter()
                .map(|b| match b {
                    BenchBackend::Sqlite => callhook::bench::Backend::Sqlite,
                    BenchBackend::Postgres => callhook::bench::Backend::Postgres,
                })
                .collect(),
            postgres_url: self.postgres_url.clone(),
            data_dir: self.data_dir.clone(),
            options: o,
        }
    }
}

/// `default` applies when `CALLHOOK_LOG` is not set.
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLHOOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: logs written to a file or a pipe stay plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Installs the SIGINT/SIGTERM handlers now and returns a future that ends on either.
/// Installing them before the "listening on" line is printed matters: a supervisor (or a test)
/// may send SIGTERM as soon as it reads that line, and before the handler exists the default
/// action kills the process without a graceful shutdown.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let data_dir = opts.data_dir.clone();
    let stop = shutdown_signal()?;
    let mut running = server::start(opts).await?;
    let base = &running.base_url;
    let creds_path = data_dir.join(callhook::bootstrap::CREDENTIALS_FILE);
    println!("callhook {} listening on {base}", env!("CARGO_PKG_VERSION"));
    if running.created.is_some() {
        println!(
            "First start: created a development tenant and app; credentials in {}",
            creds_path.display()
        );
    }
    if let Ok(c) = callhook::bootstrap::read_credentials(&data_dir) {
        println!();
        println!("  Graph base URL   {base}/v1.0   (and {base}/beta)");
        println!(
            "  Token endpoint   {base}/{}/oauth2/v2.0/token",
            c.tenant_id
        );
        println!("  tenantId         {}", c.tenant_id);
        println!("  clientId         {}", c.client_id);
        println!("  clientSecret     (in {})", creds_path.display());
        println!(
            "  Get a token      callhook token --data-dir {} --url {base}",
            data_dir.display()
        );
        println!(
            "  Fill it          callhook simulate --url {base} --data-dir {}",
            data_dir.display()
        );
        println!(
            "  Console          {base}/_callhook/ui   (sign in with ingestKey from {})",
            creds_path.display()
        );
    }
    if let Some(cert) = &running.tls_cert {
        println!();
        println!("  HTTPS certificate {}", cert.display());
        println!("  Trust it with e.g. curl --cacert {0}, SSL_CERT_FILE={0} (Python), NODE_EXTRA_CA_CERTS={0} (Node.js)", cert.display());
    }
    tokio::select! {
        _ = stop => {
            tracing::info!("shutting down");
            running.shutdown().await
        }
        r = running.wait() => r,
    }
}

async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let data = &args.data;
    let creds = callhook::bootstrap::read_credentials(&data.data_dir)?;
    let opened = callhook::bootstrap::open(&data.data_dir, data.database_url.as_deref()).await?;
    let client_id = args.app.as_deref().unwrap_or(&creds.client_id);
    let tenant = args.tenant.as_deref().unwrap_or(&creds.tenant_id);
    let app = opened
        .store
        .app(client_id)
        .await?
        .filter(|a| a.tenant_id == tenant)
        .ok_or_else(|| anyhow::anyhow!("no app {client_id} in tenant {tenant}"))?;
    let api = callhook_api::ApiConfig {
        token_form: args.token_form.form.into(),
        ..Default::default()
    };
    let state = callhook_api::AppState::new(
        opened.store.clone(),
        opened.keys,
        opened.sealer,
        opened.ingest_key_hash,
        api,
        callhook_api::Clock::system(),
        callhook_api::NotifyHandle::new(Default::default())?,
    );
    let base = args.public_url.as_deref().unwrap_or(&args.url);
    let (token, _) =
        callhook_api::token::mint_access_token(&state, base.trim_end_matches('/'), &app)?;
    println!("{token}");
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    callhook::memory::keep_freed_memory();
    let seed = args.seed.unwrap_or_else(callhook_sim::random_seed);
    if args.seed.is_none() {
        eprintln!("simulate: seed {seed} (pass --seed {seed} to make the same calls again)");
    }
    let opts = callhook_sim::SimulateOptions {
        url: args.url.trim_end_matches('/').to_string(),
        data_dir: args.data_dir,
        ca_cert: args.ca_cert,
        tenant: args.tenant,
        ingest_key: args.ingest_key,
        create_tenant: args.create_tenant,
        calls: args.calls,
        seed: Some(seed),
        users: args.users,
        days: args.days,
        update_fraction: args.update_fraction,
        emergency_calls: args.emergency_calls,
        progress: if std::io::stderr().is_terminal() {
            callhook_sim::ProgressMode::Bar
        } else {
            callhook_sim::ProgressMode::Lines
        },
        concurrency: args.concurrency.max(1),
        scenario: match &args.scenario {
            Some(path) => Some(callhook_sim::scenario::Scenario::load(path)?),
            None => None,
        },
        truth: args.truth.clone(),
        live: if args.live {
            Some(callhook_sim::LiveOptions {
                rate_per_minute: args.rate,
                daily_profile: args.daily_profile,
                duration: match &args.duration {
                    Some(d) => Some(callhook_sim::scenario::parse_span(d)?),
                    None => None,
                },
                speed: args.speed,
                record_delay: delay_arg(&args.record_delay, "--record-delay")?,
                version_delay: delay_arg(&args.version_delay, "--version-delay")?,
                ..Default::default()
            })
        } else {
            None
        },
        ..Default::default()
    };
    let summary = callhook_sim::run(opts).await?;
    if let Some(t) = &args.truth {
        eprintln!("simulate: ground truth written to {}", t.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let config = args.config();
    let report = callhook::bench::run_suite(&config, |step| eprintln!("… {step}")).await?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("{}", report.table());
    println!("JSON report: {}", args.out.display());
    if report.cells.iter().any(|c| !c.complete) {
        anyhow::bail!("notifications went missing in a cell marked INCOMPLETE above");
    }
    Ok(())
}

// ---- `callhook bench-notifications` ---------------------------------------------------------

#[derive(Args)]
struct BenchNotificationsArgs {
    /// Records (= notifications) sent to one subscription for the throughput figure.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Subscriptions sharing one receiver in the sustained one-receiver figure (each gets
    /// every record; records / this many records are ingested).
    #[arg(long, default_value_t = 10)]
    one_receiver_subscriptions: usize,
    /// Records ingested for the fan-out figure (each notifies every subscription).
    #[arg(long, default_value_t = 2_000)]
    fanout_records: usize,
    /// Subscriptions in the fan-out figure (the tenant quota is 100).
    #[arg(long, default_value_t = 100)]
    subscriptions: usize,
    /// Receivers (distinct ports) the fan-out subscriptions are spread over.
    #[arg(long, default_value_t = 10)]
    receivers: usize,
    /// Records per second in the latency figure.
    #[arg(long, default_value_t = 1_000)]
    rate: usize,
    /// Seconds the paced ingest lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Records per ingest request (1–100).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Call events (= rich notifications) in the rich figure.
    #[arg(long, default_value_t = 20_000)]
    rich_events: usize,
    /// Ingest requests in flight in the throughput figures.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The noisy neighbour: subscriptions of a second tenant on a webhook that never answers,
    /// notifications queued for them, and the healthy subscription's records per second
    /// (for `--seconds`).
    #[arg(long, default_value_t = 10)]
    neighbour_subscriptions: usize,
    #[arg(long, default_value_t = 10_000)]
    neighbour_notifications: usize,
    #[arg(long, default_value_t = 100)]
    neighbour_rate: usize,
    /// Run only this scenario: `neighbour` (the noisy neighbour) or `backlog` (one
    /// subscription's backlog drained); default all.
    #[arg(long, value_parser = ["neighbour", "backlog"])]
    only: Option<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench-notifications.json")]
    out: PathBuf,
    /// Database of the server under test (default: SQLite in a temporary directory); use an
    /// empty PostgreSQL database to measure PostgreSQL.
    #[arg(long)]
    database_url: Option<String>,
}

async fn bench_notifications(args: BenchNotificationsArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let data_dir = temp.path().to_path_buf();
    let mut serve = ServeOptions::new("127.0.0.1:0".parse()?, data_dir.clone());
    serve.database_url = args.database_url.clone();
    let running = server::start(serve).await?;
    if let Some(url) = args
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres"))
    {
        callhook::bench::analyze_empty(url).await?;
    }
    let (target, neighbour) = callhook::bench::targets(&running, &data_dir).await?;
    let mut opts = callhook_bench::notifications::NotifyBenchOptions::new(target);
    opts.neighbour = Some(neighbour);
    opts.neighbour_subscriptions = args.neighbour_subscriptions;
    opts.neighbour_notifications = args.neighbour_notifications;
    opts.neighbour_rate = args.neighbour_rate;
    opts.one_receiver_records = args.records;
    opts.one_receiver_subscriptions = args.one_receiver_subscriptions;
    opts.rich_events = args.rich_events;
    opts.fanout_records = args.fanout_records;
    opts.fanout_subscriptions = args.subscriptions;
    opts.fanout_receivers = args.receivers;
    opts.paced_rate = args.rate;
    opts.paced_seconds = args.seconds;
    opts.batch = args.batch;
    opts.concurrency = args.concurrency.max(1);
    eprintln!("benchmark server at {}", running.base_url);
    if let Some(only) = args.only.as_deref() {
        let table = callhook_bench::notifications::run_one(&opts, only).await;
        running.shutdown().await?;
        println!("{}", table?);
        return Ok(());
    }
    let report = callhook_bench::notifications::run(&opts, |step| eprintln!("… {step}")).await;
    running.shutdown().await?;
    let report = report?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("{}", report.table());
    println!("JSON report: {}", args.out.display());
    Ok(())
}

// ---- end of `callhook bench-notifications` ---------------------------------------------------

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark's servers log only what goes wrong, and not the lock waits its own load
    // causes (sqlx reports statements over a second), so the table stays readable.
    init_tracing(match cli.command {
        Command::Bench(_) | Command::BenchNotifications(_) => "warn,sqlx::query=error",
        _ => "info",
    });
    let runtime = match callhook::memory::runtime_builder().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                listen,
                data,
                tls,
                tls_cert,
                tls_key,
                public_url,
                token_form,
                webhook_ca,
                strict_https,
                clock,
                max_batch,
                authorization_minutes,
                delivery_lease_seconds,
                attempt_retention_days,
                post_capture_bytes,
                limits,
            } => {
                let mut opts = ServeOptions::new(listen, data.data_dir);
                // The console's simulator is this very binary's `simulate`.
                opts.api.simulator = std::env::current_exe().ok().map(|program| {
                    callhook_api::console::SimulatorCommand {
                        program,
                        data_dir: opts.data_dir.clone(),
                    }
                });
                opts.database_url = data.database_url;
                opts.db_pool_size = data.db_pool_size;
                opts.public_url = public_url;
                opts.api.token_form = token_form.form.into();
                opts.notify.webhook_ca = webhook_ca;
                opts.notify.strict_https = strict_https;
                opts.notify.max_batch = max_batch.clamp(1, 1000);
                opts.notify.authorization_lifetime =
                    chrono::Duration::minutes(i64::from(authorization_minutes));
                opts.notify.delivery_lease =
                    chrono::Duration::seconds(i64::from(delivery_lease_seconds));
                opts.notify.attempt_retention =
                    chrono::Duration::days(i64::from(attempt_retention_days));
                opts.notify.post_body_cap = post_capture_bytes as usize;
                opts.api.manual_clock = clock == ClockMode::Manual;
                limits.apply(&mut opts);
                opts.tls = match (tls_cert, tls_key) {
                    (Some(cert), Some(key)) => TlsMode::Files { cert, key },
                    _ if tls => TlsMode::SelfSigned,
                    _ => TlsMode::Off,
                };
                serve(opts).await
            }
            Command::Token(args) => token(args).await,
            Command::Tenant { data, command } => {
                callhook::admin::tenant(&data.data_dir, data.database_url.as_deref(), command).await
            }
            Command::App { data, command } => {
                callhook::admin::app(&data.data_dir, data.database_url.as_deref(), command).await
            }
            Command::User { data, command } => {
                callhook::admin::user(&data.data_dir, data.database_url.as_deref(), command).await
            }
            Command::Simulate(args) => simulate(args).await,
            Command::Collect(args) => callhook::collect::run(args).await,
            Command::Report(args) => callhook::report::run(args).await,
            Command::Bench(args) => bench(args).await,
            Command::BenchNotifications(args) => bench_notifications(args).await,
            Command::BenchAlerts {
                events,
                interval_secs,
            } => {
                let r = callhook::bench_alerts::run(
                    events.max(1),
                    std::time::Duration::from_secs(interval_secs.max(1)),
                )
                .await?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
