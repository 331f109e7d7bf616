//! Graph's report functions (`getPstnCalls`, `getDirectRoutingCalls`; on beta `getSmsLog`,
//! `getPstnBlockedUsersLog`, `getPstnOnlineMeetingDialoutReport`), fetched one UTC day at a time
//! with their paging. Graph serves at most 90 days back, so the first run starts there; a day is
//! marked done once it is over and fetched, and the current day is fetched again on every pass.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::error::Result;
use crate::flatten::{self, Col, Ctx, Kind, Scope};
use crate::graph::GraphClient;
use crate::store::Store;

/// Graph keeps the report rows of the last 90 days.
pub const REPORT_DAYS: i64 = 90;

pub struct ReportSpec {
    /// The function's name in the URL.
    pub function: &'static str,
    /// `v1.0` or `beta`.
    pub version: &'static str,
    pub table: &'static str,
    pub columns: Vec<Col>,
}

fn spec(
    function: &'static str,
    version: &'static str,
    table: &'static str,
    props: &[(&str, Kind)],
) -> ReportSpec {
    let mut columns = vec![Col {
        name: "tenant_id".into(),
        ctx: Ctx::Record,
        path: String::new(),
        kind: Kind::Text,
    }];
    for (p, kind) in props {
        columns.push(Col {
            name: flatten::snake(p),
            ctx: Ctx::Item,
            path: format!("/{p}"),
            kind: *kind,
        });
    }
    columns.push(Col {
        name: "row_json".into(),
        ctx: Ctx::Item,
        path: String::new(),
        kind: Kind::Text,
    });
    ReportSpec {
        function,
        version,
        table,
        columns,
    }
}

/// Every report function the collector reads, with the table its rows go to.
pub fn specs() -> &'static [ReportSpec] {
    use Kind::*;
    static S: OnceLock<Vec<ReportSpec>> = OnceLock::new();
    S.get_or_init(|| {
        vec![
            spec(
                "getPstnCalls",
                "v1.0",
                "pstn_calls",
                &[
                    ("id", Text),
                    ("callId", Text),
                    ("userId", Text),
                    ("userPrincipalName", Text),
                    ("userDisplayName", Text),
                    ("startDateTime", Time),
                    ("endDateTime", Time),
                    ("duration", Int),
                    ("charge", Real),
                    ("callType", Text),
                    ("currency", Text),
                    ("calleeNumber", Text),
                    ("callerNumber", Text),
                    ("usageCountryCode", Text),
                    ("tenantCountryCode", Text),
                    ("connectionCharge", Real),
                    ("destinationContext", Text),
                    ("destinationName", Text),
                    ("conferenceId", Text),
                    ("licenseCapability", Text),
                    ("inventoryType", Text),
                    ("operator", Text),
                    ("callDurationSource", Text),
                    ("otherPartyCountryCode", Text),
                ],
            ),
            spec(
                "getDirectRoutingCalls",
                "v1.0",
                "direct_routing_calls",
                &[
                    ("id", Text),
                    ("correlationId", Text),
                    ("userId", Text),
                    ("userPrincipalName", Text),
                    ("userDisplayName", Text),
                    ("startDateTime", Time),
                    ("inviteDateTime", Time),
                    ("failureDateTime", Time),
                    ("endDateTime", Time),
                    ("duration", Int),
                    ("callType", Text),
                    ("successfulCall", Bool),
                    ("callerNumber", Text),
                    ("calleeNumber", Text),
                    ("mediaPathLocation", Text),
                    ("signalingLocation", Text),
                    ("finalSipCode", Int),
                    ("callEndSubReason", Int),
                    ("finalSipCodePhrase", Text),
                    ("trunkFullyQualifiedDomainName", Text),
                    ("mediaBypassEnabled", Bool),
                    ("userCountryCode", Text),
                    ("otherPartyCountryCode", Text),
                    ("transferorCorrelationId", Text),
                ],
            ),
            spec(
                "getSmsLog",
                "beta",
                "sms_log",
                &[
                    ("id", Text),
                    ("smsId", Text),
                    ("sentDateTime", Time),
                    ("smsType", Text),
                    ("smsUnits", Int),
                    ("sourceNumber", Text),
                    ("destinationNumber", Text),
                    ("destinationContext", Text),
                    ("destinationName", Text),
                    ("callCharge", Real),
                    ("currency", Text),
                    ("licenseCapability", Text),
                    ("tenantCountryCode", Text),
                    ("userCountryCode", Text),
                    ("otherPartyCountryCode", Text),
                    ("userId", Text),
                    ("userPrincipalName", Text),
                    ("userDisplayName", Text),
                ],
            ),
            spec(
                "getPstnBlockedUsersLog",
                "beta",
                "pstn_blocked_users",
                &[
                    ("id", Text),
                    ("blockDateTime", Time),
                    ("blockReason", Text),
                    ("remediationId", Text),
                    ("userBlockMode", Text),
                    ("userDisplayName", Text),
                    ("userId", Text),
                    ("userPrincipalName", Text),
                    ("userTelephoneNumber", Text),
                ],
            ),
            spec(
                "getPstnOnlineMeetingDialoutReport",
                "beta",
                "pstn_dialout_usage",
                &[
                    ("id", Text),
                    ("usageDateTime", Time),
                    ("userId", Text),
                    ("userPrincipalName", Text),
                    ("userDisplayName", Text),
                    ("usageLocation", Text),
                    ("destinationContext", Text),
                    ("currency", Text),
                    ("totalCalls", Int),
                    ("totalCallCharge", Real),
                    ("totalCallSeconds", Int),
                ],
            ),
        ]
    })
}

