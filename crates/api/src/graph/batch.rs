//! JSON batching (`POST /v1.0/$batch`, `/beta/$batch`) as Graph documents it: up to 20
//! requests, each answered with its own `status`, `headers` and `body` while the batch itself
//! answers 200. Every inner request is dispatched through callhook's own router (a clone of it,
//! with the outer `Authorization`), so it meets exactly the auth, permission, throttling and
//! routing a direct request would; nothing here knows any resource.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use base64::Engine as _;
use serde_json::{Map, Value};
use tower::ServiceExt as _;

use crate::error::{GraphError, GraphResult};
use crate::graph::ApiVersion;
use crate::AppState;

/// Graph's limit on requests in one batch.
pub const MAX_REQUESTS: usize = 20;

/// Inner answers larger than this become a 500 of their own (the batch still answers 200).
const MAX_INNER_BODY: usize = 64 * 1024 * 1024;

/// The router inner requests are dispatched through. It is the whole route table without this
/// extension, so a `$batch` reached from inside a batch can never recurse.
#[derive(Clone)]
pub struct Dispatcher(pub Router);

/// One parsed inner request.
struct Inner {
    id: String,
    method: Method,
    /// Path and query below the version, starting with `/`.
    target: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    depends_on: Vec<usize>,
}

/// What an inner request answered.
struct Outcome {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Outcome {
    fn failed(&self) -> bool {
        !self.status.is_success()
    }

    /// An answer built here rather than by a route (424, or a failure to read an answer).
    fn from_error(e: GraphError) -> Self {
        let body = serde_json::to_vec(&e.body()).unwrap_or_default();
        let (parts, _) = e.into_response().into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.into(),
        }
    }
}

/// `POST /$batch`.
pub async fn batch(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    dispatcher: Option<Extension<Dispatcher>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let Some(Extension(Dispatcher(router))) = dispatcher else {
        return Err(nested_batch());
    };
    let bytes = crate::ingest::json_body(&state, &headers, body)?;
    let requests = parse(&bytes, version, &state.base_url(&headers))?;

    let outer = OuterRequest::new(&uri, &headers, version);
    let sequential = requests.iter().any(|r| !r.depends_on.is_empty());
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    outcomes.resize_with(requests.len(), || None);
    if sequential {
        // Graph runs a sequential batch one request at a time, in order; a request whose
        // dependency failed is not run and answers 424.
        for (i, r) in requests.iter().enumerate() {
            let failed = r
                .depends_on
                .iter()
                .find(|&&d| outcomes[d].as_ref().is_none_or(Outcome::failed));
            outcomes[i] = Some(match failed {
                Some(&d) => failed_dependency(&requests[d].id),
                None => dispatch(&router, &outer, r).await,
            });
        }
    } else {
        let mut set = tokio::task::JoinSet::new();
        for (i, r) in requests.iter().enumerate() {
            let router = router.clone();
            let req = outer.request(r);
            set.spawn(async move { (i, run(router, req).await) });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, outcome)) => outcomes[i] = Some(outcome),
                Err(e) => tracing::error!(error = %e, "batch: an inner request's task failed"),
            }
        }
    }

    let responses = requests
        .iter()
        .zip(outcomes)
        .map(|(r, o)| {
            item(
                &r.id,
                o.unwrap_or_else(|| Outcome::from_error(GraphError::internal())),
            )
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("responses".into(), Value::Array(responses));
    Ok(super::ok_json(&Value::Object(doc), &Default::default()))
}

/// What every inner request takes from the outer one.
struct OuterRequest {
    /// `scheme://authority` when the outer request carried one (HTTP/2), so links inside
    /// inner answers name the host the client used.
    authority: Option<String>,
    version: ApiVersion,
    /// Authorization, Host and client-request-id of the batch.
    inherited: HeaderMap,
}

impl OuterRequest {
    fn new(uri: &Uri, headers: &HeaderMap, version: ApiVersion) -> Self {
        let authority = match (uri.scheme_str(), uri.authority()) {
            (Some(s), Some(a)) => Some(format!("{s}://{a}")),
            _ => None,
        };
        let mut inherited = HeaderMap::new();
        for name in [header::AUTHORIZATION, header::HOST] {
            if let Some(v) = headers.get(&name) {
                inherited.insert(name, v.clone());
            }
        }
        if let Some(v) = headers.get("client-request-id") {
            inherited.insert(HeaderName::from_static("client-request-id"), v.clone());
        }
        Self {
            authority,
            version,
            inherited,
        }
    }

    fn request(&self, r: &Inner) -> Request<Body> {
        let uri = format!(
            "{}/{}{}",
            self.authority.as_deref().unwrap_or(""),
            self.version.as_str(),
            r.target
        );
        let mut req = Request::new(Body::from(r.body.clone().unwrap_or_default()));
        *req.method_mut() = r.method.clone();
        // The target was checked to be a valid relative reference when parsed.
        *req.uri_mut() = uri.parse().unwrap_or_default();
        let h = req.headers_mut();
        for (name, value) in &r.headers {
            h.append(name, value.clone());
        }
        // The batch's own credentials and host always win over an inner request's headers.
        for (name, value) in &self.inherited {
            if name == "client-request-id" && h.contains_key(name) {
                continue;
            }
            h.insert(name, value.clone());
        }
        req
    }
}

async fn dispatch(router: &Router, outer: &OuterRequest, r: &Inner) -> Outcome {
    run(router.clone(), outer.request(r)).await
}

async fn run(router: Router, req: Request<Body>) -> Outcome {
    let resp = match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX_INNER_BODY).await {
        Ok(body) => Outcome {
            status: parts.status,
            headers: parts.headers,
            body,
        },
        Err(e) => {
            tracing::error!(error = %e, "batch: reading an inner answer failed");
            Outcome::from_error(GraphError::internal())
        }
    }
}

