//! `callhook tenant …`, `callhook app …`, `callhook user …`: the admin API's operations on the
//! data directory (or `--database-url`) directly, so they work with or without a running server
//! (SQLite serializes the writes). Output is JSON, so scripts can read the ids and the secret,
//! which is printed once.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use callhook_api::admin::{self, PermissionKind};
use callhook_store::Store;

/// Where the installation is, as for `serve`; accepted before or after the subcommand.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Directory holding the embedded database and credentials.json.
    #[arg(
        long,
        env = "CALLHOOK_DATA_DIR",
        default_value = "./callhook-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL; default: SQLite in the data directory.
    #[arg(long, env = "CALLHOOK_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

#[derive(Args, Clone)]
pub struct TenantArg {
    /// Tenant id; default: the development tenant in DATA_DIR/credentials.json.
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (prints it as JSON).
    Create {
        /// Tenant id; default: a new GUID.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register an app; prints its appId and its first secret (shown once).
    Create {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long, default_value = "callhook app")]
        name: String,
        /// Application permission to grant (repeatable), e.g. CallRecords.Read.All.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Delegated permission to consent for the tenant's users (repeatable).
        #[arg(long = "delegated")]
        delegated: Vec<String>,
    },
    /// List the tenant's apps.
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Delete an app: its tokens stop working at once.
    Delete {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        app: String,
    },
    /// Manage an app's secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Grant permissions: application (roles) by default, delegated with --delegated.
    Grant(PermissionArgs),
    /// Revoke permissions.
    Revoke(PermissionArgs),
    /// Install the app into a meeting or chat with resource-specific consent permissions.
    Install {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        app: String,
        /// Online meeting id or chat id.
        #[arg(long = "meeting", alias = "chat")]
        resource: String,
        /// e.g. OnlineMeetingTranscript.Read.Chat (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
    },
    /// Remove the app from a meeting or chat.
    Uninstall {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        app: String,
        #[arg(long = "meeting", alias = "chat")]
        resource: String,
    },
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Add a secret; prints it (shown once).
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        app: String,
    },
}

