//! `callhook collect status`: subscriptions and their expiry, queue depth and lag, sweeps,
//! stored counts and the last errors, read from the store alone (the collector may be down).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::store::Store;

/// The status report as text.
pub async fn status(store: &Store, now: DateTime<Utc>) -> Result<String> {
    let mut out = String::new();
    let subs = store.subscriptions().await?;
    let _ = writeln!(out, "subscriptions: {}", subs.len());
    for s in &subs {
        let expiry = s.expiration_date_time.map_or("unknown".to_string(), |e| {
            format!("{} (in {} min)", e.to_rfc3339(), (e - now).num_minutes())
        });
        let _ = writeln!(
            out,
            "  {} {} [{}] {} expires {expiry}",
            s.tenant_id,
            s.subscription_id.as_deref().unwrap_or("(pending)"),
            s.status,
            s.resource
        );
    }
    let (depth, oldest) = store.queue_depth().await?;
    let lag = oldest.map_or("none".to_string(), |o| {
        format!("{} s", (now - o).num_seconds().max(0))
    });
    let _ = writeln!(out, "queue: {depth} records to fetch, lag {lag}");
    let mut tenants: Vec<String> = Vec::new();
    for (tenant, name, value) in store.states("").await? {
        if !tenants.contains(&tenant) {
            tenants.push(tenant.clone());
        }
        if name.starts_with("report:") {
            continue;
        }
        let _ = writeln!(out, "  {tenant} {name}: {value}");
    }
    for t in &tenants {
        let c = store.counts(t).await?;
        let _ = writeln!(
            out,
            "tenant {t}: {} calls, {} sessions, {} segments, {} streams, {} participants, {} gone",
            c.calls, c.sessions, c.segments, c.streams, c.participants, c.gone
        );
    }
    let errors = store.queue_errors(5).await?;
    if !errors.is_empty() {
        let _ = writeln!(out, "last fetch errors:");
        for (id, err, attempts) in errors {
            let _ = writeln!(out, "  {id} (attempt {attempts}): {err}");
        }
    }
    Ok(out)
}
