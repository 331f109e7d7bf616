//! `serve` flags of the identity-and-isolation settings: throttling limits, chaos, which
//! addresses webhooks may reach, and the connection limits. Flattened into `callhook serve`.

use std::time::Duration;

use clap::Args;

use callhook_api::throttle::Limit;

use crate::server::ServeOptions;

#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Turn Graph's call-records throttling off.
    #[arg(long, env = "CALLHOOK_NO_THROTTLE")]
    pub no_throttle: bool,
    /// Call-records requests per tenant, all apps (REQUESTS/PERIOD, e.g. 10000/20s).
    #[arg(long, env = "CALLHOOK_THROTTLE_TENANT", default_value = "10000/20s")]
    pub throttle_tenant: Limit,
    /// Call-records requests per app in a tenant.
    #[arg(long, env = "CALLHOOK_THROTTLE_APP", default_value = "1500/20s")]
    pub throttle_app: Limit,
    /// List call records, per app in a tenant.
    #[arg(long, env = "CALLHOOK_THROTTLE_LIST", default_value = "40/20s")]
    pub throttle_list: Limit,
    /// Requests for one call record (and the first page of its sessions or participants).
    #[arg(long, env = "CALLHOOK_THROTTLE_RECORD", default_value = "40/20s")]
    pub throttle_record: Limit,
    /// Later pages ($skiptoken) of one call record's sessions or participants.
    #[arg(long, env = "CALLHOOK_THROTTLE_RECORD_PAGES", default_value = "50/5m")]
    pub throttle_record_pages: Limit,
    /// PSTN and direct-routing report functions per tenant.
    #[arg(
        long,
        env = "CALLHOOK_THROTTLE_PSTN_TENANT",
        default_value = "1000/60s"
    )]
    pub throttle_pstn_tenant: Limit,
    /// …per app in a tenant.
    #[arg(long, env = "CALLHOOK_THROTTLE_PSTN_APP", default_value = "200/60s")]
    pub throttle_pstn_app: Limit,
    /// …per report function for an app in a tenant.
    #[arg(
        long,
        env = "CALLHOOK_THROTTLE_PSTN_COLLECTION",
        default_value = "50/60s"
    )]
    pub throttle_pstn_collection: Limit,
    /// Chaos: share (0–1) of Graph requests answered with a random 429 or 503.
    #[arg(long, env = "CALLHOOK_CHAOS_ERROR_RATE", default_value_t = 0.0, value_parser = share)]
    pub chaos_error_rate: f64,
    /// Chaos: Retry-After seconds of those answers.
    #[arg(long, env = "CALLHOOK_CHAOS_RETRY_AFTER", default_value_t = 1)]
    pub chaos_retry_after: u64,
    /// Chaos: latency added to every Graph request, in ms: `200` or a range `100-500`.
    #[arg(long, env = "CALLHOOK_CHAOS_LATENCY_MS", value_parser = latency)]
    pub chaos_latency_ms: Option<(u64, u64)>,
    /// Deliver webhooks to private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    /// Link-local and cloud-metadata addresses are refused whatever this says.
    #[arg(long, env = "CALLHOOK_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Refuse loopback webhooks (allowed by default for local use).
    #[arg(long, env = "CALLHOOK_DENY_LOOPBACK_WEBHOOKS")]
    pub deny_loopback_webhooks: bool,
    /// Seconds a client has to send a request's headers, counted from its first byte (or from
    /// the connection's start, including the TLS handshake); then the connection is closed.
    #[arg(long, env = "CALLHOOK_HEADER_READ_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub header_read_timeout: Duration,
    /// Seconds a request's body has to arrive in full once its headers are read; then the
    /// answer is Graph's 408 and the connection is closed.
    #[arg(long, env = "CALLHOOK_BODY_READ_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub body_read_timeout: Duration,
    /// Seconds an idle keep-alive connection is kept open waiting for its next request.
    #[arg(long, env = "CALLHOOK_KEEP_ALIVE_TIMEOUT", default_value = "75", value_parser = seconds)]
    pub keep_alive_timeout: Duration,
    /// Largest call record ingest accepts, in bytes of JSON (Graph's largest real records, a
    /// 70-session, 140-participant meeting, weigh about 0.55 MB).
    #[arg(long, env = "CALLHOOK_MAX_RECORD_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(64 * 1024..=64 * 1024 * 1024))]
    pub max_record_bytes: u64,
    /// Connections served at once; further ones wait in the listen queue until one closes.
    #[arg(long, env = "CALLHOOK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

/// Seconds, fractions allowed (tests use short ones).
fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("expected seconds between 0 and 86400, got {s:?}")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a share between 0 and 1, got {s:?}")),
    }
}

fn latency(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected milliseconds such as 200 or 100-500, got {s:?}");
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let v = s.trim().parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    if lo > hi || hi > 600_000 {
        return Err(bad());
    }
    Ok((lo, hi))
}

impl LimitArgs {
    pub fn apply(&self, opts: &mut ServeOptions) {
        let t = &mut opts.api.throttle;
        t.enabled = !self.no_throttle;
        t.tenant = self.throttle_tenant;
        t.app = self.throttle_app;
        t.list = self.throttle_list;
        t.record = self.throttle_record;
        t.record_pages = self.throttle_record_pages;
        t.pstn_tenant = self.throttle_pstn_tenant;
        t.pstn_app = self.throttle_pstn_app;
        t.pstn_collection = self.throttle_pstn_collection;
        let c = &mut opts.api.chaos;
        c.error_rate = self.chaos_error_rate;
        c.retry_after_secs = self.chaos_retry_after.max(1);
        let (lo, hi) = self.chaos_latency_ms.unwrap_or((0, 0));
        c.latency_min = Duration::from_millis(lo);
        c.latency_max = Duration::from_millis(hi);
        opts.notify.allow_private_webhooks = self.allow_private_webhooks;
        opts.notify.deny_loopback_webhooks = self.deny_loopback_webhooks;
        opts.api.body_read_timeout = Some(self.body_read_timeout);
        opts.api.max_record_bytes = usize::try_from(self.max_record_bytes).unwrap_or(usize::MAX);
        // A batch request holds up to 100 records, but the body limit keeps its default unless
        // a single record could not fit in it.
        opts.api.max_body_bytes = opts
            .api
            .max_body_bytes
            .max(opts.api.max_record_bytes + 64 * 1024);
        let n = &mut opts.connections;
        n.header_read_timeout = self.header_read_timeout;
        n.keep_alive_timeout = self.keep_alive_timeout;
        n.max_connections = self.max_connections as usize;
    }
}
