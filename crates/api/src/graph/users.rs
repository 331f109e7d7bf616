//! `users` and `users/{id}`: the tenant's directory, as far as call data needs it.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use callhook_model::DirectoryUser;
use callhook_odata::SystemOption as Opt;

use super::{
    apply_select, collection, encode_query_value, ok_json, preferences, query_options, ApiVersion,
};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

const USER_TYPE: &str = "microsoft.graph.user";
const DEFAULT_PAGE: u32 = 100;
const MAX_TOP: u64 = 999;

#[derive(Serialize, Deserialize)]
struct UsersToken {
    t: String,
    a: String,
    s: Vec<String>,
    n: u32,
}

fn require_directory(caller: &Caller) -> GraphResult<()> {
    permissions::require(caller, &permissions::USERS).map_err(|_| {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    })
}

fn select(text: Option<&str>) -> GraphResult<Vec<String>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => callhook_odata::parse_select(t, DirectoryUser::PROPERTIES, USER_TYPE)
            .map_err(super::bad_query),
    }
}

fn parse_user(body: &str) -> GraphResult<Map<String, Value>> {
    match serde_json::from_str(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::internal()),
    }
}

/// `GET users`
pub async fn list(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    require_directory(&caller)?;
    let q = query_options(raw.as_deref(), &[Opt::Select, Opt::Top, Opt::SkipToken])?;
    let (after, sel, n) = match q.get(Opt::SkipToken) {
        Some(t) => {
            let tok: UsersToken = super::open_skiptoken(&state, t)?;
            if tok.t != caller.tenant_id {
                return Err(super::invalid_skiptoken());
            }
            (Some(tok.a), tok.s, tok.n)
        }
        None => {
            let top = q.top().map_err(super::bad_query)?;
            if let Some(t) = top {
                if t == 0 || t > MAX_TOP {
                    return Err(GraphError::bad_request(format!("Invalid page size specified: '{t}'. Must be between 1 and {MAX_TOP} inclusive.")));
                }
            }
            let n = top.map(|t| t as u32).unwrap_or(DEFAULT_PAGE);
            (None, select(q.get(Opt::Select))?, n)
        }
    };
    let rows = state
        .store
        .list_users(&caller.tenant_id, after.as_deref(), n + 1)
        .await?;
    let more = rows.len() > n as usize;
    let mut value = Vec::new();
    for (_, body) in rows.iter().take(n as usize) {
        let mut m = parse_user(body)?;
        apply_select(&mut m, &sel);
        value.push(Value::Object(m));
    }
    let base = state.base_url(&headers);
    let v = version.as_str();
    let next = match (more, rows.get((n as usize).saturating_sub(1))) {
        (true, Some((last, _))) => {
            let tok = UsersToken {
                t: caller.tenant_id.clone(),
                a: last.clone(),
                s: sel.clone(),
                n,
            };
            let sealed = super::seal_skiptoken(&state, &tok);
            Some(format!(
                "{base}/{v}/users?$skiptoken={}",
                encode_query_value(&sealed)
            ))
        }
        _ => None,
    };
    let suffix = if sel.is_empty() {
        String::new()
    } else {
        format!("({})", sel.join(","))
    };
    Ok(ok_json(
        &collection(format!("{base}/{v}/$metadata#users{suffix}"), value, next),
        &preferences(&headers),
    ))
}

/// `GET users/{id}`
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> GraphResult<Response> {
    require_directory(&caller)?;
    let q = query_options(raw.as_deref(), &[Opt::Select])?;
    let sel = select(q.get(Opt::Select))?;
    let not_found = || {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{}' does not exist or one of its queried reference-property objects are not present.", id.escape_default()),
        )
    };
    if callhook_model::validate_id(&id).is_err() {
        return Err(not_found());
    }
    let body = state
        .store
        .user(&caller.tenant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    let mut m = parse_user(&body)?;
    apply_select(&mut m, &sel);
    let base = state.base_url(&headers);
    let suffix = if sel.is_empty() {
        String::new()
    } else {
        format!("({})", sel.join(","))
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{base}/{}/$metadata#users{suffix}/$entity",
            version.as_str()
        )),
    );
    out.extend(m);
    Ok(ok_json(&Value::Object(out), &preferences(&headers)))
}
