//! Bounded fuzzing that runs with the other tests (cargo-fuzz needs nightly): random and
//! structure-aware inputs to the token endpoint, subscription creation, ingest and `$filter`,
//! over HTTP against one server. Every answer must be a deliberate one: never a 5xx, never a
//! dropped connection, and always the right error shape. Crashes found become regression cases
//! in `regressions()`.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{json, Value};

use common::*;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// JSON values of bounded size and depth, with the key names the parsers look for.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("resource".to_string()),
        Just("changeType".to_string()),
        Just("notificationUrl".to_string()),
        Just("lifecycleNotificationUrl".to_string()),
        Just("expirationDateTime".to_string()),
        Just("clientState".to_string()),
        Just("includeResourceData".to_string()),
        Just("id".to_string()),
        Just("version".to_string()),
        Just("sessions".to_string()),
        Just("startDateTime".to_string()),
        "[a-zA-Z@.]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!("communications/callRecords")),
        Just(json!("https://169.254.169.254/hook")),
        Just(json!("http://127.0.0.1:1/hook")),
        Just(json!("2999-01-01T00:00:00Z")),
        Just(json!("created,updated")),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies: JSON values, or raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn form() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        Just("grant_type".to_string()),
        Just("client_id".to_string()),
        Just("client_secret".to_string()),
        Just("scope".to_string()),
        Just("username".to_string()),
        Just("password".to_string()),
        ".{0,10}",
    ];
    let value = prop_oneof![
        Just("client_credentials".to_string()),
        Just("password".to_string()),
        Just("https://graph.microsoft.com/.default".to_string()),
        Just("OnlineMeetings.Read openid".to_string()),
        ".{0,30}",
    ];
    prop::collection::vec((key, value), 0..7)
}

#[track_caller]
fn assert_deliberate(a: &Answer, what: &str) {
    assert!(a.status.as_u16() < 500, "{what}: {} {}", a.status, a.text);
    if !a.status.is_success() && a.status != 404 {
        assert!(
            a.json.is_object(),
            "{what}: error body is not JSON: {}",
            a.text
        );
    }
}

async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    ct: &str,
    body: Vec<u8>,
) -> Answer {
    let mut req = s
        .http
        .request(method, s.url(path))
        .header("content-type", ct)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Answer::from(req.send().await.expect("the server answers")).await
}

/// Inputs that once broke something stay here.
fn regressions() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("/v1.0/subscriptions", b"{\"resource\":{}}".to_vec()),
        ("/v1.0/subscriptions", b"[]".to_vec()),
        ("/v1.0/subscriptions", b"\xff\xfe".to_vec()),
    ]
}

#[test]
fn random_requests_get_deliberate_answers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(start());
    let token = rt.block_on(s.token());
    let tenant = s.tenant().to_string();

    for (path, body) in regressions() {
        let a = rt.block_on(send(
            &s,
            Method::POST,
            path,
            Some(&token),
            "application/json",
            body,
        ));
        assert_deliberate(&a, path);
    }

    TestRunner::new(config(96))
        .run(&form(), |pairs| {
            let body = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            let a = rt.block_on(send(
                &s,
                Method::POST,
                &format!("/{tenant}/oauth2/v2.0/token"),
                None,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            ));
            assert_deliberate(&a, "token");
            if !a.status.is_success() {
                assert!(
                    a.json["error"].is_string() && a.json["error_codes"].is_array(),
                    "{}",
                    a.text
                );
            }
            Ok(())
        })
        .unwrap();

    TestRunner::new(config(96))
        .run(&body(), |body| {
            // Subscription creation: refused bodies never reach the validation request, and
            // URLs pointing at forbidden addresses are refused up front.
            let a = rt.block_on(send(
                &s,
                Method::POST,
                "/v1.0/subscriptions",
                Some(&token),
                "application/json",
                body.clone(),
            ));
            assert_deliberate(&a, "subscription");
            assert_ne!(
                a.status.as_u16(),
                201,
                "a random body created a subscription: {}",
                a.text
            );
            let a = rt.block_on(send(
                &s,
                Method::POST,
                &format!("/ingest/v1/tenants/{tenant}/callRecords"),
                Some(&s.creds.ingest_key),
                "application/json",
                body,
            ));
            assert_deliberate(&a, "ingest");
            Ok(())
        })
        .unwrap();

    let filter = prop::collection::vec(
        prop_oneof![
            Just("participants_v2/any(p:p/id eq 'x')".to_string()),
            Just("startDateTime ge 2026-01-01T00:00:00Z".to_string()),
            Just(" and ".to_string()),
            Just(" or ".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("'".to_string()),
            ".{0,6}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat());
    TestRunner::new(config(64))
        .run(&filter, |f| {
            let a = rt.block_on(s.get(
                &format!("/v1.0/communications/callRecords?$filter={}", enc(&f)),
                &token,
            ));
            assert_deliberate(&a, &f);
            Ok(())
        })
        .unwrap();
    rt.block_on(s.stop());
}
