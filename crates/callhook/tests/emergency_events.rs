//! Emergency call events: a tenant's emergency policy, the subscription
//! `communications/calls/getEmergencyEventsByPolicy(policyName='…')` with Graph's rules (rich
//! only, `CallEvents-Emergency.Read.All`, one day at most, one per app and policy), and the
//! encrypted notification a receiver decrypts with the client library; the ingest routes'
//! refusals name the JSON path.

mod common;
mod webhook;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use callhook_client::ChangeNotificationCollection;
use common::*;
use webhook::Webhook;

const POLICY: &str = "Redmond HQ";
const RESOURCE: &str = "communications/calls/getEmergencyEventsByPolicy(policyName='Redmond%20HQ')";
const LIMIT: Duration = Duration::from_secs(20);

fn in_minutes(m: i64) -> String {
    ts(chrono::Utc::now() + chrono::Duration::minutes(m))
}

/// Graph's example subscription, for `policy`, with the receiver's certificate.
fn subscription(hook: &Webhook, resource: &str, key: &ReceiverKey) -> Value {
    json!({
        "changeType": "updated",
        "notificationUrl": hook.url("/notify"),
        "lifecycleNotificationUrl": hook.url("/lifecycle"),
        "resource": resource,
        "includeResourceData": true,
        "encryptionCertificate": key.certificate,
        "encryptionCertificateId": "security-desk-1",
        "expirationDateTime": in_minutes(600),
        "clientState": "desk-secret",
    })
}

async fn put_policy(s: &TestServer, name: &str, body: &Value) -> Answer {
    s.ingest_raw(
        Method::PUT,
        &s.ingest_url(&format!("emergencyPolicies/{}", enc(name))),
        serde_json::to_vec(body).expect("json"),
    )
    .await
}

async fn post_events(s: &TestServer, events: &[Value]) -> Answer {
    s.ingest_raw(
        Method::POST,
        &s.ingest_url("emergencyCallEvents"),
        serde_json::to_vec(&json!({ "value": events })).expect("json"),
    )
    .await
}

fn event(id: &str, dialled: &str) -> Value {
    json!({
        "id": id,
        "callEventType": "callStarted",
        "eventDateTime": "2026-03-02T09:15:00.0000000Z",
        "emergencyNumberDialed": dialled,
        "callerInfo": {
            "displayName": "Adele Vance",
            "upn": "adele@contoso.example",
            "phoneNumber": "+14255550123",
            "location": {
                "address": {
                    "street": "Microsoft Way", "city": "Redmond", "state": "WA",
                    "countryOrRegion": "United States", "postalCode": "98052",
                    "additionalData": {"companyName": "Contoso", "additionalInfo": "Floor 3",
                        "houseNumber": "1", "county": "King", "streetSuffix": "NE"}
                },
                "coordinates": {"latitude": "47.6397", "longitude": "-122.1283"}
            }
        }
    })
}

