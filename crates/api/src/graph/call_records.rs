//! `communications/callRecords`: list, get (with `$expand`), `sessions` and `participants_v2`.
//!
//! Paging state travels in sealed `$skiptoken`s: the list pages by the record's fixed `seq`
//! (assigned when the record is first stored), so a client walking the pages never sees a record
//! twice and never misses one, however many records arrive or change meanwhile.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use callhook_model::{CallRecord, Participant, Session};
use callhook_odata::{CmpOp, Preferences, SystemOption as Opt};
use callhook_store::{CallRecordQuery, Cmp, StoredCallRecord};

use super::{
    apply_select, collection, encode_query_value, encode_segment, ok_json, omit_nulls, page_size,
    preferences, query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

const RECORD_TYPE: &str = "microsoft.graph.callRecords.callRecord";
const SESSION_TYPE: &str = "microsoft.graph.callRecords.session";
const PARTICIPANT_TYPE: &str = "microsoft.graph.callRecords.participant";
pub const LIST_PAGE_MAX: u32 = 60;
/// Bytes of stored records on one list page, at most (one record always fits).
pub const LIST_PAGE_BYTES: usize = 4 * 1024 * 1024;
pub const SESSIONS_PAGE_MAX: u32 = 60;
pub const PARTICIPANTS_PAGE_MAX: u32 = 130;

/// Graph's message for a record that does not exist, no longer exists (30 days) or not yet.
pub const NOT_FOUND_MESSAGE: &str = "Could not find the requested call record. Records about calls or online meetings that started more than 30 days ago are not available.";

/// Properties `$select` accepts on a call record.
fn record_properties() -> Vec<&'static str> {
    CallRecord::PROPERTIES
        .iter()
        .copied()
        .filter(|p| *p != "sessions" && *p != "participants_v2")
        .collect()
}

/// The opaque state behind a `$skiptoken`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k")]
enum PageToken {
    #[serde(rename = "r")]
    Records {
        t: String,
        a: i64,
        f: Option<String>,
        s: Vec<String>,
        n: u32,
    },
    #[serde(rename = "s")]
    Sessions {
        t: String,
        r: String,
        o: usize,
        x: bool,
        s: Vec<String>,
        n: u32,
    },
    #[serde(rename = "p")]
    Participants {
        t: String,
        r: String,
        o: usize,
        s: Vec<String>,
        n: u32,
    },
}

fn open_token(state: &AppState, raw: &str, tenant: &str) -> GraphResult<PageToken> {
    let token: PageToken = super::open_skiptoken(state, raw)?;
    let owner = match &token {
        PageToken::Records { t, .. }
        | PageToken::Sessions { t, .. }
        | PageToken::Participants { t, .. } => t,
    };
    // A token from another tenant is as good as forged.
    if owner != tenant {
        return Err(super::invalid_skiptoken());
    }
    Ok(token)
}

fn cmp(op: CmpOp) -> GraphResult<Cmp> {
    Ok(match op {
        CmpOp::Lt => Cmp::Lt,
        CmpOp::Le => Cmp::Le,
        CmpOp::Gt => Cmp::Gt,
        CmpOp::Ge => Cmp::Ge,
        other => {
            return Err(GraphError::bad_request(format!(
                "Invalid filter clause: The operator '{}' is not supported on property 'startDateTime'.",
                other.keyword()
            )))
        }
    })
}

fn parse_record_filter(text: &str) -> GraphResult<callhook_odata::CallRecordFilter> {
    let expr = callhook_odata::parse_filter(text)
        .map_err(|e| GraphError::bad_request(format!("Invalid filter clause: {}", e.message())))?;
    callhook_odata::call_records_filter(&expr)
        .map_err(|e| GraphError::bad_request(format!("Invalid filter clause: {}", e.message())))
}

fn parse_select_for(
    text: Option<&str>,
    allowed: &[&str],
    type_name: &str,
) -> GraphResult<Vec<String>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => callhook_odata::parse_select(t, allowed, type_name).map_err(|e| {
            GraphError::bad_request(format!(
                "Parsing OData Select and Expand failed: {}",
                e.message()
            ))
        }),
    }
}

