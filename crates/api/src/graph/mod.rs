//! The Graph-compatible routes, mounted under `/v1.0` and `/beta`. One module per Graph
//! resource; this file holds what they share: the API version, query options and `Prefer`,
//! the response content type, and the shaping rules every returned entity goes through.

pub mod artifacts;
pub mod batch;
pub mod call_events;
pub mod call_records;
pub mod metadata;
pub mod online_meetings;
pub mod reports;
pub mod subscriptions;
pub mod users;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use callhook_odata::{Preferences, QueryOptions, SystemOption};

use crate::error::{GraphError, GraphResult};

/// Which Graph endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    pub fn is_beta(self) -> bool {
        self == ApiVersion::Beta
    }
}

/// Graph's JSON content type.
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A 200 answer with Graph's headers, and `Preference-Applied` when a preference was honoured.
pub fn ok_json(body: &Value, applied: &Preferences) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    if let Some(v) = callhook_odata::preference_applied(applied) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert("preference-applied", v);
        }
    }
    resp
}

/// A single entity's 200 answer: `@odata.context` first, then its members, nulls dropped on
/// `Prefer: omit-values=nulls`.
pub fn entity_json(context: String, entity: Map<String, Value>, prefs: &Preferences) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    out.extend(entity);
    let mut body = Value::Object(out);
    if prefs.omit_nulls {
        omit_nulls(&mut body);
    }
    ok_json(&body, prefs)
}

/// Converts an OData parse error into Graph's 400.
pub fn bad_query(e: callhook_odata::Error) -> GraphError {
    GraphError::bad_request(e.message().to_string())
}

/// The query options of a request, refusing any the route does not support.
pub fn query_options(
    raw: Option<&str>,
    allowed: &[SystemOption],
) -> Result<QueryOptions, GraphError> {
    let q = callhook_odata::split_query(raw.unwrap_or("")).map_err(bad_query)?;
    q.allow_only(allowed).map_err(bad_query)?;
    Ok(q)
}

pub fn preferences(headers: &HeaderMap) -> Preferences {
    callhook_odata::parse_prefer(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// The page size of a request, and the preferences to report as applied: the client's
/// `odata.maxpagesize` when within `max`, else the size its `$skiptoken` carries, else `max`.
pub fn page_size(prefs: &Preferences, max: u32, token_size: Option<u32>) -> (u32, Preferences) {
    let mut applied = *prefs;
    let n = match prefs.max_page_size {
        Some(n) if n > 0 && n <= max => n,
        Some(_) => {
            applied.max_page_size = None;
            max
        }
        None => token_size.unwrap_or(max),
    };
    (n, applied)
}

/// Keeps only `select`ed members of an entity (annotations such as `@odata.type` stay).
pub fn apply_select(entity: &mut Map<String, Value>, select: &[String]) {
    if select.is_empty() {
        return;
    }
    entity.retain(|k, _| {
        let base = k.split('@').next().unwrap_or(k);
        k.starts_with('@') || select.iter().any(|s| s == base)
    });
}

/// `Prefer: omit-values=nulls`: drops null members and empty collections, recursively.
pub fn omit_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !(x.is_null() || matches!(x, Value::Array(a) if a.is_empty())));
            m.values_mut().for_each(omit_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(omit_nulls),
        _ => {}
    }
}

/// A `{"@odata.context": …, "value": […]}` collection page.
pub fn collection(context: String, value: Vec<Value>, next_link: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("@odata.context".into(), Value::String(context));
    if let Some(next) = next_link {
        m.insert("@odata.nextLink".into(), Value::String(next));
    }
    m.insert("value".into(), Value::Array(value));
    Value::Object(m)
}

/// Graph's answer to a `$skiptoken` this installation did not issue for this caller.
pub fn invalid_skiptoken() -> GraphError {
    GraphError::bad_request(
        "The $skiptoken value is not valid. Follow @odata.nextLink as returned, without changing it.",
    )
}

/// A `$skiptoken` carrying `state` (sealed, so clients can neither forge nor alter it).
pub fn seal_skiptoken<T: serde::Serialize>(app: &crate::AppState, state: &T) -> String {
    app.sealer
        .seal(&serde_json::to_vec(state).unwrap_or_default())
}

/// The paging state behind a `$skiptoken`; [`invalid_skiptoken`] for anything not sealed here.
/// Callers still check that the state belongs to the caller.
pub fn open_skiptoken<T: serde::de::DeserializeOwned>(
    app: &crate::AppState,
    raw: &str,
) -> GraphResult<T> {
    let bytes = app.sealer.open(raw).ok_or_else(invalid_skiptoken)?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_skiptoken())
}

/// Percent-encodes a value for a URL query.
pub fn encode_query_value(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, KEEP).to_string()
}

/// Percent-encodes one path segment (ids put into links).
pub fn encode_segment(s: &str) -> String {
    encode_query_value(s)
}
