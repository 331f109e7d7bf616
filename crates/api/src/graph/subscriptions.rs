//! `subscriptions`: create, get, list, update (renew), delete and reauthorize change-notification
//! subscriptions, as Graph does for `communications/callRecords`.
//!
//! What a body may contain is decided by [`callhook_notify::rules`]; this module adds what needs
//! the caller and the store: permissions, tenant and app scoping, quota and duplicates, the
//! validation handshake, and the subscription's JSON as each operation shows it.
//!
//! Only the caller's app sees its subscriptions: another app's or another tenant's subscription
//! is a 404, like one that expired or was deleted.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use callhook_notify::rules::CALL_RECORDS_KIND;
use callhook_notify::rules::{self, CheckedUrl, Existing, NewSubscription};
use callhook_notify::{handshake, NotifyError};
use callhook_odata::SystemOption as Opt;
use callhook_store::{EncryptionSettings, QuotaRule, SubscriptionRefusal, SubscriptionRow};

use super::{
    collection, encode_query_value, ok_json, page_size, preferences, query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::AppState;

/// Largest page of `GET /subscriptions`.
const LIST_PAGE_MAX: u32 = 100;

/// The sealed state behind a `$skiptoken` of the list: tenant, app, last id, page size.
#[derive(Serialize, Deserialize)]
struct ListToken {
    t: String,
    a: String,
    l: String,
    n: u32,
}

fn notify_error(e: NotifyError) -> GraphError {
    let mut err = GraphError::new(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        e.code,
        e.message,
    );
    if let Some(cause) = e.cause {
        err = err.with_cause(cause.text);
    }
    err
}

/// A refused URL or a failed validation: Graph's answer, and one line for the operator naming
/// the subscription (`new` before it exists), the host and the cause.
fn refused<'a>(
    subscription: &'a str,
    caller: &'a Caller,
) -> impl Fn(NotifyError) -> GraphError + 'a {
    move |e: NotifyError| {
        if let Some(cause) = &e.cause {
            tracing::warn!(
                subscription,
                tenant = %caller.tenant_id,
                app = %caller.app_id,
                host = %cause.host,
                cause = %cause.text,
                "subscription refused: {}",
                e.message
            );
        }
        notify_error(e)
    }
}

/// Graph's 403 when the app lacks the resource's read permission.
fn forbidden(operation: &str) -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "ExtensionError",
        format!("Operation: {operation}; Exception: [Status Code: Forbidden; Reason: The request is not authorized for this user or application.]"),
    )
}

/// What reading a subscription kind's resource needs.
fn resource_requirement(kind: &str) -> Option<crate::permissions::Requirement> {
    crate::permissions::subscription_requirement(resource_shape(kind))
}

/// The resource shape (ids as `{id}`) of a subscription kind, as the permission table names it.
fn resource_shape(kind: &str) -> &'static str {
    use callhook_store::matching::kind as k;
    match kind {
        k::TRANSCRIPTS_TENANT_MEETINGS => "communications/onlineMeetings/getAllTranscripts",
        k::TRANSCRIPTS_TENANT_ADHOC_CALLS => "communications/adhocCalls/getAllTranscripts",
        k::TRANSCRIPTS_MEETING => "communications/onlineMeetings/{id}/transcripts",
        k::TRANSCRIPTS_ADHOC_CALL => "communications/adhocCalls/{id}/transcripts",
        k::TRANSCRIPTS_USER_MEETINGS => "users/{id}/onlineMeetings/getAllTranscripts",
        k::TRANSCRIPTS_USER_ADHOC_CALLS => "users/{id}/adhocCalls/getAllTranscripts",
        k::TRANSCRIPTS_TEAMS_APP => {
            "appCatalogs/teamsApps/{id}/installedToOnlineMeetings/getAllTranscripts"
        }
        k::RECORDINGS_TENANT_MEETINGS => "communications/onlineMeetings/getAllRecordings",
        k::RECORDINGS_TENANT_ADHOC_CALLS => "communications/adhocCalls/getAllRecordings",
        k::RECORDINGS_MEETING => "communications/onlineMeetings/{id}/recordings",
        k::RECORDINGS_ADHOC_CALL => "communications/adhocCalls/{id}/recordings",
        k::RECORDINGS_USER_MEETINGS => "users/{id}/onlineMeetings/getAllRecordings",
        k::RECORDINGS_USER_ADHOC_CALLS => "users/{id}/adhocCalls/getAllRecordings",
        k::RECORDINGS_TEAMS_APP => {
            "appCatalogs/teamsApps/{id}/installedToOnlineMeetings/getAllRecordings"
        }
        k::USER_CALL_EVENTS => "users/{id}/communications/callEvents",
        k::MEETING_CALL_EVENTS => {
            "communications/onlineMeetings(joinWebUrl='{id}')/meetingCallEvents"
        }
        k::EMERGENCY_CALL_EVENTS => {
            "communications/calls/getEmergencyEventsByPolicy(policyName='{id}')"
        }
        _ => "communications/callRecords",
    }
}