fn retention_cutoff(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(state.config.retention_days)
}

/// Loads a record of the caller's tenant that is still within retention.
async fn load_record(state: &AppState, tenant: &str, id: &str) -> GraphResult<StoredCallRecord> {
    if callhook_model::validate_id(id).is_err() {
        return Err(GraphError::bad_request(format!(
            "Invalid call record id '{}'.",
            id.escape_default()
        )));
    }
    let now = state.clock.now();
    match state.store.call_record(tenant, id).await? {
        Some(r) if r.start >= retention_cutoff(state, now) => Ok(r),
        _ => Err(GraphError::not_found(NOT_FOUND_MESSAGE)),
    }
}

fn parse_body(stored: &StoredCallRecord) -> GraphResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(&stored.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => {
            tracing::error!(id = %stored.id, "stored call record body is not a JSON object");
            Err(GraphError::internal())
        }
    }
}

/// Shared shaping of everything returned from a record: deprecated identities after their
/// cut-off, evolvable enum members, `omit-values=nulls`.
fn finish(state: &AppState, v: &mut Value, prefs: &Preferences, now: DateTime<Utc>) {
    if now >= state.config.legacy_identity_until {
        null_legacy_identities(v);
    }
    if !prefs.include_unknown_enum_members {
        callhook_model::hide_evolvable_members(v);
    }
    if prefs.omit_nulls {
        omit_nulls(v);
    }
}

/// [`finish`] for each item of a collection page.
fn finish_items(
    state: &AppState,
    mut items: Vec<Value>,
    prefs: &Preferences,
    now: DateTime<Utc>,
) -> Vec<Value> {
    items.iter_mut().for_each(|v| finish(state, v, prefs, now));
    items
}

/// Graph stopped filling `organizer`, `participants` and `participantEndpoint.identity`.
fn null_legacy_identities(v: &mut Value) {
    if let Value::Object(m) = v {
        for key in ["organizer", "participants"] {
            if let Some(x) = m.get_mut(key) {
                *x = Value::Null;
            }
        }
        for key in ["caller", "callee"] {
            if let Some(Value::Object(ep)) = m.get_mut(key) {
                if let Some(x) = ep.get_mut("identity") {
                    *x = Value::Null;
                }
            }
        }
        for key in ["sessions", "segments"] {
            if let Some(Value::Array(items)) = m.get_mut(key) {
                items.iter_mut().for_each(null_legacy_identities);
            }
        }
    }
}

/// What of a record's navigations to include inline.
#[derive(Default)]
struct Expansion {
    sessions: Option<SessionsExpansion>,
    participants: Option<Vec<String>>,
}

struct SessionsExpansion {
    segments: bool,
    select: Vec<String>,
}

struct RecordView<'a> {
    state: &'a AppState,
    tenant: &'a str,
    base: &'a str,
    version: ApiVersion,
    prefs: &'a Preferences,
    now: DateTime<Utc>,
}

