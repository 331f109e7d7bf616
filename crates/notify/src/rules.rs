//! What `POST /subscriptions` and `PATCH /subscriptions/{id}` accept, as pure functions of the
//! request body, the server's "now" and [`NotifyConfig`]. Every refusal is a [`NotifyError`] with
//! the status, code and message Graph answers (or, where Graph's text is unknown, a message in
//! the same style that names the offending property).
//!
//! Watchable: call records (optionally filtered by participant), the transcript and recording
//! resources of online meetings and ad hoc calls, per-user call events, meetings' call events
//! and an emergency policy's call events. Any other resource is refused rather than accepted
//! and left silent.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use callhook_odata::{CmpOp, Expr, ExprKind, LambdaOp, Literal};

use callhook_store::matching::kind;

use crate::http::check_url;
use crate::{NotifyConfig, NotifyError};

/// `resource_kind` of call-record subscriptions in the store.
pub const CALL_RECORDS_KIND: &str = kind::CALL_RECORDS;
/// Longest lifetime of a call-record subscription.
pub const CALL_RECORDS_MAX_MINUTES: i64 = 4230;
/// Longest lifetime of transcript, recording and meeting call-event subscriptions.
pub const TEAMS_MAX_MINUTES: i64 = 4320;
/// Longest lifetime of a per-user or emergency call-event subscription (one day).
pub const USER_CALL_EVENTS_MAX_MINUTES: i64 = 1440;
/// A requested expiry earlier than this is raised to it.
pub const MIN_MINUTES: i64 = 45;
/// Beyond this a lifecycle URL is required.
pub const LIFECYCLE_REQUIRED_AFTER_MINUTES: i64 = 60;
/// Longest `clientState` (the subscription resource's documented limit).
pub const CLIENT_STATE_MAX: usize = 128;
/// Longest `encryptionCertificateId`.
pub const CERTIFICATE_ID_MAX: usize = 128;

const CALL_RECORDS_PATH: &str = "communications/callRecords";
const SUPPORTED_RESOURCES: &str = "Supported: 'communications/callRecords' (optionally with \
'?$filter=participants/any(p:p/id eq '{id}')'), the transcript and recording resources \
('communications/onlineMeetings/getAllTranscripts', 'communications/onlineMeetings/{id}/transcripts', \
'users/{id}/onlineMeetings/getAllTranscripts', their adhocCalls and appCatalogs/teamsApps forms and \
the same for recordings), 'users/{id}/communications/callEvents', \
'communications/onlineMeetings(joinWebUrl='{joinWebUrl}')/meetingCallEvents' and \
'communications/calls/getEmergencyEventsByPolicy(policyName='{policyName}')'.";
/// The query option that subscribes with resource-specific consent only.
const RSC_OPTION: &str = "useResourceSpecificConsentBasedAuthorization";

pub const EXPIRATION_REQUIRED: &str =
    "expirationDateTime is a required property for subscription creation";
pub const LIFECYCLE_REQUIRED: &str = "lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour";
pub const LIFECYCLE_REQUIRED_ON_RENEWAL: &str = "lifecycleNotificationUrl is required for subscription renewal on this resource when the expirationDateTime value exceeds 1 hour";
pub const LIFECYCLE_NOT_UPDATABLE: &str =
    "lifecycleNotificationUrl can only be set when the subscription is created.";
const CREATION_PAYLOAD: &str = "Could not process subscription creation payload. Are all property names spelled and camelCased properly?";
const UPDATE_PAYLOAD: &str = "Could not process subscription update payload. Are all property names spelled and camelCased properly?";

/// A watched resource, reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The store's `resource_kind`.
    pub kind: &'static str,
    /// A canonical spelling (no leading `/`, sorted ids) so that duplicates are found however
    /// the client wrote the resource.
    pub canonical: String,
    /// Participant ids of the filter; empty = every record.
    pub participant_ids: Vec<String>,
    /// The one meeting, call, user, Teams app or join URL the path names.
    pub scope: Option<String>,
    /// `?useResourceSpecificConsentBasedAuthorization=true`.
    pub rsc_only: bool,
}

/// Whether a resource's notifications can, must or cannot carry resource data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RichMode {
    Never,
    Optional,
    Required,
}

/// Longest lifetime in minutes of a resource kind (a stored `resource_kind`).
pub fn max_minutes_of(resource_kind: &str) -> i64 {
    match resource_kind {
        kind::CALL_RECORDS => CALL_RECORDS_MAX_MINUTES,
        kind::USER_CALL_EVENTS | kind::EMERGENCY_CALL_EVENTS => USER_CALL_EVENTS_MAX_MINUTES,
        _ => TEAMS_MAX_MINUTES,
    }
}

/// Whether a stored (canonical) resource subscribes by resource-specific consent only.
pub fn is_rsc_only(resource: &str) -> bool {
    resource
        .to_ascii_lowercase()
        .contains(&format!("{}=true", RSC_OPTION.to_ascii_lowercase()))
}

impl Resource {
    /// Longest lifetime in minutes.
    pub fn max_minutes(&self) -> i64 {
        max_minutes_of(self.kind)
    }

