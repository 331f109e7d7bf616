//! `POST /ingest/v1/tenants/{tenant}/reports/{report}`: rows behind the report functions.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use callhook_model::{
    DialoutUsageRow, DirectRoutingLogRow, GraphType, PstnBlockedUsersLogRow, PstnCallLogRow,
    SmsLogRow,
};
use callhook_store::{ReportKind, ReportRowWrite};

use super::{json_body, model_error, require_tenant};
use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub const MAX_ROWS: usize = 1000;

/// A row type of one report: its id and time key.
trait ReportRow: GraphType {
    fn id_mut(&mut self) -> &mut Option<String>;
    fn time(&self) -> DateTime<Utc>;
    fn stored_json(&self) -> Value;
}

macro_rules! report_row {
    ($ty:ty, $time:ident) => {
        impl ReportRow for $ty {
            fn id_mut(&mut self) -> &mut Option<String> {
                &mut self.id
            }
            fn time(&self) -> DateTime<Utc> {
                self.$time
            }
            fn stored_json(&self) -> Value {
                // Stored with every property; v1.0 answers drop the beta-only ones.
                self.to_graph_json(true)
            }
        }
    };
}

report_row!(PstnCallLogRow, start_date_time);
report_row!(DirectRoutingLogRow, start_date_time);
report_row!(SmsLogRow, sent_date_time);
report_row!(PstnBlockedUsersLogRow, block_date_time);
report_row!(DialoutUsageRow, usage_date_time);

fn prepare<T: ReportRow>(bytes: &[u8]) -> GraphResult<Vec<ReportRowWrite>> {
    let rows = callhook_model::parse_list::<T>(bytes).map_err(model_error)?;
    if rows.len() > MAX_ROWS {
        return Err(GraphError::bad_request(format!(
            "value: at most {MAX_ROWS} rows per request, got {}",
            rows.len()
        )));
    }
    rows.into_iter()
        .map(|mut row| {
            let id = match row.id_mut() {
                Some(id) => id.clone(),
                slot @ None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    *slot = Some(id.clone());
                    id
                }
            };
            let body =
                serde_json::to_string(&row.stored_json()).map_err(|_| GraphError::internal())?;
            Ok(ReportRowWrite {
                id,
                time: row.time(),
                body,
            })
        })
        .collect()
}

pub async fn post_rows(
    State(state): State<AppState>,
    Path((tenant, report)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let kind = ReportKind::parse(&report).ok_or_else(|| {
        GraphError::not_found(format!(
            "Unknown report '{}'. Expected one of: pstnCalls, directRoutingCalls, smsLog, pstnBlockedUsersLog, pstnOnlineMeetingDialout.",
            report.escape_default()
        ))
    })?;
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    let rows = match kind {
        ReportKind::PstnCalls => prepare::<PstnCallLogRow>(&bytes)?,
        ReportKind::DirectRoutingCalls => prepare::<DirectRoutingLogRow>(&bytes)?,
        ReportKind::SmsLog => prepare::<SmsLogRow>(&bytes)?,
        ReportKind::PstnBlockedUsersLog => prepare::<PstnBlockedUsersLogRow>(&bytes)?,
        ReportKind::PstnOnlineMeetingDialout => prepare::<DialoutUsageRow>(&bytes)?,
    };
    state.store.put_report_rows(&tenant, kind, &rows).await?;
    Ok(Json(json!({ "accepted": rows.len() })).into_response())
}