#[tokio::test]
async fn an_emergency_call_reaches_its_policy_subscription_encrypted_and_whole() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    put_policy(&s, POLICY, &json!({"dialStrings": ["911", "933"]}))
        .await
        .expect_status(201);
    put_policy(&s, "Branch", &json!({"dialStrings": ["112"]}))
        .await
        .expect_status(201);

    let created = s
        .post_subscription("beta", &token, &subscription(&hook, RESOURCE, &key))
        .await;
    created.expect_status(201);
    assert_eq!(created.json["resource"], RESOURCE);
    let sub_id = created.json["id"].as_str().expect("id").to_string();

    // One event of the subscribed policy (named by its number), one of another policy.
    let stored = post_events(&s, &[event("em-1", "933"), event("em-2", "112")]).await;
    stored.expect_status(200);
    assert_eq!(stored.json["value"][0]["policyName"], POLICY);
    assert_eq!(stored.json["value"][1]["policyName"], "Branch");

    let post = hook.first_to(LIMIT, "/notify").await;
    assert_eq!(post.items().len(), 1, "only the subscribed policy's event");
    assert_eq!(post.items()[0]["organizationId"], s.tenant());
    let delivery =
        ChangeNotificationCollection::from_slice(&serde_json::to_vec(&post.body).expect("json"))
            .expect("a change notification collection");
    s.token_validator()
        .await
        .validate_collection(&delivery, callhook_client::unix_now())
        .expect("validation tokens verify");
    let n = &delivery.value[0];
    assert_eq!(n.subscription_id, sub_id);
    assert_eq!(n.change_type, Some(callhook_client::ChangeType::Updated));
    n.verify_client_state("desk-secret").expect("clientState");
    assert_eq!(n.resource.as_deref(), Some(RESOURCE));
    let data = n.resource_data.as_ref().expect("resourceData");
    assert_eq!(
        data.odata_type.as_deref(),
        Some("#microsoft.graph.emergencyCallEvent")
    );
    assert_eq!(data.id.as_deref(), Some("em-1"));

    let encrypted = n.encrypted_content.as_ref().expect("rich only");
    assert!(encrypted.data_signature.is_some());
    let content: Value = encrypted.decrypt_json(&key.key).expect("decrypts");
    assert_eq!(content["@odata.id"], RESOURCE);
    assert_eq!(
        content["@odata.type"],
        "#microsoft.graph.emergencyCallEvent"
    );
    assert_eq!(content["id"], "em-1");
    let e = &content["emergencyCallEvent"];
    assert_eq!(e["id"], "em-1");
    assert_eq!(e["callEventType"], "callStarted");
    assert_eq!(e["policyName"], POLICY);
    assert_eq!(e["emergencyNumberDialed"], "933");
    assert_eq!(e["eventDateTime"], "2026-03-02T09:15:00Z");
    assert_eq!(e["callerInfo"]["upn"], "adele@contoso.example");
    assert_eq!(e["callerInfo"]["tenantId"], s.tenant());
    assert_eq!(
        e["callerInfo"]["location"]["coordinates"]["latitude"],
        "47.6397"
    );
    assert_eq!(
        e["callerInfo"]["location"]["address"]["additionalData"]["houseNumber"],
        "1"
    );

    // A retried ingest of the same event is not notified again.
    post_events(&s, &[event("em-1", "933")])
        .await
        .expect_status(200);
    assert_eq!(s.server.state.store.outbox_len().await.expect("outbox"), 0);
}

#[tokio::test]
async fn emergency_subscriptions_follow_graphs_rules() {
    let s = start().await;
    let token = s.token().await;
    let hook = Webhook::start().await;
    let key = receiver_key();

    // Rich only.
    let mut basic = subscription(&hook, RESOURCE, &key);
    for k in [
        "includeResourceData",
        "encryptionCertificate",
        "encryptionCertificateId",
    ] {
        basic.as_object_mut().expect("object").remove(k);
    }
    let a = s.post_subscription("beta", &token, &basic).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(
        a.message().contains("supports only rich notifications"),
        "{}",
        a.text
    );

    // updated only.
    let mut created = subscription(&hook, RESOURCE, &key);
    created["changeType"] = json!("created");
    assert_graph_error(
        &s.post_subscription("beta", &token, &created).await,
        400,
        "InvalidRequest",
    );

    // One day at most.
    let mut long = subscription(&hook, RESOURCE, &key);
    long["expirationDateTime"] = json!(in_minutes(1441));
    let a = s.post_subscription("beta", &token, &long).await;
    assert_graph_error(&a, 400, "ExtensionError");
    assert_eq!(
        a.message(),
        "Subscription expiration can only be 1440 minutes in the future."
    );

    // The permission: an app without CallEvents-Emergency.Read.All is refused.
    let (_, other) = s
        .app_with_roles(1, &[callhook_api::permissions::CALL_EVENTS_READ_ALL])
        .await;
    let a = s
        .post_subscription("beta", &other, &subscription(&hook, RESOURCE, &key))
        .await;
    assert_graph_error(&a, 403, "ExtensionError");
    assert!(a.message().contains("not authorized"), "{}", a.text);
    let (_, allowed) = s
        .app_with_roles(
            2,
            &[callhook_api::permissions::CALL_EVENTS_EMERGENCY_READ_ALL],
        )
        .await;

    // One per app, tenant and policy: however the name is spelt, a second one is a 409.
    let first = s
        .post_subscription("beta", &allowed, &subscription(&hook, RESOURCE, &key))
        .await;
    first.expect_status(201);
    let respelt = "/Communications/Calls/getEmergencyEventsByPolicy(policyName='Redmond HQ')";
    let dup = s
        .post_subscription("v1.0", &allowed, &subscription(&hook, respelt, &key))
        .await;
    assert_graph_error(&dup, 409, "ExtensionError");
    assert!(
        dup.message()
            .contains(first.json["id"].as_str().expect("id")),
        "{}",
        dup.text
    );
    // Another app, or another policy, is not a duplicate; v1.0 serves the resource too.
    s.post_subscription("v1.0", &token, &subscription(&hook, RESOURCE, &key))
        .await
        .expect_status(201);
    let branch = "communications/calls/getEmergencyEventsByPolicy(policyName='Branch')";
    s.post_subscription("beta", &allowed, &subscription(&hook, branch, &key))
        .await
        .expect_status(201);

    // A malformed policy literal is refused by name.
    let bad = "communications/calls/getEmergencyEventsByPolicy(policyName=Branch)";
    let a = s
        .post_subscription("beta", &allowed, &subscription(&hook, bad, &key))
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(
        a.message().contains("is not supported for subscriptions"),
        "{}",
        a.text
    );

    // The notification's resource can be subscribed to, not read (docs/graph-behaviour.md).
    for version in ["v1.0", "beta"] {
        let got = s.get(&format!("/{version}/{RESOURCE}"), &token).await;
        assert_graph_error(&got, 400, "BadRequest");
        assert!(
            got.message().contains("change-notification resource"),
            "{}",
            got.text
        );
    }
}

