//! Tenants' identities beyond the app registration itself: app secrets and application
//! permissions (roles), delegated permission grants, users who sign in for delegated tokens, and
//! resource-specific consent (RSC). The [`IdentityStore`] part of the [`crate::Store`].
//!
//! Every method takes the tenant id: an app or user of another tenant is treated as absent.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{App, StoreResult};

/// A directory user who can sign in (resource-owner password grant) for delegated tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInUser {
    pub tenant_id: String,
    /// Entra object id: the token's `oid`, and the `{id}` of `/users/{id}/…` paths.
    pub id: String,
    /// Sign-in name, kept lower-case.
    pub user_principal_name: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for SignInUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInUser")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("user_principal_name", &self.user_principal_name)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Resource-specific consent: an app installed into one meeting or chat with one permission
/// (e.g. `OnlineMeetingTranscript.Read.Chat`) that applies there only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RscGrant {
    pub tenant_id: String,
    pub client_id: String,
    /// Online meeting id or chat thread id.
    pub resource_id: String,
    pub permission: String,
    pub created_at: DateTime<Utc>,
}

/// What changed on a grant or revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantChange {
    /// The app is not registered in the tenant.
    NoSuchApp,
    /// It already was so.
    Unchanged,
    Changed,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The tenant's app registrations, by client id.
    async fn apps(&self, tenant_id: &str) -> StoreResult<Vec<App>>;
    /// Deletes an app registration with its delegated and RSC grants; false if there was none.
    async fn delete_app(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool>;
    /// Adds a secret (its `hash_secret` value); false if there is no such app.
    async fn add_app_secret(
        &self,
        tenant_id: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> StoreResult<bool>;
    /// Grants an application permission (app role).
    async fn grant_app_role(
        &self,
        tenant_id: &str,
        client_id: &str,
        role: &str,
    ) -> StoreResult<GrantChange>;
    /// Revokes an application permission. Tokens already issued keep their `roles` until they
    /// expire (as in Entra); subscriptions check [`IdentityStore::app_roles`].
    async fn revoke_app_role(
        &self,
        tenant_id: &str,
        client_id: &str,
        role: &str,
    ) -> StoreResult<GrantChange>;
    /// The app's current application permissions; `None` if the app is not in the tenant.
    async fn app_roles(&self, tenant_id: &str, client_id: &str)
        -> StoreResult<Option<Vec<String>>>;

    /// Consents to a delegated permission for every user of the tenant.
    async fn grant_delegated(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
    ) -> StoreResult<GrantChange>;
    async fn revoke_delegated(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
    ) -> StoreResult<GrantChange>;
    /// Delegated permissions consented for the app, sorted.
    async fn delegated_scopes(&self, tenant_id: &str, client_id: &str) -> StoreResult<Vec<String>>;

    /// Adds a sign-in user; false if the id or the user principal name is taken in the tenant.
    async fn insert_sign_in_user(&self, user: &SignInUser) -> StoreResult<bool>;
    /// A sign-in user by object id or user principal name (case-insensitive).
    async fn sign_in_user(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
    ) -> StoreResult<Option<SignInUser>>;
    async fn sign_in_users(&self, tenant_id: &str) -> StoreResult<Vec<SignInUser>>;

    /// Installs the app into a meeting or chat with one RSC permission.
    async fn install_rsc(&self, grant: &RscGrant) -> StoreResult<GrantChange>;
    /// Removes the app's RSC permissions on a meeting or chat; how many were removed.
    async fn uninstall_rsc(
        &self,
        tenant_id: &str,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<u64>;
    async fn rsc_grants(&self, tenant_id: &str, client_id: &str) -> StoreResult<Vec<RscGrant>>;
    /// Whether the app holds `permission` by resource-specific consent on the meeting or chat.
    async fn rsc_granted(
        &self,
        tenant_id: &str,
        client_id: &str,
        resource_id: &str,
        permission: &str,
    ) -> StoreResult<bool>;
}
