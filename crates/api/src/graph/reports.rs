//! The call-records report functions: `getPstnCalls`, `getDirectRoutingCalls` (v1.0 and beta),
//! `getSmsLog`, `getPstnBlockedUsersLog`, `getPstnOnlineMeetingDialoutReport` (beta), called with
//! Graph's function syntax `…/callRecords/getPstnCalls(fromDateTime=…,toDateTime=…)`.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use callhook_model::{DirectRoutingLogRow, PstnCallLogRow};
use callhook_odata::SystemOption as Opt;
use callhook_store::{ReportKind, ReportQuery};

use super::{collection, encode_segment, ok_json, preferences, query_options, ApiVersion};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

pub const PAGE_SIZE: u32 = 1000;
pub const MAX_RANGE_DAYS: i64 = 90;

/// One report function as Graph declares it.
struct Function {
    name: &'static str,
    report: ReportKind,
    row_type: &'static str,
    beta_only: bool,
    /// Whether `toDateTime` is inclusive (Graph documents it per function).
    to_inclusive: bool,
}

const FUNCTIONS: &[Function] = &[
    Function {
        name: "getPstnCalls",
        report: ReportKind::PstnCalls,
        row_type: "pstnCallLogRow",
        beta_only: false,
        to_inclusive: true,
    },
    Function {
        name: "getDirectRoutingCalls",
        report: ReportKind::DirectRoutingCalls,
        row_type: "directRoutingLogRow",
        beta_only: false,
        to_inclusive: false,
    },
    Function {
        name: "getSmsLog",
        report: ReportKind::SmsLog,
        row_type: "smsLogRow",
        beta_only: true,
        to_inclusive: true,
    },
    Function {
        name: "getPstnBlockedUsersLog",
        report: ReportKind::PstnBlockedUsersLog,
        row_type: "pstnBlockedUsersLogRow",
        beta_only: true,
        to_inclusive: true,
    },
    Function {
        name: "getPstnOnlineMeetingDialoutReport",
        report: ReportKind::PstnOnlineMeetingDialout,
        row_type: "pstnOnlineMeetingDialoutReport",
        beta_only: true,
        to_inclusive: true,
    },
];

/// The report functions served at a version, for `$metadata`.
pub fn declared(version: ApiVersion) -> Vec<callhook_model::schema::Function> {
    FUNCTIONS
        .iter()
        .filter(|f| version.is_beta() || !f.beta_only)
        .map(|f| callhook_model::schema::Function {
            name: f.name,
            row_type: f.row_type,
        })
        .collect()
}

fn segment_not_found(segment: &str) -> GraphError {
    GraphError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Handles `GET communications/callRecords/{function}(…)`.
pub async fn call(
    state: AppState,
    version: ApiVersion,
    caller: Caller,
    segment: String,
    headers: HeaderMap,
    raw_query: Option<String>,
) -> GraphResult<Response> {
    let call = callhook_odata::parse_function_call(&restore_parameter_comma(&segment))
        .map_err(|e| GraphError::bad_request(e.message().to_string()))?;
    let short = call.name.rsplit('.').next().unwrap_or(&call.name);
    let func = FUNCTIONS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(short) && (version.is_beta() || !f.beta_only))
        .ok_or_else(|| segment_not_found(segment.split('(').next().unwrap_or(&segment)))?;
    permissions::require(&caller, &permissions::PSTN_REPORTS)?;

    // Graph accepts and ignores $filter on these functions; anything else is refused.
    let q = query_options(raw_query.as_deref(), &[Opt::Skip, Opt::Filter])?;
    let skip = q.skip().map_err(super::bad_query)?.unwrap_or(0);
    call.check_params(&["fromDateTime", "toDateTime"])
        .map_err(super::bad_query)?;
    let from = call
        .required_datetime("fromDateTime")
        .map_err(super::bad_query)?;
    let to = call
        .required_datetime("toDateTime")
        .map_err(super::bad_query)?;
    if to < from {
        return Err(GraphError::bad_request(
            "toDateTime must not be earlier than fromDateTime.",
        ));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(GraphError::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            format!(
                "The requested range from {} to {} exceeds the maximum of {MAX_RANGE_DAYS} days.",
                fmt(from),
                fmt(to)
            ),
        ));
    }

    let query = ReportQuery {
        tenant_id: caller.tenant_id.clone(),
        report: func.report,
        from,
        to,
        to_inclusive: func.to_inclusive,
        offset: skip,
        limit: PAGE_SIZE + 1,
    };
    let (rows, more) = if func.report == ReportKind::PstnOnlineMeetingDialout {
        aggregated_dialout(&state, query).await?
    } else {
        let bodies = state.store.list_report_rows(&query).await?;
        let more = bodies.len() > PAGE_SIZE as usize;
        let rows = bodies
            .iter()
            .take(PAGE_SIZE as usize)
            .map(|b| row_for_version(func.report, b, version))
            .collect::<GraphResult<Vec<_>>>()?;
        (rows, more)
    };

    let base = state.base_url(&headers);
    let v = version.as_str();
    let next = more.then(|| {
        format!(
            "{base}/{v}/communications/callRecords/{}(fromDateTime={},toDateTime={})?$skip={}",
            func.name,
            encode_segment(&fmt(from)),
            encode_segment(&fmt(to)),
            skip + u64::from(PAGE_SIZE)
        )
    });
    let count = rows.len();
    let mut body = collection(
        format!(
            "{base}/{v}/$metadata#Collection(microsoft.graph.callRecords.{})",
            func.row_type
        ),
        rows,
        next,
    );
    if let Value::Object(m) = &mut body {
        // Graph's @odata.count here is the number of rows in this page.
        let mut out = Map::new();
        if let Some(ctx) = m.remove("@odata.context") {
            out.insert("@odata.context".into(), ctx);
        }
        out.insert("@odata.count".into(), Value::from(count));
        out.extend(std::mem::take(m));
        body = Value::Object(out);
    }
    Ok(ok_json(&body, &preferences(&headers)))
}

