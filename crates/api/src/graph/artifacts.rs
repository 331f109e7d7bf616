//! Transcripts and recordings (`callTranscript`, `callRecording`) of online meetings and ad hoc
//! calls: list, get, `content`, `metadataContent`, and the `getAllTranscripts` /
//! `getAllRecordings` functions with their paging and delta rounds.
//!
//! One set of handlers serves the four collections
//! `users/{userId}/{onlineMeetings|adhocCalls}/{id}/{transcripts|recordings}`: which one is
//! read from the matched route. The user in the path must be the organizer of the meeting (or
//! the ad hoc call); anything else is a 404, as is any other tenant's artifact.

use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use callhook_model::{CallRecording, CallTranscript};
use callhook_odata::{ExprKind, Literal, Preferences, SystemOption as Opt};
use callhook_store::{
    ArtifactKey, ArtifactKind, ArtifactParent, ArtifactQuery, ArtifactStream, StoredArtifact,
};

use super::{
    apply_select, encode_query_value, encode_segment, ok_json, omit_nulls, preferences,
    query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions::{self, Requirement};
use crate::AppState;

/// Page size of the collections and of the getAll functions without `$top`.
pub const PAGE_SIZE: u32 = 100;
/// Largest `$top` of the getAll functions.
pub const MAX_TOP: u64 = 1000;

/// Which collection a request is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope {
    pub parent: ArtifactParent,
    pub kind: ArtifactKind,
}

impl Scope {
    fn of(matched: &MatchedPath) -> Self {
        let p = matched.as_str();
        Scope {
            parent: if p.contains("/adhocCalls/") {
                ArtifactParent::AdhocCall
            } else {
                ArtifactParent::OnlineMeeting
            },
            kind: if p.contains("/recordings") {
                ArtifactKind::Recording
            } else {
                ArtifactKind::Transcript
            },
        }
    }

    /// What Graph requires to read one meeting's or call's collection.
    fn requirement(self) -> Requirement {
        match (self.parent, self.kind) {
            (ArtifactParent::OnlineMeeting, ArtifactKind::Transcript) => {
                permissions::MEETING_TRANSCRIPTS
            }
            (ArtifactParent::OnlineMeeting, ArtifactKind::Recording) => {
                permissions::MEETING_RECORDINGS
            }
            (ArtifactParent::AdhocCall, ArtifactKind::Transcript) => {
                permissions::ADHOC_CALL_TRANSCRIPTS
            }
            (ArtifactParent::AdhocCall, ArtifactKind::Recording) => {
                permissions::ADHOC_CALL_RECORDINGS
            }
        }
    }

    /// What the tenant-wide getAll functions require (application only).
    fn get_all_requirement(self) -> Requirement {
        match (self.parent, self.kind) {
            (ArtifactParent::OnlineMeeting, ArtifactKind::Transcript) => {
                permissions::ALL_MEETING_TRANSCRIPTS
            }
            (ArtifactParent::OnlineMeeting, ArtifactKind::Recording) => {
                permissions::ALL_MEETING_RECORDINGS
            }
            (ArtifactParent::AdhocCall, ArtifactKind::Transcript) => {
                permissions::ALL_ADHOC_CALL_TRANSCRIPTS
            }
            (ArtifactParent::AdhocCall, ArtifactKind::Recording) => {
                permissions::ALL_ADHOC_CALL_RECORDINGS
            }
        }
    }

    /// The caller may read this collection of `parent_id` under `/users/{user}`: by permission,
    /// by resource-specific consent in that meeting, and for a user only under their own path.
    async fn authorize(
        self,
        state: &AppState,
        caller: &Caller,
        user: &str,
        parent_id: &str,
    ) -> GraphResult<()> {
        permissions::require_in(state, caller, &self.requirement(), parent_id).await?;
        permissions::require_own(caller, user)
    }

