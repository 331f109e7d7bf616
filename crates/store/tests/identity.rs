//! IdentityStore on every backend: app roles and secrets, delegated grants, sign-in users and
//! resource-specific consent, each within its tenant.

#[macro_use]
mod common;

use std::sync::Arc;

use callhook_store::*;
use chrono::Utc;

async fn with_app(
    (guard, store): (common::Guard, Arc<dyn Store>),
) -> (common::Guard, Arc<dyn Store>) {
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
    (guard, store)
}

backend_tests! {
async fn roles_are_granted_and_revoked_once_and_only_in_the_apps_tenant() {
    let (_d, s) = with_app(store().await).await;
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

async fn deleting_an_app_removes_its_grants() {
    let (_d, s) = with_app(store().await).await;
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

async fn sign_in_users_are_found_by_id_or_case_insensitive_name_within_their_tenant() {
    let (_d, s) = with_app(store().await).await;
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