/// Creating, reading, renewing or reauthorizing a subscription needs the permission to read its
/// resource. With `rsc_only` (or without the tenant-wide permission) an app is let in by
/// resource-specific consent: on the meeting a meeting-scoped resource names, or, for the Teams
/// app forms, by being that app and holding the RSC permission somewhere.
async fn require_permission(
    state: &AppState,
    caller: &Caller,
    row_kind: &str,
    scope: Option<&str>,
    rsc_only: bool,
    operation: &str,
) -> GraphResult<()> {
    use callhook_store::matching::kind as k;
    let Some(req) = resource_requirement(row_kind) else {
        return Err(forbidden(operation));
    };
    if !rsc_only && req.allows(caller) {
        return Ok(());
    }
    if let (false, Some(permission), Some(scope)) =
        (caller.is_delegated(), req.resource_specific, scope)
    {
        let granted = match row_kind {
            k::TRANSCRIPTS_MEETING | k::RECORDINGS_MEETING => {
                crate::permissions::rsc_granted(state, caller, scope, permission).await?
            }
            k::TRANSCRIPTS_TEAMS_APP | k::RECORDINGS_TEAMS_APP => {
                scope == caller.app_id
                    && state
                        .store
                        .rsc_grants(&caller.tenant_id, &caller.app_id)
                        .await?
                        .iter()
                        .any(|g| g.permission == permission)
            }
            _ => false,
        };
        if granted {
            return Ok(());
        }
    }
    Err(forbidden(operation))
}

/// A resource that names one meeting or ad hoc call must name one the tenant has: Graph does
/// not accept subscriptions to meetings it does not know.
async fn require_watched_exists(
    state: &AppState,
    tenant: &str,
    resource: &rules::Resource,
) -> GraphResult<()> {
    use callhook_store::matching::kind as k;
    let Some(scope) = resource.scope.as_deref() else {
        return Ok(());
    };
    let found = match resource.kind {
        k::TRANSCRIPTS_MEETING | k::RECORDINGS_MEETING => {
            state.store.online_meeting(tenant, scope).await?.is_some()
        }
        k::TRANSCRIPTS_ADHOC_CALL | k::RECORDINGS_ADHOC_CALL => {
            state.store.adhoc_call(tenant, scope).await?.is_some()
        }
        k::MEETING_CALL_EVENTS => !state
            .store
            .online_meetings_by_join_url(tenant, scope)
            .await?
            .is_empty(),
        _ => true,
    };
    if found {
        return Ok(());
    }
    let what = match resource.kind {
        k::TRANSCRIPTS_ADHOC_CALL | k::RECORDINGS_ADHOC_CALL => "ad hoc call",
        _ => "online meeting",
    };
    Err(GraphError::not_found(format!(
        "The {what} named by resource '{}' was not found.",
        resource.canonical
    )))
}

/// Any app of the tenant may list its own subscriptions.
fn require_app(caller: &Caller, operation: &str) -> GraphResult<()> {
    if caller.app_id.is_empty() {
        return Err(forbidden(operation));
    }
    Ok(())
}

