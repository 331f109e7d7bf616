//! Tenants, app registrations, sign-in users and consent: the operations behind both the admin
//! API (`/_callhook/admin/…`, ingest key required) and the `callhook tenant|app|user` commands,
//! so that both behave alike. Secrets and passwords are returned once, when created, and stored
//! only as salted hashes. See `docs/identity.md`.
//!
//! Routes:
//! - `POST|GET /_callhook/admin/tenants`, `GET …/tenants/{tenant}`
//! - `POST|GET …/tenants/{tenant}/applications`, `GET|DELETE …/applications/{appId}`
//! - `POST …/applications/{appId}/secrets`
//! - `PUT|DELETE …/applications/{appId}/roles/{permission}` (application permissions)
//! - `PUT|DELETE …/applications/{appId}/delegatedPermissions/{permission}`
//! - `GET …/applications/{appId}/installations`,
//!   `PUT|DELETE …/applications/{appId}/installations/{meetingOrChatId}` (resource-specific consent)
//! - `POST|GET …/tenants/{tenant}/users` (users who sign in for delegated tokens)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use callhook_store::{App, GrantChange, RscGrant, SignInUser, Store, Tenant};

use crate::error::{GraphError, GraphResult};
use crate::permissions;
use crate::AppState;

/// Longest id, name or display name accepted.
const MAX_NAME: usize = 256;

fn conflict(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::CONFLICT, "Conflict", message)
}

fn tenant_not_found(tenant: &str) -> GraphError {
    GraphError::not_found(format!(
        "Tenant '{}' does not exist.",
        tenant.escape_default()
    ))
}

fn app_not_found(app: &str) -> GraphError {
    GraphError::not_found(format!(
        "Application '{}' does not exist in this tenant.",
        app.escape_default()
    ))
}

fn crypto_failure(e: callhook_crypto::CryptoError) -> GraphError {
    tracing::error!(error = %e, "secret generation failed");
    GraphError::internal()
}

/// Ids appear in URLs and tokens: letters, digits and `-._@` only.
fn check_id(what: &str, id: &str) -> GraphResult<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_NAME
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(GraphError::bad_request(format!(
            "{what} must be 1 to {MAX_NAME} letters, digits, '-', '.', '_' or '@'."
        )))
    }
}

fn check_name(what: &str, name: &str) -> GraphResult<()> {
    if name.trim().is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(GraphError::bad_request(format!(
            "{what} must be 1 to {MAX_NAME} printable characters."
        )));
    }
    Ok(())
}

/// The known permission of `list` named `name` (case-insensitive), in its canonical spelling.
fn known(list: &[&'static str], kind: &str, name: &str) -> GraphResult<&'static str> {
    list.iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            GraphError::bad_request(format!(
                "'{}' is not a {kind} permission callhook knows. Known: {}.",
                name.escape_default(),
                list.join(", ")
            ))
        })
}

fn time(t: &DateTime<Utc>) -> String {
    callhook_model::format_date_time(t)
}

pub fn tenant_json(t: &Tenant) -> Value {
    json!({ "id": t.id, "displayName": t.display_name, "createdDateTime": time(&t.created_at) })
}

/// An app registration as the admin API shows it (never its secrets).
pub async fn app_json(store: &dyn Store, app: &App) -> GraphResult<Value> {
    let delegated = store
        .delegated_scopes(&app.tenant_id, &app.client_id)
        .await?;
    let installations = store.rsc_grants(&app.tenant_id, &app.client_id).await?;
    Ok(json!({
        "appId": app.client_id,
        "tenantId": app.tenant_id,
        "displayName": app.display_name,
        "roles": app.roles,
        "delegatedPermissions": delegated,
        "installations": installations.iter().map(rsc_json).collect::<Vec<_>>(),
        "secretCount": app.secret_hashes.len(),
        "createdDateTime": time(&app.created_at),
    }))
}

fn rsc_json(g: &RscGrant) -> Value {
    json!({ "resourceId": g.resource_id, "permission": g.permission, "createdDateTime": time(&g.created_at) })
}

pub fn user_json(u: &SignInUser) -> Value {
    json!({
        "id": u.id,
        "userPrincipalName": u.user_principal_name,
        "displayName": u.display_name,
        "createdDateTime": time(&u.created_at),
    })
}

