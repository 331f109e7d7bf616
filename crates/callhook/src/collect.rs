//! `callhook collect`: flags of the collector (crates/collector) and its `status` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use callhook_collector::auth::Credential;
use callhook_collector::{Collector, CollectorOptions, Source, Store};

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(subcommand)]
    pub command: Option<CollectCommand>,
    /// The collector's data directory (its SQLite database `collector.db`).
    #[arg(
        long,
        env = "CALLHOOK_COLLECT_DATA_DIR",
        default_value = "./callhook-collector",
        global = true
    )]
    pub data_dir: PathBuf,
    /// PostgreSQL URL of the collector's own database (default: SQLite in --data-dir).
    #[arg(long, env = "CALLHOOK_COLLECT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Graph's base URL (or a callhook server's).
    #[arg(long, default_value = "https://graph.microsoft.com")]
    pub graph_url: String,
    /// The token authority.
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    pub authority: String,
    #[arg(long, env = "CALLHOOK_COLLECT_TENANT")]
    pub tenant: Option<String>,
    #[arg(long, env = "CALLHOOK_COLLECT_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The app's client secret (prefer the environment variable).
    #[arg(long, env = "CALLHOOK_COLLECT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The app's certificate (PEM; may also hold the private key): a client assertion instead
    /// of a secret.
    #[arg(long)]
    pub certificate: Option<PathBuf>,
    /// The certificate's private key (PEM), when not in --certificate.
    #[arg(long)]
    pub certificate_key: Option<PathBuf>,
    /// A local callhook's data directory: its credentials.json (and tls/cert.pem) are used, and
    /// --graph-url/--authority default to --callhook-url.
    #[arg(long)]
    pub callhook_dir: Option<PathBuf>,
    /// The local callhook's URL, with --callhook-dir.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub callhook_url: String,
    /// Webhook mode: address of the collector's listener (notifications, lifecycle, /metrics).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Webhook mode: the URL Graph reaches the listener at (HTTPS for real Graph).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Records fetched at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Minutes between reconciliation sweeps.
    #[arg(long, default_value_t = 15)]
    pub sweep_minutes: u64,
    /// Days listed by a sweep (Graph keeps 30).
    #[arg(long, default_value_t = 30)]
    pub retention_days: i64,
    /// Report functions to collect: all, or names (getPstnCalls, getDirectRoutingCalls, getSmsLog,
    /// getPstnBlockedUsersLog, getPstnOnlineMeetingDialoutReport), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub reports: Vec<String>,
    /// Sweep and fetch once, then exit (a backfill).
    #[arg(long)]
    pub once: bool,
}

#[derive(Subcommand, Debug)]
pub enum CollectCommand {
    /// Subscriptions and their expiry, queue depth and lag, last sweep, counts, last errors.
    Status,
}

fn database(args: &CollectArgs) -> anyhow::Result<String> {
    match &args.database_url {
        Some(u) => Ok(u.clone()),
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
            Ok(args.data_dir.join("collector.db").display().to_string())
        }
    }
}

fn source(args: &CollectArgs) -> anyhow::Result<Source> {
    if let Some(dir) = &args.callhook_dir {
        return Ok(Source::callhook(&args.callhook_url, dir)?);
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .with_context(|| format!("{flag} is required (or --callhook-dir for a local callhook)"))
    };
    let credential = match (&args.client_secret, &args.certificate) {
        (_, Some(cert)) => {
            Credential::certificate_from_files(cert, args.certificate_key.as_deref())?
        }
        (Some(secret), None) => Credential::Secret(secret.clone()),
        (None, None) => anyhow::bail!("--client-secret or --certificate is required"),
    };
    Ok(Source {
        graph_url: args.graph_url.clone(),
        authority: args.authority.clone(),
        tenant_id: need(&args.tenant, "--tenant")?,
        client_id: need(&args.client_id, "--client-id")?,
        credential,
        ca_cert: None,
    })
}

pub async fn run(args: CollectArgs) -> anyhow::Result<()> {
    let db = database(&args)?;
    if let Some(CollectCommand::Status) = args.command {
        let store = Store::open(&db, 2).await?;
        print!(
            "{}",
            callhook_collector::status::status(&store, chrono::Utc::now()).await?
        );
        store.close().await;
        return Ok(());
    }
    let mut opts = CollectorOptions::new(source(&args)?, db);
    opts.concurrency = args.concurrency.max(1);
    opts.sweep_interval = Duration::from_secs(args.sweep_minutes.max(1) * 60);
    opts.retention_days = args.retention_days.clamp(1, 3650);
    opts.listen = args.listen;
    opts.public_url = args.public_url.clone();
    opts.reports = args.reports.clone();
    opts.progress = args.once && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Some(addr) = args.listen {
        // The reports' dashboard on the same listener (its own pool on the same database).
        let token = callhook_reports::dashboard::token_from_dir(&args.data_dir)?;
        let dash = callhook_reports::dashboard::Dashboard::new(
            Store::open(&opts.database, 4).await?,
            &token,
            addr.ip().is_loopback(),
        )?;
        opts.extra_routes = Some(dash.router());
    }
    let collector = Arc::new(Collector::new(opts).await?);
    if args.once {
        let (swept, drained) = collector.backfill().await?;
        if !args.reports.is_empty() {
            let which: Vec<String> = args
                .reports
                .iter()
                .filter(|r| *r != "all")
                .cloned()
                .collect();
            let rows = callhook_collector::reports::collect_reports(
                &collector.graph,
                &collector.store,
                &which,
                chrono::Utc::now(),
            )
            .await?;
            println!("report rows stored: {rows}");
        }
        println!(
            "listed {} records, queued {}; stored {}, unchanged {}, gone {}, failed attempts {}",
            swept.listed,
            swept.queued,
            drained.stored,
            drained.unchanged,
            drained.gone,
            drained.failed
        );
        collector.store.close().await;
        return Ok(());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(true);
    });
    collector.run(stop_rx).await?;
    Ok(())
}