    /// The change types Graph sends for it.
    pub fn change_types(&self) -> &'static [&'static str] {
        match self.kind {
            kind::CALL_RECORDS => &["created", "updated"],
            kind::USER_CALL_EVENTS | kind::MEETING_CALL_EVENTS | kind::EMERGENCY_CALL_EVENTS => {
                &["updated"]
            }
            _ => &["created"],
        }
    }

    pub fn rich(&self) -> RichMode {
        match self.kind {
            kind::CALL_RECORDS => RichMode::Never,
            kind::USER_CALL_EVENTS | kind::EMERGENCY_CALL_EVENTS => RichMode::Required,
            _ => RichMode::Optional,
        }
    }

    /// Served on `/beta` only.
    pub fn beta_only(&self) -> bool {
        self.kind.contains("AdhocCall")
            || self.kind.contains("adhocCall")
            || self.kind.ends_with(".teamsApp")
            // Emergency events were beta-only at first; Graph's page of 2025 lists v1.0 too.
            || (self.kind.starts_with("callEvents.") && self.kind != kind::EMERGENCY_CALL_EVENTS)
    }
}

/// The change types asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeTypes {
    pub created: bool,
    pub updated: bool,
}

impl ChangeTypes {
    /// Canonical comma list (`created`, `updated`, `created,updated`).
    pub fn canonical(self) -> String {
        let mut parts = Vec::new();
        if self.created {
            parts.push("created");
        }
        if self.updated {
            parts.push("updated");
        }
        parts.join(",")
    }
}

/// A URL that passed [`check_url`], with the text the client sent (echoed back verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    pub raw: String,
    pub url: url::Url,
}

/// An accepted creation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// `resource` as the client wrote it.
    pub resource_text: String,
    pub resource: Resource,
    /// `changeType` as the client wrote it.
    pub change_type_text: String,
    pub change_types: ChangeTypes,
    pub notification_url: CheckedUrl,
    pub lifecycle_url: Option<CheckedUrl>,
    /// After the 45-minute floor.
    pub expiration: DateTime<Utc>,
    pub client_state: Option<String>,
    /// Rich notifications; the certificate was checked.
    pub include_resource_data: bool,
    pub encryption_certificate: Option<String>,
    pub encryption_certificate_id: Option<String>,
    pub latest_supported_tls_version: String,
    pub notification_url_app_id: Option<String>,
    pub notification_query_options: Option<String>,
}

/// An accepted update: the properties that change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionPatch {
    pub expiration: Option<DateTime<Utc>>,
    pub notification_url: Option<CheckedUrl>,
    pub encryption_certificate: Option<String>,
    pub encryption_certificate_id: Option<String>,
}

/// What an update needs to know of the subscription it changes.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    pub lifecycle_url: Option<&'a str>,
    /// The resource's longest lifetime in minutes.
    pub max_minutes: i64,
}

/// Properties a client may send on creation (Web Push ones are refused separately).
const CREATABLE: &[&str] = &[
    "resource",
    "changeType",
    "notificationUrl",
    "expirationDateTime",
    "clientState",
    "lifecycleNotificationUrl",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
    "latestSupportedTlsVersion",
    "notificationUrlAppId",
    "notificationQueryOptions",
];
/// Server-owned properties: a client echoing a subscription back may send them; ignored.
const READ_ONLY: &[&str] = &[
    "id",
    "applicationId",
    "creatorId",
    "notificationContentType",
];
const WEB_PUSH: &[&str] = &[
    "vapidPublicKey",
    "webPushEncryptionP256dhPublicKey",
    "webPushEncryptionSecret",
];
const UPDATABLE: &[&str] = &[
    "expirationDateTime",
    "notificationUrl",
    "encryptionCertificate",
    "encryptionCertificateId",
];
const TLS_VERSIONS: &[&str] = &["v1_0", "v1_1", "v1_2", "v1_3"];

fn bad(message: impl Into<String>) -> NotifyError {
    NotifyError::invalid_request(message)
}

/// The body as an object, or Graph's payload refusal.
fn object<'a>(body: &'a Value, payload: &str) -> Result<&'a Map<String, Value>, NotifyError> {
    body.as_object()
        .ok_or_else(|| bad(format!("{payload} The body must be a JSON object.")))
}

/// A string property; JSON `null` counts as absent.
fn string<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, NotifyError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!(
            "Invalid value for property '{name}': expected a string."
        ))),
    }
}

/// Web Push properties have no place on a webhook subscription.
fn refuse_web_push(m: &Map<String, Value>) -> Result<(), NotifyError> {
    match WEB_PUSH.iter().find(|p| m.get(**p).is_some_and(|v| !v.is_null())) {
        Some(p) => Err(bad(format!(
            "Property '{p}' is only supported on Web Push subscriptions, not on webhook subscriptions."
        ))),
        None => Ok(()),
    }
}

/// `@odata.type`, if sent, must name the subscription type; other annotations are ignored.
fn check_annotations(m: &Map<String, Value>, payload: &str) -> Result<(), NotifyError> {
    match m.get("@odata.type") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t))
            if t.trim_start_matches('#')
                .eq_ignore_ascii_case("microsoft.graph.subscription") =>
        {
            Ok(())
        }
        Some(other) => Err(bad(format!(
            "{payload} Unexpected @odata.type {other}; expected '#microsoft.graph.subscription'."
        ))),
    }
}