async fn require_tenant(store: &dyn Store, tenant: &str) -> GraphResult<Tenant> {
    store
        .tenant(tenant)
        .await?
        .ok_or_else(|| tenant_not_found(tenant))
}

async fn require_app(store: &dyn Store, tenant: &str, app: &str) -> GraphResult<App> {
    require_tenant(store, tenant).await?;
    store
        .app(app)
        .await?
        .filter(|a| a.tenant_id == tenant)
        .ok_or_else(|| app_not_found(app))
}

/// Creates a tenant; `id` defaults to a new GUID (Entra tenant ids are GUIDs).
pub async fn create_tenant(
    store: &dyn Store,
    id: Option<&str>,
    display_name: Option<&str>,
) -> GraphResult<Tenant> {
    let id = match id {
        Some(id) => id.to_string(),
        None => callhook_crypto::random_uuid().map_err(crypto_failure)?,
    };
    check_id("The tenant id", &id)?;
    let display_name = display_name.unwrap_or(&id).to_string();
    check_name("displayName", &display_name)?;
    if store.tenant(&id).await?.is_some() {
        return Err(conflict(format!("Tenant '{id}' already exists.")));
    }
    let tenant = Tenant {
        id,
        display_name,
        created_at: Utc::now(),
    };
    store.insert_tenant(&tenant).await?;
    Ok(tenant)
}

/// A new app registration and its first secret (in clear text: shown this once).
pub struct CreatedApp {
    pub app: App,
    pub secret: String,
}

impl std::fmt::Debug for CreatedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApp")
            .field("client_id", &self.app.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Registers an app in `tenant` with application permissions `roles` and one secret.
pub async fn create_app(
    store: &dyn Store,
    tenant: &str,
    display_name: &str,
    roles: &[String],
) -> GraphResult<CreatedApp> {
    require_tenant(store, tenant).await?;
    check_name("displayName", display_name)?;
    let mut granted: Vec<String> = Vec::new();
    for r in roles {
        let r = known(permissions::APPLICATION, "application", r)?.to_string();
        if !granted.contains(&r) {
            granted.push(r);
        }
    }
    let secret = callhook_crypto::random_secret(30).map_err(crypto_failure)?;
    let app = App {
        client_id: callhook_crypto::random_uuid().map_err(crypto_failure)?,
        tenant_id: tenant.to_string(),
        display_name: display_name.to_string(),
        secret_hashes: vec![callhook_crypto::hash_secret(&secret).map_err(crypto_failure)?],
        roles: granted,
        created_at: Utc::now(),
    };
    store.insert_app(&app).await?;
    Ok(CreatedApp { app, secret })
}

/// Adds a secret to an app; returns it in clear text (shown this once).
pub async fn add_secret(store: &dyn Store, tenant: &str, app: &str) -> GraphResult<String> {
    require_app(store, tenant, app).await?;
    let secret = callhook_crypto::random_secret(30).map_err(crypto_failure)?;
    let hash = callhook_crypto::hash_secret(&secret).map_err(crypto_failure)?;
    if !store.add_app_secret(tenant, app, &hash).await? {
        return Err(app_not_found(app));
    }
    Ok(secret)
}

/// Deletes an app: its tokens stop working at once (every request checks the registration).
pub async fn delete_app(store: &dyn Store, tenant: &str, app: &str) -> GraphResult<()> {
    require_tenant(store, tenant).await?;
    if store.delete_app(tenant, app).await? {
        Ok(())
    } else {
        Err(app_not_found(app))
    }
}

/// Which kind of permission a grant is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionKind {
    /// An app role (application permission).
    Application,
    /// A delegated permission, consented for every user of the tenant.
    Delegated,
}

/// What a grant or revoke did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionChange {
    pub tenant_id: String,
    pub app_id: String,
    pub permission: &'static str,
    pub kind: PermissionKind,
    /// False when the app already was so (granting twice, revoking what it did not hold).
    pub changed: bool,
}