#[derive(Args)]
pub struct PermissionArgs {
    #[command(flatten)]
    tenant: TenantArg,
    #[arg(long)]
    app: String,
    /// Delegated permissions (scopes) instead of application permissions.
    #[arg(long)]
    delegated: bool,
    /// Permission names, e.g. CallRecords.Read.All.
    #[arg(required = true)]
    permissions: Vec<String>,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user who can sign in (password grant) for delegated tokens; prints the password
    /// (shown once) unless given.
    Create {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        upn: String,
        #[arg(long)]
        name: Option<String>,
        /// Object id; default: a new GUID. Use the id the user has in ingested data.
        #[arg(long)]
        id: Option<String>,
        /// Password; default: a random one. Prefer CALLHOOK_USER_PASSWORD to keep it out of
        /// the shell history.
        #[arg(long, env = "CALLHOOK_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List the tenant's sign-in users.
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
}

fn tenant_or_default(data_dir: &Path, t: &TenantArg) -> anyhow::Result<String> {
    match &t.tenant {
        Some(t) => Ok(t.clone()),
        None => Ok(crate::bootstrap::read_credentials(data_dir)
            .context("no --tenant given and no development tenant")?
            .tenant_id),
    }
}

async fn open(
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    crate::bootstrap::ensure_data_dir(data_dir)?;
    crate::bootstrap::open_store(data_dir, database_url).await
}

fn fail(e: callhook_api::error::GraphError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message)
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn tenant(
    data_dir: &Path,
    database_url: Option<&str>,
    cmd: TenantCommand,
) -> anyhow::Result<()> {
    let store = open(data_dir, database_url).await?;
    let store = store.as_ref();
    match cmd {
        TenantCommand::Create { id, name } => {
            let t = admin::create_tenant(store, id.as_deref(), name.as_deref())
                .await
                .map_err(fail)?;
            print(&admin::tenant_json(&t))
        }
        TenantCommand::List => {
            let tenants = store.tenants().await?;
            print(&json!(tenants
                .iter()
                .map(admin::tenant_json)
                .collect::<Vec<_>>()))
        }
    }
}

pub async fn app(
    data_dir: &Path,
    database_url: Option<&str>,
    cmd: AppCommand,
) -> anyhow::Result<()> {
    let store_arc = open(data_dir, database_url).await?;
    let store = store_arc.as_ref();
    match cmd {
        AppCommand::Create {
            tenant,
            name,
            roles,
            delegated,
        } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let c = admin::create_app(store, &tenant, &name, &roles)
                .await
                .map_err(fail)?;
            for p in &delegated {
                admin::set_permission(
                    store,
                    &tenant,
                    &c.app.client_id,
                    PermissionKind::Delegated,
                    p,
                    true,
                )
                .await
                .map_err(fail)?;
            }
            let mut v = admin::app_json(store, &c.app).await.map_err(fail)?;
            v["secretText"] = Value::String(c.secret);
            print(&v)
        }
        AppCommand::List { tenant } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            if store.tenant(&tenant).await?.is_none() {
                anyhow::bail!("tenant {tenant} does not exist");
            }
            let mut out = Vec::new();
            for a in store.apps(&tenant).await? {
                out.push(admin::app_json(store, &a).await.map_err(fail)?);
            }
            print(&Value::Array(out))
        }
        AppCommand::Delete { tenant, app } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            admin::delete_app(store, &tenant, &app)
                .await
                .map_err(fail)?;
            print(&json!({ "appId": app, "deleted": true }))
        }
        AppCommand::Secret(SecretCommand::Add { tenant, app }) => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let secret = admin::add_secret(store, &tenant, &app)
                .await
                .map_err(fail)?;
            print(&json!({ "appId": app, "secretText": secret }))
        }
        AppCommand::Grant(p) => permissions(store, data_dir, p, true).await,
        AppCommand::Revoke(p) => permissions(store, data_dir, p, false).await,
        AppCommand::Install {
            tenant,
            app,
            resource,
            permissions,
        } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let grants = admin::install(store, &tenant, &app, &resource, &permissions)
                .await
                .map_err(fail)?;
            let perms: Vec<_> = grants.iter().map(|g| g.permission.clone()).collect();
            print(&json!({ "appId": app, "resourceId": resource, "permissions": perms }))
        }
        AppCommand::Uninstall {
            tenant,
            app,
            resource,
        } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let n = admin::uninstall(store, &tenant, &app, &resource)
                .await
                .map_err(fail)?;
            print(&json!({ "appId": app, "resourceId": resource, "removed": n }))
        }
    }
}

async fn permissions(
    store: &dyn Store,
    data_dir: &Path,
    p: PermissionArgs,
    grant: bool,
) -> anyhow::Result<()> {
    let tenant = tenant_or_default(data_dir, &p.tenant)?;
    let kind = if p.delegated {
        PermissionKind::Delegated
    } else {
        PermissionKind::Application
    };
    let mut changed = Vec::new();
    for name in &p.permissions {
        let c = admin::set_permission(store, &tenant, &p.app, kind, name, grant)
            .await
            .map_err(fail)?;
        if c.changed {
            changed.push(c.permission);
        }
    }
    let app = store
        .app(&p.app)
        .await?
        .context("the app disappeared meanwhile")?;
    let mut v = admin::app_json(store, &app).await.map_err(fail)?;
    v["changed"] = json!(changed);
    print(&v)
}

pub async fn user(
    data_dir: &Path,
    database_url: Option<&str>,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    let store_arc = open(data_dir, database_url).await?;
    let store = store_arc.as_ref();
    match cmd {
        UserCommand::Create {
            tenant,
            upn,
            name,
            id,
            password,
        } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let c = admin::create_user(
                store,
                &tenant,
                &upn,
                name.as_deref(),
                id.as_deref(),
                password.as_deref(),
            )
            .await
            .map_err(fail)?;
            let mut v = admin::user_json(&c.user);
            if password.is_none() {
                v["password"] = Value::String(c.password);
            }
            print(&v)
        }
        UserCommand::List { tenant } => {
            let tenant = tenant_or_default(data_dir, &tenant)?;
            let users = store.sign_in_users(&tenant).await?;
            print(&json!(users
                .iter()
                .map(admin::user_json)
                .collect::<Vec<_>>()))
        }
    }
}