impl RecordView<'_> {
    fn record_url(&self, id: &str) -> String {
        format!(
            "{}/{}/communications/callRecords/{}",
            self.base,
            self.version.as_str(),
            encode_segment(id)
        )
    }

    fn metadata(&self) -> String {
        format!("{}/{}/$metadata", self.base, self.version.as_str())
    }

    /// The record's own properties in Graph's order, with server-owned fields filled in and
    /// the auto-expanded `organizer_v2` (with its context) inline.
    fn entity(
        &self,
        stored: &StoredCallRecord,
        select: &[String],
        expansion: &Expansion,
    ) -> GraphResult<Value> {
        let body = parse_body(stored)?;
        let mut out = Map::new();
        for (k, v) in body {
            match k.as_str() {
                // Stored apart (empty here); expanded below when asked for.
                "sessions" | "participants_v2" => {}
                "version" => {
                    out.insert(k, Value::from(stored.version));
                }
                "lastModifiedDateTime" => {
                    out.insert(
                        k,
                        Value::String(callhook_model::format_date_time(&stored.last_modified)),
                    );
                }
                "organizer_v2" if !v.is_null() => {
                    out.insert(
                        "organizer_v2@odata.context".into(),
                        Value::String(format!(
                            "{}#communications/callRecords('{}')/organizer_v2/$entity",
                            self.metadata(),
                            encode_segment(&stored.id)
                        )),
                    );
                    out.insert(k, v);
                }
                _ => {
                    out.insert(k, v);
                }
            }
        }
        apply_select(&mut out, select);

        if let Some(p_select) = &expansion.participants {
            let all = parse_array(stored.participants.as_deref())?;
            let (n, _) = page_size(self.prefs, PARTICIPANTS_PAGE_MAX, None);
            let (page, more) = page_of(all, 0, n as usize);
            if more {
                let token = PageToken::Participants {
                    t: self.tenant.to_string(),
                    r: stored.id.clone(),
                    o: n as usize,
                    s: p_select.clone(),
                    n,
                };
                out.insert(
                    "participants_v2@odata.nextLink".into(),
                    Value::String(self.participants_link(stored, token)),
                );
            }
            out.insert(
                "participants_v2".into(),
                Value::Array(select_each(page, p_select)),
            );
        }
        if let Some(sx) = &expansion.sessions {
            let all = parse_array(stored.sessions.as_deref())?;
            let (n, _) = page_size(self.prefs, SESSIONS_PAGE_MAX, None);
            let (page, more) = page_of(all, 0, n as usize);
            out.insert("sessions".into(), Value::Array(shape_sessions(page, sx)));
            if more {
                let token = PageToken::Sessions {
                    t: self.tenant.to_string(),
                    r: stored.id.clone(),
                    o: n as usize,
                    x: sx.segments,
                    s: sx.select.clone(),
                    n,
                };
                out.insert(
                    "sessions@odata.nextLink".into(),
                    Value::String(self.sessions_link(stored, token, sx.segments)),
                );
            }
        }
        let mut v = Value::Object(out);
        finish(self.state, &mut v, self.prefs, self.now);
        Ok(v)
    }

    fn sessions_link(&self, stored: &StoredCallRecord, token: PageToken, segments: bool) -> String {
        let expand = if segments { "$expand=segments&" } else { "" };
        format!(
            "{}/sessions?{expand}$skiptoken={}",
            self.record_url(&stored.id),
            encode_query_value(&super::seal_skiptoken(self.state, &token))
        )
    }

    fn participants_link(&self, stored: &StoredCallRecord, token: PageToken) -> String {
        format!(
            "{}/participants_v2?$skiptoken={}",
            self.record_url(&stored.id),
            encode_query_value(&super::seal_skiptoken(self.state, &token))
        )
    }
}

/// A stored navigation array (`sessions` or `participants_v2`).
fn parse_array(text: Option<&str>) -> GraphResult<Vec<Value>> {
    match text.map(serde_json::from_str::<Value>) {
        None => Ok(Vec::new()),
        Some(Ok(Value::Array(a))) => Ok(a),
        Some(_) => {
            tracing::error!("stored call record navigation is not a JSON array");
            Err(GraphError::internal())
        }
    }
}

/// `items[offset..offset+n]` and whether more follow.
fn page_of(items: Vec<Value>, offset: usize, n: usize) -> (Vec<Value>, bool) {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(n).collect();
    (page, offset.saturating_add(n) < total)
}

fn select_each(items: Vec<Value>, select: &[String]) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut v| {
            if let Value::Object(m) = &mut v {
                apply_select(m, select);
            }
            v
        })
        .collect()
}

fn shape_sessions(items: Vec<Value>, sx: &SessionsExpansion) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut v| {
            if let Value::Object(m) = &mut v {
                if !sx.segments {
                    m.remove("segments");
                }
                let mut select = sx.select.clone();
                if sx.segments && !select.is_empty() {
                    select.push("segments".into());
                }
                apply_select(m, &select);
            }
            v
        })
        .collect()
}

fn view<'a>(
    state: &'a AppState,
    caller: &'a Caller,
    base: &'a str,
    version: ApiVersion,
    prefs: &'a Preferences,
) -> RecordView<'a> {
    RecordView {
        state,
        tenant: &caller.tenant_id,
        base,
        version,
        prefs,
        now: state.clock.now(),
    }
}