/// Grants (`grant`) or revokes a permission. Tokens already issued keep what they carry until
/// they expire, as in Entra; a revoked application permission is visible at once through
/// [`callhook_store::IdentityStore::app_roles`], which the subscription checks read.
pub async fn set_permission(
    store: &dyn Store,
    tenant: &str,
    app: &str,
    kind: PermissionKind,
    permission: &str,
    grant: bool,
) -> GraphResult<PermissionChange> {
    require_app(store, tenant, app).await?;
    let permission = match kind {
        PermissionKind::Application => known(permissions::APPLICATION, "application", permission)?,
        PermissionKind::Delegated => known(permissions::DELEGATED, "delegated", permission)?,
    };
    let change = match (kind, grant) {
        (PermissionKind::Application, true) => {
            store.grant_app_role(tenant, app, permission).await?
        }
        (PermissionKind::Application, false) => {
            store.revoke_app_role(tenant, app, permission).await?
        }
        (PermissionKind::Delegated, true) => store.grant_delegated(tenant, app, permission).await?,
        (PermissionKind::Delegated, false) => {
            store.revoke_delegated(tenant, app, permission).await?
        }
    };
    if change == GrantChange::NoSuchApp {
        return Err(app_not_found(app));
    }
    if change == GrantChange::Changed && !grant {
        tracing::info!(tenant, app, permission, "permission revoked");
        if kind == PermissionKind::Application {
            revoke_subscriptions(store, tenant, app, Utc::now()).await?;
        }
    }
    Ok(PermissionChange {
        tenant_id: tenant.to_string(),
        app_id: app.to_string(),
        permission,
        kind,
        changed: change == GrantChange::Changed,
    })
}

/// After a revocation, the app's subscriptions whose resource it may no longer read stop: their
/// change notifications are held at once, and the subscriber is told as Graph tells it
/// (`reauthorizationRequired`, then `subscriptionRemoved`, after which the subscription is
/// gone); one without a lifecycle URL is removed at once. A `reauthorize` then answers 403.
/// Subscriptions that rely on resource-specific consent are left to the RSC grants.
pub async fn revoke_subscriptions(
    store: &dyn Store,
    tenant: &str,
    app: &str,
    now: DateTime<Utc>,
) -> GraphResult<usize> {
    let roles = store.app_roles(tenant, app).await?.unwrap_or_default();
    let mut stopped = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_subscriptions(tenant, Some(app), after.as_deref(), 500)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id.clone());
        for mut sub in page {
            if crate::graph::subscriptions::app_may_still_read(&sub, &roles)
                || sub.expiration <= now
            {
                continue;
            }
            stopped += 1;
            if sub.lifecycle_url.is_none() {
                store.delete_subscription(tenant, &sub.id).await?;
                continue;
            }
            sub.authorized_until = now;
            store.update_subscription(&sub).await?;
            store
                .enqueue_lifecycle(tenant, &sub.id, "reauthorizationRequired", now)
                .await?;
            store
                .enqueue_lifecycle(tenant, &sub.id, "subscriptionRemoved", now)
                .await?;
        }
    }
    if stopped > 0 {
        tracing::info!(
            tenant,
            app,
            stopped,
            "subscriptions stopped after a revocation"
        );
    }
    Ok(stopped)
}

/// Installs an app into a meeting or chat with resource-specific consent permissions.
pub async fn install(
    store: &dyn Store,
    tenant: &str,
    app: &str,
    resource_id: &str,
    rsc: &[String],
) -> GraphResult<Vec<RscGrant>> {
    require_app(store, tenant, app).await?;
    // Meeting ids are base64 and chat ids look like `19:…@thread.v2`: any printable text.
    check_name("The meeting or chat id", resource_id)?;
    if rsc.is_empty() {
        return Err(GraphError::bad_request(format!(
            "Name at least one resource-specific permission: {}.",
            permissions::RESOURCE_SPECIFIC.join(", ")
        )));
    }
    for p in rsc {
        let permission = known(permissions::RESOURCE_SPECIFIC, "resource-specific", p)?;
        let grant = RscGrant {
            tenant_id: tenant.to_string(),
            client_id: app.to_string(),
            resource_id: resource_id.to_string(),
            permission: permission.to_string(),
            created_at: Utc::now(),
        };
        if store.install_rsc(&grant).await? == GrantChange::NoSuchApp {
            return Err(app_not_found(app));
        }
    }
    Ok(store
        .rsc_grants(tenant, app)
        .await?
        .into_iter()
        .filter(|g| g.resource_id == resource_id)
        .collect())
}

pub async fn uninstall(
    store: &dyn Store,
    tenant: &str,
    app: &str,
    resource_id: &str,
) -> GraphResult<u64> {
    require_app(store, tenant, app).await?;
    Ok(store.uninstall_rsc(tenant, app, resource_id).await?)
}

