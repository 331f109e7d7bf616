//! `callhook report`: flags of the reports (crates/reports) over the collector's database.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use callhook_collector::Store;
use callhook_quality::Thresholds;
use callhook_reports::quality::By;
use callhook_reports::usage::UsageBy;
use callhook_reports::{parse_time, render, to_objects, Filters, Format};

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
    /// The collector's data directory (its SQLite database `collector.db`).
    #[arg(
        long,
        env = "CALLHOOK_COLLECT_DATA_DIR",
        default_value = "./callhook-collector",
        global = true
    )]
    pub data_dir: PathBuf,
    /// PostgreSQL URL of the collector's database (default: SQLite in --data-dir).
    #[arg(long, env = "CALLHOOK_COLLECT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// table (for a terminal), csv or json.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: FormatArg,
    #[command(flatten)]
    pub filters: FilterArgs,
}

#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Start (inclusive): a date (2026-03-01, UTC) or an RFC 3339 time.
    #[arg(long, global = true)]
    pub from: Option<String>,
    /// End (exclusive): a date or an RFC 3339 time.
    #[arg(long, global = true)]
    pub to: Option<String>,
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    /// A user principal name, display name or id.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// A building of the imported building file.
    #[arg(long, global = true)]
    pub building: Option<String>,
    #[arg(long, global = true)]
    pub subnet: Option<String>,
    /// audio, video, vbss or appSharing.
    #[arg(long, global = true)]
    pub modality: Option<String>,
    #[arg(long, global = true)]
    pub country: Option<String>,
    /// Call type (record type, PSTN/direct-routing callType, SMS type).
    #[arg(long, global = true)]
    pub call_type: Option<String>,
    /// Direct-routing gateway (trunk FQDN).
    #[arg(long, global = true)]
    pub gateway: Option<String>,
}

impl FilterArgs {
    pub fn to_filters(&self) -> anyhow::Result<Filters> {
        let time = |t: &Option<String>| t.as_deref().map(parse_time).transpose();
        Ok(Filters {
            from: time(&self.from)?,
            to: time(&self.to)?,
            tenant: self.tenant.clone(),
            user: self.user.clone(),
            building: self.building.clone(),
            subnet: self.subnet.clone(),
            modality: self.modality.clone(),
            country: self.country.clone(),
            call_type: self.call_type.clone(),
            gateway: self.gateway.clone(),
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// CQD measures (Poor Stream Rate, Audio Poor Call %, setup/drop failure %, TCP share) per
    /// day, building, subnet, network type, device, driver, client or user.
    Quality {
        /// all, day, building, subnet, network, wifi-band, vpn, inside-corp, transport, device,
        /// driver, platform, version or user.
        #[arg(long, default_value = "day", value_parser = parse_quality_by)]
        by: By,
    },
    /// PSTN calls, minutes and charges (per currency).
    Pstn {
        /// user, country, destination, call-type or day.
        #[arg(long, default_value = "user", value_parser = parse_usage_by)]
        by: UsageBy,
    },
    /// Direct routing per gateway: attempts, success ratio, NER, final SIP codes.
    DirectRouting,
    /// SMS messages, units and charges (per currency).
    Sms {
        /// user, country, destination, call-type or day.
        #[arg(long, default_value = "user", value_parser = parse_usage_by)]
        by: UsageBy,
    },
    /// Emergency calls: events of the emergency call feed and emergency report rows.
    Emergency,
    /// One call's timeline: sessions, segments, streams with verdicts and reasons.
    Call { id: String },
    /// Serves the dashboard alone (the collector's --listen serves it too) until Ctrl-C.
    Dashboard {
        #[arg(long, default_value = "127.0.0.1:8490")]
        listen: std::net::SocketAddr,
    },
    /// The CQD building file (buildings, sites, inside corp, VPN by subnet).
    Buildings {
        #[command(subcommand)]
        command: BuildingsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum BuildingsCommand {
    /// Imports a CQD building file (CSV or TSV, no header), replacing the active one.
    Import { file: PathBuf },
    /// The networks of the active building file.
    Show,
}

fn parse_quality_by(s: &str) -> Result<By, String> {
    By::parse(s).ok_or_else(|| {
        let names: Vec<&str> = By::ALL.iter().map(|b| b.name()).collect();
        format!("one of {}", names.join(", "))
    })
}

fn parse_usage_by(s: &str) -> Result<UsageBy, String> {
    UsageBy::parse(s).ok_or_else(|| "one of user, country, destination, call-type, day".into())
}

/// The collector's database target for `--data-dir`/`--database-url`.
pub fn database(data_dir: &std::path::Path, url: &Option<String>) -> anyhow::Result<String> {
    match url {
        Some(u) => Ok(u.clone()),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            Ok(data_dir.join("collector.db").display().to_string())
        }
    }
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let db = database(&args.data_dir, &args.database_url)?;
    let store = Store::open(&db, 4).await?;
    if let ReportCommand::Dashboard { listen } = &args.command {
        let token = callhook_reports::dashboard::token_from_dir(&args.data_dir)?;
        let dash =
            callhook_reports::dashboard::Dashboard::new(store, &token, listen.ip().is_loopback())?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!(
            "dashboard at http://{}/dashboard (token in {})",
            listener.local_addr()?,
            args.data_dir
                .join(callhook_reports::dashboard::TOKEN_FILE)
                .display()
        );
        axum::serve(listener, dash.router())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        return Ok(());
    }
    let result = report(&store, &args).await;
    store.close().await;
    print!("{}", result?);
    Ok(())
}

async fn report(store: &Store, args: &ReportArgs) -> anyhow::Result<String> {
    let f = args.filters.to_filters()?;
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    let thresholds = Thresholds::default();
    use callhook_reports::{buildings, call, quality, usage};
    let rows = match &args.command {
        ReportCommand::Quality { by } => {
            to_objects(&quality::quality(store, *by, &f, &thresholds).await?)
        }
        ReportCommand::Pstn { by } => to_objects(&usage::pstn(store, *by, &f).await?),
        ReportCommand::DirectRouting => to_objects(&usage::direct_routing(store, &f).await?),
        ReportCommand::Sms { by } => to_objects(&usage::sms(store, *by, &f).await?),
        ReportCommand::Emergency => to_objects(&usage::emergency(store, &f).await?),
        ReportCommand::Call { id } => {
            match call::timeline(store, f.tenant.as_deref(), id, &thresholds).await? {
                Some(rows) => to_objects(&rows),
                None => anyhow::bail!("call {id} is not in the collector's database"),
            }
        }
        ReportCommand::Dashboard { .. } => Vec::new(),
        ReportCommand::Buildings { command } => match command {
            BuildingsCommand::Import { file } => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let done = buildings::import(
                    store,
                    &text,
                    &file.display().to_string(),
                    chrono::Utc::now(),
                )
                .await?;
                to_objects(&[done])
            }
            BuildingsCommand::Show => to_objects(&buildings::networks(store).await?),
        },
    };
    Ok(render(&rows, format))
}