/// The quotas a new subscription of `resource` must fit (Graph's, per resource family).
fn quotas(resource: &rules::Resource, call_record_quota: u32) -> Vec<QuotaRule> {
    use callhook_store::matching::kind as k;
    let one = |kind: &str, same_app: bool, same_scope: bool, limit: u32| QuotaRule {
        kinds: vec![kind.to_string()],
        same_app,
        same_scope,
        limit,
    };
    let teams = QuotaRule {
        kinds: k::TEAMS.iter().map(|s| s.to_string()).collect(),
        same_app: false,
        same_scope: false,
        limit: TEAMS_QUOTA,
    };
    match resource.kind {
        k::CALL_RECORDS => vec![QuotaRule::per_tenant(k::CALL_RECORDS, call_record_quota)],
        kind @ (k::TRANSCRIPTS_USER_MEETINGS
        | k::RECORDINGS_USER_MEETINGS
        | k::TRANSCRIPTS_USER_ADHOC_CALLS
        | k::RECORDINGS_USER_ADHOC_CALLS) => vec![
            teams,
            one(kind, true, true, 1),
            one(kind, false, true, USER_QUOTA),
        ],
        kind @ (k::TRANSCRIPTS_MEETING
        | k::RECORDINGS_MEETING
        | k::TRANSCRIPTS_ADHOC_CALL
        | k::RECORDINGS_ADHOC_CALL
        | k::MEETING_CALL_EVENTS) => vec![teams, one(kind, true, true, 1)],
        _ => vec![teams],
    }
}

/// Graph's limit of Teams subscriptions per organisation, all resources together.
const TEAMS_QUOTA: u32 = 10_000;
/// Subscriptions per user for the "all meetings (calls) of a user" forms.
const USER_QUOTA: u32 = 10;

fn not_found(id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The subscription '{}' does not exist or has expired.",
            id.escape_default()
        ),
    )
}

/// Graph writes subscription times with seven fractional digits.
fn timestamp(t: DateTime<Utc>) -> String {
    // chrono has no seven-digit fraction specifier (`%.7f` fails at format time).
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// The body, parsed as JSON; refusals in the subscription service's words.
fn json(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    operation: &str,
) -> GraphResult<Value> {
    let bytes = crate::ingest::json_body(state, headers, body)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("Could not process subscription {operation} payload. The body is not valid JSON: {e}."),
        )
    })
}

/// The stored subscription JSON: every property of Graph's subscription resource.
fn stored_body(s: &NewSubscription, id: &str, caller: &Caller) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.to_string()));
    m.insert("resource".into(), Value::String(s.resource_text.clone()));
    m.insert("applicationId".into(), Value::String(caller.app_id.clone()));
    m.insert(
        "changeType".into(),
        Value::String(s.change_type_text.clone()),
    );
    m.insert("clientState".into(), opt(s.client_state.as_deref()));
    m.insert(
        "notificationUrl".into(),
        Value::String(s.notification_url.raw.clone()),
    );
    m.insert(
        "notificationQueryOptions".into(),
        opt(s.notification_query_options.as_deref()),
    );
    m.insert(
        "lifecycleNotificationUrl".into(),
        opt(s.lifecycle_url.as_ref().map(|u| u.raw.as_str())),
    );
    m.insert(
        "expirationDateTime".into(),
        Value::String(timestamp(s.expiration)),
    );
    // An app-only subscription is created by the app's service principal.
    m.insert("creatorId".into(), Value::String(caller.app_id.clone()));
    m.insert(
        "includeResourceData".into(),
        Value::Bool(s.include_resource_data),
    );
    m.insert(
        "latestSupportedTlsVersion".into(),
        Value::String(s.latest_supported_tls_version.clone()),
    );
    m.insert(
        "encryptionCertificate".into(),
        opt(s.encryption_certificate.as_deref()),
    );
    m.insert(
        "encryptionCertificateId".into(),
        opt(s.encryption_certificate_id.as_deref()),
    );
    m.insert(
        "notificationUrlAppId".into(),
        opt(s.notification_url_app_id.as_deref()),
    );
    m.insert(
        "notificationContentType".into(),
        Value::String("application/json".into()),
    );
    for key in [
        "vapidPublicKey",
        "webPushEncryptionP256dhPublicKey",
        "webPushEncryptionSecret",
    ] {
        m.insert(key.into(), Value::Null);
    }
    Value::Object(m)
}