/// `GET communications/callRecords`
pub async fn list(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    permissions::require(&caller, &permissions::CALL_RECORDS)?;
    let q = query_options(raw.as_deref(), &[Opt::Filter, Opt::Select, Opt::SkipToken])?;
    let prefs = preferences(&headers);
    let (after, filter_text, select, token_size) = match q.get(Opt::SkipToken) {
        Some(raw_token) => match open_token(&state, raw_token, &caller.tenant_id)? {
            PageToken::Records { a, f, s, n, .. } => (Some(a), f, s, Some(n)),
            _ => return Err(super::invalid_skiptoken()),
        },
        None => {
            let select = parse_select_for(q.get(Opt::Select), &record_properties(), RECORD_TYPE)?;
            (None, q.get(Opt::Filter).map(str::to_string), select, None)
        }
    };
    let filter = match &filter_text {
        Some(text) => Some(parse_record_filter(text)?),
        None => None,
    };
    let (n, applied) = page_size(&prefs, LIST_PAGE_MAX, token_size);
    let prefs = applied;

    let now = state.clock.now();
    let mut start = vec![(Cmp::Ge, retention_cutoff(&state, now))];
    let mut participant_ids = Vec::new();
    if let Some(f) = &filter {
        for (op, at) in &f.start_bounds {
            start.push((cmp(*op)?, *at));
        }
        participant_ids = f.participant_ids.clone();
    }
    let mut rows = state
        .store
        .list_call_records(&CallRecordQuery {
            tenant_id: caller.tenant_id.clone(),
            after_seq: after,
            start,
            participant_ids,
            limit: n + 1,
        })
        .await?;
    // A page also ends once its records' bytes reach LIST_PAGE_BYTES (at least one record):
    // large records make shorter pages, each with its nextLink, as OData's server-driven
    // paging allows.
    let mut take = 0;
    let mut bytes = 0;
    for r in rows.iter().take(n as usize) {
        if take > 0 && bytes + r.body.len() > LIST_PAGE_BYTES {
            break;
        }
        bytes += r.body.len();
        take += 1;
    }
    let more = rows.len() > take;
    let base = state.base_url(&headers);
    let v = view(&state, &caller, &base, version, &prefs);
    let mut value = Vec::with_capacity(take);
    for r in rows.iter().take(take) {
        value.push(v.entity(r, &select, &Expansion::default())?);
    }
    // The rows past the page are not needed any more.
    rows.truncate(take);
    let next = match (more, rows.get(take.saturating_sub(1))) {
        (true, Some(last)) => {
            let token = PageToken::Records {
                t: caller.tenant_id.clone(),
                a: last.seq,
                f: filter_text,
                s: select.clone(),
                n,
            };
            Some(format!(
                "{base}/{}/communications/callRecords?$skiptoken={}",
                version.as_str(),
                encode_query_value(&super::seal_skiptoken(&state, &token))
            ))
        }
        _ => None,
    };
    let context = format!(
        "{}#communications/callRecords{}",
        v.metadata(),
        select_suffix(&select)
    );
    Ok(ok_json(&collection(context, value, next), &prefs))
}

fn select_suffix(select: &[String]) -> String {
    if select.is_empty() {
        String::new()
    } else {
        format!("({})", select.join(","))
    }
}