/// Parses `resource` as a request to `/v1.0` or (`beta`) `/beta`.
pub fn parse_resource(raw: &str, beta: bool) -> Result<Resource, NotifyError> {
    let unsupported = || {
        bad(format!(
            "Resource '{raw}' is not supported for subscriptions. {SUPPORTED_RESOURCES}"
        ))
    };
    let text = raw.trim();
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let path = path.trim_start_matches('/').trim_end_matches('/');
    if path.eq_ignore_ascii_case(CALL_RECORDS_PATH) {
        return call_records(raw, query);
    }
    let (kind, scope, canonical) = teams_resource(path).ok_or_else(unsupported)?;
    let mut rsc_only = false;
    for option in query.unwrap_or("").split('&').filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let artifacts = kind.starts_with("transcripts.") || kind.starts_with("recordings.");
        if artifacts && name.eq_ignore_ascii_case(RSC_OPTION) {
            rsc_only = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(bad(format!(
                        "Invalid value '{value}' for query option '{RSC_OPTION}': expected true or false."
                    )))
                }
            };
        } else {
            return Err(bad(format!(
                "Query option '{name}' is not supported on resource '{path}'."
            )));
        }
    }
    let mut canonical = canonical;
    if rsc_only {
        canonical.push_str(&format!("?{RSC_OPTION}=true"));
    }
    let resource = Resource {
        kind,
        canonical,
        participant_ids: Vec::new(),
        scope,
        rsc_only,
    };
    if resource.beta_only() && !beta {
        return Err(bad(format!(
            "Resource '{raw}' is only available on the beta endpoint; subscribe through /beta/subscriptions."
        )));
    }
    Ok(resource)
}

/// `communications/callRecords`, optionally with a participant filter.
fn call_records(raw: &str, query: Option<&str>) -> Result<Resource, NotifyError> {
    let participant_ids = match query {
        None | Some("") => Vec::new(),
        Some(q) => participant_filter(raw, q)?,
    };
    let mut canonical = CALL_RECORDS_PATH.to_string();
    if !participant_ids.is_empty() {
        let terms: Vec<String> = participant_ids
            .iter()
            .map(|id| format!("participants/any(p:p/id eq '{}')", id.replace('\'', "''")))
            .collect();
        canonical.push_str("?$filter=");
        canonical.push_str(&terms.join(" or "));
    }
    Ok(Resource {
        kind: CALL_RECORDS_KIND,
        canonical,
        participant_ids,
        scope: None,
        rsc_only: false,
    })
}

/// `communications/calls/getEmergencyEventsByPolicy(policyName='…')` as callhook writes it
/// (the subscription's canonical resource and every notification's `resource`): the name
/// quoted as an OData string literal (`'` doubled), with the characters a URL path cannot
/// carry percent-encoded.
pub fn emergency_resource(policy_name: &str) -> String {
    let quoted = policy_name.replace('\'', "''");
    let encoded = percent_encoding::utf8_percent_encode(&quoted, POLICY_NAME_ESCAPE);
    format!("communications/calls/getEmergencyEventsByPolicy(policyName='{encoded}')")
}

/// What a policy name escapes inside `policyName='…'`.
const POLICY_NAME_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|');

/// The policy name of `communications/calls/getEmergencyEventsByPolicy(policyName='…')`: an
/// OData string literal (`''` for a quote), percent-decoded. `None` when `path` is not that
/// function or the literal is malformed or empty.
fn emergency_policy(path: &str) -> Option<String> {
    const PREFIX: &str = "communications/calls/getemergencyeventsbypolicy(";
    let lower = path.to_ascii_lowercase();
    if !lower.starts_with(PREFIX) || !path.ends_with(')') {
        return None;
    }
    let args = path.get(PREFIX.len()..path.len() - 1)?;
    let decoded = percent_encoding::percent_decode_str(args)
        .decode_utf8()
        .ok()?;
    let (name, value) = decoded.split_once('=')?;
    if !name.trim().eq_ignore_ascii_case("policyName") {
        return None;
    }
    let literal = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    // Inside the literal a quote must come doubled.
    if literal.replace("''", "").contains('\'') {
        return None;
    }
    let policy = literal.replace("''", "'");
    (!policy.is_empty()).then_some(policy)
}