#[tokio::test]
async fn emergency_ingest_refuses_bad_input_by_json_path() {
    let s = start().await;
    put_policy(&s, POLICY, &json!({"dialStrings": ["911"]}))
        .await
        .expect_status(201);
    put_policy(
        &s,
        POLICY,
        &json!({"dialStrings": ["911", "933"], "description": "HQ"}),
    )
    .await
    .expect_status(200);

    let refused = |a: &Answer, message: &str| {
        assert_graph_error(a, 400, "BadRequest");
        assert_eq!(a.message(), message, "body: {}", a.text);
    };
    refused(
        &put_policy(&s, POLICY, &json!({"dialStrings": []})).await,
        "dialStrings: a policy has 1 to 50 dial strings",
    );
    refused(
        &put_policy(&s, POLICY, &json!({"dialStrings": ["9 1 1"]})).await,
        "dialStrings[0]: only digits, '*', '#' and a leading '+' are allowed",
    );
    refused(
        &put_policy(
            &s,
            POLICY,
            &json!({"name": "Other", "dialStrings": ["911"]}),
        )
        .await,
        "name: must equal the name in the path",
    );
    let a = put_policy(
        &s,
        POLICY,
        &json!({"dialStrings": ["911"], "notifyGroup": "x"}),
    )
    .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(a.message().starts_with("notifyGroup:"), "{}", a.text);

    let mut no_number = event("e1", "911");
    no_number
        .as_object_mut()
        .expect("object")
        .remove("emergencyNumberDialed");
    refused(
        &post_events(&s, &[event("e0", "911"), no_number]).await,
        "value[1].emergencyNumberDialed: missing required property",
    );
    let mut bad_coordinates = event("e1", "911");
    bad_coordinates["callerInfo"]["location"]["coordinates"]["latitude"] = json!(47.6);
    let a = post_events(&s, &[bad_coordinates]).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message()
            .starts_with("value[0].callerInfo.location.coordinates.latitude:"),
        "{}",
        a.text
    );
    refused(
        &post_events(&s, &[event("e1", "112")]).await,
        "value[0].emergencyNumberDialed: no emergency policy of the tenant has the dial string '112'",
    );
    let mut unknown = event("e1", "911");
    unknown["policyName"] = json!("Nowhere");
    let a = post_events(&s, &[unknown]).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message()
            .starts_with("value[0].policyName: the tenant has no emergency policy named 'Nowhere'"),
        "{}",
        a.text
    );
    let mut wrong_number = event("e1", "112");
    wrong_number["policyName"] = json!(POLICY);
    refused(
        &post_events(&s, &[wrong_number]).await,
        "value[0].emergencyNumberDialed: '112' is not a dial string of emergency policy 'Redmond HQ'",
    );
    // Nothing of a refused batch was stored.
    let stored = s
        .server
        .state
        .store
        .call_events(&callhook_store::CallEventQuery {
            tenant_id: s.tenant().to_string(),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("call events");
    assert!(stored.is_empty());
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[tokio::test]
async fn simulated_emergency_calls_are_notified_and_match_their_records_and_report_rows() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    let resource = format!(
        "communications/calls/getEmergencyEventsByPolicy(policyName='{}')",
        callhook_sim::EMERGENCY_POLICY_NAME
    );
    s.post_subscription("beta", &token, &subscription(&hook, &resource, &key))
        .await
        .expect_status(201);

    let now = chrono::Utc::now();
    let opts = callhook_sim::SimulateOptions {
        url: s.base().to_string(),
        data_dir: s.dir.path().to_path_buf(),
        calls: 60,
        users: 20,
        days: 2,
        seed: Some(11),
        emergency_calls: Some(6),
        now: Some(now),
        concurrency: 2,
        ..Default::default()
    };
    let summary = callhook_sim::run(opts).await.expect("simulate");
    assert_eq!(summary.records.emergency, 6);

    hook.wait_until(
        LIMIT,
        || {},
        |posts| {
            posts
                .iter()
                .filter(|p| p.path.starts_with("/notify"))
                .map(|p| p.items().len())
                .sum::<usize>()
                >= 6
        },
    )
    .await;
    let mut events = Vec::new();
    for post in hook.seen.iter().filter(|p| p.path.starts_with("/notify")) {
        let c = ChangeNotificationCollection::from_slice(
            &serde_json::to_vec(&post.body).expect("json"),
        )
        .expect("collection");
        for n in &c.value {
            assert_eq!(n.resource.as_deref(), Some(resource.as_str()));
            let content: Value = n
                .encrypted_content
                .as_ref()
                .expect("rich")
                .decrypt_json(&key.key)
                .expect("decrypts");
            events.push(content["emergencyCallEvent"].clone());
        }
    }
    assert_eq!(events.len(), 6);

    // The reports and the records, as a collector reads them.
    let window = |f: &str| {
        format!(
            "/v1.0/communications/callRecords/{f}(fromDateTime={},toDateTime={})",
            (now - chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let (mut rows, _) = s.collect_pages(&window("getPstnCalls"), &token, &[]).await;
    rows.extend(
        s.collect_pages(&window("getDirectRoutingCalls"), &token, &[])
            .await
            .0,
    );
    let (records, _) = s
        .collect_pages("/v1.0/communications/callRecords", &token, &[])
        .await;

    for e in &events {
        let number = &e["emergencyNumberDialed"];
        let caller = &e["callerInfo"];
        let at = time(&e["eventDateTime"]);
        let matching: Vec<&Value> = rows
            .iter()
            .filter(|r| {
                &r["calleeNumber"] == number
                    && r["userPrincipalName"] == caller["upn"]
                    && time(&r["startDateTime"]) == at
            })
            .collect();
        assert_eq!(matching.len(), 1, "one report row for {e}");
        let row = matching[0];
        assert!(
            ["emergency_out", "dr_emergency_out"].contains(&row["callType"].as_str().unwrap_or("")),
            "{row}"
        );
        assert_eq!(row["callerNumber"], caller["phoneNumber"]);
        let record = records
            .iter()
            .find(|r| time(&r["startDateTime"]) == at && r["organizer_v2"]["id"] == row["userId"])
            .unwrap_or_else(|| panic!("no call record for {e}"));
        if row["callType"] == "dr_emergency_out" {
            assert_eq!(row["correlationId"], record["id"]);
        }
        let participants = s
            .get(
                &format!(
                    "/v1.0/communications/callRecords/{}/participants_v2",
                    record["id"].as_str().unwrap_or_default()
                ),
                &token,
            )
            .await;
        participants.expect_status(200);
        assert!(
            participants.values().iter().any(|p| &p["id"] == number),
            "the record's phone participant is the emergency number"
        );
    }
}