fn parse_stored(row: &SubscriptionRow) -> GraphResult<Map<String, Value>> {
    match serde_json::from_str(&row.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => {
            tracing::error!(id = %row.id, "stored subscription body is not a JSON object");
            Err(GraphError::internal())
        }
    }
}

/// How an operation shows a subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// Create: the certificate itself is not echoed.
    Created,
    /// Get and update: the certificate fields are `""` when unused.
    Entity,
    /// List: as `Entity`, but `clientState` is hidden.
    Listed,
}

fn shape(row: &SubscriptionRow, view: View) -> GraphResult<Map<String, Value>> {
    let mut m = parse_stored(row)?;
    // The columns are authoritative for what PATCH and reauthorize change.
    m.insert(
        "expirationDateTime".into(),
        Value::String(timestamp(row.expiration)),
    );
    m.insert(
        "notificationUrl".into(),
        Value::String(row.notification_url.clone()),
    );
    match view {
        View::Created => {
            m.insert("encryptionCertificate".into(), Value::Null);
        }
        View::Entity | View::Listed => {
            for key in ["encryptionCertificate", "encryptionCertificateId"] {
                if m.get(key).is_none_or(Value::is_null) {
                    m.insert(key.into(), Value::String(String::new()));
                }
            }
        }
    }
    if view == View::Listed {
        m.insert("clientState".into(), Value::Null);
    }
    Ok(m)
}

fn entity(base: &str, version: ApiVersion, m: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{base}/{}/$metadata#subscriptions/$entity",
            version.as_str()
        )),
    );
    out.extend(m);
    Value::Object(out)
}

/// Sends the validation request to each URL, one request per URL even when they are equal.
async fn validate(
    state: &AppState,
    urls: &[&reqwest::Url],
    subscription: &str,
    caller: &Caller,
) -> GraphResult<()> {
    let timeout = state.notify.config.validation_timeout;
    for url in urls {
        handshake::validate(&state.notify.client, url, timeout)
            .await
            .map_err(refused(subscription, caller))?;
    }
    Ok(())
}

/// Quota and duplicate refusals, in Graph's words; `rules` are the quotas that were applied.
fn refusal(r: SubscriptionRefusal, rules: &[QuotaRule]) -> GraphError {
    match r {
        SubscriptionRefusal::Quota { rule, limit } => {
            let q = rules.get(rule);
            let what = match q {
                Some(q) if q.kinds.len() > 1 => {
                    format!("The tenant has reached its limit of {limit} Teams subscriptions")
                }
                Some(q) if q.kinds.first().map(String::as_str) == Some("callRecords") => {
                    format!("The tenant has reached its limit of {limit} subscriptions to communications/callRecords")
                }
                Some(q) if q.same_app => format!(
                    "The application has reached its limit of {limit} subscription(s) to this resource"
                ),
                _ => format!("The user has reached its limit of {limit} subscriptions to this resource"),
            };
            GraphError::new(
                StatusCode::FORBIDDEN,
                "ExtensionError",
                format!("Operation: Create; Exception: [Status Code: Forbidden; Reason: {what}.]"),
            )
        }
        SubscriptionRefusal::Duplicate { existing_id } => GraphError::new(
            StatusCode::CONFLICT,
            "ExtensionError",
            format!("Subscription Id {existing_id} already exists for the requested combination"),
        ),
    }
}

/// The permission an existing subscription's resource needs.
async fn require_row_permission(
    state: &AppState,
    caller: &Caller,
    row: &SubscriptionRow,
    operation: &str,
) -> GraphResult<()> {
    require_permission(
        state,
        caller,
        &row.resource_kind,
        row.scope.as_deref(),
        rules::is_rsc_only(&row.resource),
        operation,
    )
    .await
}

/// Whether an app that holds `roles` now (not as its token says) may still read a
/// subscription's resource. Subscriptions by resource-specific consent are left to the RSC
/// grants.
pub(crate) fn app_may_still_read(row: &SubscriptionRow, roles: &[String]) -> bool {
    rules::is_rsc_only(&row.resource)
        || resource_requirement(&row.resource_kind)
            .is_some_and(|req| req.application.iter().any(|r| roles.iter().any(|h| h == r)))
}

