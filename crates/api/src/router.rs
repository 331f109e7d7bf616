//! The whole route table in one place.

use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use tower::Layer;

use crate::error::GraphError;
use crate::graph::{
    artifacts, batch, call_events, call_records, metadata, online_meetings, subscriptions, users,
    ApiVersion,
};
use crate::{auth, chaos, context, controls, ingest, keys, limits, throttle, token, AppState};

/// Every route callhook serves. `$batch` dispatches its inner requests through a second copy
/// of the same table (see `graph::batch`).
pub fn router(state: AppState) -> Router {
    let inner = service(state.clone());
    service(state).layer(Extension(batch::Dispatcher(inner)))
}

/// The route table behind the layers every request passes. Graph paths are rewritten to the
/// table's form ([`keys`]) before routing, which is why the routes sit behind a service, not a
/// layer.
fn service(state: AppState) -> Router {
    let routes = routes(state.clone());
    Router::new()
        .fallback_service(middleware::from_fn(keys::normalise_keys).layer(routes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::request_limits,
        ))
        .layer(middleware::map_response_with_state(
            state,
            limits::graph_shape,
        ))
        .layer(middleware::from_fn(context::request_ids))
        .layer(middleware::from_fn(crate::authority_as_host))
        .layer(middleware::map_response(version_header))
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/{tenant}/oauth2/v2.0/token", post(token::issue_token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(token::openid_configuration),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(token::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(token::jwks))
        .route("/{tenant}/discovery/keys", get(token::jwks))
        // Graph serves its metadata document without a token.
        .route("/v1.0/$metadata", get(metadata::v1))
        .route("/beta/$metadata", get(metadata::beta))
        .nest("/v1.0", graph_routes(&state, ApiVersion::V1))
        .nest("/beta", graph_routes(&state, ApiVersion::Beta))
        .nest("/ingest/v1", ingest::router(state.clone()))
        .nest(crate::console::BASE, crate::console::router())
        .route("/", get(crate::console::root))
        .nest("/_callhook", controls::router(state.clone()))
        .route("/metrics", get(controls::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}

fn graph_routes(state: &AppState, version: ApiVersion) -> Router<AppState> {
    Router::new()
        .route("/communications/callRecords", get(call_records::list))
        .route(
            "/communications/callRecords/{segment}",
            get(call_records::get),
        )
        .route(
            "/communications/callRecords/{id}/sessions",
            get(call_records::sessions),
        )
        .route(
            "/communications/callRecords/{id}/participants_v2",
            get(call_records::participants),
        )
        .route(
            "/communications/callRecords/{id}/organizer_v2",
            get(call_records::organizer),
        )
        .route(
            "/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get)
                .patch(subscriptions::update)
                .delete(subscriptions::delete),
        )
        .route(
            "/subscriptions/{id}/reauthorize",
            post(subscriptions::reauthorize),
        )
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::get))
        .route(
            "/communications/calls/{segment}",
            get(subscriptions::emergency_events_resource),
        )
        .route("/$batch", post(batch::batch))
        .route(
            "/users/{id}/communications/callEvents",
            get(call_events::list_user),
        )
        .route(
            "/users/{id}/communications/callEvents/{event}",
            get(call_events::get_user),
        )
        .route(
            "/communications/{segment}/meetingCallEvents",
            get(call_events::list_meeting),
        )
        .merge(meeting_routes())
        .fallback(unknown_segment)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(version))
        // Runs after the token check (layers wrap outwards): buckets are per caller.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            throttle::throttle,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), chaos::chaos))
}

/// Online meetings, ad hoc calls, and their transcripts and recordings.
fn meeting_routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/users/{id}/onlineMeetings", get(online_meetings::list))
        .route(
            "/users/{id}/onlineMeetings/{parent}",
            get(online_meetings::get),
        )
        .route(
            "/users/{id}/onlineMeetings/{parent}/delta",
            get(online_meetings::delta),
        )
        .route(
            "/users/{id}/adhocCalls/{parent}",
            get(artifacts::adhoc_calls_segment),
        )
        .route(
            "/users/{id}/adhocCalls/{parent}/delta",
            get(artifacts::adhoc_calls_delta),
        )
        .route(
            "/communications/adhocCalls/{segment}",
            get(artifacts::communications_adhoc_calls),
        );
    for parent in ["onlineMeetings", "adhocCalls"] {
        let base = format!("/users/{{id}}/{parent}/{{parent}}");
        r = r
            .route(&format!("{base}/transcripts"), get(artifacts::list))
            .route(
                &format!("{base}/transcripts/{{artifact}}"),
                get(artifacts::get),
            )
            .route(
                &format!("{base}/transcripts/{{artifact}}/content"),
                get(artifacts::stream),
            )
            .route(
                &format!("{base}/transcripts/{{artifact}}/metadataContent"),
                get(artifacts::stream),
            )
            .route(&format!("{base}/recordings"), get(artifacts::list))
            .route(
                &format!("{base}/recordings/{{artifact}}"),
                get(artifacts::get),
            )
            .route(
                &format!("{base}/recordings/{{artifact}}/content"),
                get(artifacts::stream),
            );
    }
    r
}

/// 200 while the server can serve requests: its clock is one Graph's timestamps can write, and
/// its database answers. 503 otherwise, naming what fails.
async fn healthz(State(state): State<AppState>) -> Response {
    let mut failing = Vec::new();
    if !state.clock.servable() {
        failing.push("clock");
    }
    if let Err(e) = state.store.tenant("").await {
        tracing::warn!(error = %e, "health check: the database does not answer");
        failing.push("database");
    }
    if failing.is_empty() {
        return Json(serde_json::json!({ "status": "ok" })).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "unhealthy", "failing": failing })),
    )
        .into_response()
}

async fn version_header(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "x-callhook-version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    resp
}

/// Graph answers an unknown path under a version with 400 naming the first unknown segment.
async fn unknown_segment(OriginalUri(uri): OriginalUri) -> Response {
    GraphError::bad_request(format!(
        "Resource not found for the segment '{}'.",
        first_unknown_segment(uri.path())
    ))
    .into_response()
}

/// The first segment of `path` that is not part of a known route shape (a segment after a
/// collection name counts as a key).
fn first_unknown_segment(path: &str) -> String {
    let mut previous = "";
    for segment in path.split('/').filter(|s| !s.is_empty()).skip(1) {
        let known = keys::is_name(segment) || keys::is_collection(previous);
        if !known {
            return percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned();
        }
        previous = segment;
    }
    String::new()
}

async fn not_found() -> Response {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested URL does not exist on this server.",
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::first_unknown_segment;

    #[test]
    fn the_unknown_segment_is_the_first_that_fits_no_route() {
        assert_eq!(first_unknown_segment("/v1.0/foo"), "foo");
        assert_eq!(
            first_unknown_segment("/v1.0/communications/callRecords/abc/nope"),
            "nope"
        );
        assert_eq!(first_unknown_segment("/beta/communications/calls"), "calls");
        assert_eq!(first_unknown_segment("/v1.0/users/u1/manager"), "manager");
    }
}
