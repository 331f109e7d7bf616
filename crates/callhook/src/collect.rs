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
    /// Alert rules and channels (TOML, docs/alerts.md), evaluated as records arrive.
    #[arg(long, env = "CALLHOOK_COLLECT_ALERTS", global = true)]
    pub alerts: Option<PathBuf>,
    /// Webhook mode: subscribe to the emergency call events of this policy (repeatable).
    #[arg(long = "emergency-policy")]
    pub emergency_policies: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum CollectCommand {
    /// Subscriptions and their expiry, queue depth and lag, last sweep, counts, last errors.
    Status,
    /// Alerts raised (newest first) with the state of each delivery.
    Alerts {
        /// How far back, in hours.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Send a test alert through every channel of --alerts now, and report each answer.
        #[arg(long)]
        test: bool,
    },
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
    if let Some(CollectCommand::Alerts { hours, json, test }) = args.command {
        return alerts_command(&args, &db, hours, json, test).await;
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
    opts.emergency_policies = args.emergency_policies.clone();
    let alerts_config = match &args.alerts {
        Some(p) => Some(callhook_alerts::AlertsConfig::load(p)?),
        None => None,
    };
    let collector = Arc::new(Collector::new(opts).await?);
    let alerter = match alerts_config {
        Some(cfg) => {
            let a = callhook_alerts::Alerter::new(cfg, collector.store.clone()).await?;
            let _ = collector.observer.set(a.clone());
            Some(a)
        }
        None => None,
    };
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
    let alerts = alerter.map(|a| tokio::spawn(a.run(stop_rx.clone())));
    collector.run(stop_rx).await?;
    if let Some(a) = alerts {
        let _ = a.await;
    }
    Ok(())
}

/// `callhook collect alerts`: the alert history, or a test alert through every channel.
async fn alerts_command(
    args: &CollectArgs,
    db: &str,
    hours: i64,
    json: bool,
    test: bool,
) -> anyhow::Result<()> {
    if test {
        let path = args.alerts.as_ref().context("--test needs --alerts FILE")?;
        let cfg = callhook_alerts::AlertsConfig::load(path)?;
        for (name, result) in callhook_alerts::send_test(&cfg).await {
            match result {
                Ok(()) => println!("{name}: accepted"),
                Err(e) => println!("{name}: FAILED ({e})"),
            }
        }
        return Ok(());
    }
    let store = Store::open(db, 2).await?;
    let outbox = callhook_alerts::Outbox::new(store.clone());
    let list = outbox
        .list(
            chrono::Utc::now() - chrono::Duration::hours(hours.max(1)),
            1000,
        )
        .await?;
    store.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<25} {:<9} {:<24} {:<30} {:<5} DELIVERIES",
        "RAISED", "SEVERITY", "RULE", "SCOPE", "LATE"
    );
    for a in list {
        let deliveries: Vec<String> = a
            .deliveries
            .iter()
            .map(|d| match (&d.delivered_at, &d.last_error) {
                (Some(_), _) => format!("{} ok", d.channel),
                (None, Some(e)) => {
                    format!("{} retrying after {} attempts: {e}", d.channel, d.attempts)
                }
                (None, None) => format!("{} pending", d.channel),
            })
            .collect();
        println!(
            "{:<25} {:<9} {:<24} {:<30} {:<5} {}",
            a.alert.alert_raised_at.format("%Y-%m-%d %H:%M:%S UTC"),
            a.alert.severity,
            a.alert.rule_name,
            a.alert.scope,
            if a.alert.late { "yes" } else { "no" },
            deliveries.join("; ")
        );
    }
    Ok(())
}