/// A live subscription of the caller's app in the caller's tenant.
async fn load(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: DateTime<Utc>,
) -> GraphResult<SubscriptionRow> {
    match state.store.subscription(&caller.tenant_id, id).await? {
        Some(row) if row.app_id == caller.app_id && row.expiration > now => Ok(row),
        _ => Err(not_found(id)),
    }
}

/// `GET communications/calls/{segment}`: callhook serves no calls, and
/// `getEmergencyEventsByPolicy(policyName='…')`, the `resource` of emergency call event
/// notifications, can be subscribed to but not read (Graph documents no GET for it; the event
/// travels whole in the notification). See docs/graph-behaviour.md.
pub async fn emergency_events_resource(
    Extension(version): Extension<ApiVersion>,
    Path(segment): Path<String>,
) -> GraphError {
    let resource = format!("communications/calls/{segment}");
    match rules::parse_resource(&resource, version == ApiVersion::Beta) {
        Ok(r) if r.kind == callhook_store::matching::kind::EMERGENCY_CALL_EVENTS => {
            GraphError::bad_request(format!(
                "'{}' is a change-notification resource: emergency call events are delivered to its subscriptions (with the event in encryptedContent) and cannot be read with GET.",
                r.canonical
            ))
        }
        _ => GraphError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            segment.split('(').next().unwrap_or_default()
        )),
    }
}

