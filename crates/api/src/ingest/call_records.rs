//! `PUT /ingest/v1/tenants/{tenant}/callRecords/{id}` and the batch `POST …/callRecords`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use callhook_model::CallRecord;
use callhook_store::{CallRecordWrite, CallRecordWritten};

use super::{body_with_path_id, json_body, model_error, parse_batch, require_tenant};
use crate::error::{GraphError, GraphResult};
use crate::AppState;

/// Records per batch request.
pub const MAX_BATCH: usize = 100;

/// Most bytes of a record's own properties (all but `sessions` and `participants_v2`, which are
/// stored apart): list pages read only these, so this bounds a list page's memory. Real records
/// carry well under 2 KB here (a 140-participant meeting's deprecated `participants` adds ~30 KB).
pub const MAX_ENTITY_BYTES: usize = 256 * 1024;

/// Refuses a record over the configured size (`--max-record-bytes`), or whose own properties
/// exceed [`MAX_ENTITY_BYTES`], with Graph's 413.
fn check_size(
    state: &AppState,
    at: &str,
    body: &str,
    sessions: &str,
    participants: &str,
) -> GraphResult<()> {
    let total = body.len() + sessions.len() + participants.len();
    let limit = state.config.max_record_bytes;
    let too_large = |what: String| {
        GraphError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", what)
    };
    // `value[3].` in a batch names the record; a single PUT has no prefix.
    let at = match at.trim_end_matches('.') {
        "" => String::new(),
        path => format!("{path}: "),
    };
    if total > limit {
        return Err(too_large(format!(
            "{at}the call record is {total} bytes; at most {limit} are accepted"
        )));
    }
    if body.len() > MAX_ENTITY_BYTES {
        return Err(too_large(format!(
            "{at}the call record's properties other than sessions and participants_v2 are {} bytes; at most {MAX_ENTITY_BYTES} are accepted",
            body.len()
        )));
    }
    Ok(())
}

/// Checks what the model cannot (times against the clock) and prepares the row.
fn prepare(
    state: &AppState,
    mut rec: CallRecord,
    at: &str,
    now: DateTime<Utc>,
) -> GraphResult<CallRecordWrite> {
    let cutoff = now - Duration::days(state.config.retention_days);
    if rec.start_date_time < cutoff {
        return Err(GraphError::bad_request(format!(
            "{at}startDateTime: the call started more than {} days ago; Graph no longer serves such records",
            state.config.retention_days
        )));
    }
    if rec.end_date_time < rec.start_date_time {
        return Err(GraphError::bad_request(format!(
            "{at}endDateTime: must not be earlier than startDateTime"
        )));
    }
    // The server owns these.
    rec.version = None;
    rec.last_modified_date_time = None;
    let mut participant_ids: Vec<String> =
        rec.participants_v2.iter().map(|p| p.id.clone()).collect();
    if let Some(o) = &rec.organizer_v2 {
        participant_ids.push(o.id.clone());
    }
    participant_ids.sort();
    participant_ids.dedup();
    // Navigations are stored beside the entity; the streaming serializer writes each in one pass.
    let sessions = std::mem::take(&mut rec.sessions);
    let participants = std::mem::take(&mut rec.participants_v2);
    let text = |r: serde_json::Result<String>| r.map_err(|_| GraphError::internal());
    let body = text(serde_json::to_string(&rec))?;
    let sessions = text(serde_json::to_string(&sessions))?;
    let participants = text(serde_json::to_string(&participants))?;
    check_size(state, at, &body, &sessions, &participants)?;
    Ok(CallRecordWrite {
        body,
        sessions,
        participants,
        id: rec.id,
        start: rec.start_date_time,
        participant_ids,
    })
}

fn written(w: &CallRecordWritten) -> Value {
    json!({
        "id": w.id,
        "version": w.version,
        "lastModifiedDateTime": callhook_model::format_date_time(&w.last_modified),
    })
}

pub async fn put_one(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    callhook_model::validate_id(&id)
        .map_err(|m| GraphError::bad_request(format!("id (path): {m}")))?;
    let doc = body_with_path_id(&bytes, &id)?;
    let rec = callhook_model::from_value::<CallRecord>(doc).map_err(model_error)?;
    let now = state.clock.now();
    let write = prepare(&state, rec, "", now)?;
    let out = state
        .store
        .put_call_records(&tenant, std::slice::from_ref(&write), now)
        .await?;
    state.notify.wake.notify_one();
    let w = out.first().ok_or_else(GraphError::internal)?;
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(written(w))).into_response())
}

pub async fn put_batch(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let records: Vec<CallRecord> =
        parse_batch(&state, &tenant, &headers, body, MAX_BATCH, "records").await?;
    let now = state.clock.now();
    let writes = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| prepare(&state, r, &format!("value[{i}]."), now))
        .collect::<GraphResult<Vec<_>>>()?;
    let out = state.store.put_call_records(&tenant, &writes, now).await?;
    state.notify.wake.notify_one();
    Ok(Json(json!({ "value": out.iter().map(written).collect::<Vec<_>>() })).into_response())
}