/// The answer of a request whose dependency `dependency` failed.
fn failed_dependency(dependency: &str) -> Outcome {
    Outcome::from_error(GraphError::new(
        StatusCode::FAILED_DEPENDENCY,
        "FailedDependency",
        format!("The request was not run because request '{dependency}' it depends on failed."),
    ))
}

/// One member of `responses`: JSON bodies inline, anything else base64 as Graph does.
fn item(id: &str, o: Outcome) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.to_string()));
    m.insert("status".into(), Value::from(o.status.as_u16()));
    let mut headers = Map::new();
    for (name, value) in &o.headers {
        if SKIPPED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.insert(
                graph_header_name(name.as_str()),
                Value::String(v.to_string()),
            );
        }
    }
    let is_json = o
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let body = if o.body.is_empty() {
        None
    } else if is_json {
        Some(serde_json::from_slice(&o.body).unwrap_or_else(|_| {
            Value::String(base64::engine::general_purpose::STANDARD.encode(&o.body))
        }))
    } else {
        Some(Value::String(
            base64::engine::general_purpose::STANDARD.encode(&o.body),
        ))
    };
    m.insert("headers".into(), Value::Object(headers));
    if let Some(body) = body {
        m.insert("body".into(), body);
    }
    Value::Object(m)
}

/// Headers that describe the transport or the batch, not an inner answer.
const SKIPPED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
    "request-id",
    "client-request-id",
    "x-callhook-version",
];

