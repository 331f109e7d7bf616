//! Tenant isolation as a property: several tenants receive random, overlapping call records and
//! users through the ingest API; every tenant's token then reads exactly its own data, and every
//! id that exists only in another tenant is a 404 (never a 403 that would confirm it exists).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::json;

use common::*;

/// One case: for each tenant, the record ids and user ids it gets (drawn from small pools so
/// that tenants often share ids).
fn case() -> impl Strategy<Value = Vec<(BTreeSet<u8>, BTreeSet<u8>)>> {
    prop::collection::vec(
        (
            prop::collection::btree_set(0u8..12, 0..6),
            prop::collection::btree_set(0u8..8, 0..4),
        ),
        2..5,
    )
}

async fn check(s: &TestServer, next: &AtomicU32, tenants: Vec<(BTreeSet<u8>, BTreeSet<u8>)>) {
    let mut made = Vec::new();
    for (records, users) in &tenants {
        let (tenant, client, secret) = s.add_tenant(next.fetch_add(1, Ordering::Relaxed)).await;
        let bodies: Vec<_> = records
            .iter()
            .map(|r| RecordBuilder::new(uuid_like(0x150, u64::from(*r))).build())
            .collect();
        if !bodies.is_empty() {
            let a = s
                .ingest_raw(
                    Method::POST,
                    &format!("{}/ingest/v1/tenants/{tenant}/callRecords", s.base()),
                    serde_json::to_vec(&json!({ "value": bodies })).unwrap(),
                )
                .await;
            assert!(a.status.is_success(), "{}", a.text);
        }
        let user_bodies: Vec<_> = users
            .iter()
            .map(|u| json!({"id": uuid_like(0x05e, u64::from(*u)), "displayName": format!("{tenant} user {u}")}))
            .collect();
        if !user_bodies.is_empty() {
            let a = s
                .ingest_raw(
                    Method::POST,
                    &format!("{}/ingest/v1/tenants/{tenant}/users", s.base()),
                    serde_json::to_vec(&json!({ "value": user_bodies })).unwrap(),
                )
                .await;
            assert!(a.status.is_success(), "{}", a.text);
        }
        let token = s.token_for(&tenant, &client, &secret).await;
        made.push((tenant, token, records.clone(), users.clone()));
    }
    let all_records: BTreeSet<u8> = made.iter().flat_map(|m| m.2.iter().copied()).collect();
    let all_users: BTreeSet<u8> = made.iter().flat_map(|m| m.3.iter().copied()).collect();
    for (tenant, token, records, users) in &made {
        let (listed, _) = s
            .collect_pages("/v1.0/communications/callRecords", token, &[])
            .await;
        let listed: BTreeSet<String> = listed
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let own: BTreeSet<String> = records
            .iter()
            .map(|r| uuid_like(0x150, u64::from(*r)))
            .collect();
        assert_eq!(listed, own, "tenant {tenant} lists exactly its records");
        for r in &all_records {
            let id = uuid_like(0x150, u64::from(*r));
            let a = s
                .get(
                    &format!("/v1.0/communications/callRecords/{id}/sessions"),
                    token,
                )
                .await;
            let expected = if records.contains(r) { 200 } else { 404 };
            assert_eq!(
                a.status.as_u16(),
                expected,
                "tenant {tenant}, record {id}: {}",
                a.text
            );
        }
        let (listed_users, _) = s.collect_pages("/v1.0/users", token, &[]).await;
        let names: BTreeMap<String, String> = listed_users
            .iter()
            .map(|u| {
                (
                    u["id"].as_str().unwrap().to_string(),
                    u["displayName"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let own_users: BTreeSet<String> = users
            .iter()
            .map(|u| uuid_like(0x05e, u64::from(*u)))
            .collect();
        assert_eq!(names.keys().cloned().collect::<BTreeSet<_>>(), own_users);
        assert!(
            names.values().all(|n| n.starts_with(tenant.as_str())),
            "a user body of another tenant leaked"
        );
        for u in &all_users {
            let id = uuid_like(0x05e, u64::from(*u));
            let a = s.get(&format!("/v1.0/users/{id}"), token).await;
            assert_eq!(
                a.status.as_u16(),
                if users.contains(u) { 200 } else { 404 },
                "{}",
                a.text
            );
        }
    }
}

#[test]
fn no_read_crosses_tenants() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(start());
    let next = AtomicU32::new(1);
    let mut runner = TestRunner::new(Config {
        cases: 10,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |tenants| {
        rt.block_on(check(&s, &next, tenants));
        Ok(())
    });
    rt.block_on(s.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}
