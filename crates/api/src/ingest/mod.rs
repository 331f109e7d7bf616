//! callhook's own ingest API (`/ingest/v1`), through which a calling platform or the simulator
//! feeds calls in. Authenticated with the installation's ingest key. See `docs/ingest-api.md`.

mod call_records;
mod emergency;
mod meetings;
mod openapi;
mod reports;
mod users;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    let authed = Router::new()
        .route(
            "/tenants/{tenant}/callRecords",
            post(call_records::put_batch),
        )
        .route(
            "/tenants/{tenant}/callRecords/{id}",
            put(call_records::put_one),
        )
        .route(
            "/tenants/{tenant}/reports/{report}",
            post(reports::post_rows),
        )
        .route("/tenants/{tenant}/users", post(users::put_batch))
        .route("/tenants/{tenant}/users/{id}", put(users::put_one))
        .route(
            "/tenants/{tenant}/onlineMeetings/{id}",
            put(meetings::put_online_meeting),
        )
        .route(
            "/tenants/{tenant}/adhocCalls/{id}",
            put(meetings::put_adhoc_call),
        )
        .route(
            "/tenants/{tenant}/callEvents",
            post(meetings::post_call_events),
        )
        .route(
            "/tenants/{tenant}/emergencyPolicies/{name}",
            put(emergency::put_policy),
        )
        .route(
            "/tenants/{tenant}/emergencyCallEvents",
            post(emergency::post_events),
        )
        .merge(meetings_artifact_routes())
        .layer(middleware::from_fn_with_state(state, require_ingest_key));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(authed)
}

/// Transcripts and recordings of online meetings and ad hoc calls: JSON metadata, then the
/// content (and a transcript's metadataContent) as raw bytes.
fn meetings_artifact_routes() -> Router<AppState> {
    let mut r = Router::new();
    for parent in ["onlineMeetings", "adhocCalls"] {
        let base = format!("/tenants/{{tenant}}/{parent}/{{id}}");
        r = r
            .route(
                &format!("{base}/transcripts/{{artifact}}"),
                put(meetings::put_artifact),
            )
            .route(
                &format!("{base}/transcripts/{{artifact}}/content"),
                put(meetings::put_artifact_stream),
            )
            .route(
                &format!("{base}/transcripts/{{artifact}}/metadataContent"),
                put(meetings::put_artifact_stream),
            )
            .route(
                &format!("{base}/recordings/{{artifact}}"),
                put(meetings::put_artifact),
            )
            .route(
                &format!("{base}/recordings/{{artifact}}/content"),
                put(meetings::put_artifact_stream),
            );
    }
    r
}

pub(crate) async fn require_ingest_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer_credentials)
        .unwrap_or("");
    if presented.is_empty() || !callhook_crypto::verify_secret(presented, &state.ingest_key_hash) {
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The ingest key is missing or invalid. Send it as 'Authorization: Bearer {ingestKey}'.",
        )
        .into_response();
    }
    next.run(req).await
}

/// The request body, with Graph-shaped errors for oversized or non-JSON bodies.
pub(crate) fn json_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Bytes> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(GraphError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "The request body must be JSON (Content-Type: application/json).",
            ));
        }
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GraphError::payload_too_large(state.config.max_body_bytes)
        } else {
            GraphError::bad_request(format!("The request body could not be read: {rejection}"))
        }
    })
}

/// A model error as a 400 that names the field.
pub(crate) fn model_error(e: callhook_model::ModelError) -> GraphError {
    if e.path.is_empty() {
        GraphError::bad_request(e.message)
    } else {
        GraphError::bad_request(format!("{}: {}", e.path, e.message))
    }
}

/// The JSON body of a `PUT …/{id}`: the path's id is filled in when the body has none, and a
/// body id that differs from the path's is a 400.
pub(crate) fn body_with_path_id(bytes: &[u8], id: &str) -> GraphResult<serde_json::Value> {
    body_with_path_key(bytes, "id", id)
}

/// The JSON body of a `PUT` whose last path segment is the body's `key` property: filled in
/// from the path when absent (or `null`), a 400 when it differs.
pub(crate) fn body_with_path_key(
    bytes: &[u8],
    key: &str,
    value: &str,
) -> GraphResult<serde_json::Value> {
    use serde_json::Value;
    let mut doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| GraphError::bad_request(format!("invalid JSON: {e}")))?;
    if let Value::Object(m) = &mut doc {
        match m.get(key) {
            None | Some(Value::Null) => {
                m.insert(key.into(), Value::String(value.to_string()));
            }
            Some(Value::String(v)) if v == value => {}
            Some(_) => {
                return Err(GraphError::bad_request(format!(
                    "{key}: must equal the {key} in the path"
                )))
            }
        }
    }
    Ok(doc)
}

/// The items of a `{"value": [...]}` batch for `tenant`: the tenant must exist, the body must be
/// JSON, every item must parse (a 400 naming its JSON path), and at most `max` may come at once
/// (`what` names them in that refusal).
pub(crate) async fn parse_batch<T: callhook_model::GraphType>(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max: usize,
    what: &str,
) -> GraphResult<Vec<T>> {
    require_tenant(state, tenant).await?;
    let bytes = json_body(state, headers, body)?;
    let items = callhook_model::parse_list::<T>(&bytes).map_err(model_error)?;
    if items.len() > max {
        return Err(GraphError::bad_request(format!(
            "value: at most {max} {what} per request, got {}",
            items.len()
        )));
    }
    Ok(items)
}

pub(crate) async fn require_tenant(state: &AppState, tenant: &str) -> GraphResult<()> {
    match state.store.tenant(tenant).await? {
        Some(_) => Ok(()),
        None => Err(GraphError::not_found(format!(
            "Tenant '{}' does not exist.",
            tenant.escape_default()
        ))),
    }
}