/// A row without an `id` (the dial-out report's rows may lack one) gets a key made of its
/// content, so fetching a day twice still stores it once.
fn ensure_id(row: &mut serde_json::Value) {
    if row.get("id").and_then(|v| v.as_str()).is_none() {
        use aws_lc_rs::digest;
        let d = digest::digest(&digest::SHA256, row.to_string().as_bytes());
        let hex: String = d.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        row["id"] = serde_json::Value::String(format!("sha256:{hex}"));
    }
}

fn day_url(spec: &ReportSpec, day: NaiveDate) -> String {
    let from = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default();
    let to = from + Duration::days(1);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    format!(
        "/{}/communications/callRecords/{}(fromDateTime={},toDateTime={})",
        spec.version,
        spec.function,
        fmt(from),
        fmt(to)
    )
}

/// Fetches every day of the last [`REPORT_DAYS`] not yet done, for each report function in
/// `which` (all when empty). Returns the rows stored.
pub async fn collect_reports(
    graph: &GraphClient,
    store: &Store,
    which: &[String],
    now: DateTime<Utc>,
) -> Result<u64> {
    let today = now.date_naive();
    let mut stored = 0u64;
    for spec in specs() {
        if !which.is_empty() && !which.iter().any(|w| w.eq_ignore_ascii_case(spec.function)) {
            continue;
        }
        for back in (0..REPORT_DAYS).rev() {
            let day = today - Duration::days(back);
            let key = format!("report:{}:{day}", spec.function);
            if store.state(&graph.tenant_id, &key).await?.is_some() {
                continue;
            }
            let Some(mut rows) = graph.get_all(&day_url(spec, day)).await? else {
                continue;
            };
            let cells: Vec<_> = rows
                .iter_mut()
                .map(|r| {
                    ensure_id(r);
                    flatten::row(
                        &spec.columns,
                        &graph.tenant_id,
                        Scope {
                            item: Some(r),
                            ..Default::default()
                        },
                    )
                })
                .collect();
            store
                .put_report_rows(spec.table, &spec.columns, &cells)
                .await?;
            stored += cells.len() as u64;
            graph
                .metrics
                .report_rows
                .fetch_add(cells.len() as u64, Ordering::Relaxed);
            // Graph adds rows to a day for a while after it ends; a day two days old is final.
            if back >= 2 {
                store
                    .set_state(&graph.tenant_id, &key, &now.to_rfc3339())
                    .await?;
            }
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_urls_name_the_function_and_a_whole_day() {
        let s = &specs()[2];
        let url = day_url(s, NaiveDate::from_ymd_opt(2026, 3, 4).expect("date"));
        assert_eq!(url, "/beta/communications/callRecords/getSmsLog(fromDateTime=2026-03-04T00:00:00Z,toDateTime=2026-03-05T00:00:00Z)");
    }

    #[test]
    fn rows_without_id_get_a_stable_one() {
        let mut a = serde_json::json!({"usageDateTime": "2026-01-01T00:00:00Z", "totalCalls": 3});
        let mut b = a.clone();
        ensure_id(&mut a);
        ensure_id(&mut b);
        assert_eq!(a["id"], b["id"]);
        assert!(a["id"].as_str().is_some_and(|s| s.starts_with("sha256:")));
    }
}
