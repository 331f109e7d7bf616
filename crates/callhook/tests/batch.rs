//! JSON batching: `POST /v1.0/$batch` in the shapes the official SDKs send, each inner request
//! treated exactly as a direct one, and Graph's refusals of malformed batches.

mod common;

use std::collections::HashMap;

use callhook::server::{self, ServeOptions};
use callhook_api::throttle::Limit;
use common::*;
use serde_json::{json, Value};

async fn batch(s: &TestServer, version: &str, token: &str, body: &Value) -> Answer {
    let resp = s
        .http
        .post(s.url(&format!("/{version}/$batch")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST $batch");
    Answer::from(resp).await
}

/// The members of `responses`, by id.
fn by_id(a: &Answer) -> HashMap<String, Value> {
    a.json["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| (r["id"].as_str().expect("id").to_string(), r.clone()))
        .collect()
}

async fn seed(s: &TestServer, n: usize) -> Vec<String> {
    let records = records(0xba7c, n, 30);
    s.put_records(&records).await;
    ids(&records)
}

#[tokio::test]
async fn python_sdk_shape_fetches_20_records_each_as_a_direct_get_would() {
    let s = start().await;
    let ids = seed(&s, 20).await;
    let token = s.token().await;
    // What msgraph-core 1.5.2's BatchRequestItem writes (seen on the wire): a UUID id, the
    // path below the version with `$` percent-encoded, its headers joined into strings, and
    // `depends_on` (snake case, empty), which Graph ignores. Once the client has made any
    // request, the url is absolute (msgraph-sdk-python#1015): every other request here is.
    let requests: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let path = format!("/communications/callRecords/{id}?%24expand=sessions");
            let url = if i % 2 == 0 {
                path
            } else {
                format!("{}/v1.0{path}", s.base())
            };
            json!({
                "id": uuid_like(0xb, i as u64),
                "method": "GET",
                "url": url,
                "depends_on": [],
                "headers": {"accept": "application/json"},
            })
        })
        .collect();
    let a = batch(&s, "v1.0", &token, &json!({ "requests": requests })).await;
    a.expect_status(200);
    let got = by_id(&a);
    assert_eq!(got.len(), 20);
    for (i, id) in ids.iter().enumerate() {
        let r = &got[&uuid_like(0xb, i as u64)];
        assert_eq!(r["status"], 200, "{r}");
        assert!(r["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("application/json"));
        let direct = s
            .get(
                &format!("/v1.0/communications/callRecords/{id}?$expand=sessions"),
                &token,
            )
            .await;
        assert_eq!(r["body"], direct.json, "inner answer equals the direct one");
    }
    s.stop().await;
}

#[tokio::test]
async fn js_client_shape_runs_dependencies_in_order_and_424s_after_a_failure() {
    let s = start().await;
    let ids = seed(&s, 2).await;
    let token = s.token().await;
    // @microsoft/microsoft-graph-client 3.0.7 strips scheme and host (given as Microsoft
    // advises, without the version), lowercases header names, and chains dependsOn for a
    // serial batch.
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/communications/callRecords/{}", ids[0]),
         "headers": {"accept": "application/json"}},
        {"id": "2", "method": "GET", "url": "/communications/callRecords/00000000-0000-4000-8000-00000000dead",
         "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": format!("communications/callRecords/{}", ids[1]),
         "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/users", "dependsOn": ["3"]},
    ]});
    let a = batch(&s, "beta", &token, &body).await;
    a.expect_status(200);
    let got = by_id(&a);
    assert_eq!(got["1"]["status"], 200);
    assert_eq!(got["1"]["body"]["id"], ids[0].as_str());
    assert!(got["1"]["body"]["@odata.context"]
        .as_str()
        .unwrap()
        .contains("/beta/$metadata#"));
    assert_eq!(got["2"]["status"], 404);
    assert_eq!(got["2"]["body"]["error"]["code"], "NotFound");
    for id in ["3", "4"] {
        assert_eq!(got[id]["status"], 424, "{}", got[id]);
        assert_eq!(got[id]["body"]["error"]["code"], "FailedDependency");
    }
    s.stop().await;
}

#[tokio::test]
async fn inner_requests_meet_the_same_auth_routing_and_validation() {
    let s = start().await;
    let token = s.token().await;
    let body = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/communications/calls"},
        {"id": "b", "method": "DELETE", "url": "/users"},
        {"id": "c", "method": "POST", "url": "/subscriptions",
         "headers": {"Content-Type": "application/json"}, "body": {"changeType": "created"}},
        // Not JSON: Graph's SDKs send such bodies base64.
        {"id": "d", "method": "GET", "url": "/$metadata"},
        // The batch's Authorization wins over an inner one.
        {"id": "e", "method": "GET", "url": "/users", "headers": {"Authorization": "Bearer nope"}},
        // Graph routes an absolute URL (but one naming callhook itself), or one repeating
        // the version, as it stands.
        {"id": "f", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"},
        {"id": "g", "method": "GET", "url": "/v1.0/users"},
    ]});
    let a = batch(&s, "v1.0", &token, &body).await;
    a.expect_status(200);
    let got = by_id(&a);
    assert_eq!(got["a"]["status"], 400);
    assert_eq!(
        got["a"]["body"]["error"]["message"],
        "Resource not found for the segment 'calls'."
    );
    assert_eq!(got["b"]["status"], 405);
    assert_eq!(got["c"]["status"], 400);
    assert!(got["c"]["body"]["error"]["code"].is_string());
    assert_eq!(got["d"]["status"], 200);
    assert_eq!(got["d"]["headers"]["Content-Type"], "application/xml");
    let xml = b64_decode(got["d"]["body"].as_str().expect("base64 body"));
    assert!(String::from_utf8(xml).unwrap().contains("<edmx:Edmx"));
    assert_eq!(got["e"]["status"], 200);
    for (id, segment) in [("f", "https:"), ("g", "v1.0")] {
        assert_eq!(got[id]["status"], 400);
        assert_eq!(
            got[id]["body"]["error"]["message"],
            format!("Resource not found for the segment '{segment}'.")
        );
    }

    // Without a token the batch itself is refused, as a direct request would be.
    let a = batch(&s, "v1.0", "", &body).await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    s.stop().await;
}

fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

#[tokio::test]
async fn an_inner_429_carries_retry_after_while_the_batch_answers_200() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
    opts.api.throttle.enabled = true;
    opts.api.throttle.record = Limit::new(2, 60);
    let server = server::start(opts).await.unwrap();
    let creds = read_credentials(dir.path());
    let s = TestServer {
        server,
        dir,
        creds,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let ids = seed(&s, 1).await;
    let token = s.token().await;
    let requests: Vec<Value> = (0..5)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/communications/callRecords/{}", ids[0])}))
        .collect();
    let a = batch(&s, "v1.0", &token, &json!({ "requests": requests })).await;
    a.expect_status(200);
    let got = by_id(&a);
    let ok = got.values().filter(|r| r["status"] == 200).count();
    let throttled: Vec<&Value> = got.values().filter(|r| r["status"] == 429).collect();
    assert_eq!((ok, throttled.len()), (2, 3), "{}", a.text);
    for r in throttled {
        let retry: u64 = r["headers"]["Retry-After"]
            .as_str()
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(retry >= 1);
        assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
    }
    // The bucket is the same one direct requests use.
    let direct = s
        .get(
            &format!("/v1.0/communications/callRecords/{}", ids[0]),
            &token,
        )
        .await;
    assert_graph_error(&direct, 429, "TooManyRequests");
    s.stop().await;
}

#[tokio::test]
async fn malformed_batches_get_graphs_400() {
    let s = start().await;
    let token = s.token().await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/users"});
    let many: Vec<Value> = (0..21).map(|i| get(&i.to_string())).collect();
    let cases = [
        (
            json!({"requests": []}),
            "The batch request must contain at least one request.",
        ),
        (
            json!({ "requests": many }),
            "The number of requests in a batch exceeds the limit of 20.",
        ),
        (
            json!({"requests": [get("x"), get("X")]}),
            "Request Id X has to be unique in a batch.",
        ),
        (json!({"value": []}), "Invalid batch payload format."),
        (
            json!({"requests": [{"id": "1", "url": "/users"}]}),
            "Invalid batch payload format.",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users#top"}]}),
            "Invalid request URL '/users#top' in the batch.",
        ),
        (
            json!({"requests": [{"id": "1", "method": "POST", "url": "/$batch",
                "headers": {"Content-Type": "application/json"}, "body": {"requests": []}}]}),
            "A batch request cannot contain another batch request.",
        ),
        (
            json!({"requests": [get("1"), {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]}, get("3")]}),
            "Batch should be either fully sequential or fully parallel.",
        ),
    ];
    for (body, message) in cases {
        let a = batch(&s, "v1.0", &token, &body).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert_eq!(a.message(), message, "{body}");
    }
    let resp = s
        .http
        .post(s.url("/v1.0/$batch"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"requests\": [")
        .send()
        .await
        .unwrap();
    let a = Answer::from(resp).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert_eq!(a.message(), "Invalid batch payload format.");
    s.stop().await;
}

#[tokio::test]
async fn inner_requests_meet_the_callers_permissions_and_tenant() {
    let s = start().await;
    let ids = seed(&s, 1).await;
    // An app of the same tenant that may read users but not call records.
    let client = uuid_like(0xba7c_0000, 7);
    let secret = "batch-limited-secret";
    s.server
        .state
        .store
        .insert_app(&callhook_store::App {
            client_id: client.clone(),
            tenant_id: s.tenant().to_string(),
            display_name: "Limited".into(),
            secret_hashes: vec![callhook_crypto::hash_secret(secret).unwrap()],
            roles: vec!["User.Read.All".into()],
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let limited = s.token_for(s.tenant(), &client, secret).await;
    // Another tenant's app with every permission sees none of this tenant's records.
    let (tenant, other_client, other_secret) = s.add_tenant(1).await;
    let other = s.token_for(&tenant, &other_client, &other_secret).await;
    let body = json!({"requests": [
        {"id": "r", "method": "GET", "url": format!("/communications/callRecords/{}", ids[0])},
        {"id": "u", "method": "GET", "url": "/users"},
    ]});
    let a = batch(&s, "v1.0", &limited, &body).await;
    a.expect_status(200);
    let got = by_id(&a);
    assert_eq!(got["r"]["status"], 403);
    assert_eq!(got["r"]["body"]["error"]["code"], "Forbidden");
    assert_eq!(got["u"]["status"], 200);
    let a = batch(&s, "v1.0", &other, &body).await;
    a.expect_status(200);
    assert_eq!(by_id(&a)["r"]["status"], 404);
    s.stop().await;
}
