//! `$metadata`: an EDMX 4.0 document, served without a token, that declares every property
//! callhook writes in the JSON it serves at that version.

mod common;

use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, Utc};
use common::*;
use serde_json::Value;

/// A structured type of the document: its base, whether it is open, and its properties'
/// types (`Collection(…)` unwrapped).
struct Declared {
    base: Option<String>,
    open: bool,
    properties: HashMap<String, String>,
}

struct Schema {
    types: HashMap<String, Declared>,
    functions: BTreeSet<String>,
}

fn parse_edmx(xml: &str) -> Schema {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Edmx");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://docs.oasis-open.org/odata/ns/edmx")
    );
    assert_eq!(root.attribute("Version"), Some("4.0"));
    let mut types = HashMap::new();
    let mut functions = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for schema in root
        .descendants()
        .filter(|n| n.tag_name().name() == "Schema")
    {
        assert_eq!(
            schema.tag_name().namespace(),
            Some("http://docs.oasis-open.org/odata/ns/edm")
        );
        let ns = schema.attribute("Namespace").expect("Namespace");
        namespaces.insert(ns.to_string());
        for t in schema
            .children()
            .filter(|n| matches!(n.tag_name().name(), "EntityType" | "ComplexType"))
        {
            let name = format!("{ns}.{}", t.attribute("Name").expect("Name"));
            let properties = t
                .children()
                .filter(|p| matches!(p.tag_name().name(), "Property" | "NavigationProperty"))
                .map(|p| {
                    let ty = p.attribute("Type").expect("Type");
                    let ty = ty
                        .strip_prefix("Collection(")
                        .and_then(|t| t.strip_suffix(')'))
                        .unwrap_or(ty);
                    (
                        p.attribute("Name").expect("Name").to_string(),
                        ty.to_string(),
                    )
                })
                .collect();
            let declared = Declared {
                base: t.attribute("BaseType").map(str::to_string),
                open: t.attribute("OpenType") == Some("true"),
                properties,
            };
            assert!(
                types.insert(name.clone(), declared).is_none(),
                "{name} twice"
            );
        }
        for f in schema
            .children()
            .filter(|n| n.tag_name().name() == "Function")
        {
            functions.insert(f.attribute("Name").expect("Name").to_string());
        }
    }
    assert_eq!(
        namespaces,
        BTreeSet::from([
            "microsoft.graph".into(),
            "microsoft.graph.callRecords".into()
        ])
    );
    // Every type a property names is declared (or primitive or an enum).
    let enums: BTreeSet<String> = root
        .descendants()
        .filter(|n| n.tag_name().name() == "EnumType")
        .map(|n| {
            let ns = n
                .parent()
                .and_then(|p| p.attribute("Namespace"))
                .unwrap_or("");
            format!("{ns}.{}", n.attribute("Name").unwrap_or(""))
        })
        .collect();
    for (name, t) in &types {
        for (p, ty) in &t.properties {
            assert!(
                ty.starts_with("Edm.") || types.contains_key(ty) || enums.contains(ty),
                "{name}.{p} has the undeclared type {ty}"
            );
        }
    }
    Schema { types, functions }
}