/// The Teams resource paths: `(kind, scope, canonical path)`.
fn teams_resource(path: &str) -> Option<(&'static str, Option<String>, String)> {
    if let Some(policy) = emergency_policy(path) {
        let canonical = emergency_resource(&policy);
        return Some((kind::EMERGENCY_CALL_EVENTS, Some(policy), canonical));
    }
    // `communications/onlineMeetings(joinWebUrl='…')/meetingCallEvents`: the join URL is
    // URL-encoded inside the quotes.
    const MEETING_PREFIX: &str = "communications/onlinemeetings(joinweburl='";
    const MEETING_SUFFIX: &str = "')/meetingcallevents";
    let lower = path.to_ascii_lowercase();
    if lower.starts_with(MEETING_PREFIX) && lower.ends_with(MEETING_SUFFIX) {
        let encoded = path.get(MEETING_PREFIX.len()..path.len() - MEETING_SUFFIX.len())?;
        if encoded.is_empty() || encoded.contains('\'') {
            return None;
        }
        let join_url = percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .ok()?
            .into_owned();
        return Some((
            kind::MEETING_CALL_EVENTS,
            Some(join_url),
            format!("communications/onlineMeetings(joinWebUrl='{encoded}')/meetingCallEvents"),
        ));
    }
    let segments: Vec<&str> = path.split('/').collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let id = |i: usize| -> Option<String> {
        let s = segments.get(i)?;
        (!s.is_empty() && !s.contains(['(', ')', '\''])).then(|| s.to_string())
    };
    let artifact = |name: &str| match name {
        "getalltranscripts" | "transcripts" => Some(true),
        "getallrecordings" | "recordings" => Some(false),
        _ => None,
    };
    let pick =
        |transcripts: bool, t: &'static str, r: &'static str| if transcripts { t } else { r };
    let (kind, scope): (&'static str, Option<String>) = match l.as_slice() {
        ["communications", "onlinemeetings", f @ ("getalltranscripts" | "getallrecordings")] => {
            let t = artifact(f)?;
            (
                pick(
                    t,
                    kind::TRANSCRIPTS_TENANT_MEETINGS,
                    kind::RECORDINGS_TENANT_MEETINGS,
                ),
                None,
            )
        }
        ["communications", "adhoccalls", f @ ("getalltranscripts" | "getallrecordings")] => {
            let t = artifact(f)?;
            (
                pick(
                    t,
                    kind::TRANSCRIPTS_TENANT_ADHOC_CALLS,
                    kind::RECORDINGS_TENANT_ADHOC_CALLS,
                ),
                None,
            )
        }
        ["communications", "onlinemeetings", _, f @ ("transcripts" | "recordings")] => {
            let t = artifact(f)?;
            (
                pick(t, kind::TRANSCRIPTS_MEETING, kind::RECORDINGS_MEETING),
                Some(id(2)?),
            )
        }
        ["communications", "adhoccalls", _, f @ ("transcripts" | "recordings")] => {
            let t = artifact(f)?;
            (
                pick(t, kind::TRANSCRIPTS_ADHOC_CALL, kind::RECORDINGS_ADHOC_CALL),
                Some(id(2)?),
            )
        }
        ["users", _, "onlinemeetings", f @ ("getalltranscripts" | "getallrecordings")] => {
            let t = artifact(f)?;
            (
                pick(
                    t,
                    kind::TRANSCRIPTS_USER_MEETINGS,
                    kind::RECORDINGS_USER_MEETINGS,
                ),
                Some(id(1)?),
            )
        }
        ["users", _, "adhoccalls", f @ ("getalltranscripts" | "getallrecordings")] => {
            let t = artifact(f)?;
            (
                pick(
                    t,
                    kind::TRANSCRIPTS_USER_ADHOC_CALLS,
                    kind::RECORDINGS_USER_ADHOC_CALLS,
                ),
                Some(id(1)?),
            )
        }
        ["appcatalogs", "teamsapps", _, "installedtoonlinemeetings", f @ ("getalltranscripts" | "getallrecordings")] =>
        {
            let t = artifact(f)?;
            (
                pick(t, kind::TRANSCRIPTS_TEAMS_APP, kind::RECORDINGS_TEAMS_APP),
                Some(id(2)?),
            )
        }
        ["users", _, "communications", "callevents"] => (kind::USER_CALL_EVENTS, Some(id(1)?)),
        _ => return None,
    };
    // The canonical spelling keeps the ids as sent and Graph's casing of the fixed segments.
    let canonical: Vec<String> = segments
        .iter()
        .zip(&l)
        .map(|(raw, low)| match *low {
            "appcatalogs" => "appCatalogs".into(),
            "communications" | "users" => low.to_string(),
            "onlinemeetings" => "onlineMeetings".into(),
            "adhoccalls" => "adhocCalls".into(),
            "getalltranscripts" => "getAllTranscripts".into(),
            "getallrecordings" => "getAllRecordings".into(),
            "transcripts" | "recordings" => low.to_string(),
            "teamsapps" => "teamsApps".into(),
            "installedtoonlinemeetings" => "installedToOnlineMeetings".into(),
            "callevents" => "callEvents".into(),
            _ => raw.to_string(),
        })
        .collect();
    Some((kind, scope, canonical.join("/")))
}

/// The ids of `$filter=participants/any(p:p/id eq '…') [or …]`, sorted and deduplicated.
fn participant_filter(raw: &str, query: &str) -> Result<Vec<String>, NotifyError> {
    let refuse = |why: &str| {
        bad(format!(
            "Resource '{raw}' is not supported for subscriptions: {why} {SUPPORTED_RESOURCES}"
        ))
    };
    let mut filter = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        if name != "$filter" || filter.is_some() {
            return Err(refuse(&format!("query option '{name}' is not supported.")));
        }
        filter = Some(
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| refuse("the $filter is not valid UTF-8."))?
                .into_owned(),
        );
    }
    let Some(text) = filter else {
        return Ok(Vec::new());
    };
    let expr = callhook_odata::parse_filter(&text)
        .map_err(|e| refuse(&format!("invalid $filter: {}", e.message())))?;
    let mut ids = Vec::new();
    collect_participants(&expr, &mut ids)
        .map_err(|()| refuse("only participant ids can be filtered on."))?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// `participants/any(p: …)` terms joined by `or`.
fn collect_participants(expr: &Expr, ids: &mut Vec<String>) -> Result<(), ()> {
    match &expr.kind {
        ExprKind::Or(items) => items.iter().try_for_each(|e| collect_participants(e, ids)),
        ExprKind::Lambda(lambda) => {
            let names: Vec<&str> = lambda.collection.iter().map(|s| s.name.as_str()).collect();
            if lambda.op != LambdaOp::Any
                || !matches!(names.as_slice(), ["participants"] | ["participants_v2"])
            {
                return Err(());
            }
            let body = lambda.body.as_ref().ok_or(())?;
            collect_id_terms(&body.predicate, &body.variable, ids)
        }
        _ => Err(()),
    }
}

/// `p/id eq '…'` terms (joined by `or`) inside the lambda over variable `var`.
fn collect_id_terms(expr: &Expr, var: &str, ids: &mut Vec<String>) -> Result<(), ()> {
    match &expr.kind {
        ExprKind::Or(items) => items.iter().try_for_each(|e| collect_id_terms(e, var, ids)),
        ExprKind::Compare {
            op: CmpOp::Eq,
            left,
            right,
        } => {
            let ExprKind::Member(path) = &left.kind else {
                return Err(());
            };
            let names: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
            if names.as_slice() != [var, "id"] {
                return Err(());
            }
            match &right.kind {
                ExprKind::Literal(Literal::String(s) | Literal::Guid(s)) if !s.is_empty() => {
                    ids.push(s.clone());
                    Ok(())
                }
                _ => Err(()),
            }
        }
        _ => Err(()),
    }
}

