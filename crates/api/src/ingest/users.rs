//! `PUT /ingest/v1/tenants/{tenant}/users/{id}` and the batch `POST …/users`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use callhook_model::{DirectoryUser, GraphType};
use callhook_store::UserWrite;

use super::{body_with_path_id, json_body, model_error, parse_batch, require_tenant};
use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub const MAX_USERS: usize = 1000;

fn write(user: &DirectoryUser) -> GraphResult<UserWrite> {
    Ok(UserWrite {
        id: user.id.clone(),
        body: serde_json::to_string(&user.to_graph_value()).map_err(|_| GraphError::internal())?,
    })
}

pub async fn put_one(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    require_tenant(&state, &tenant).await?;
    let bytes = json_body(&state, &headers, body)?;
    let doc = body_with_path_id(&bytes, &id)?;
    let user = callhook_model::from_value::<DirectoryUser>(doc).map_err(model_error)?;
    state.store.put_users(&tenant, &[write(&user)?]).await?;
    Ok(Json(user.to_graph_value()).into_response())
}

pub async fn put_batch(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> GraphResult<Response> {
    let users: Vec<DirectoryUser> =
        parse_batch(&state, &tenant, &headers, body, MAX_USERS, "users").await?;
    let writes = users.iter().map(write).collect::<GraphResult<Vec<_>>>()?;
    state.store.put_users(&tenant, &writes).await?;
    Ok(Json(json!({ "accepted": writes.len() })).into_response())
}