/// `POST subscriptions`
pub async fn create(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let doc = json(&state, &headers, body, "creation")?;
    let now = state.clock.now();
    let new = rules::check_create(&doc, now, &state.notify.config, version == ApiVersion::Beta)
        .map_err(refused("new", &caller))?;
    require_permission(
        &state,
        &caller,
        new.resource.kind,
        new.resource.scope.as_deref(),
        new.resource.rsc_only,
        "Create",
    )
    .await?;
    require_watched_exists(&state, &caller.tenant_id, &new.resource).await?;
    let quota = state.notify.config.call_record_quota;
    let quota_rules = quotas(&new.resource, quota);

    // Refuse over-quota and duplicate requests before calling the receiver; the store checks
    // both again atomically when inserting.
    let existing = state
        .store
        .list_subscriptions(&caller.tenant_id, None, None, quota.saturating_add(1))
        .await?;
    let live: Vec<&SubscriptionRow> = existing
        .iter()
        .filter(|r| r.resource_kind == new.resource.kind)
        .collect();
    if let Some(dup) = live.iter().find(|r| {
        r.app_id == caller.app_id
            && r.resource == new.resource.canonical
            && r.change_type == new.change_types.canonical()
    }) {
        return Err(refusal(
            SubscriptionRefusal::Duplicate {
                existing_id: dup.id.clone(),
            },
            &quota_rules,
        ));
    }
    if new.resource.kind == CALL_RECORDS_KIND && live.len() >= quota as usize {
        return Err(refusal(
            SubscriptionRefusal::Quota {
                rule: 0,
                limit: quota,
            },
            &quota_rules,
        ));
    }

    let mut urls = vec![&new.notification_url.url];
    if let Some(l) = &new.lifecycle_url {
        urls.push(&l.url);
    }
    validate(&state, &urls, "new", &caller).await?;

    let id = uuid::Uuid::new_v4().to_string();
    let body = stored_body(&new, &id, &caller);
    let row = SubscriptionRow {
        id: id.clone(),
        tenant_id: caller.tenant_id.clone(),
        app_id: caller.app_id.clone(),
        resource_kind: new.resource.kind.to_string(),
        resource: new.resource.canonical.clone(),
        change_type: new.change_types.canonical(),
        notify_created: new.change_types.created,
        notify_updated: new.change_types.updated,
        participant_filter: new.resource.participant_ids.clone(),
        notification_url: new.notification_url.raw.clone(),
        lifecycle_url: new.lifecycle_url.as_ref().map(|u| u.raw.clone()),
        client_state: new.client_state.clone(),
        expiration: new.expiration,
        authorized_until: now + state.notify.config.authorization_lifetime,
        scope: new.resource.scope.clone(),
        created: now,
        encryption: match (
            new.include_resource_data,
            &new.encryption_certificate,
            &new.encryption_certificate_id,
        ) {
            (true, Some(certificate), Some(certificate_id)) => Some(EncryptionSettings {
                certificate: certificate.clone(),
                certificate_id: certificate_id.clone(),
            }),
            _ => None,
        },
        notification_url_app_id: new.notification_url_app_id.clone(),
        body: body.to_string(),
    };
    state
        .store
        .create_subscription(&row, &quota_rules)
        .await?
        .map_err(|r| refusal(r, &quota_rules))?;
    state.notify.wake.notify_one();

    let out = entity(
        &state.base_url(&headers),
        version,
        shape(&row, View::Created)?,
    );
    let mut resp = ok_json(&out, &Default::default());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// `GET subscriptions/{id}`
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GraphResult<Response> {
    let row = load(&state, &caller, &id, state.clock.now()).await?;
    require_row_permission(&state, &caller, &row, "Get").await?;
    let out = entity(
        &state.base_url(&headers),
        version,
        shape(&row, View::Entity)?,
    );
    Ok(ok_json(&out, &Default::default()))
}

/// `GET subscriptions`: the caller app's subscriptions in its tenant, `clientState` hidden.
pub async fn list(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    require_app(&caller, "List")?;
    let q = query_options(raw.as_deref(), &[Opt::SkipToken])?;
    let prefs = preferences(&headers);
    let (after, token_size) = match q.get(Opt::SkipToken) {
        Some(t) => {
            let tok: ListToken = super::open_skiptoken(&state, t)?;
            // A token of another tenant or app is as good as forged.
            if tok.t != caller.tenant_id || tok.a != caller.app_id {
                return Err(super::invalid_skiptoken());
            }
            (Some(tok.l), Some(tok.n))
        }
        None => (None, None),
    };
    let (n, applied) = page_size(&prefs, LIST_PAGE_MAX, token_size);
    let now = state.clock.now();
    let rows = state
        .store
        .list_subscriptions(
            &caller.tenant_id,
            Some(&caller.app_id),
            after.as_deref(),
            n.saturating_add(1),
        )
        .await?;
    let more = rows.len() > n as usize;
    let page: Vec<&SubscriptionRow> = rows.iter().take(n as usize).collect();
    let mut value = Vec::new();
    for row in &page {
        // Expired ones are gone even before the purge removes them.
        if row.expiration > now {
            value.push(Value::Object(shape(row, View::Listed)?));
        }
    }
    let base = state.base_url(&headers);
    let v = version.as_str();
    let next = match (more, page.last()) {
        (true, Some(last)) => {
            let tok = ListToken {
                t: caller.tenant_id.clone(),
                a: caller.app_id.clone(),
                l: last.id.clone(),
                n,
            };
            let sealed = super::seal_skiptoken(&state, &tok);
            Some(format!(
                "{base}/{v}/subscriptions?$skiptoken={}",
                encode_query_value(&sealed)
            ))
        }
        _ => None,
    };
    Ok(ok_json(
        &collection(format!("{base}/{v}/$metadata#subscriptions"), value, next),
        &applied,
    ))
}

/// `PATCH subscriptions/{id}`: renew, move the notification URL, rotate the certificate.
pub async fn update(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let doc = json(&state, &headers, body, "update")?;
    let now = state.clock.now();
    let mut row = load(&state, &caller, &id, now).await?;
    require_row_permission(&state, &caller, &row, "Update").await?;
    let patch = rules::check_patch(
        &doc,
        Existing {
            lifecycle_url: row.lifecycle_url.as_deref(),
            max_minutes: rules::max_minutes_of(&row.resource_kind),
        },
        now,
        &state.notify.config,
    )
    .map_err(refused(&row.id, &caller))?;

    // A renewal or a new URL sends validation requests again: to the (new) notification URL
    // and to the lifecycle URL, as on creation.
    let renews = patch.expiration.is_some() || patch.notification_url.is_some();
    if renews {
        let notification = match &patch.notification_url {
            Some(u) => u.url.clone(),
            None => current_url(&row, "NotificationUrl", &state, &caller)?,
        };
        let lifecycle = current_lifecycle_url(&row, &state, &caller)?;
        let mut urls = vec![&notification];
        urls.extend(lifecycle.as_ref());
        validate(&state, &urls, &row.id, &caller).await?;
    }

    let mut body = parse_stored(&row)?;
    if let Some(e) = patch.expiration {
        row.expiration = e;
        // A renewal also reauthorizes.
        row.authorized_until = row
            .authorized_until
            .max(now + state.notify.config.authorization_lifetime);
    }
    if let Some(CheckedUrl { raw, .. }) = patch.notification_url {
        row.notification_url = raw;
    }
    // A rotated certificate encrypts every notification from now on.
    if let Some(e) = row.encryption.as_mut() {
        if let Some(c) = &patch.encryption_certificate {
            e.certificate = c.clone();
        }
        if let Some(c) = &patch.encryption_certificate_id {
            e.certificate_id = c.clone();
        }
    }
    if let Some(c) = patch.encryption_certificate {
        body.insert("encryptionCertificate".into(), Value::String(c));
    }
    if let Some(c) = patch.encryption_certificate_id {
        body.insert("encryptionCertificateId".into(), Value::String(c));
    }
    body.insert(
        "expirationDateTime".into(),
        Value::String(timestamp(row.expiration)),
    );
    body.insert(
        "notificationUrl".into(),
        Value::String(row.notification_url.clone()),
    );
    row.body = Value::Object(body).to_string();
    if !state.store.update_subscription(&row).await? {
        return Err(not_found(&id));
    }
    if renews {
        // A renewal reauthorizes: notifications held meanwhile go out now.
        state.store.release_held(&row.id, now).await?;
        state.notify.wake.notify_one();
    }
    let out = entity(
        &state.base_url(&headers),
        version,
        shape(&row, View::Entity)?,
    );
    Ok(ok_json(&out, &Default::default()))
}

/// A stored subscription's notification URL, parsed again for a validation request.
fn current_url(
    row: &SubscriptionRow,
    field: &str,
    state: &AppState,
    caller: &Caller,
) -> GraphResult<reqwest::Url> {
    callhook_notify::http::check_url(&row.notification_url, field, &state.notify.config)
        .map_err(refused(&row.id, caller))
}

/// …and its lifecycle URL, if it has one.
fn current_lifecycle_url(
    row: &SubscriptionRow,
    state: &AppState,
    caller: &Caller,
) -> GraphResult<Option<reqwest::Url>> {
    row.lifecycle_url
        .as_deref()
        .map(|raw| {
            callhook_notify::http::check_url(raw, "LifecycleNotificationUrl", &state.notify.config)
                .map_err(refused(&row.id, caller))
        })
        .transpose()
}

/// `DELETE subscriptions/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let row = load(&state, &caller, &id, state.clock.now()).await?;
    require_row_permission(&state, &caller, &row, "Delete").await?;
    if !state
        .store
        .delete_subscription(&caller.tenant_id, &row.id)
        .await?
    {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST subscriptions/{id}/reauthorize`: a fresh authorization; the expiry does not change.
pub async fn reauthorize(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let now = state.clock.now();
    let mut row = load(&state, &caller, &id, now).await?;
    require_row_permission(&state, &caller, &row, "Reauthorize").await?;
    // A token keeps the roles it was issued with; reauthorizing asks what the app holds now.
    if !caller.is_delegated() {
        let roles = state
            .store
            .app_roles(&caller.tenant_id, &caller.app_id)
            .await?
            .unwrap_or_default();
        if !app_may_still_read(&row, &roles) {
            return Err(forbidden("Reauthorize"));
        }
    }
    let notification = current_url(&row, "NotificationUrl", &state, &caller)?;
    let lifecycle = current_lifecycle_url(&row, &state, &caller)?;
    let mut urls = vec![&notification];
    urls.extend(lifecycle.as_ref());
    validate(&state, &urls, &row.id, &caller).await?;
    row.authorized_until = row
        .authorized_until
        .max(now + state.notify.config.authorization_lifetime);
    if !state.store.update_subscription(&row).await? {
        return Err(not_found(&id));
    }
    // Notifications held while the authorization had lapsed go out now.
    state.store.release_held(&row.id, now).await?;
    state.notify.wake.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}