/// Parses `changeType` for `resource`: a comma list of `created` and `updated`.
pub fn parse_change_type(raw: &str, resource: &Resource) -> Result<ChangeTypes, NotifyError> {
    let mut types = ChangeTypes::default();
    let allowed = resource.change_types();
    let list = allowed.join(", ");
    for part in raw.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad(format!(
                "Invalid changeType '{raw}'. Use a comma-separated list of {list}."
            )));
        }
        if !allowed.contains(&part) {
            let canonical = &resource.canonical;
            return Err(bad(format!(
                "ChangeType '{part}' is not supported for resource '{canonical}'. Supported change types: {list}."
            )));
        }
        match part {
            "created" => types.created = true,
            _ => types.updated = true,
        }
    }
    Ok(types)
}

/// Parses an ISO 8601 timestamp; one without an offset is taken as UTC.
fn parse_time(raw: &str) -> Result<DateTime<Utc>, NotifyError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            bad(format!(
                "The value '{raw}' of expirationDateTime is not a valid DateTimeOffset."
            ))
        })
}

/// The effective expiry for a requested one: refused beyond the resource's maximum, raised to
/// `now` + 45 minutes when earlier.
pub fn expiration(
    raw: &str,
    now: DateTime<Utc>,
    max_minutes: i64,
) -> Result<DateTime<Utc>, NotifyError> {
    let requested = parse_time(raw)?;
    if requested > now + Duration::minutes(max_minutes) {
        return Err(NotifyError::new(
            400,
            "ExtensionError",
            format!("Subscription expiration can only be {max_minutes} minutes in the future."),
        ));
    }
    Ok(requested.max(now + Duration::minutes(MIN_MINUTES)))
}

fn lifecycle_required(expiration: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expiration > now + Duration::minutes(LIFECYCLE_REQUIRED_AFTER_MINUTES)
}

fn checked_url(raw: &str, field: &str, config: &NotifyConfig) -> Result<CheckedUrl, NotifyError> {
    Ok(CheckedUrl {
        raw: raw.to_string(),
        url: check_url(raw, field, config)?,
    })
}

/// A rich subscription's certificate: base64 DER X.509 with an RSA key of 2,048–4,096 bits.
fn check_certificate(raw: &str) -> Result<callhook_crypto::EncryptionCertificate, NotifyError> {
    callhook_crypto::EncryptionCertificate::from_base64_der(raw).map_err(|e| bad(e.to_string()))
}

fn certificate_id(m: &Map<String, Value>) -> Result<Option<String>, NotifyError> {
    let id = string(m, "encryptionCertificateId")?;
    if id.is_some_and(|s| s.chars().count() > CERTIFICATE_ID_MAX) {
        return Err(bad(format!(
            "encryptionCertificateId must be at most {CERTIFICATE_ID_MAX} characters long."
        )));
    }
    Ok(id.map(str::to_string))
}

/// Checks a `POST /subscriptions` body at `now`.
pub fn check_create(
    body: &Value,
    now: DateTime<Utc>,
    config: &NotifyConfig,
    beta: bool,
) -> Result<NewSubscription, NotifyError> {
    let m = object(body, CREATION_PAYLOAD)?;
    check_annotations(m, CREATION_PAYLOAD)?;
    refuse_web_push(m)?;
    if let Some(name) = m.keys().find(|k| {
        !k.starts_with('@')
            && !CREATABLE.contains(&k.as_str())
            && !READ_ONLY.contains(&k.as_str())
            && !WEB_PUSH.contains(&k.as_str())
    }) {
        return Err(bad(format!(
            "{CREATION_PAYLOAD} Unknown property '{name}'."
        )));
    }
    let required = |name: &str| {
        bad(format!(
            "{name} is a required property for subscription creation"
        ))
    };

    let resource_text = string(m, "resource")?.ok_or_else(|| required("resource"))?;
    let resource = parse_resource(resource_text, beta)?;
    let change_type_text = string(m, "changeType")?.ok_or_else(|| required("changeType"))?;
    let change_types = parse_change_type(change_type_text, &resource)?;
    let notification_raw =
        string(m, "notificationUrl")?.ok_or_else(|| required("notificationUrl"))?;
    let notification_url = checked_url(notification_raw, "NotificationUrl", config)?;
    let lifecycle_url = string(m, "lifecycleNotificationUrl")?
        .map(|raw| checked_url(raw, "LifecycleNotificationUrl", config))
        .transpose()?;
    let expiration = expiration(
        string(m, "expirationDateTime")?.ok_or_else(|| bad(EXPIRATION_REQUIRED))?,
        now,
        resource.max_minutes(),
    )?;
    if lifecycle_url.is_none() && lifecycle_required(expiration, now) {
        return Err(bad(LIFECYCLE_REQUIRED));
    }

    let client_state = string(m, "clientState")?;
    if client_state.is_some_and(|s| s.chars().count() > CLIENT_STATE_MAX) {
        return Err(bad(format!(
            "clientState must be at most {CLIENT_STATE_MAX} characters long."
        )));
    }
    let include_resource_data = match m.get("includeResourceData") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            return Err(bad(
                "Invalid value for property 'includeResourceData': expected a boolean.",
            ))
        }
    };
    let encryption_certificate = string(m, "encryptionCertificate")?;
    let encryption_certificate_id = certificate_id(m)?;
    match (resource.rich(), include_resource_data) {
        (RichMode::Never, true) => {
            return Err(bad(format!(
                "includeResourceData is not supported for resource '{}': call-record change notifications carry no resource data (basic notifications only).",
                resource.canonical
            )))
        }
        (RichMode::Required, false) => {
            return Err(bad(format!(
                "Resource '{}' supports only rich notifications: set includeResourceData to true and send encryptionCertificate and encryptionCertificateId.",
                resource.canonical
            )))
        }
        (_, true) => {
            let certificate =
                encryption_certificate.ok_or_else(|| required("encryptionCertificate"))?;
            if encryption_certificate_id.is_none() {
                return Err(required("encryptionCertificateId"));
            }
            check_certificate(certificate)?;
        }
        (_, false) => {}
    }
    let tls = string(m, "latestSupportedTlsVersion")?.unwrap_or("v1_2");
    if !TLS_VERSIONS.contains(&tls) {
        return Err(bad(format!(
            "Invalid latestSupportedTlsVersion '{tls}'. Supported values: v1_0, v1_1, v1_2, v1_3."
        )));
    }
    if let Some(t) = string(m, "notificationContentType")? {
        if !t.eq_ignore_ascii_case("application/json") {
            return Err(bad(format!(
                "notificationContentType '{t}' is not supported; use application/json."
            )));
        }
    }
    let query_options = string(m, "notificationQueryOptions")?;
    if query_options.is_some_and(|q| !q.is_empty()) {
        return Err(bad(format!(
            "notificationQueryOptions is not supported for resource '{}'.",
            resource.canonical
        )));
    }

    Ok(NewSubscription {
        resource_text: resource_text.to_string(),
        resource,
        change_type_text: change_type_text.to_string(),
        change_types,
        notification_url,
        lifecycle_url,
        expiration,
        client_state: client_state.map(str::to_string),
        include_resource_data,
        encryption_certificate: encryption_certificate.map(str::to_string),
        encryption_certificate_id,
        latest_supported_tls_version: tls.to_string(),
        notification_url_app_id: string(m, "notificationUrlAppId")?.map(str::to_string),
        notification_query_options: query_options.map(str::to_string),
    })
}

