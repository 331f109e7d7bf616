//! Call events (beta), read back where their notifications name them:
//! `users/{id}/communications/callEvents` (and `…/{eventId}`), and
//! `communications/onlineMeetings(joinWebUrl='…')/meetingCallEvents`. Each event is served in
//! Graph's `callEvent` shape (ingest-only properties removed), in arrival order.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use callhook_model::CallEvent;
use callhook_odata::SystemOption as Opt;
use callhook_store::{CallEventQuery, StoredCallEvent};

use super::{
    collection, encode_query_value, encode_segment, ok_json, omit_nulls, page_size, preferences,
    query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

const MAX_PAGE: u32 = 100;

/// Which feed a request reads.
enum Feed {
    User(String),
    Meeting(String),
}

impl Feed {
    fn query(&self, tenant: &str, after_seq: Option<i64>, limit: u32) -> CallEventQuery {
        let (user_id, join_web_url) = match self {
            Feed::User(u) => (Some(u.clone()), None),
            Feed::Meeting(j) => (None, Some(j.clone())),
        };
        CallEventQuery {
            tenant_id: tenant.to_string(),
            user_id,
            join_web_url,
            after_seq,
            limit,
            ..CallEventQuery::default()
        }
    }

    /// The feed's path under the version, as links and contexts name it.
    fn path(&self) -> String {
        match self {
            Feed::User(u) => format!("users/{}/communications/callEvents", encode_segment(u)),
            Feed::Meeting(j) => format!(
                "communications/onlineMeetings(joinWebUrl='{}')/meetingCallEvents",
                encode_segment(&j.replace('\'', "''"))
            ),
        }
    }

    fn context_path(&self) -> String {
        match self {
            Feed::User(u) => format!("users('{}')/communications/callEvents", encode_segment(u)),
            Feed::Meeting(_) => "communications/onlineMeetings/meetingCallEvents".to_string(),
        }
    }

    fn requirement(&self) -> &'static permissions::Requirement {
        match self {
            Feed::User(_) => &permissions::USER_CALL_EVENTS,
            Feed::Meeting(_) => &permissions::MEETING_CALL_EVENTS,
        }
    }
}

/// Call events are a beta resource: on v1.0 Graph knows no such segment.
fn beta_only(version: ApiVersion, segment: &str) -> GraphResult<()> {
    if version.is_beta() {
        Ok(())
    } else {
        Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{segment}'."
        )))
    }
}

/// An event as Graph serves it.
fn entity(e: &StoredCallEvent) -> GraphResult<Map<String, Value>> {
    let mut m = match serde_json::from_str(&e.body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(GraphError::internal()),
    };
    for name in CallEvent::INGEST_ONLY {
        m.remove(*name);
    }
    m.insert("id".into(), Value::String(e.id.clone()));
    Ok(m)
}

#[derive(Serialize, Deserialize)]
struct PageToken {
    /// Tenant the token was issued to.
    t: String,
    /// The feed (user id or join URL) it pages.
    f: String,
    /// Last `seq` served.
    s: i64,
    n: u32,
}

async fn list_feed(
    state: AppState,
    version: ApiVersion,
    caller: Caller,
    feed: Feed,
    headers: HeaderMap,
    raw: Option<String>,
) -> GraphResult<Response> {
    permissions::require(&caller, feed.requirement())?;
    let q = query_options(raw.as_deref(), &[Opt::SkipToken])?;
    let feed_key = match &feed {
        Feed::User(u) | Feed::Meeting(u) => u.clone(),
    };
    let token: Option<PageToken> = match q.get(Opt::SkipToken) {
        Some(raw) => {
            let t: PageToken = super::open_skiptoken(&state, raw)?;
            if t.t != caller.tenant_id || t.f != feed_key {
                return Err(super::invalid_skiptoken());
            }
            Some(t)
        }
        None => None,
    };
    let prefs = preferences(&headers);
    let (n, applied) = page_size(&prefs, MAX_PAGE, token.as_ref().map(|t| t.n));
    let mut events = state
        .store
        .call_events(&feed.query(&caller.tenant_id, token.map(|t| t.s), n + 1))
        .await?;
    let more = events.len() > n as usize;
    events.truncate(n as usize);
    let base = state.base_url(&headers);
    let next = match (more, events.last()) {
        (true, Some(last)) => Some(format!(
            "{base}/{}/{}?$skiptoken={}",
            version.as_str(),
            feed.path(),
            encode_query_value(&super::seal_skiptoken(
                &state,
                &PageToken {
                    t: caller.tenant_id.clone(),
                    f: feed_key,
                    s: last.seq,
                    n,
                },
            ))
        )),
        _ => None,
    };
    let mut value = Vec::with_capacity(events.len());
    for e in &events {
        let mut v = Value::Object(entity(e)?);
        if prefs.omit_nulls {
            omit_nulls(&mut v);
        }
        value.push(v);
    }
    let context = format!(
        "{base}/{}/$metadata#{}",
        version.as_str(),
        feed.context_path()
    );
    Ok(ok_json(&collection(context, value, next), &applied))
}

/// `GET users/{userId}/communications/callEvents`
pub async fn list_user(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(user): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    beta_only(version, "callEvents")?;
    list_feed(state, version, caller, Feed::User(user), headers, raw).await
}

/// `GET users/{userId}/communications/callEvents/{eventId}`
pub async fn get_user(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((user, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    beta_only(version, "callEvents")?;
    let feed = Feed::User(user.clone());
    permissions::require(&caller, feed.requirement())?;
    query_options(raw.as_deref(), &[])?;
    // The store reads a feed in order; a user's feed is short-lived (1-day subscriptions).
    let mut after = None;
    let found = loop {
        let page = state
            .store
            .call_events(&feed.query(&caller.tenant_id, after, 1000))
            .await?;
        if let Some(e) = page.iter().find(|e| e.id == id) {
            break Some(e.clone());
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.seq),
            _ => break None,
        }
    };
    let Some(event) = found else {
        return Err(GraphError::not_found(format!(
            "The callEvent '{id}' was not found."
        )));
    };
    let prefs = preferences(&headers);
    let base = state.base_url(&headers);
    let context = format!(
        "{base}/{}/$metadata#{}/$entity",
        version.as_str(),
        feed.context_path()
    );
    Ok(super::entity_json(context, entity(&event)?, &prefs))
}

/// `GET communications/onlineMeetings(joinWebUrl='{joinWebUrl}')/meetingCallEvents`
pub async fn list_meeting(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    let name = segment.split('(').next().unwrap_or(&segment);
    if !name.eq_ignore_ascii_case("onlineMeetings") || !segment.contains('(') {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{name}'."
        )));
    }
    beta_only(version, "meetingCallEvents")?;
    let call = callhook_odata::parse_function_call(&segment).map_err(super::bad_query)?;
    call.check_params(&["joinWebUrl"])
        .map_err(super::bad_query)?;
    let join = call
        .param("joinWebUrl")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| GraphError::bad_request("The joinWebUrl key is required."))?;
    list_feed(
        state,
        version,
        caller,
        Feed::Meeting(join.to_string()),
        headers,
        raw,
    )
    .await
}