    fn parent_segment(self) -> &'static str {
        match self.parent {
            ArtifactParent::OnlineMeeting => "onlineMeetings",
            ArtifactParent::AdhocCall => "adhocCalls",
        }
    }

    fn collection(self) -> &'static str {
        match self.kind {
            ArtifactKind::Transcript => "transcripts",
            ArtifactKind::Recording => "recordings",
        }
    }

    fn type_name(self) -> &'static str {
        match self.kind {
            ArtifactKind::Transcript => "callTranscript",
            ArtifactKind::Recording => "callRecording",
        }
    }

    fn url_property(self) -> &'static str {
        match self.kind {
            ArtifactKind::Transcript => "transcriptContentUrl",
            ArtifactKind::Recording => "recordingContentUrl",
        }
    }

    fn properties(self) -> &'static [&'static str] {
        match self.kind {
            ArtifactKind::Transcript => CallTranscript::PROPERTIES,
            ArtifactKind::Recording => CallRecording::PROPERTIES,
        }
    }

    fn not_found(self) -> GraphError {
        GraphError::not_found(match self.kind {
            ArtifactKind::Transcript => "The requested transcript was not found.",
            ArtifactKind::Recording => "The requested recording was not found.",
        })
    }
}

/// Graph's 404 for a meeting (or ad hoc call) the user in the path does not organize, that does
/// not exist, or that belongs to another tenant: all look the same.
pub(super) fn parent_not_found(parent: ArtifactParent) -> GraphError {
    GraphError::not_found(match parent {
        ArtifactParent::OnlineMeeting => "The requested online meeting was not found.",
        ArtifactParent::AdhocCall => "The requested ad hoc call was not found.",
    })
}

/// Checks that `parent_id` exists in the caller's tenant and is organized by `user`.
async fn check_parent(
    state: &AppState,
    tenant: &str,
    parent: ArtifactParent,
    parent_id: &str,
    user: &str,
) -> GraphResult<()> {
    if callhook_model::validate_artifact_id(parent_id).is_err() {
        return Err(parent_not_found(parent));
    }
    let organizer = match parent {
        ArtifactParent::OnlineMeeting => state
            .store
            .online_meeting(tenant, parent_id)
            .await?
            .map(|m| m.organizer_id),
        ArtifactParent::AdhocCall => state
            .store
            .adhoc_call(tenant, parent_id)
            .await?
            .map(|c| c.organizer_id),
    };
    match organizer {
        Some(o) if o == user => Ok(()),
        _ => Err(parent_not_found(parent)),
    }
}

/// A published artifact of the caller's tenant under a meeting the path user organizes.
async fn load(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    (user, parent_id, id): (&str, &str, &str),
) -> GraphResult<StoredArtifact> {
    check_parent(state, &caller.tenant_id, scope.parent, parent_id, user).await?;
    if callhook_model::validate_artifact_id(id).is_err() {
        return Err(scope.not_found());
    }
    let key = ArtifactKey {
        kind: scope.kind,
        parent: scope.parent,
        parent_id: parent_id.to_string(),
        id: id.to_string(),
    };
    match state.store.artifact(&caller.tenant_id, &key).await? {
        Some(a) if a.is_published() => Ok(a),
        _ => Err(scope.not_found()),
    }
}

struct View<'a> {
    base: &'a str,
    version: ApiVersion,
    prefs: &'a Preferences,
}