impl Schema {
    /// The type of `name.property`, looking through base types.
    fn property(&self, name: &str, property: &str) -> Option<&str> {
        let mut next = self.types.get(name);
        while let Some(t) = next {
            if let Some(ty) = t.properties.get(property) {
                return Some(ty);
            }
            next = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        None
    }

    fn is_open(&self, name: &str) -> bool {
        let mut next = self.types.get(name);
        while let Some(t) = next {
            if t.open {
                return true;
            }
            next = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        false
    }

    /// Checks that every member of `v` (a value of `type_name`, or of its `@odata.type`) is
    /// declared, all the way down; collects what is not.
    fn check(&self, type_name: &str, v: &Value, path: &str, missing: &mut BTreeSet<String>) {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(type_name, item, &format!("{path}[{i}]"), missing);
                }
            }
            Value::Object(o) => {
                // Graph's notifications spell some types in its own case
                // (`#Microsoft.Graph.CallEvent`): resolve names without case.
                let written = o
                    .get("@odata.type")
                    .and_then(Value::as_str)
                    .map(|t| t.trim_start_matches('#'))
                    .unwrap_or(type_name);
                let Some(actual) = self
                    .types
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(written))
                    .map(String::as_str)
                else {
                    missing.insert(format!("type {written} (at {path})"));
                    return;
                };
                for (k, member) in o {
                    if k.contains('@') {
                        continue;
                    }
                    match self.property(actual, k) {
                        Some(ty) if self.types.contains_key(ty) => {
                            self.check(ty, member, &format!("{path}.{k}"), missing)
                        }
                        Some(_) => {}
                        None if self.is_open(actual) => {}
                        None => {
                            missing.insert(format!("{actual}.{k}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

async fn metadata(s: &TestServer, version: &str) -> Schema {
    // No token: Graph serves $metadata to anyone.
    let resp = s
        .http
        .get(s.url(&format!("/{version}/$metadata")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/xml")
    );
    parse_edmx(&resp.text().await.unwrap())
}

/// A webhook that answers Graph's validation request by echoing the token.
async fn echo_validation(
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> (axum::http::StatusCode, String) {
    match q.get("validationToken") {
        Some(token) => (axum::http::StatusCode::OK, token.clone()),
        None => (axum::http::StatusCode::ACCEPTED, String::new()),
    }
}

/// Creates a call-records subscription; its creation answer and a GET of it.
async fn subscribe(s: &TestServer, token: &str) -> (Value, Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(echo_validation);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let body = serde_json::json!({
        "changeType": "created",
        "notificationUrl": format!("http://{addr}/notify"),
        "lifecycleNotificationUrl": format!("http://{addr}/lifecycle"),
        "resource": "/communications/callRecords",
        "expirationDateTime": (Utc::now() + Duration::minutes(60)).to_rfc3339(),
        "clientState": "metadata-test",
    });
    let resp = s
        .http
        .post(s.url("/v1.0/subscriptions"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let created = Answer::from(resp).await;
    created.expect_status(201);
    let id = created.json["id"].as_str().unwrap().to_string();
    let fetched = s.get(&format!("/v1.0/subscriptions/{id}"), token).await;
    fetched.expect_status(200);
    (created.json, fetched.json)
}

#[tokio::test]
async fn metadata_is_edmx_4_and_declares_every_property_served() {
    let s = start().await;
    let now = Utc::now();
    let opts = callhook_sim::SimulateOptions {
        url: s.base().to_string(),
        data_dir: s.dir.path().to_path_buf(),
        calls: 60,
        users: 20,
        seed: Some(11),
        now: Some(now),
        concurrency: 2,
        ..Default::default()
    };
    callhook_sim::run(opts.clone()).await.expect("simulate");
    let plan = callhook_sim::generate(&opts.config(11, now, s.tenant()));
    // One row of each report for certain (the simulator's mix depends on the day).
    let at = (now - Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for (report, time_key) in [
        ("pstnCalls", "startDateTime"),
        ("directRoutingCalls", "startDateTime"),
        ("smsLog", "sentDateTime"),
        ("pstnBlockedUsersLog", "blockDateTime"),
        ("pstnOnlineMeetingDialout", "usageDateTime"),
    ] {
        s.post_rows(
            report,
            &[serde_json::json!({ time_key: at, "userId": "u-metadata" })],
        )
        .await;
    }
    let token = s.token().await;
    let (created, fetched) = subscribe(&s, &token).await;
    assert!(!plan.call_events.is_empty());
    let from = (now - Duration::days(29)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (now + Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");

    for version in ["v1.0", "beta"] {
        let schema = metadata(&s, version).await;
        let mut missing = BTreeSet::new();
        let mut checked = BTreeSet::new();
        let mut check = |type_name: &str, body: &Value, what: &str| {
            let values = match body.get("value") {
                Some(v) => v.clone(),
                None => body.clone(),
            };
            assert!(
                values.as_array().is_none_or(|a| !a.is_empty()),
                "{version} {what}: nothing served"
            );
            checked.insert(type_name.to_string());
            schema.check(type_name, &values, what, &mut missing);
        };

        let records = s
            .get(&format!("/{version}/communications/callRecords"), &token)
            .await;
        records.expect_status(200);
        check(
            "microsoft.graph.callRecords.callRecord",
            &records.json,
            "callRecords",
        );
        for r in records.values().iter().take(10) {
            let id = r["id"].as_str().unwrap();
            let one = s
                .get(
                    &format!(
                        "/{version}/communications/callRecords/{id}?$expand=sessions($expand=segments),participants_v2"
                    ),
                    &token,
                )
                .await;
            one.expect_status(200);
            check(
                "microsoft.graph.callRecords.callRecord",
                &one.json,
                "callRecord",
            );
        }

        let mut reports = vec![
            ("getPstnCalls", "pstnCallLogRow"),
            ("getDirectRoutingCalls", "directRoutingLogRow"),
        ];
        if version == "beta" {
            reports.extend([
                ("getSmsLog", "smsLogRow"),
                ("getPstnBlockedUsersLog", "pstnBlockedUsersLogRow"),
                (
                    "getPstnOnlineMeetingDialoutReport",
                    "pstnOnlineMeetingDialoutReport",
                ),
            ]);
        }
        let served: BTreeSet<String> = reports.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(schema.functions, served, "{version} functions");
        for (function, row) in reports {
            let a = s
                .get(
                    &format!("/{version}/communications/callRecords/{function}(fromDateTime={from},toDateTime={to})"),
                    &token,
                )
                .await;
            a.expect_status(200);
            check(
                &format!("microsoft.graph.callRecords.{row}"),
                &a.json,
                function,
            );
        }

        let users = s.get(&format!("/{version}/users"), &token).await;
        users.expect_status(200);
        check("microsoft.graph.user", &users.json, "users");

        for m in plan.online_meetings.iter().take(5) {
            let organizer = m["participants"]["organizer"]["identity"]["user"]["id"]
                .as_str()
                .unwrap();
            let id = m["id"].as_str().unwrap();
            let a = s
                .get(
                    &format!("/{version}/users/{organizer}/onlineMeetings/{id}"),
                    &token,
                )
                .await;
            a.expect_status(200);
            check("microsoft.graph.onlineMeeting", &a.json, "onlineMeeting");
        }
        for artifact in &plan.artifacts {
            let mut parts = artifact.path.split('/');
            let (parent, parent_id) = (parts.next().unwrap(), parts.next().unwrap());
            let list = if parent == "onlineMeetings" {
                &plan.online_meetings
            } else {
                &plan.adhoc_calls
            };
            let m = list.iter().find(|m| m["id"] == parent_id).unwrap();
            let organizer = if parent == "onlineMeetings" {
                &m["participants"]["organizer"]["identity"]["user"]["id"]
            } else {
                &m["organizer"]["user"]["id"]
            };
            let url = format!(
                "/{version}/users/{}/{}",
                organizer.as_str().unwrap(),
                artifact.path
            );
            let a = s.get(&url, &token).await;
            a.expect_status(200);
            let kind = if artifact.path.contains("/transcripts/") {
                "microsoft.graph.callTranscript"
            } else {
                "microsoft.graph.callRecording"
            };
            check(kind, &a.json, &artifact.path);
        }
        // Call events are served only inside notifications: render both feeds' content from
        // the simulated events, as the delivery engine does.
        for (i, event) in plan.call_events.iter().enumerate() {
            let mut body = event.clone();
            if body.get("id").is_none_or(Value::is_null) {
                body["id"] = Value::String(format!("event-{i}"));
            }
            for kind in ["userCallEvent", "meetingCallEvent"] {
                let subject = serde_json::json!({
                    "type": kind,
                    "id": body["id"],
                    "userId": body.get("userId").cloned().unwrap_or(Value::Null),
                    "joinWebUrl": body.get("joinWebUrl").cloned().unwrap_or(Value::Null),
                    "body": body,
                });
                let rendered = callhook_notify::payload::render(&subject.to_string(), s.base())
                    .expect("call event renders");
                check("microsoft.graph.callEvent", &rendered.content, kind);
            }
        }

        // An emergency call event, every nested member filled in.
        let emergency = serde_json::json!({
            "type": "emergencyCallEvent",
            "id": "e-1",
            "policyName": "Emergency Policy",
            "body": {
                "id": "e-1", "callEventType": "callStarted", "policyName": "Emergency Policy",
                "eventDateTime": "2026-12-01T10:00:00Z", "emergencyNumberDialed": "911",
                "callerInfo": {
                    "displayName": "A", "upn": "a@contoso.com", "phoneNumber": "+15550100",
                    "tenantId": "t",
                    "location": {
                        "address": {
                            "street": "1 Main St", "city": "Redmond", "state": "WA",
                            "countryOrRegion": "US", "postalCode": "98052",
                            "additionalData": {
                                "companyName": "Contoso", "additionalInfo": "Floor 2",
                                "houseNumber": "1", "county": "King", "streetSuffix": "St"
                            }
                        },
                        "coordinates": {"latitude": "47.6", "longitude": "-122.1"}
                    }
                }
            }
        });
        let rendered = callhook_notify::payload::render(&emergency.to_string(), s.base())
            .expect("emergency event renders");
        check(
            "microsoft.graph.emergencyCallEvent",
            &rendered.content,
            "emergencyCallEvent",
        );

        for sub in [&created, &fetched] {
            check("microsoft.graph.subscription", sub, "subscription");
        }
        let listed = s.get(&format!("/{version}/subscriptions"), &token).await;
        listed.expect_status(200);
        check(
            "microsoft.graph.subscription",
            &listed.json,
            "subscriptions",
        );

        assert!(
            checked.contains("microsoft.graph.callTranscript")
                && checked.contains("microsoft.graph.callRecording"),
            "{checked:?}"
        );
        assert!(
            missing.is_empty(),
            "{version}: served but not declared: {missing:?}"
        );

        // v1.0 declares no beta-only property.
        let pstn = &schema.types["microsoft.graph.callRecords.pstnCallLogRow"];
        assert_eq!(
            pstn.properties.contains_key("otherPartyCountryCode"),
            version == "beta"
        );
        // Navigations and the call-events type are there too.
        for (t, p) in [
            ("microsoft.graph.callRecords.callRecord", "sessions"),
            ("microsoft.graph.callRecords.session", "segments"),
            ("microsoft.graph.onlineMeeting", "transcripts"),
            ("microsoft.graph.callEvent", "callEventType"),
            ("microsoft.graph.subscription", "notificationUrl"),
        ] {
            assert!(schema.property(t, p).is_some(), "{t}.{p}");
        }
    }
    s.stop().await;
}