/// A new sign-in user and its password (in clear text: shown this once).
pub struct CreatedUser {
    pub user: SignInUser,
    pub password: String,
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Adds a user who can sign in with the password grant. `id` defaults to a new GUID and the
/// password to a random one.
pub async fn create_user(
    store: &dyn Store,
    tenant: &str,
    user_principal_name: &str,
    display_name: Option<&str>,
    id: Option<&str>,
    password: Option<&str>,
) -> GraphResult<CreatedUser> {
    require_tenant(store, tenant).await?;
    check_id("userPrincipalName", user_principal_name)?;
    let id = match id {
        Some(id) => id.to_string(),
        None => callhook_crypto::random_uuid().map_err(crypto_failure)?,
    };
    check_id("The user id", &id)?;
    let display_name = display_name.unwrap_or(user_principal_name);
    check_name("displayName", display_name)?;
    let password = match password {
        Some(p) if !p.is_empty() && p.len() <= MAX_NAME => p.to_string(),
        Some(_) => {
            return Err(GraphError::bad_request(format!(
                "password must be 1 to {MAX_NAME} characters."
            )))
        }
        None => callhook_crypto::random_secret(18).map_err(crypto_failure)?,
    };
    let user = SignInUser {
        tenant_id: tenant.to_string(),
        id,
        user_principal_name: user_principal_name.to_lowercase(),
        display_name: display_name.to_string(),
        password_hash: callhook_crypto::hash_secret(&password).map_err(crypto_failure)?,
        created_at: Utc::now(),
    };
    if !store.insert_sign_in_user(&user).await? {
        return Err(conflict(
            "A user with this id or userPrincipalName already exists in the tenant.",
        ));
    }
    Ok(CreatedUser { user, password })
}

// ---- HTTP ----------------------------------------------------------------------------------

/// The admin routes, merged under `/_callhook` (behind the ingest key) by the controls router.
pub fn routes() -> Router<AppState> {
    let app = "/admin/tenants/{tenant}/applications/{app}";
    Router::new()
        .route("/admin/tenants", post(http_create_tenant).get(http_tenants))
        .route("/admin/tenants/{tenant}", get(http_tenant))
        .route(
            "/admin/tenants/{tenant}/applications",
            post(http_create_app).get(http_apps),
        )
        .route(app, get(http_app).delete(http_delete_app))
        .route(&format!("{app}/secrets"), post(http_add_secret))
        .route(
            &format!("{app}/roles/{{permission}}"),
            put(http_grant_role).delete(http_revoke_role),
        )
        .route(
            &format!("{app}/delegatedPermissions/{{permission}}"),
            put(http_grant_delegated).delete(http_revoke_delegated),
        )
        .route(&format!("{app}/installations"), get(http_installations))
        .route(
            &format!("{app}/installations/{{resource}}"),
            put(http_install).delete(http_uninstall),
        )
        .route(
            "/admin/tenants/{tenant}/users",
            post(http_create_user).get(http_users),
        )
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> GraphResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewTenant {
    id: Option<String>,
    display_name: Option<String>,
}

async fn http_create_tenant(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: NewTenant = parse_body(&body)?;
    let t = create_tenant(
        state.store.as_ref(),
        req.id.as_deref(),
        req.display_name.as_deref(),
    )
    .await?;
    Ok(created(tenant_json(&t)))
}

async fn http_tenants(State(state): State<AppState>) -> GraphResult<Response> {
    let tenants = state.store.tenants().await?;
    Ok(
        Json(json!({ "value": tenants.iter().map(tenant_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn http_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> GraphResult<Response> {
    let t = require_tenant(state.store.as_ref(), &tenant).await?;
    Ok(Json(tenant_json(&t)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewApp {
    display_name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    delegated_permissions: Vec<String>,
}

async fn http_create_app(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: NewApp = parse_body(&body)?;
    let store = state.store.as_ref();
    for p in &req.delegated_permissions {
        known(permissions::DELEGATED, "delegated", p)?;
    }
    let c = create_app(
        store,
        &tenant,
        req.display_name.as_deref().unwrap_or("callhook app"),
        &req.roles,
    )
    .await?;
    for p in &req.delegated_permissions {
        set_permission(
            store,
            &tenant,
            &c.app.client_id,
            PermissionKind::Delegated,
            p,
            true,
        )
        .await?;
    }
    let mut v = app_json(store, &c.app).await?;
    v["secretText"] = Value::String(c.secret);
    Ok(created(v))
}

async fn http_apps(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> GraphResult<Response> {
    let store = state.store.as_ref();
    require_tenant(store, &tenant).await?;
    let mut value = Vec::new();
    for app in store.apps(&tenant).await? {
        value.push(app_json(store, &app).await?);
    }
    Ok(Json(json!({ "value": value })).into_response())
}

async fn http_app(
    State(state): State<AppState>,
    Path((tenant, app)): Path<(String, String)>,
) -> GraphResult<Response> {
    let store = state.store.as_ref();
    let a = require_app(store, &tenant, &app).await?;
    Ok(Json(app_json(store, &a).await?).into_response())
}

async fn http_delete_app(
    State(state): State<AppState>,
    Path((tenant, app)): Path<(String, String)>,
) -> GraphResult<StatusCode> {
    delete_app(state.store.as_ref(), &tenant, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn http_add_secret(
    State(state): State<AppState>,
    Path((tenant, app)): Path<(String, String)>,
) -> GraphResult<Response> {
    let secret = add_secret(state.store.as_ref(), &tenant, &app).await?;
    Ok(created(json!({ "appId": app, "secretText": secret })))
}

async fn permission_answer(
    state: &AppState,
    (tenant, app, permission): (String, String, String),
    kind: PermissionKind,
    grant: bool,
) -> GraphResult<Response> {
    let store = state.store.as_ref();
    let change = set_permission(store, &tenant, &app, kind, &permission, grant).await?;
    let a = require_app(store, &tenant, &app).await?;
    let mut v = app_json(store, &a).await?;
    v["changed"] = Value::Bool(change.changed);
    Ok(Json(v).into_response())
}

async fn http_grant_role(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
) -> GraphResult<Response> {
    permission_answer(&state, p, PermissionKind::Application, true).await
}

async fn http_revoke_role(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
) -> GraphResult<Response> {
    permission_answer(&state, p, PermissionKind::Application, false).await
}

async fn http_grant_delegated(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
) -> GraphResult<Response> {
    permission_answer(&state, p, PermissionKind::Delegated, true).await
}

async fn http_revoke_delegated(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
) -> GraphResult<Response> {
    permission_answer(&state, p, PermissionKind::Delegated, false).await
}

async fn http_installations(
    State(state): State<AppState>,
    Path((tenant, app)): Path<(String, String)>,
) -> GraphResult<Response> {
    let store = state.store.as_ref();
    require_app(store, &tenant, &app).await?;
    let grants = store.rsc_grants(&tenant, &app).await?;
    Ok(Json(json!({ "value": grants.iter().map(rsc_json).collect::<Vec<_>>() })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Installation {
    #[serde(default)]
    permissions: Vec<String>,
}

async fn http_install(
    State(state): State<AppState>,
    Path((tenant, app, resource)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: Installation = parse_body(&body)?;
    let grants = install(
        state.store.as_ref(),
        &tenant,
        &app,
        &resource,
        &req.permissions,
    )
    .await?;
    Ok(Json(json!({ "value": grants.iter().map(rsc_json).collect::<Vec<_>>() })).into_response())
}

async fn http_uninstall(
    State(state): State<AppState>,
    Path((tenant, app, resource)): Path<(String, String, String)>,
) -> GraphResult<StatusCode> {
    if uninstall(state.store.as_ref(), &tenant, &app, &resource).await? == 0 {
        return Err(GraphError::not_found(
            "The application is not installed in this meeting or chat.",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    user_principal_name: Option<String>,
    display_name: Option<String>,
    id: Option<String>,
    password: Option<String>,
}

async fn http_create_user(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: NewUser = parse_body(&body)?;
    let Some(upn) = req.user_principal_name.as_deref() else {
        return Err(GraphError::bad_request("userPrincipalName is required."));
    };
    let c = create_user(
        state.store.as_ref(),
        &tenant,
        upn,
        req.display_name.as_deref(),
        req.id.as_deref(),
        req.password.as_deref(),
    )
    .await?;
    let mut v = user_json(&c.user);
    v["password"] = Value::String(c.password);
    Ok(created(v))
}

async fn http_users(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> GraphResult<Response> {
    let store = state.store.as_ref();
    require_tenant(store, &tenant).await?;
    let users = store.sign_in_users(&tenant).await?;
    Ok(Json(json!({ "value": users.iter().map(user_json).collect::<Vec<_>>() })).into_response())
}