impl View<'_> {
    fn root(&self) -> String {
        format!("{}/{}", self.base, self.version.as_str())
    }

    /// The artifact's own URL, `…/users/{organizer}/{parent}/{parentId}/{collection}/{id}`.
    fn artifact_url(&self, scope: Scope, a: &StoredArtifact) -> String {
        format!(
            "{}/users/{}/{}/{}/{}/{}",
            self.root(),
            encode_segment(&a.organizer_id),
            scope.parent_segment(),
            encode_segment(&a.key.parent_id),
            scope.collection(),
            encode_segment(&a.key.id)
        )
    }

    /// The stored metadata with the content URL filled in, `$select` applied.
    fn entity(
        &self,
        scope: Scope,
        a: &StoredArtifact,
        select: &[String],
    ) -> GraphResult<Map<String, Value>> {
        let mut m = match serde_json::from_str::<Value>(&a.body) {
            Ok(Value::Object(m)) => m,
            _ => {
                tracing::error!(id = %a.key.id, "stored artifact body is not a JSON object");
                return Err(GraphError::internal());
            }
        };
        if let Some(slot) = m.get_mut(scope.url_property()) {
            *slot = Value::String(format!("{}/content", self.artifact_url(scope, a)));
        }
        apply_select(&mut m, select);
        Ok(m)
    }

    fn finish(&self, mut v: Value) -> Value {
        if self.prefs.omit_nulls {
            omit_nulls(&mut v);
        }
        v
    }
}

fn parse_select(scope: Scope, text: Option<&str>) -> GraphResult<Vec<String>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => callhook_odata::parse_select(
            t,
            scope.properties(),
            &format!("microsoft.graph.{}", scope.type_name()),
        )
        .map_err(|e| {
            GraphError::bad_request(format!(
                "Parsing OData Select and Expand failed: {}",
                e.message()
            ))
        }),
    }
}

/// The paging (and delta) state behind a `skipToken` / `deltaToken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    /// Tenant the token was issued to.
    t: String,
    k: ArtifactKind,
    p: ArtifactParent,
    /// Meeting or call id (collection lists).
    m: Option<String>,
    /// Organizer (getAll functions).
    o: Option<String>,
    /// `contentCorrelationId` filter.
    c: Option<String>,
    f: Option<DateTime<Utc>>,
    e: Option<DateTime<Utc>>,
    /// Last publication `seq` returned.
    a: Option<i64>,
    n: u32,
    /// Part of a delta round: the last page carries `@odata.deltaLink`.
    d: bool,
}

impl Cursor {
    fn query(&self) -> ArtifactQuery {
        ArtifactQuery {
            parent_id: self.m.clone(),
            organizer_id: self.o.clone(),
            content_correlation_id: self.c.clone(),
            created_from: self.f,
            created_to: self.e,
            after_seq: self.a,
            ..ArtifactQuery::new(&self.t, self.k, self.p, self.n + 1)
        }
    }
}

fn open_cursor(state: &AppState, raw: &str, caller: &Caller, scope: Scope) -> GraphResult<Cursor> {
    let c: Cursor = super::open_skiptoken(state, raw)?;
    // A token of another tenant or collection is as good as forged.
    if c.t != caller.tenant_id || c.k != scope.kind || c.p != scope.parent {
        return Err(super::invalid_skiptoken());
    }
    Ok(c)
}

/// One page of `cursor`'s query: the items and the cursor of the next page, if any.
async fn page(
    state: &AppState,
    cursor: &Cursor,
) -> GraphResult<(Vec<StoredArtifact>, Option<Cursor>)> {
    let mut rows = state.store.list_artifacts(&cursor.query()).await?;
    let more = rows.len() > cursor.n as usize;
    rows.truncate(cursor.n as usize);
    let next = Cursor {
        a: rows.last().and_then(|r| r.seq).or(cursor.a),
        ..cursor.clone()
    };
    Ok((rows, more.then_some(next)))
}