/// Reads `$expand` of Get callRecord into an [`Expansion`], with Graph's error for anything else.
fn parse_record_expand(text: Option<&str>) -> GraphResult<Expansion> {
    let mut out = Expansion::default();
    let Some(text) = text else { return Ok(out) };
    let items = callhook_odata::parse_expand(text).map_err(|e| {
        GraphError::bad_request(format!(
            "Parsing OData Select and Expand failed: {}",
            e.message()
        ))
    })?;
    let unknown = |name: &str, ty: &str| {
        GraphError::bad_request(format!(
            "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{ty}'."
        ))
    };
    for item in items {
        match item.path.as_str() {
            "sessions" => {
                let select = match &item.select {
                    Some(s) => {
                        callhook_odata::check_properties(s, Session::PROPERTIES, SESSION_TYPE)
                            .map_err(bad_select)?;
                        s.clone()
                    }
                    None => Vec::new(),
                };
                let mut segments = false;
                for nested in &item.expand {
                    if nested.path == "segments" {
                        segments = true;
                    } else {
                        return Err(unknown(&nested.path, SESSION_TYPE));
                    }
                }
                out.sessions = Some(SessionsExpansion { segments, select });
            }
            "participants_v2" => {
                if let Some(nested) = item.expand.first() {
                    return Err(unknown(&nested.path, PARTICIPANT_TYPE));
                }
                let select = match &item.select {
                    Some(s) => {
                        callhook_odata::check_properties(
                            s,
                            Participant::PROPERTIES,
                            PARTICIPANT_TYPE,
                        )
                        .map_err(bad_select)?;
                        s.clone()
                    }
                    None => Vec::new(),
                };
                out.participants = Some(select);
            }
            // Auto-expanded anyway.
            "organizer_v2" => {}
            other => return Err(unknown(other, RECORD_TYPE)),
        }
    }
    Ok(out)
}

fn bad_select(e: callhook_odata::Error) -> GraphError {
    GraphError::bad_request(format!(
        "Parsing OData Select and Expand failed: {}",
        e.message()
    ))
}

fn expand_suffix(select: &[String], ex: &Expansion) -> String {
    let mut parts: Vec<String> = select.to_vec();
    if let Some(p) = &ex.participants {
        parts.push(format!("participants_v2({})", p.join(",")));
    }
    if let Some(s) = &ex.sessions {
        let mut inner = s.select.clone();
        if s.segments {
            inner.push("segments()".into());
        }
        parts.push(format!("sessions({})", inner.join(",")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(","))
    }
}

/// `GET communications/callRecords/{id}`, or a report function in the same position.
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    if segment.contains('(') {
        return super::reports::call(state, version, caller, segment, headers, raw).await;
    }
    permissions::require(&caller, &permissions::CALL_RECORDS)?;
    let q = query_options(raw.as_deref(), &[Opt::Select, Opt::Expand])?;
    let prefs = preferences(&headers);
    let select = parse_select_for(q.get(Opt::Select), &record_properties(), RECORD_TYPE)?;
    let expansion = parse_record_expand(q.get(Opt::Expand))?;
    let stored = load_record(&state, &caller.tenant_id, &segment).await?;
    let base = state.base_url(&headers);
    let v = view(&state, &caller, &base, version, &prefs);
    let mut entity = v.entity(&stored, &select, &expansion)?;
    if let Value::Object(m) = &mut entity {
        let context = format!(
            "{}#communications/callRecords{}/$entity",
            v.metadata(),
            expand_suffix(&select, &expansion)
        );
        let mut out = Map::new();
        out.insert("@odata.context".into(), Value::String(context));
        out.extend(std::mem::take(m));
        entity = Value::Object(out);
    }
    let mut applied = prefs;
    applied.max_page_size = applied
        .max_page_size
        .filter(|_| expansion.sessions.is_some() || expansion.participants.is_some());
    Ok(ok_json(&entity, &applied))
}

