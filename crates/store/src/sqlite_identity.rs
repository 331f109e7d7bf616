//! [`IdentityStore`] for [`SqliteStore`]. Role and secret lists stay JSON arrays in the `apps`
//! row; each change is a single UPDATE (SQLite's JSON functions), so a concurrent CLI and server
//! never lose each other's change.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::identity::*;
use crate::sqlite::{fmt_time, parse_list, parse_time};
use crate::{App, SqliteStore, StoreResult};

const APP_COLUMNS: &str = "client_id, tenant_id, display_name, secret_hashes, roles, created_at";

fn app_from_row(r: &SqliteRow) -> StoreResult<App> {
    Ok(App {
        client_id: r.try_get("client_id")?,
        tenant_id: r.try_get("tenant_id")?,
        display_name: r.try_get("display_name")?,
        secret_hashes: parse_list(&r.try_get::<String, _>("secret_hashes")?)?,
        roles: parse_list(&r.try_get::<String, _>("roles")?)?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

fn user_from_row(r: &SqliteRow) -> StoreResult<SignInUser> {
    Ok(SignInUser {
        tenant_id: r.try_get("tenant_id")?,
        id: r.try_get("id")?,
        user_principal_name: r.try_get("user_principal_name")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

fn rsc_from_row(r: &SqliteRow) -> StoreResult<RscGrant> {
    Ok(RscGrant {
        tenant_id: r.try_get("tenant_id")?,
        client_id: r.try_get("client_id")?,
        resource_id: r.try_get("resource_id")?,
        permission: r.try_get("permission")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

impl SqliteStore {
    async fn app_exists(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE tenant_id = ? AND client_id = ?")
                .bind(tenant_id)
                .bind(client_id)
                .fetch_one(&self.writer)
                .await?;
        Ok(n > 0)
    }

    /// Turns "no row updated" into [`GrantChange::NoSuchApp`] or [`GrantChange::Unchanged`].
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
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn apps(&self, tenant_id: &str) -> StoreResult<Vec<App>> {
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE tenant_id = ? ORDER BY client_id"
        ))
        .bind(tenant_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn delete_app(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM apps WHERE tenant_id = ? AND client_id = ?")
            .bind(tenant_id)
            .bind(client_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_app_secret(
        &self,
        tenant_id: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE apps SET secret_hashes = json_insert(secret_hashes, '$[#]', ?) \
             WHERE tenant_id = ? AND client_id = ?",
        )
        .bind(secret_hash)
        .bind(tenant_id)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn grant_app_role(
        &self,
        tenant_id: &str,
        client_id: &str,
        role: &str,
    ) -> StoreResult<GrantChange> {
        let done = sqlx::query(
            "UPDATE apps SET roles = json_insert(roles, '$[#]', ?1) \
             WHERE tenant_id = ?2 AND client_id = ?3 \
               AND NOT EXISTS (SELECT 1 FROM json_each(apps.roles) WHERE value = ?1)",
        )
        .bind(role)
        .bind(tenant_id)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        self.change(done.rows_affected(), tenant_id, client_id)
            .await
    }

    async fn revoke_app_role(
        &self,
        tenant_id: &str,
        client_id: &str,
        role: &str,
    ) -> StoreResult<GrantChange> {
        let done = sqlx::query(
            "UPDATE apps SET roles = (SELECT json_group_array(value) FROM json_each(apps.roles) WHERE value <> ?1) \
             WHERE tenant_id = ?2 AND client_id = ?3 \
               AND EXISTS (SELECT 1 FROM json_each(apps.roles) WHERE value = ?1)",
        )
        .bind(role)
        .bind(tenant_id)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        self.change(done.rows_affected(), tenant_id, client_id)
            .await
    }

    async fn app_roles(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let roles: Option<String> =
            sqlx::query_scalar("SELECT roles FROM apps WHERE tenant_id = ? AND client_id = ?")
                .bind(tenant_id)
                .bind(client_id)
                .fetch_optional(&self.reader)
                .await?;
        roles.as_deref().map(parse_list).transpose()
    }

    async fn grant_delegated(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
    ) -> StoreResult<GrantChange> {
        let done = sqlx::query(
            "INSERT INTO delegated_grants (tenant_id, client_id, scope) \
             SELECT tenant_id, client_id, ? FROM apps WHERE tenant_id = ? AND client_id = ? \
             ON CONFLICT (client_id, scope) DO NOTHING",
        )
        .bind(scope)
        .bind(tenant_id)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        self.change(done.rows_affected(), tenant_id, client_id)
            .await
    }

    async fn revoke_delegated(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
    ) -> StoreResult<GrantChange> {
        let done = sqlx::query(
            "DELETE FROM delegated_grants WHERE tenant_id = ? AND client_id = ? AND scope = ?",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(scope)
        .execute(&self.writer)
        .await?;
        self.change(done.rows_affected(), tenant_id, client_id)
            .await
    }

    async fn delegated_scopes(&self, tenant_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT scope FROM delegated_grants WHERE tenant_id = ? AND client_id = ? ORDER BY scope",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn insert_sign_in_user(&self, user: &SignInUser) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO sign_in_users (tenant_id, id, user_principal_name, display_name, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&user.tenant_id)
        .bind(&user.id)
        .bind(user.user_principal_name.to_lowercase())
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(fmt_time(user.created_at))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn sign_in_user(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
    ) -> StoreResult<Option<SignInUser>> {
        let row = sqlx::query(
            "SELECT * FROM sign_in_users WHERE tenant_id = ? AND (id = ? OR user_principal_name = ?)",
        )
        .bind(tenant_id)
        .bind(id_or_upn)
        .bind(id_or_upn.to_lowercase())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn sign_in_users(&self, tenant_id: &str) -> StoreResult<Vec<SignInUser>> {
        let rows = sqlx::query(
            "SELECT * FROM sign_in_users WHERE tenant_id = ? ORDER BY user_principal_name",
        )
        .bind(tenant_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn install_rsc(&self, grant: &RscGrant) -> StoreResult<GrantChange> {
        let done = sqlx::query(
            "INSERT INTO rsc_grants (tenant_id, client_id, resource_id, permission, created_at) \
             SELECT tenant_id, client_id, ?, ?, ? FROM apps WHERE tenant_id = ? AND client_id = ? \
             ON CONFLICT (client_id, resource_id, permission) DO NOTHING",
        )
        .bind(&grant.resource_id)
        .bind(&grant.permission)
        .bind(fmt_time(grant.created_at))
        .bind(&grant.tenant_id)
        .bind(&grant.client_id)
        .execute(&self.writer)
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
        let done = sqlx::query(
            "DELETE FROM rsc_grants WHERE tenant_id = ? AND client_id = ? AND resource_id = ?",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(resource_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn rsc_grants(&self, tenant_id: &str, client_id: &str) -> StoreResult<Vec<RscGrant>> {
        let rows = sqlx::query(
            "SELECT * FROM rsc_grants WHERE tenant_id = ? AND client_id = ? ORDER BY resource_id, permission",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rsc_from_row).collect()
    }

    async fn rsc_granted(
        &self,
        tenant_id: &str,
        client_id: &str,
        resource_id: &str,
        permission: &str,
    ) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM rsc_grants \
             WHERE tenant_id = ? AND client_id = ? AND resource_id = ? AND permission = ?",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(resource_id)
        .bind(permission)
        .fetch_one(&self.reader)
        .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, Tenant};
    use chrono::Utc;

    async fn store_with_app() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        for t in ["t1", "t2"] {
            store
                .insert_tenant(&Tenant {
                    id: t.into(),
                    display_name: t.into(),
                    created_at: Utc::now(),
                })
                .await
                .unwrap();
        }
        store
            .insert_app(&App {
                client_id: "a1".into(),
                tenant_id: "t1".into(),
                display_name: "app".into(),
                secret_hashes: vec!["h1".into()],
                roles: vec!["CallRecords.Read.All".into()],
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn roles_are_granted_and_revoked_once_and_only_in_the_apps_tenant() {
        let (_d, s) = store_with_app().await;
        let role = "OnlineMeetings.Read.All";
        assert_eq!(
            s.grant_app_role("t1", "a1", role).await.unwrap(),
            GrantChange::Changed
        );
        assert_eq!(
            s.grant_app_role("t1", "a1", role).await.unwrap(),
            GrantChange::Unchanged
        );
        assert_eq!(
            s.grant_app_role("t2", "a1", role).await.unwrap(),
            GrantChange::NoSuchApp
        );
        assert_eq!(
            s.app_roles("t1", "a1").await.unwrap().unwrap(),
            vec!["CallRecords.Read.All".to_string(), role.to_string()]
        );
        assert_eq!(s.app_roles("t2", "a1").await.unwrap(), None);
        assert_eq!(
            s.revoke_app_role("t1", "a1", "CallRecords.Read.All")
                .await
                .unwrap(),
            GrantChange::Changed
        );
        assert_eq!(
            s.revoke_app_role("t1", "a1", "CallRecords.Read.All")
                .await
                .unwrap(),
            GrantChange::Unchanged
        );
        assert_eq!(
            s.app("a1").await.unwrap().unwrap().roles,
            vec![role.to_string()]
        );
        assert!(s.add_app_secret("t1", "a1", "h2").await.unwrap());
        assert!(!s.add_app_secret("t2", "a1", "h3").await.unwrap());
        assert_eq!(
            s.app("a1").await.unwrap().unwrap().secret_hashes,
            vec!["h1", "h2"]
        );
    }

    #[tokio::test]
    async fn deleting_an_app_removes_its_grants() {
        let (_d, s) = store_with_app().await;
        assert_eq!(
            s.grant_delegated("t1", "a1", "OnlineMeetings.Read")
                .await
                .unwrap(),
            GrantChange::Changed
        );
        let grant = RscGrant {
            tenant_id: "t1".into(),
            client_id: "a1".into(),
            resource_id: "m1".into(),
            permission: "OnlineMeetingTranscript.Read.Chat".into(),
            created_at: Utc::now(),
        };
        assert_eq!(s.install_rsc(&grant).await.unwrap(), GrantChange::Changed);
        assert_eq!(s.install_rsc(&grant).await.unwrap(), GrantChange::Unchanged);
        assert!(s
            .rsc_granted("t1", "a1", "m1", &grant.permission)
            .await
            .unwrap());
        assert!(!s
            .rsc_granted("t2", "a1", "m1", &grant.permission)
            .await
            .unwrap());
        assert!(!s
            .rsc_granted("t1", "a1", "m2", &grant.permission)
            .await
            .unwrap());
        assert!(!s.delete_app("t2", "a1").await.unwrap());
        assert!(s.delete_app("t1", "a1").await.unwrap());
        assert!(s.delegated_scopes("t1", "a1").await.unwrap().is_empty());
        assert!(!s
            .rsc_granted("t1", "a1", "m1", &grant.permission)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn sign_in_users_are_found_by_id_or_case_insensitive_name_within_their_tenant() {
        let (_d, s) = store_with_app().await;
        let u = SignInUser {
            tenant_id: "t1".into(),
            id: "u1".into(),
            user_principal_name: "Ada@Contoso.com".into(),
            display_name: "Ada".into(),
            password_hash: "h".into(),
            created_at: Utc::now(),
        };
        assert!(s.insert_sign_in_user(&u).await.unwrap());
        assert!(!s.insert_sign_in_user(&u).await.unwrap());
        assert_eq!(
            s.sign_in_user("t1", "ada@contoso.COM")
                .await
                .unwrap()
                .unwrap()
                .id,
            "u1"
        );
        assert!(s.sign_in_user("t1", "u1").await.unwrap().is_some());
        assert!(s.sign_in_user("t2", "u1").await.unwrap().is_none());
        assert!(!format!("{u:?}").contains("\"h\""));
    }
}