/// Header names as Graph spells them in batch answers (`Content-Type`, `OData-Version`).
fn graph_header_name(name: &str) -> String {
    match name {
        "odata-version" => "OData-Version".into(),
        "www-authenticate" => "WWW-Authenticate".into(),
        _ => name
            .split('-')
            .map(|part| {
                let mut c = part.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// Graph's 400 for a batch it cannot read.
fn invalid_payload() -> GraphError {
    GraphError::bad_request("Invalid batch payload format.")
}

fn nested_batch() -> GraphError {
    GraphError::bad_request("A batch request cannot contain another batch request.")
}

/// The requests of a batch body, checked as Graph checks them before running any.
fn parse(bytes: &[u8], version: ApiVersion, base: &str) -> GraphResult<Vec<Inner>> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|_| invalid_payload())?;
    let list = doc
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(invalid_payload)?;
    if list.is_empty() {
        return Err(GraphError::bad_request(
            "The batch request must contain at least one request.",
        ));
    }
    if list.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "The number of requests in a batch exceeds the limit of {MAX_REQUESTS}."
        )));
    }
    // Ids are compared without case, as Graph does.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let obj = raw.as_object().ok_or_else(invalid_payload)?;
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(invalid_payload)?;
        if index.insert(id.to_lowercase(), i).is_some() {
            return Err(GraphError::bad_request(format!(
                "Request Id {id} has to be unique in a batch."
            )));
        }
        let method = obj
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .ok_or_else(invalid_payload)?;
        let url = obj
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(invalid_payload)?;
        let target = target(url, version, base)?;
        let headers = inner_headers(obj.get("headers"))?;
        let body = match obj.get("body") {
            None | Some(Value::Null) => None,
            Some(b) => Some(inner_body(id, b, &headers)?),
        };
        let depends_on = match obj.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|d| {
                    let d = d.as_str().ok_or_else(invalid_payload)?;
                    // A dependency must come earlier in the batch: that also rules out cycles.
                    index
                        .get(&d.to_lowercase())
                        .copied()
                        .filter(|&j| j < i)
                        .ok_or_else(|| {
                            GraphError::bad_request(format!(
                                "Invalid dependency for request Id {id}: request Id {d} is not an earlier request of this batch."
                            ))
                        })
                })
                .collect::<GraphResult<_>>()?,
            Some(_) => return Err(invalid_payload()),
        };
        out.push(Inner {
            id: id.to_string(),
            method,
            target,
            headers,
            body,
            depends_on,
        });
    }
    // Graph runs a batch either fully in parallel or fully in sequence: when any request
    // names a dependency, every request but the first must.
    if out.iter().any(|r| !r.depends_on.is_empty())
        && out.iter().skip(1).any(|r| r.depends_on.is_empty())
    {
        return Err(GraphError::bad_request(
            "Batch should be either fully sequential or fully parallel.",
        ));
    }
    Ok(out)
}

/// The path and query an inner `url` names below the batch's version: `/users` or `users`,
/// or an absolute URL naming this server and the batch's version, which msgraph-core sends
/// once its client has made any request (msgraph-sdk-python#1015; Graph itself refuses it, see
/// docs/graph-behaviour.md). Nothing else is rewritten: another absolute URL, or one that
/// repeats the version (`/v1.0/users`, as the JS client 3.0.7 sends it), is routed as it
/// stands and so answers Graph's inner 400 `Resource not found for the segment 'https:'`
/// (or `'v1.0'`).
fn target(url: &str, version: ApiVersion, base: &str) -> GraphResult<String> {
    let bad = || GraphError::bad_request(format!("Invalid request URL '{url}' in the batch."));
    let relative = match own_url(url, version, base) {
        Some(rest) => rest,
        None if url.starts_with('/') => url.to_string(),
        None => format!("/{url}"),
    };
    if relative.contains('#') || relative.starts_with("//") {
        return Err(bad());
    }
    let path = relative.split('?').next().unwrap_or("");
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if first.eq_ignore_ascii_case("$batch") || first.eq_ignore_ascii_case("%24batch") {
        return Err(nested_batch());
    }
    if path.trim_start_matches('/').is_empty() || relative.parse::<Uri>().is_err() {
        return Err(bad());
    }
    Ok(relative)
}

/// The part after `{base}/{version}` of an absolute `url` on this server (scheme, host and
/// port as the client reaches it), starting with `/`.
fn own_url(url: &str, version: ApiVersion, base: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let base = url::Url::parse(base).ok()?;
    let same_server = parsed.scheme() == base.scheme()
        && parsed.host_str()?.eq_ignore_ascii_case(base.host_str()?)
        && parsed.port_or_known_default() == base.port_or_known_default();
    let prefix = format!("/{}/", version.as_str());
    if !same_server || !parsed.path().starts_with(&prefix) {
        return None;
    }
    // Keep the client's own encoding of path and query.
    let start = url.find(&prefix)? + prefix.len() - 1;
    Some(url[start..].to_string())
}

/// An inner request's `headers`: names to string values.
fn inner_headers(raw: Option<&Value>) -> GraphResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Ok(headers);
    };
    let obj = raw.as_object().ok_or_else(invalid_payload)?;
    for (name, value) in obj {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(invalid_payload()),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid_payload())?;
        let value = HeaderValue::from_str(&text).map_err(|_| invalid_payload())?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// An inner request's `body`: a JSON value sent as JSON, or a base64 string (the SDKs send
/// non-object bodies that way). Graph requires a `Content-Type` with any body.
fn inner_body(id: &str, body: &Value, headers: &HeaderMap) -> GraphResult<Vec<u8>> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(GraphError::bad_request(format!(
            "The Content-Type header is required for request Id {id}, which has a body."
        )));
    };
    let json = ct
        .to_str()
        .unwrap_or("")
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json");
    match body {
        Value::String(s) if !json || looks_base64(s) => decode_base64(s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "The body of request Id {id} is neither JSON nor base64."
            ))
        }),
        other => serde_json::to_vec(other).map_err(|_| invalid_payload()),
    }
}

