//! [`crate::IdentityStore`] written once for both stores. Role and secret lists stay JSON arrays
//! (text) in the `apps` row; each change is a single UPDATE (the backend's JSON functions:
//! [`super::Backend::GRANT_APP_ROLE`] and friends), so concurrent nodes and the CLI never lose
//! each other's change.

use crate::identity::{RscGrant, SignInUser};
use crate::shared::Columns;
use crate::StoreResult;

pub(crate) fn user_from_row(r: &impl Columns) -> StoreResult<SignInUser> {
    Ok(SignInUser {
        tenant_id: r.text("tenant_id")?,
        id: r.text("id")?,
        user_principal_name: r.text("user_principal_name")?,
        display_name: r.text("display_name")?,
        password_hash: r.text("password_hash")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn rsc_from_row(r: &impl Columns) -> StoreResult<RscGrant> {
    Ok(RscGrant {
        tenant_id: r.text("tenant_id")?,
        client_id: r.text("client_id")?,
        resource_id: r.text("resource_id")?,
        permission: r.text("permission")?,
        created_at: r.time("created_at")?,
    })
}

/// `impl IdentityStore for $store`.
macro_rules! identity_impl {
    ($store:ty) => {
        const _: () = {
            use $crate::identity::*;
            use $crate::shared::identity::{rsc_from_row, user_from_row};
            use $crate::shared::*;
            use $crate::{App, StoreResult};

            impl $store {
                async fn app_exists(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool> {
                    if Self::unstorable(&[tenant_id, client_id]) {
                        return Ok(false);
                    }
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM apps WHERE tenant_id = $1 AND client_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(client_id)
                    .fetch_one(self.writer())
                    .await?;
                    Ok(n > 0)
                }

                /// Turns "no row updated" into [`GrantChange::NoSuchApp`] or
                /// [`GrantChange::Unchanged`].
                async fn change(
                    &self,
                    affected: u64,
                    tenant_id: &str,
                    client_id: &str,
                ) -> StoreResult<GrantChange> {
                    if affected > 0 {
                        Ok(GrantChange::Changed)
                    } else if self.app_exists(tenant_id, client_id).await? {
                        Ok(GrantChange::Unchanged)
                    } else {
                        Ok(GrantChange::NoSuchApp)
                    }
                }

                /// Runs a grant or revocation that binds `$1` the granted value, `$2` the tenant
                /// and `$3` the app, and tells what it changed.
                async fn change_grant(
                    &self,
                    sql: &str,
                    value: &str,
                    tenant_id: &str,
                    client_id: &str,
                ) -> StoreResult<GrantChange> {
                    let done = sqlx::query(sql)
                        .bind(value)
                        .bind(tenant_id)
                        .bind(client_id)
                        .execute(self.writer())
                        .await?;
                    self.change(done.rows_affected(), tenant_id, client_id).await
                }
            }

            #[async_trait::async_trait]
            impl IdentityStore for $store {
                async fn apps(&self, tenant_id: &str) -> StoreResult<Vec<App>> {
                    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE tenant_id = $1 ORDER BY client_id");
                    Self::find_all(self.reader(), &sql, &[tenant_id], app_from_row).await
                }

                async fn delete_app(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool> {
                    if Self::unstorable(&[tenant_id, client_id]) {
                        return Ok(false);
                    }
                    let done = sqlx::query("DELETE FROM apps WHERE tenant_id = $1 AND client_id = $2")
                        .bind(tenant_id)
                        .bind(client_id)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn add_app_secret(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    secret_hash: &str,
                ) -> StoreResult<bool> {
                    if Self::unstorable(&[tenant_id, client_id]) {
                        return Ok(false);
                    }
                    let done = sqlx::query(Self::ADD_APP_SECRET)
                        .bind(secret_hash)
                        .bind(tenant_id)
                        .bind(client_id)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn grant_app_role(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    role: &str,
                ) -> StoreResult<GrantChange> {
                    self.change_grant(Self::GRANT_APP_ROLE, role, tenant_id, client_id)
                        .await
                }

                async fn revoke_app_role(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    role: &str,
                ) -> StoreResult<GrantChange> {
                    if Self::unstorable(&[tenant_id, client_id, role]) {
                        return self.change(0, tenant_id, client_id).await;
                    }
                    self.change_grant(Self::REVOKE_APP_ROLE, role, tenant_id, client_id)
                        .await
                }

                async fn app_roles(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                ) -> StoreResult<Option<Vec<String>>> {
                    Self::find(
                        self.reader(),
                        "SELECT roles FROM apps WHERE tenant_id = $1 AND client_id = $2",
                        &[tenant_id, client_id],
                        |r| r.list("roles"),
                    )
                    .await
                }

                async fn grant_delegated(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    scope: &str,
                ) -> StoreResult<GrantChange> {
                    self.change_grant(
                        "INSERT INTO delegated_grants (tenant_id, client_id, scope) \
                         SELECT tenant_id, client_id, $1 FROM apps WHERE tenant_id = $2 AND client_id = $3 \
                         ON CONFLICT (client_id, scope) DO NOTHING",
                        scope,
                        tenant_id,
                        client_id,
                    )
                    .await
                }

                async fn revoke_delegated(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    scope: &str,
                ) -> StoreResult<GrantChange> {
                    if Self::unstorable(&[tenant_id, client_id, scope]) {
                        return self.change(0, tenant_id, client_id).await;
                    }
                    self.change_grant(
                        "DELETE FROM delegated_grants WHERE scope = $1 AND tenant_id = $2 AND client_id = $3",
                        scope,
                        tenant_id,
                        client_id,
                    )
                    .await
                }

                async fn delegated_scopes(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                ) -> StoreResult<Vec<String>> {
                    Self::find_all(
                        self.reader(),
                        "SELECT scope FROM delegated_grants WHERE tenant_id = $1 AND client_id = $2 \
                         ORDER BY scope",
                        &[tenant_id, client_id],
                        |r| r.text("scope"),
                    )
                    .await
                }

                async fn insert_sign_in_user(&self, user: &SignInUser) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "INSERT INTO sign_in_users (tenant_id, id, user_principal_name, display_name, \
                         password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(&user.tenant_id)
                    .bind(&user.id)
                    .bind(user.user_principal_name.to_lowercase())
                    .bind(&user.display_name)
                    .bind(&user.password_hash)
                    .bind(fmt_time(user.created_at))
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn sign_in_user(
                    &self,
                    tenant_id: &str,
                    id_or_upn: &str,
                ) -> StoreResult<Option<SignInUser>> {
                    Self::find(
                        self.reader(),
                        "SELECT * FROM sign_in_users WHERE tenant_id = $1 \
                         AND (id = $2 OR user_principal_name = $3) ORDER BY id LIMIT 1",
                        &[tenant_id, id_or_upn, &id_or_upn.to_lowercase()],
                        user_from_row,
                    )
                    .await
                }

                async fn sign_in_users(&self, tenant_id: &str) -> StoreResult<Vec<SignInUser>> {
                    Self::find_all(
                        self.reader(),
                        "SELECT * FROM sign_in_users WHERE tenant_id = $1 ORDER BY user_principal_name",
                        &[tenant_id],
                        user_from_row,
                    )
                    .await
                }

                async fn install_rsc(&self, grant: &RscGrant) -> StoreResult<GrantChange> {
                    let done = sqlx::query(
                        "INSERT INTO rsc_grants (tenant_id, client_id, resource_id, permission, created_at) \
                         SELECT tenant_id, client_id, $1, $2, $3 FROM apps WHERE tenant_id = $4 \
                         AND client_id = $5 ON CONFLICT (client_id, resource_id, permission) DO NOTHING",
                    )
                    .bind(&grant.resource_id)
                    .bind(&grant.permission)
                    .bind(fmt_time(grant.created_at))
                    .bind(&grant.tenant_id)
                    .bind(&grant.client_id)
                    .execute(self.writer())
                    .await?;
                    self.change(done.rows_affected(), &grant.tenant_id, &grant.client_id)
                        .await
                }

                async fn uninstall_rsc(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    resource_id: &str,
                ) -> StoreResult<u64> {
                    if Self::unstorable(&[tenant_id, client_id, resource_id]) {
                        return Ok(0);
                    }
                    let done = sqlx::query(
                        "DELETE FROM rsc_grants WHERE tenant_id = $1 AND client_id = $2 AND resource_id = $3",
                    )
                    .bind(tenant_id)
                    .bind(client_id)
                    .bind(resource_id)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn rsc_grants(&self, tenant_id: &str, client_id: &str) -> StoreResult<Vec<RscGrant>> {
                    Self::find_all(
                        self.reader(),
                        "SELECT * FROM rsc_grants WHERE tenant_id = $1 AND client_id = $2 \
                         ORDER BY resource_id, permission",
                        &[tenant_id, client_id],
                        rsc_from_row,
                    )
                    .await
                }

                async fn rsc_granted(
                    &self,
                    tenant_id: &str,
                    client_id: &str,
                    resource_id: &str,
                    permission: &str,
                ) -> StoreResult<bool> {
                    if Self::unstorable(&[tenant_id, client_id, resource_id, permission]) {
                        return Ok(false);
                    }
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM rsc_grants \
                         WHERE tenant_id = $1 AND client_id = $2 AND resource_id = $3 AND permission = $4",
                    )
                    .bind(tenant_id)
                    .bind(client_id)
                    .bind(resource_id)
                    .bind(permission)
                    .fetch_one(self.reader())
                    .await?;
                    Ok(n > 0)
                }
            }
        };
    };
}

pub(crate) use identity_impl;
