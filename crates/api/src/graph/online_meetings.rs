//! `users/{userId}/onlineMeetings`: get a meeting by id, find one by `JoinWebUrl`, and the
//! `getAllTranscripts` / `getAllRecordings` functions bound to the collection (served by
//! [`super::artifacts`]).

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::{Map, Value};

use callhook_model::OnlineMeeting;
use callhook_odata::{ExprKind, Literal, SystemOption as Opt};
use callhook_store::{ArtifactParent, StoredOnlineMeeting};

use super::artifacts::{function_kind, get_all, parent_not_found};
use super::{
    apply_select, encode_segment, ok_json, omit_nulls, preferences, query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

const MEETING_TYPE: &str = "microsoft.graph.onlineMeeting";

/// Delegated callers may read only the meetings under their own `/users/{id}`.
fn require_meetings(caller: &Caller, user: &str) -> GraphResult<()> {
    permissions::require(caller, &permissions::ONLINE_MEETINGS)?;
    permissions::require_own(caller, user)
}

fn entity(stored: &StoredOnlineMeeting, select: &[String]) -> GraphResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(&stored.body) {
        Ok(Value::Object(mut m)) => {
            apply_select(&mut m, select);
            Ok(m)
        }
        _ => {
            tracing::error!(id = %stored.id, "stored online meeting body is not a JSON object");
            Err(GraphError::internal())
        }
    }
}

fn parse_select(text: Option<&str>) -> GraphResult<Vec<String>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => callhook_odata::parse_select(t, OnlineMeeting::PROPERTIES, MEETING_TYPE)
            .map_err(|e| {
                GraphError::bad_request(format!(
                    "Parsing OData Select and Expand failed: {}",
                    e.message()
                ))
            }),
    }
}

fn select_suffix(select: &[String]) -> String {
    if select.is_empty() {
        String::new()
    } else {
        format!("({})", select.join(","))
    }
}

/// `JoinWebUrl eq '{joinWebUrl}'` (property name in any case), the lookup Graph documents for
/// linking a call record to its meeting.
fn join_web_url_filter(text: &str) -> GraphResult<String> {
    let unsupported = || {
        GraphError::bad_request(
            "Invalid filter clause: only JoinWebUrl eq '{joinWebUrl}' is supported.",
        )
    };
    let expr = callhook_odata::parse_filter(text)
        .map_err(|e| GraphError::bad_request(format!("Invalid filter clause: {}", e.message())))?;
    let ExprKind::Compare {
        op: callhook_odata::CmpOp::Eq,
        left,
        right,
    } = expr.kind
    else {
        return Err(unsupported());
    };
    match (left.kind, right.kind) {
        (ExprKind::Member(path), ExprKind::Literal(Literal::String(url)))
            if path.len() == 1 && path[0].name.eq_ignore_ascii_case("joinWebUrl") =>
        {
            Ok(url)
        }
        _ => Err(unsupported()),
    }
}

/// `GET users/{userId}/onlineMeetings?$filter=JoinWebUrl eq '…'`: a collection of the meetings
/// with that join URL that the user organizes or attends (one, in practice).
pub async fn list(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    require_meetings(&caller, &user)?;
    let q = query_options(raw.as_deref(), &[Opt::Filter, Opt::Select])?;
    let url = match q.get(Opt::Filter) {
        Some(f) => join_web_url_filter(f)?,
        None => {
            return Err(GraphError::bad_request(
                "Listing online meetings requires $filter=JoinWebUrl eq '{joinWebUrl}'.",
            ))
        }
    };
    let select = parse_select(q.get(Opt::Select))?;
    let prefs = preferences(&headers);
    let mut value = Vec::new();
    for m in state
        .store
        .online_meetings_by_join_url(&caller.tenant_id, &url)
        .await?
    {
        if m.organizer_id == user || m.user_ids.contains(&user) {
            let mut v = Value::Object(entity(&m, &select)?);
            if prefs.omit_nulls {
                omit_nulls(&mut v);
            }
            value.push(v);
        }
    }
    let base = state.base_url(&headers);
    let context = format!(
        "{base}/{}/$metadata#users('{}')/onlineMeetings{}",
        version.as_str(),
        encode_segment(&user),
        select_suffix(&select)
    );
    Ok(ok_json(&super::collection(context, value, None), &prefs))
}

/// `GET users/{userId}/onlineMeetings/{meetingId}`, or a getAll function in that position.
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((user, segment)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    if function_kind(&segment).is_some() {
        return get_all(
            state,
            version,
            caller,
            Some(user),
            ArtifactParent::OnlineMeeting,
            segment,
            false,
            headers,
            raw,
        )
        .await;
    }
    require_meetings(&caller, &user)?;
    let q = query_options(raw.as_deref(), &[Opt::Select])?;
    let select = parse_select(q.get(Opt::Select))?;
    let prefs = preferences(&headers);
    if callhook_model::validate_artifact_id(&segment).is_err() {
        return Err(parent_not_found(ArtifactParent::OnlineMeeting));
    }
    let stored = match state
        .store
        .online_meeting(&caller.tenant_id, &segment)
        .await?
    {
        // Graph serves a meeting through its organizer.
        Some(m) if m.organizer_id == user => m,
        _ => return Err(parent_not_found(ArtifactParent::OnlineMeeting)),
    };
    let base = state.base_url(&headers);
    let context = format!(
        "{base}/{}/$metadata#users('{}')/onlineMeetings{}/$entity",
        version.as_str(),
        encode_segment(&user),
        select_suffix(&select)
    );
    Ok(super::entity_json(
        context,
        entity(&stored, &select)?,
        &prefs,
    ))
}

/// `GET users/{userId}/onlineMeetings/{function}/delta`
pub async fn delta(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((user, segment)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    get_all(
        state,
        version,
        caller,
        Some(user),
        ArtifactParent::OnlineMeeting,
        segment,
        true,
        headers,
        raw,
    )
    .await
}
