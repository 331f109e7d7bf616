//! Ingest of emergency calling: a tenant's emergency policies and the emergency call events
//! that notify `communications/calls/getEmergencyEventsByPolicy(policyName='…')`.
//!
//! - `PUT …/emergencyPolicies/{name}`: the policy's dial strings (its emergency numbers)
//! - `POST …/emergencyCallEvents` with `{"value":[emergencyCallEvent, …]}`
//!
//! An event names its policy (`policyName`) or is given the one whose dial strings hold the
//! number dialled; either way its number must be one of that policy's. Events are stored and
//! notified as call events of the policy's feed (`put_call_events`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use callhook_model::{EmergencyCallEvent, EmergencyPolicy, GraphType};
use callhook_store::{CallEventWrite, EmergencyPolicyRow};

use super::meetings::{status_for, store_call_events, to_text, MAX_CALL_EVENTS};
use super::{body_with_path_key, json_body, model_error, parse_batch, require_tenant};
use crate::error::{GraphError, GraphResult};
use crate::AppState;

/// Longest policy name, in characters (Teams policy identities are short names).
const MAX_POLICY_NAME: usize = 256;
/// Dial strings per policy.
const MAX_DIAL_STRINGS: usize = 50;

/// A dial string: digits (and `*`, `#`, a leading `+`), 1 to 15 characters.
fn check_dial_string(s: &str) -> Result<(), String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || s.chars().count() > 15 {
        return Err("must be 1 to 15 characters".into());
    }
    if !digits
        .chars()
        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err("only digits, '*', '#' and a leading '+' are allowed".into());
    }
    Ok(())
}

fn check_policy_name(name: &str, at: &str) -> GraphResult<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_POLICY_NAME {
        return Err(GraphError::bad_request(format!(
            "{at}: a policy name is 1 to {MAX_POLICY_NAME} characters, not blank"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(GraphError::bad_request(format!(
            "{at}: control characters are not allowed"
        )));
    }
    Ok(())
}

/// `PUT /ingest/v1/tenants/{tenant}/emergencyPolicies/{name}`
pub async fn put_policy(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    require_tenant(&state, &tenant).await?;
    check_policy_name(&name, "name (path)")?;
    let bytes = json_body(&state, &headers, body)?;
    let doc = body_with_path_key(&bytes, "name", &name)?;
    let policy = EmergencyPolicy::from_graph_value(doc).map_err(model_error)?;
    if policy.dial_strings.is_empty() || policy.dial_strings.len() > MAX_DIAL_STRINGS {
        return Err(GraphError::bad_request(format!(
            "dialStrings: a policy has 1 to {MAX_DIAL_STRINGS} dial strings"
        )));
    }
    for (i, d) in policy.dial_strings.iter().enumerate() {
        check_dial_string(d)
            .map_err(|m| GraphError::bad_request(format!("dialStrings[{i}]: {m}")))?;
    }
    let row = EmergencyPolicyRow {
        name: name.clone(),
        body: to_text(&policy.to_graph_value())?,
    };
    let created = state.store.put_emergency_policy(&tenant, &row).await?;
    Ok((
        status_for(created),
        Json(json!({ "name": name, "created": created })),
    )
        .into_response())
}

/// `POST /ingest/v1/tenants/{tenant}/emergencyCallEvents` with `{"value": [emergencyCallEvent, ...]}`
pub async fn post_events(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let events: Vec<EmergencyCallEvent> = parse_batch(
        &state,
        &tenant,
        &headers,
        body,
        MAX_CALL_EVENTS,
        "emergency call events",
    )
    .await?;
    let policies = policies(&state, &tenant).await?;
    let mut writes = Vec::with_capacity(events.len());
    for (i, mut e) in events.into_iter().enumerate() {
        let dialled = e.emergency_number_dialed.as_str();
        let policy = match e.policy_name.as_deref() {
            Some(name) => policies
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "value[{i}].policyName: the tenant has no emergency policy named '{}' (ingest it with PUT …/emergencyPolicies/{{name}})",
                        name.escape_default()
                    ))
                })?,
            None => policies
                .iter()
                .find(|(_, dials)| dials.iter().any(|d| d == dialled))
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "value[{i}].emergencyNumberDialed: no emergency policy of the tenant has the dial string '{}'",
                        dialled.escape_default()
                    ))
                })?,
        };
        if !policy.1.iter().any(|d| d == dialled) {
            return Err(GraphError::bad_request(format!(
                "value[{i}].emergencyNumberDialed: '{}' is not a dial string of emergency policy '{}'",
                dialled.escape_default(),
                policy.0.escape_default()
            )));
        }
        e.policy_name = Some(policy.0.clone());
        if let Some(t) = &e.caller_info.tenant_id {
            if t != &tenant {
                return Err(GraphError::bad_request(format!(
                    "value[{i}].callerInfo.tenantId: must be the tenant of the path"
                )));
            }
        }
        e.caller_info.tenant_id = Some(tenant.clone());
        let id =
            e.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
                .clone();
        writes.push(CallEventWrite {
            id,
            event_type: e.call_event_type.as_str().to_string(),
            event_time: e.event_date_time,
            user_id: None,
            join_web_url: None,
            call_id: None,
            policy_name: e.policy_name.clone(),
            body: to_text(&e.to_graph_value())?,
        });
    }
    let out = store_call_events(&state, &tenant, &writes).await?;
    let value: Vec<Value> = out
        .iter()
        .zip(&writes)
        .map(|(w, e)| json!({ "id": w.id, "created": w.created, "policyName": e.policy_name }))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

/// The tenant's policies as `(name, dial strings)`.
async fn policies(state: &AppState, tenant: &str) -> GraphResult<Vec<(String, Vec<String>)>> {
    let rows = state.store.emergency_policies(tenant).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let policy = serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|v| EmergencyPolicy::from_graph_value(v).ok())
            .ok_or_else(|| {
                tracing::error!(policy = %r.name, "stored emergency policy does not parse");
                GraphError::internal()
            })?;
        out.push((r.name, policy.dial_strings));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::check_dial_string;

    #[test]
    fn dial_strings_are_short_digit_strings() {
        for ok in ["911", "112", "+911", "*911", "933"] {
            assert!(check_dial_string(ok).is_ok(), "{ok}");
        }
        for bad in ["", "+", "9 1 1", "abc", "1234567890123456"] {
            assert!(check_dial_string(bad).is_err(), "{bad}");
        }
    }
}