/// `GET communications/callRecords/{id}/sessions`
pub async fn sessions(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    permissions::require(&caller, &permissions::CALL_RECORDS)?;
    let q = query_options(raw.as_deref(), &[Opt::Select, Opt::Expand, Opt::SkipToken])?;
    let prefs = preferences(&headers);
    let (offset, segments, select, token_size) = match q.get(Opt::SkipToken) {
        Some(t) => match open_token(&state, t, &caller.tenant_id)? {
            PageToken::Sessions { r, o, x, s, n, .. } if r == id => (o, x, s, Some(n)),
            _ => return Err(super::invalid_skiptoken()),
        },
        None => {
            let select = parse_select_for(q.get(Opt::Select), Session::PROPERTIES, SESSION_TYPE)?;
            let segments = match q.get(Opt::Expand) {
                None => false,
                Some(text) => {
                    let items = callhook_odata::parse_expand(text).map_err(bad_select)?;
                    for item in &items {
                        if item.path != "segments" {
                            return Err(GraphError::bad_request(format!(
                                "Parsing OData Select and Expand failed: Could not find a property named '{}' on type '{SESSION_TYPE}'.",
                                item.path
                            )));
                        }
                    }
                    !items.is_empty()
                }
            };
            (0, segments, select, None)
        }
    };
    let stored = load_record(&state, &caller.tenant_id, &id).await?;
    let (n, applied) = page_size(&prefs, SESSIONS_PAGE_MAX, token_size);
    let (page, more) = page_of(parse_array(stored.sessions.as_deref())?, offset, n as usize);
    let base = state.base_url(&headers);
    let v = view(&state, &caller, &base, version, &prefs);
    let sx = SessionsExpansion {
        segments,
        select: select.clone(),
    };
    let items = finish_items(&state, shape_sessions(page, &sx), &prefs, v.now);
    let next = more.then(|| {
        let token = PageToken::Sessions {
            t: caller.tenant_id.clone(),
            r: id.clone(),
            o: offset + n as usize,
            x: segments,
            s: select.clone(),
            n,
        };
        v.sessions_link(&stored, token, segments)
    });
    let context = format!(
        "{}#communications/callRecords('{}')/sessions{}",
        v.metadata(),
        encode_segment(&id),
        select_suffix(&select)
    );
    Ok(ok_json(&collection(context, items, next), &applied))
}

/// `GET communications/callRecords/{id}/organizer_v2`
pub async fn organizer(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    permissions::require(&caller, &permissions::CALL_RECORDS)?;
    let q = query_options(raw.as_deref(), &[Opt::Select])?;
    let prefs = preferences(&headers);
    let select = parse_select_for(
        q.get(Opt::Select),
        Participant::PROPERTIES,
        "microsoft.graph.callRecords.organizer",
    )?;
    let stored = load_record(&state, &caller.tenant_id, &id).await?;
    let mut organizer = match parse_body(&stored)?.remove("organizer_v2") {
        Some(Value::Object(m)) => m,
        _ => return Err(GraphError::not_found("The call record has no organizer.")),
    };
    apply_select(&mut organizer, &select);
    let base = state.base_url(&headers);
    let v = view(&state, &caller, &base, version, &prefs);
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}#communications/callRecords('{}')/organizer_v2{}/$entity",
            v.metadata(),
            encode_segment(&id),
            select_suffix(&select)
        )),
    );
    out.extend(organizer);
    let mut body = Value::Object(out);
    finish(&state, &mut body, &prefs, v.now);
    Ok(ok_json(&body, &prefs))
}

/// `GET communications/callRecords/{id}/participants_v2`
pub async fn participants(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    permissions::require(&caller, &permissions::CALL_RECORDS)?;
    let q = query_options(raw.as_deref(), &[Opt::Select, Opt::SkipToken])?;
    let prefs = preferences(&headers);
    let (offset, select, token_size) = match q.get(Opt::SkipToken) {
        Some(t) => match open_token(&state, t, &caller.tenant_id)? {
            PageToken::Participants { r, o, s, n, .. } if r == id => (o, s, Some(n)),
            _ => return Err(super::invalid_skiptoken()),
        },
        None => (
            0,
            parse_select_for(
                q.get(Opt::Select),
                Participant::PROPERTIES,
                PARTICIPANT_TYPE,
            )?,
            None,
        ),
    };
    let stored = load_record(&state, &caller.tenant_id, &id).await?;
    let (n, applied) = page_size(&prefs, PARTICIPANTS_PAGE_MAX, token_size);
    let (page, more) = page_of(
        parse_array(stored.participants.as_deref())?,
        offset,
        n as usize,
    );
    let base = state.base_url(&headers);
    let v = view(&state, &caller, &base, version, &prefs);
    let items = finish_items(&state, select_each(page, &select), &prefs, v.now);
    let next = more.then(|| {
        let token = PageToken::Participants {
            t: caller.tenant_id.clone(),
            r: id.clone(),
            o: offset + n as usize,
            s: select.clone(),
            n,
        };
        v.participants_link(&stored, token)
    });
    let context = format!(
        "{}#communications/callRecords('{}')/participants_v2{}",
        v.metadata(),
        encode_segment(&id),
        select_suffix(&select)
    );
    Ok(ok_json(&collection(context, items, next), &applied))
}