/// Checks a `PATCH /subscriptions/{id}` body at `now` against the subscription it changes.
pub fn check_patch(
    body: &Value,
    existing: Existing<'_>,
    now: DateTime<Utc>,
    config: &NotifyConfig,
) -> Result<SubscriptionPatch, NotifyError> {
    let m = object(body, UPDATE_PAYLOAD)?;
    check_annotations(m, UPDATE_PAYLOAD)?;
    refuse_web_push(m)?;
    for (name, value) in m {
        if name.starts_with('@') || UPDATABLE.contains(&name.as_str()) {
            continue;
        }
        if name == "lifecycleNotificationUrl" {
            // Sending back the URL it already has changes nothing (clients that PATCH the
            // whole object); adding or changing one is refused.
            if value
                .as_str()
                .is_some_and(|v| Some(v) == existing.lifecycle_url)
            {
                continue;
            }
            return Err(bad(LIFECYCLE_NOT_UPDATABLE));
        }
        if CREATABLE.contains(&name.as_str()) || READ_ONLY.contains(&name.as_str()) {
            return Err(bad(format!(
                "Property '{name}' cannot be updated. Only expirationDateTime, notificationUrl, encryptionCertificate and encryptionCertificateId can be changed."
            )));
        }
        return Err(bad(format!("{UPDATE_PAYLOAD} Unknown property '{name}'.")));
    }
    let expiration = string(m, "expirationDateTime")?
        .map(|raw| expiration(raw, now, existing.max_minutes))
        .transpose()?;
    if let Some(e) = expiration {
        if existing.lifecycle_url.is_none() && lifecycle_required(e, now) {
            return Err(bad(LIFECYCLE_REQUIRED_ON_RENEWAL));
        }
    }
    let patch = SubscriptionPatch {
        expiration,
        notification_url: string(m, "notificationUrl")?
            .map(|raw| checked_url(raw, "NotificationUrl", config))
            .transpose()?,
        encryption_certificate: string(m, "encryptionCertificate")?
            .map(|c| check_certificate(c).map(|_| c.to_string()))
            .transpose()?,
        encryption_certificate_id: certificate_id(m)?,
    };
    if patch == SubscriptionPatch::default() {
        return Err(bad(
            "The update must change expirationDateTime, notificationUrl, encryptionCertificate or encryptionCertificateId.",
        ));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn at(minutes: i64) -> String {
        (now() + Duration::minutes(minutes)).to_rfc3339()
    }

    fn valid() -> Value {
        json!({
            "changeType": "created,updated",
            "notificationUrl": "https://hooks.example.com/notify?x=1",
            "lifecycleNotificationUrl": "https://hooks.example.com/lifecycle",
            "resource": "/communications/callRecords",
            "expirationDateTime": at(600),
            "clientState": "secret"
        })
    }

    fn create(body: Value) -> Result<NewSubscription, NotifyError> {
        check_create(&body, now(), &NotifyConfig::default(), false)
    }

    fn refusal(body: Value) -> (u16, &'static str, String) {
        match create(body) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => (e.status, e.code, e.message),
        }
    }

    fn with(key: &str, value: Value) -> Value {
        let mut b = valid();
        b[key] = value;
        b
    }

    fn without(key: &str) -> Value {
        let mut b = valid();
        if let Some(m) = b.as_object_mut() {
            m.remove(key);
        }
        b
    }

    #[test]
    fn a_valid_call_record_subscription_is_accepted_as_sent() -> Result<(), NotifyError> {
        let s = create(valid())?;
        assert_eq!(s.resource_text, "/communications/callRecords");
        assert_eq!(s.resource.canonical, "communications/callRecords");
        assert_eq!(s.resource.kind, CALL_RECORDS_KIND);
        assert!(s.change_types.created && s.change_types.updated);
        assert_eq!(
            s.notification_url.raw,
            "https://hooks.example.com/notify?x=1"
        );
        assert_eq!(s.expiration, now() + Duration::minutes(600));
        assert_eq!(s.client_state.as_deref(), Some("secret"));
        assert_eq!(s.latest_supported_tls_version, "v1_2");
        Ok(())
    }

    #[test]
    fn resource_spellings_and_participant_filters_are_parsed() -> Result<(), NotifyError> {
        assert_eq!(
            parse_resource("communications/callRecords", false)?.canonical,
            "communications/callRecords"
        );
        let r = parse_resource(
            "/communications/callRecords?$filter=participants/any(p:p/id eq 'bbb') or participants_v2/any(x:x/id eq 'aaa')", false)?;
        assert_eq!(r.participant_ids, vec!["aaa", "bbb"]);
        assert_eq!(
            r.canonical,
            "communications/callRecords?$filter=participants/any(p:p/id eq 'aaa') or participants/any(p:p/id eq 'bbb')"
        );
        let encoded = parse_resource(
            "communications/callRecords?$filter=participants%2Fany(p%3Ap%2Fid%20eq%20'u1')",
            false,
        )?;
        assert_eq!(encoded.participant_ids, vec!["u1"]);
        let inner_or = parse_resource(
            "communications/callRecords?$filter=participants/any(p:p/id eq 'u2' or p/id eq 'u1')",
            false,
        )?;
        assert_eq!(inner_or.participant_ids, vec!["u1", "u2"]);
        Ok(())
    }

    #[test]
    fn emergency_events_are_rich_only_updated_and_one_day() -> Result<(), NotifyError> {
        let r = "communications/calls/getEmergencyEventsByPolicy(policyName='EmergencyPolicy')";
        let parsed = parse_resource(r, true)?;
        assert_eq!(parsed.kind, kind::EMERGENCY_CALL_EVENTS);
        assert_eq!(parsed.scope.as_deref(), Some("EmergencyPolicy"));
        assert_eq!(parsed.canonical, r);
        assert_eq!(parsed.rich(), RichMode::Required);
        assert_eq!(parsed.change_types(), ["updated"]);
        assert_eq!(parsed.max_minutes(), 1440);
        // Graph's quoting: '' is a quote, percent-encoding is decoded; spellings agree.
        let quoted = parse_resource(
            "/Communications/Calls/getEmergencyEventsByPolicy(policyName='O''Hare%20Site')",
            true,
        )?;
        assert_eq!(quoted.scope.as_deref(), Some("O'Hare Site"));
        assert_eq!(
            quoted.canonical,
            "communications/calls/getEmergencyEventsByPolicy(policyName='O''Hare%20Site')"
        );
        assert_eq!(emergency_resource("O'Hare Site"), quoted.canonical);
        assert_eq!(
            parse_resource(
                "communications/calls/getEmergencyEventsByPolicy(policyName=%27O%27%27Hare Site%27)",
                true
            )?,
            quoted
        );
        for bad in [
            "communications/calls/getEmergencyEventsByPolicy(policyName='')",
            "communications/calls/getEmergencyEventsByPolicy(policyName='a'b')",
            "communications/calls/getEmergencyEventsByPolicy(policyName=a)",
            "communications/calls/getEmergencyEventsByPolicy(name='a')",
            "communications/calls/getEmergencyEventsByPolicy",
        ] {
            assert!(parse_resource(bad, true).is_err(), "{bad}");
        }
        assert_eq!(
            parse_resource(r, false)?,
            parsed,
            "v1.0 serves it as beta does"
        );
        let basic = json!({
            "changeType": "updated",
            "notificationUrl": "https://hooks.example.com/notify",
            "resource": r,
            "expirationDateTime": at(50),
        });
        let refused = check_create(&basic, now(), &NotifyConfig::default(), true)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            refused.contains("supports only rich notifications"),
            "{refused}"
        );
        Ok(())
    }

    #[test]
    fn other_resources_and_filters_are_refused_by_name() {
        for r in [
            "communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)",
            "communications/callRecords/abc",
            "communications/onlineMeetings/getAllTranscript",
            "me/messages",
            "",
        ] {
            let e = parse_resource(r, false).err();
            assert!(
                e.as_ref().is_some_and(|e| e.status == 400
                    && e.code == "InvalidRequest"
                    && e.message.starts_with(&format!("Resource '{r}' is not supported"))),
                "{r}: {e:?}"
            );
        }
        for r in [
            "communications/callRecords?$filter=startDateTime ge 2024-01-01T00:00:00Z",
            "communications/callRecords?$filter=participants/all(p:p/id eq 'a')",
            "communications/callRecords?$filter=participants/any(p:p/id ne 'a')",
            "communications/callRecords?$filter=participants/any(p:p/id eq 'a') and participants/any(p:p/id eq 'b')",
            "communications/callRecords?$top=5",
            "communications/callRecords?$filter=(((",
        ] {
            assert!(parse_resource(r, false).is_err(), "{r}");
        }
    }

    #[test]
    fn change_types_are_created_and_updated_only() {
        let (status, code, msg) = refusal(with("changeType", json!("created,deleted")));
        assert_eq!((status, code), (400, "InvalidRequest"));
        assert_eq!(msg, "ChangeType 'deleted' is not supported for resource 'communications/callRecords'. Supported change types: created, updated.");
        assert!(create(with("changeType", json!("renamed"))).is_err());
        assert!(create(with("changeType", json!(""))).is_err());
        assert!(create(with("changeType", json!("updated"))).is_ok_and(|s| !s.change_types.created));
        assert_eq!(
            create(with("changeType", json!("updated, created")))
                .map(|s| s.change_types.canonical())
                .ok(),
            Some("created,updated".to_string())
        );
    }

    #[test]
    fn expiration_is_required_floored_and_capped() {
        assert_eq!(
            refusal(without("expirationDateTime")),
            (400, "InvalidRequest", EXPIRATION_REQUIRED.to_string())
        );
        assert_eq!(
            refusal(with("expirationDateTime", json!(at(4231)))),
            (
                400,
                "ExtensionError",
                "Subscription expiration can only be 4230 minutes in the future.".to_string()
            )
        );
        assert!(create(with("expirationDateTime", json!(at(4230)))).is_ok());
        let floored = create(with("expirationDateTime", json!(at(-30)))).map(|s| s.expiration);
        assert_eq!(floored.ok(), Some(now() + Duration::minutes(45)));
        let seven = create(with(
            "expirationDateTime",
            json!("2025-03-02T00:00:00.0000000Z"),
        ));
        assert!(seven.is_ok());
        assert!(create(with("expirationDateTime", json!("tomorrow"))).is_err());
        assert!(create(with("expirationDateTime", json!(5))).is_err());
    }

    #[test]
    fn a_lifecycle_url_is_required_beyond_one_hour() {
        let mut b = without("lifecycleNotificationUrl");
        b["expirationDateTime"] = json!(at(61));
        assert_eq!(
            refusal(b.clone()),
            (400, "InvalidRequest", LIFECYCLE_REQUIRED.to_string())
        );
        b["expirationDateTime"] = json!(at(60));
        assert!(create(b).is_ok());
    }

    #[test]
    fn client_state_is_limited_to_128_characters() {
        assert!(create(with("clientState", json!("é".repeat(128)))).is_ok());
        assert_eq!(
            refusal(with("clientState", json!("x".repeat(129)))),
            (
                400,
                "InvalidRequest",
                "clientState must be at most 128 characters long.".to_string()
            )
        );
    }

    #[test]
    fn urls_are_required_and_checked() {
        assert_eq!(
            refusal(without("notificationUrl")).2,
            "notificationUrl is a required property for subscription creation"
        );
        assert_eq!(
            refusal(with("notificationUrl", json!("http://hooks.example.com/x"))).2,
            "NotificationUrl scheme='http' is not supported."
        );
        assert_eq!(
            refusal(with(
                "lifecycleNotificationUrl",
                json!("http://hooks.example.com/x")
            ))
            .2,
            "LifecycleNotificationUrl scheme='http' is not supported."
        );
        assert!(create(with("notificationUrl", json!("http://127.0.0.1:8080/x"))).is_ok());
    }

    #[test]
    fn rich_web_push_and_unknown_properties_are_refused() {
        let (s, c, m) = refusal(with("includeResourceData", json!(true)));
        assert_eq!((s, c), (400, "InvalidRequest"));
        assert!(m.starts_with(
            "includeResourceData is not supported for resource 'communications/callRecords'"
        ));
        assert!(create(with("includeResourceData", json!(false))).is_ok());
        let (_, _, m) = refusal(with("vapidPublicKey", json!("k")));
        assert!(
            m.contains("'vapidPublicKey'") && m.contains("Web Push"),
            "{m}"
        );
        assert_eq!(
            refusal(with("changetype", json!("created"))).2,
            "Could not process subscription creation payload. Are all property names spelled and camelCased properly? Unknown property 'changetype'."
        );
        assert!(create(json!([])).is_err());
        assert!(create(with("resource", json!(3))).is_err());
        assert!(create(with("latestSupportedTlsVersion", json!("v9"))).is_err());
        assert!(create(with("@odata.type", json!("#microsoft.graph.subscription"))).is_ok());
        assert!(create(with("id", json!("ignored"))).is_ok());
    }

    fn patch(body: Value, lifecycle: Option<&str>) -> Result<SubscriptionPatch, NotifyError> {
        check_patch(
            &body,
            Existing {
                lifecycle_url: lifecycle,
                max_minutes: CALL_RECORDS_MAX_MINUTES,
            },
            now(),
            &NotifyConfig::default(),
        )
    }

    #[test]
    fn patch_changes_only_expiry_url_and_certificate() -> Result<(), NotifyError> {
        let p = patch(
            json!({ "expirationDateTime": at(100) }),
            Some("https://l/x"),
        )?;
        assert_eq!(p.expiration, Some(now() + Duration::minutes(100)));
        let p = patch(json!({ "notificationUrl": "https://h/new" }), None)?;
        assert_eq!(
            p.notification_url.map(|u| u.raw).as_deref(),
            Some("https://h/new")
        );
        let e = patch(json!({ "clientState": "x" }), None).err();
        assert!(e.is_some_and(|e| e
            .message
            .starts_with("Property 'clientState' cannot be updated.")));
        let e = patch(json!({ "lifecycleNotificationUrl": "https://l/x" }), None).err();
        assert_eq!(
            e.map(|e| e.message),
            Some(LIFECYCLE_NOT_UPDATABLE.to_string())
        );
        assert!(patch(json!({ "bogus": 1 }), None).is_err());
        assert!(patch(json!({}), None).is_err());
        let e = patch(json!({ "expirationDateTime": at(5000) }), None).err();
        assert_eq!(e.map(|e| e.code), Some("ExtensionError"));
        let e = patch(json!({ "expirationDateTime": at(120) }), None).err();
        assert_eq!(
            e.map(|e| e.message),
            Some(LIFECYCLE_REQUIRED_ON_RENEWAL.to_string())
        );
        Ok(())
    }
}