/// The Python SDK's URI template library drops the comma between the two parameters, sending
/// `getPstnCalls(fromDateTime=…toDateTime=…)`. Real Graph refuses that; callhook puts the comma
/// back so the official SDK works unmodified (see docs/graph-behaviour.md).
fn restore_parameter_comma(segment: &str) -> String {
    let lower = segment.to_ascii_lowercase();
    match lower.find("todatetime=") {
        Some(i)
            if i > 0
                && !matches!(lower.as_bytes()[i - 1], b',' | b'(')
                && lower.contains("(fromdatetime=") =>
        {
            format!("{},{}", &segment[..i], &segment[i..])
        }
        _ => segment.to_string(),
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    callhook_model::format_date_time(&t)
}

/// Stored rows hold every (beta) property; v1.0 answers drop the beta-only ones.
fn row_for_version(report: ReportKind, body: &str, version: ApiVersion) -> GraphResult<Value> {
    let mut v: Value = serde_json::from_str(body).map_err(|_| GraphError::internal())?;
    if !version.is_beta() {
        let beta_only: &[&str] = match report {
            ReportKind::PstnCalls => PstnCallLogRow::BETA_ONLY,
            ReportKind::DirectRoutingCalls => DirectRoutingLogRow::BETA_ONLY,
            _ => &[],
        };
        if let Value::Object(m) = &mut v {
            m.retain(|k, _| !beta_only.contains(&k.as_str()));
        }
    }
    Ok(v)
}

/// The dial-out report sums usage rows per user × usage location × destination context ×
/// currency over the requested range, then pages the sums.
async fn aggregated_dialout(
    state: &AppState,
    query: ReportQuery,
) -> GraphResult<(Vec<Value>, bool)> {
    type Key = (String, String, String, String);
    let mut sums: BTreeMap<Key, (Map<String, Value>, i64, i64, f64)> = BTreeMap::new();
    let mut offset = 0u64;
    loop {
        let batch = state
            .store
            .list_report_rows(&ReportQuery {
                offset,
                limit: 5000,
                ..query.clone()
            })
            .await?;
        for body in &batch {
            let Ok(Value::Object(row)) = serde_json::from_str::<Value>(body) else {
                continue;
            };
            let s = |k: &str| {
                row.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let key = (
                s("userId"),
                s("usageLocation"),
                s("destinationContext"),
                s("currency"),
            );
            let calls = row.get("totalCalls").and_then(Value::as_i64).unwrap_or(0);
            let secs = row
                .get("totalCallSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let charge = row
                .get("totalCallCharge")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let entry = sums.entry(key).or_insert_with(|| (row.clone(), 0, 0, 0.0));
            entry.1 += calls;
            entry.2 += secs;
            entry.3 += charge;
        }
        if batch.len() < 5000 {
            break;
        }
        offset += 5000;
    }
    let all: Vec<Value> = sums
        .into_values()
        .map(|(row, calls, secs, charge)| {
            let pick = |k: &str| row.get(k).cloned().unwrap_or(Value::Null);
            let mut out = Map::new();
            out.insert("currency".into(), pick("currency"));
            out.insert("destinationContext".into(), pick("destinationContext"));
            out.insert(
                "totalCallCharge".into(),
                serde_json::Number::from_f64((charge * 100.0).round() / 100.0)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            );
            out.insert("totalCalls".into(), Value::from(calls));
            out.insert("totalCallSeconds".into(), Value::from(secs));
            out.insert("usageLocation".into(), pick("usageLocation"));
            out.insert("userDisplayName".into(), pick("userDisplayName"));
            out.insert("userId".into(), pick("userId"));
            out.insert("userPrincipalName".into(), pick("userPrincipalName"));
            Value::Object(out)
        })
        .collect();
    let total = all.len();
    let start = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let page: Vec<Value> = all
        .into_iter()
        .skip(start)
        .take(PAGE_SIZE as usize)
        .collect();
    Ok((page, start.saturating_add(PAGE_SIZE as usize) < total))
}

#[cfg(test)]
mod tests {
    use super::restore_parameter_comma;

    #[test]
    fn a_missing_comma_between_parameters_is_restored() {
        assert_eq!(
            restore_parameter_comma("getPstnCalls(fromDateTime=2026-11-17T19:40:20+00:00toDateTime=2026-11-23T00:00:00Z)"),
            "getPstnCalls(fromDateTime=2026-11-17T19:40:20+00:00,toDateTime=2026-11-23T00:00:00Z)"
        );
        let ok = "getPstnCalls(fromDateTime=2026-11-17,toDateTime=2026-11-23)";
        assert_eq!(restore_parameter_comma(ok), ok);
        let reversed = "getPstnCalls(toDateTime=2026-11-23,fromDateTime=2026-11-17)";
        assert_eq!(restore_parameter_comma(reversed), reversed);
    }
}