/// `contentCorrelationId eq '…'`, the only `$filter` of the transcript list (Graph's Get
/// transcript page uses it to find a recording's transcript).
fn correlation_filter(text: &str) -> GraphResult<String> {
    let unsupported = || {
        GraphError::bad_request(
            "Invalid filter clause: only contentCorrelationId eq '{id}' is supported.",
        )
    };
    let expr = callhook_odata::parse_filter(text)
        .map_err(|e| GraphError::bad_request(format!("Invalid filter clause: {}", e.message())))?;
    match expr.kind {
        ExprKind::Compare {
            op: callhook_odata::CmpOp::Eq,
            left,
            right,
        } => match (left.kind, right.kind) {
            (ExprKind::Member(path), ExprKind::Literal(Literal::String(v)))
                if path.len() == 1 && path[0].name.eq_ignore_ascii_case("contentCorrelationId") =>
            {
                Ok(v)
            }
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

/// `GET users/{userId}/{onlineMeetings|adhocCalls}/{id}/{transcripts|recordings}`
pub async fn list(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    matched: MatchedPath,
    Path((user, parent_id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    let scope = Scope::of(&matched);
    scope.authorize(&state, &caller, &user, &parent_id).await?;
    let allowed: &[Opt] = match scope.kind {
        ArtifactKind::Transcript => &[Opt::Filter, Opt::SkipToken],
        ArtifactKind::Recording => &[Opt::SkipToken],
    };
    let q = query_options(raw.as_deref(), allowed)?;
    let prefs = preferences(&headers);
    let cursor = match q.get(Opt::SkipToken) {
        Some(t) => {
            let c = open_cursor(&state, t, &caller, scope)?;
            if c.m.as_deref() != Some(parent_id.as_str()) {
                return Err(super::invalid_skiptoken());
            }
            c
        }
        None => Cursor {
            t: caller.tenant_id.clone(),
            k: scope.kind,
            p: scope.parent,
            m: Some(parent_id.clone()),
            o: None,
            c: q.get(Opt::Filter).map(correlation_filter).transpose()?,
            f: None,
            e: None,
            a: None,
            n: PAGE_SIZE,
            d: false,
        },
    };
    check_parent(&state, &caller.tenant_id, scope.parent, &parent_id, &user).await?;
    let (rows, next) = page(&state, &cursor).await?;
    let base = state.base_url(&headers);
    let view = View {
        base: &base,
        version,
        prefs: &prefs,
    };
    let mut value = Vec::with_capacity(rows.len());
    for a in &rows {
        value.push(view.finish(Value::Object(view.entity(scope, a, &[])?)));
    }
    let collection_url = format!(
        "{}/users/{}/{}/{}/{}",
        view.root(),
        encode_segment(&user),
        scope.parent_segment(),
        encode_segment(&parent_id),
        scope.collection()
    );
    let next_link = next.map(|c| {
        format!(
            "{collection_url}?$skiptoken={}",
            encode_query_value(&super::seal_skiptoken(&state, &c))
        )
    });
    let context = format!(
        "{}/$metadata#users('{}')/{}('{}')/{}",
        view.root(),
        encode_segment(&user),
        scope.parent_segment(),
        encode_segment(&parent_id),
        scope.collection()
    );
    Ok(ok_json(
        &super::collection(context, value, next_link),
        &prefs,
    ))
}

/// `GET users/{userId}/{onlineMeetings|adhocCalls}/{id}/{transcripts|recordings}/{id}`
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    matched: MatchedPath,
    Path((user, parent_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    let scope = Scope::of(&matched);
    scope.authorize(&state, &caller, &user, &parent_id).await?;
    // Graph documents $select for transcripts and no query option for recordings.
    let allowed: &[Opt] = match scope.kind {
        ArtifactKind::Transcript => &[Opt::Select],
        ArtifactKind::Recording => &[],
    };
    let q = query_options(raw.as_deref(), allowed)?;
    let select = parse_select(scope, q.get(Opt::Select))?;
    let prefs = preferences(&headers);
    let a = load(&state, &caller, scope, (&user, &parent_id, &id)).await?;
    let base = state.base_url(&headers);
    let view = View {
        base: &base,
        version,
        prefs: &prefs,
    };
    let suffix = if select.is_empty() {
        String::new()
    } else {
        format!("({})", select.join(","))
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#users('{}')/{}('{}')/{}{suffix}/$entity",
            view.root(),
            encode_segment(&user),
            scope.parent_segment(),
            encode_segment(&parent_id),
            scope.collection()
        )),
    );
    out.extend(view.entity(scope, &a, &select)?);
    Ok(ok_json(&view.finish(Value::Object(out)), &prefs))
}

/// The media type Graph serves transcripts in; `.docx` was retired on May 31, 2023.
const VTT: &str = "text/vtt";

fn check_format(scope: Scope, format: Option<&str>) -> GraphResult<()> {
    match (scope.kind, format) {
        (_, None) => Ok(()),
        (ArtifactKind::Transcript, Some(f)) if f.trim().eq_ignore_ascii_case(VTT) => Ok(()),
        (ArtifactKind::Transcript, Some(f)) => Err(GraphError::bad_request(format!(
            "The format '{}' is not supported. Transcripts are available as text/vtt only; the .docx format was retired on May 31, 2023.",
            f.escape_default()
        ))),
        (ArtifactKind::Recording, Some(_)) => Err(GraphError::bad_request(
            "The query parameter '$format' is not supported.",
        )),
    }
}

/// `GET …/{transcripts|recordings}/{id}/content` and `GET …/transcripts/{id}/metadataContent`:
/// the raw stream, `text/vtt` or `video/mp4`.
pub async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    matched: MatchedPath,
    Path((user, parent_id, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    let scope = Scope::of(&matched);
    let which = if matched.as_str().ends_with("/metadataContent") {
        ArtifactStream::MetadataContent
    } else {
        ArtifactStream::Content
    };
    scope.authorize(&state, &caller, &user, &parent_id).await?;
    let q = query_options(raw.as_deref(), &[Opt::Format])?;
    check_format(scope, q.get(Opt::Format))?;
    let a = load(&state, &caller, scope, (&user, &parent_id, &id)).await?;
    let bytes = state
        .store
        .artifact_stream(&caller.tenant_id, &a.key, which)
        .await?
        .ok_or_else(|| GraphError::not_found("The requested content was not found."))?;
    let media_type = match scope.kind {
        ArtifactKind::Transcript => VTT,
        ArtifactKind::Recording => "video/mp4",
    };
    let mut resp = (StatusCode::OK, Body::from(bytes)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    Ok(resp)
}

/// Parameters of a getAllTranscripts / getAllRecordings call.
struct GetAll {
    kind: ArtifactKind,
    organizer: String,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// The function segment as it goes into links.
    segment: String,
}

/// `MeetingOrganizer/User/Id eq '{id}'`, the `$filter` form of the organizer parameter.
fn organizer_filter(text: &str) -> GraphResult<String> {
    let unsupported = || {
        GraphError::bad_request(
            "Invalid filter clause: only MeetingOrganizer/User/Id eq '{userId}' is supported.",
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
        (ExprKind::Member(path), ExprKind::Literal(Literal::String(v)))
            if path.len() == 3
                && ["meetingOrganizer", "user", "id"]
                    .iter()
                    .zip(&path)
                    .all(|(want, seg)| seg.name.eq_ignore_ascii_case(want)) =>
        {
            Ok(v)
        }
        _ => Err(unsupported()),
    }
}

/// Whether `segment` names getAllTranscripts or getAllRecordings (with or without parameters).
pub(super) fn function_kind(segment: &str) -> Option<ArtifactKind> {
    let name = segment.split('(').next().unwrap_or(segment).trim();
    let name = name.rsplit('.').next().unwrap_or(name);
    if name.eq_ignore_ascii_case("getAllTranscripts") {
        Some(ArtifactKind::Transcript)
    } else if name.eq_ignore_ascii_case("getAllRecordings") {
        Some(ArtifactKind::Recording)
    } else {
        None
    }
}

fn parse_get_all(
    parent: ArtifactParent,
    segment: &str,
    filter: Option<&str>,
) -> GraphResult<GetAll> {
    let kind = function_kind(segment).ok_or_else(|| {
        GraphError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            segment.split('(').next().unwrap_or(segment)
        ))
    })?;
    let organizer_param = match parent {
        ArtifactParent::OnlineMeeting => "meetingOrganizerUserId",
        ArtifactParent::AdhocCall => "userId",
    };
    let call = if segment.contains('(') {
        let call = callhook_odata::parse_function_call(segment)
            .map_err(|e| GraphError::bad_request(e.message().to_string()))?;
        call.check_params(&[organizer_param, "startDateTime", "endDateTime"])
            .map_err(super::bad_query)?;
        Some(call)
    } else {
        None
    };
    let param = |name: &str| call.as_ref().and_then(|c| c.param(name));
    let datetime = |name: &str| -> GraphResult<Option<DateTime<Utc>>> {
        match &call {
            Some(c) if c.param(name).is_some() => c
                .required_datetime(name)
                .map(Some)
                .map_err(super::bad_query),
            _ => Ok(None),
        }
    };
    let organizer = match (param(organizer_param), filter) {
        (Some(o), _) => o.to_string(),
        (None, Some(f)) => organizer_filter(f)?,
        (None, None) => {
            return Err(GraphError::bad_request(format!(
                "The parameter '{organizer_param}' or a $filter on MeetingOrganizer/User/Id is required."
            )))
        }
    };
    if callhook_model::validate_id(&organizer).is_err() {
        return Err(GraphError::bad_request(format!(
            "Invalid value '{}' for parameter '{organizer_param}'.",
            organizer.escape_default()
        )));
    }
    let (from, to) = (datetime("startDateTime")?, datetime("endDateTime")?);
    let fmt = |t: DateTime<Utc>| callhook_model::format_date_time(&t);
    let mut params = vec![format!(
        "{organizer_param}='{}'",
        organizer.replace('\'', "''")
    )];
    params.extend(from.map(|t| format!("startDateTime={}", fmt(t))));
    params.extend(to.map(|t| format!("endDateTime={}", fmt(t))));
    let name = match kind {
        ArtifactKind::Transcript => "getAllTranscripts",
        ArtifactKind::Recording => "getAllRecordings",
    };
    Ok(GetAll {
        kind,
        organizer,
        from,
        to,
        segment: format!("{name}({})", params.join(",")),
    })
}

/// A token passed as `skipToken`/`deltaToken` (Graph's links use these) or `$skiptoken`/`$deltatoken`.
fn token_param<'q>(
    q: &'q callhook_odata::QueryOptions,
    name: &str,
    option: Opt,
) -> Option<&'q str> {
    q.get(option).or_else(|| {
        q.other
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
}

/// `getAllTranscripts(…)` / `getAllRecordings(…)` bound to `users/{userId}/onlineMeetings`,
/// `users/{userId}/adhocCalls` or `communications/adhocCalls` (`user` is `None`), and their
/// `…/delta` form. Application permission only.
#[allow(clippy::too_many_arguments)]
pub(super) async fn get_all(
    state: AppState,
    version: ApiVersion,
    caller: Caller,
    user: Option<String>,
    parent: ArtifactParent,
    segment: String,
    delta: bool,
    headers: HeaderMap,
    raw: Option<String>,
) -> GraphResult<Response> {
    let q = query_options(
        raw.as_deref(),
        &[Opt::Top, Opt::Filter, Opt::SkipToken, Opt::DeltaToken],
    )?;
    let call = parse_get_all(parent, &segment, q.get(Opt::Filter));
    // The permission depends on the function; check it before reporting parameter errors.
    let kind = function_kind(&segment);
    if let Some(kind) = kind {
        permissions::require(&caller, &Scope { parent, kind }.get_all_requirement())?;
    }
    let call = call?;
    let scope = Scope {
        parent,
        kind: call.kind,
    };
    if let Some(u) = &user {
        if *u != call.organizer {
            return Err(GraphError::bad_request(format!(
                "The organizer parameter must be the user in the path ('{}').",
                u.escape_default()
            )));
        }
    }
    let token = token_param(&q, "skipToken", Opt::SkipToken)
        .or_else(|| token_param(&q, "deltaToken", Opt::DeltaToken));
    let cursor = match token {
        Some(t) => {
            let c = open_cursor(&state, t, &caller, scope)?;
            if c.o.as_deref() != Some(call.organizer.as_str()) || c.d != delta {
                return Err(super::invalid_skiptoken());
            }
            c
        }
        None => {
            let n = match q.top().map_err(super::bad_query)? {
                None => PAGE_SIZE,
                Some(t) if (1..=MAX_TOP).contains(&t) => t as u32,
                Some(t) => {
                    return Err(GraphError::bad_request(format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and {MAX_TOP} inclusive."
                    )))
                }
            };
            Cursor {
                t: caller.tenant_id.clone(),
                k: call.kind,
                p: parent,
                m: None,
                o: Some(call.organizer.clone()),
                c: None,
                f: call.from,
                e: call.to,
                a: None,
                n,
                d: delta,
            }
        }
    };
    let (rows, next) = page(&state, &cursor).await?;
    let prefs = preferences(&headers);
    let base = state.base_url(&headers);
    let view = View {
        base: &base,
        version,
        prefs: &prefs,
    };
    let mut value = Vec::with_capacity(rows.len());
    for a in &rows {
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            Value::String(format!("#microsoft.graph.{}", scope.type_name())),
        );
        m.extend(view.entity(scope, a, &[])?);
        value.push(view.finish(Value::Object(m)));
    }
    let function_url = format!(
        "{}/{}/{}{}",
        view.root(),
        match &user {
            Some(u) => format!("users/{}", encode_segment(u)),
            None => "communications".to_string(),
        },
        scope.parent_segment(),
        format_args!("/{}{}", call.segment, if delta { "/delta" } else { "" })
    );
    let link = |name: &str, c: &Cursor| {
        format!(
            "{function_url}?{name}={}",
            encode_query_value(&super::seal_skiptoken(&state, c))
        )
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#Collection({})",
            view.root(),
            scope.type_name()
        )),
    );
    match (&next, delta) {
        (Some(c), _) => {
            body.insert(
                "@odata.nextLink".into(),
                Value::String(link("skipToken", c)),
            );
        }
        // The end of a delta round: the next round starts after the last artifact seen.
        (None, true) => {
            let end = Cursor {
                a: rows.last().and_then(|r| r.seq).or(cursor.a),
                ..cursor.clone()
            };
            body.insert(
                "@odata.deltaLink".into(),
                Value::String(link("deltaToken", &end)),
            );
        }
        (None, false) => {}
    }
    // As in Graph's published response: the number of items in this page.
    body.insert("@odata.count".into(), Value::from(value.len()));
    body.insert("value".into(), Value::Array(value));
    Ok(ok_json(&Value::Object(body), &prefs))
}

/// `GET users/{userId}/adhocCalls/{segment}`: the getAll functions.
pub async fn adhoc_calls_segment(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((user, segment)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    if function_kind(&segment).is_none() {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            segment.escape_default()
        )));
    }
    get_all(
        state,
        version,
        caller,
        Some(user),
        ArtifactParent::AdhocCall,
        segment,
        false,
        headers,
        raw,
    )
    .await
}

/// `GET users/{userId}/adhocCalls/{function}/delta`
pub async fn adhoc_calls_delta(
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
        ArtifactParent::AdhocCall,
        segment,
        true,
        headers,
        raw,
    )
    .await
}

/// `GET communications/adhocCalls/{function}`: the tenant-wide form, by `userId`.
pub async fn communications_adhoc_calls(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    get_all(
        state,
        version,
        caller,
        None,
        ArtifactParent::AdhocCall,
        segment,
        false,
        headers,
        raw,
    )
    .await
}