fn looks_base64(s: &str) -> bool {
    !s.is_empty() && decode_base64(s).is_some()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str) -> GraphResult<Vec<Inner>> {
        parse(body.as_bytes(), ApiVersion::V1, "https://localhost:8443")
    }

    fn message(r: GraphResult<Vec<Inner>>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => {
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                e.message
            }
        }
    }

    #[test]
    fn urls_relative_or_absolute_on_this_server_and_version() {
        let (v, base) = (ApiVersion::V1, "https://localhost:8443");
        assert_eq!(target("/users", v, base).unwrap(), "/users");
        assert_eq!(target("users?$top=1", v, base).unwrap(), "/users?$top=1");
        assert_eq!(
            target(
                "https://LOCALHOST:8443/v1.0/communications/callRecords/x?%24expand=sessions",
                v,
                base
            )
            .unwrap(),
            "/communications/callRecords/x?%24expand=sessions"
        );
        // Routed as they stand (the router answers Graph's 400 for the first segment).
        assert_eq!(target("/v1.0/users", v, base).unwrap(), "/v1.0/users");
        for other in [
            "https://graph.microsoft.com/v1.0/users",
            "https://localhost:9999/v1.0/users",
            "http://localhost:8443/v1.0/users",
            "https://localhost:8443/beta/users",
        ] {
            assert_eq!(target(other, v, base).unwrap(), format!("/{other}"));
        }
        for bad in ["/", "", "/users#x", "//evil/users"] {
            assert!(target(bad, v, base).is_err(), "{bad}");
        }
        assert_eq!(
            target("/$batch", v, base).unwrap_err().message,
            nested_batch().message
        );
    }

    #[test]
    fn malformed_batches_are_refused_before_anything_runs() {
        assert_eq!(message(parse_str("{")), "Invalid batch payload format.");
        assert_eq!(
            message(parse_str("{\"requests\":{}}")),
            "Invalid batch payload format."
        );
        assert!(message(parse_str("{\"requests\":[]}")).contains("at least one"));
        let many: Vec<Value> = (0..21)
            .map(|i| serde_json::json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
            .collect();
        assert!(message(parse_str(
            &serde_json::json!({ "requests": many }).to_string()
        ))
        .contains("limit of 20"));
        assert_eq!(
            message(parse_str(
                r#"{"requests":[{"id":"a","method":"GET","url":"/users"},{"id":"A","method":"GET","url":"/users"}]}"#
            )),
            "Request Id A has to be unique in a batch."
        );
        assert!(message(parse_str(
            r#"{"requests":[{"id":"1","method":"GET","url":"/users","dependsOn":["2"]},{"id":"2","method":"GET","url":"/users"}]}"#
        ))
        .starts_with("Invalid dependency for request Id 1"));
        assert_eq!(
            message(parse_str(
                r#"{"requests":[{"id":"1","method":"GET","url":"/users"},{"id":"2","method":"GET","url":"/users","dependsOn":["1"]},{"id":"3","method":"GET","url":"/users"}]}"#
            )),
            "Batch should be either fully sequential or fully parallel."
        );
        assert!(message(parse_str(
            r#"{"requests":[{"id":"1","method":"POST","url":"/subscriptions","body":{}}]}"#
        ))
        .contains("Content-Type"));
    }

    #[test]
    fn bodies_json_inline_or_base64() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(
            inner_body("1", &serde_json::json!({"a": 1}), &h).unwrap(),
            b"{\"a\":1}"
        );
        assert_eq!(
            inner_body("1", &Value::String("eyJhIjoxfQ==".into()), &h).unwrap(),
            b"{\"a\":1}"
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            inner_body("1", &Value::String("aGk=".into()), &h).unwrap(),
            b"hi"
        );
        assert!(inner_body("1", &Value::String("!!".into()), &h).is_err());
    }

    #[test]
    fn header_names_are_spelled_as_graph_does() {
        assert_eq!(graph_header_name("content-type"), "Content-Type");
        assert_eq!(graph_header_name("odata-version"), "OData-Version");
        assert_eq!(graph_header_name("retry-after"), "Retry-After");
    }
}
