//! The ingest API: versions, batches, authentication and the 400s that name the JSON path.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn put_of_a_new_id_is_201_with_version_1() {
    let s = start().await;
    let id = uuid_like(0x1, 1);
    let a = s.put_record(&id, &record(&id)).await;
    a.expect_status(201);
    assert_eq!(a.json["id"], id.as_str());
    assert_eq!(a.json["version"], 1);
    let lm = a.json["lastModifiedDateTime"]
        .as_str()
        .expect("lastModifiedDateTime");
    assert!(chrono::DateTime::parse_from_rfc3339(lm).is_ok(), "{lm}");
    s.stop().await;
}

#[tokio::test]
async fn put_of_an_existing_id_is_200_with_next_version_and_new_last_modified() {
    let s = start().await;
    let token = s.token().await;
    let id = uuid_like(0x1, 2);
    let first = s.put_record(&id, &record(&id)).await;
    first.expect_status(201);
    let mut changed = RecordBuilder::new(&id).sessions(3).build();
    // The server owns these two: what the body says is ignored.
    changed["version"] = json!(41);
    changed["lastModifiedDateTime"] = json!("2001-01-01T00:00:00Z");
    let second = s.put_record(&id, &changed).await;
    second.expect_status(200);
    assert_eq!(second.json["version"], 2);
    assert_ne!(
        second.json["lastModifiedDateTime"], first.json["lastModifiedDateTime"],
        "lastModifiedDateTime must move on replace"
    );
    let got = s
        .get(
            &format!("/v1.0/communications/callRecords/{id}?$expand=sessions"),
            &token,
        )
        .await;
    got.expect_status(200);
    assert_eq!(got.json["version"], 2);
    assert_eq!(
        got.json["lastModifiedDateTime"],
        second.json["lastModifiedDateTime"]
    );
    assert_eq!(
        got.json["sessions"].as_array().map(Vec::len),
        Some(3),
        "replaced whole"
    );
    s.stop().await;
}

#[tokio::test]
async fn body_version_is_ignored_for_a_new_record() {
    let s = start().await;
    let id = uuid_like(0x1, 3);
    let mut r = record(&id);
    r["version"] = json!(7);
    let a = s.put_record(&id, &r).await;
    a.expect_status(201);
    assert_eq!(a.json["version"], 1);
    s.stop().await;
}

#[tokio::test]
async fn put_without_body_id_takes_the_path_id() {
    let s = start().await;
    let id = uuid_like(0x1, 4);
    let mut r = record(&id);
    r.as_object_mut().expect("object").remove("id");
    let a = s.put_record(&id, &r).await;
    a.expect_status(201);
    assert_eq!(a.json["id"], id.as_str());
    s.stop().await;
}

#[tokio::test]
async fn batch_post_stores_all_and_answers_in_input_order() {
    let s = start().await;
    let token = s.token().await;
    let recs = records(0x2, 3, 60);
    let a = s.post_records(&recs).await;
    a.expect_status(200);
    let out = a.values();
    assert_eq!(ids(&out), ids(&recs));
    assert!(out.iter().all(|w| w["version"] == 1));
    let (listed, _) = s
        .collect_pages("/v1.0/communications/callRecords", &token, &[])
        .await;
    let mut listed = ids(&listed);
    listed.sort();
    let mut want = ids(&recs);
    want.sort();
    assert_eq!(listed, want);
    s.stop().await;
}

#[tokio::test]
async fn batch_with_one_bad_record_stores_none() {
    let s = start().await;
    let token = s.token().await;
    let mut recs = records(0x3, 3, 60);
    recs[1]["sessions"][0]
        .as_object_mut()
        .expect("session")
        .remove("startDateTime");
    let a = s.post_records(&recs).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message()
            .starts_with("value[1].sessions[0].startDateTime"),
        "{}",
        a.message()
    );
    for r in &recs {
        let id = r["id"].as_str().expect("id");
        let g = s
            .get(&format!("/v1.0/communications/callRecords/{id}"), &token)
            .await;
        assert_eq!(g.status, 404, "{id} was stored from a refused batch");
    }
    // A batch refused for a record past retention stores nothing either.
    let mut recs = records(0x3, 3, 60);
    recs[2]["startDateTime"] = json!(ts(ago(60 * 24 * 31)));
    let a = s.post_records(&recs).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message().starts_with("value[2].startDateTime"),
        "{}",
        a.message()
    );
    let (listed, _) = s
        .collect_pages("/v1.0/communications/callRecords", &token, &[])
        .await;
    assert!(listed.is_empty(), "{listed:?}");
    s.stop().await;
}

#[tokio::test]
async fn batch_over_100_records_is_refused() {
    let s = start().await;
    let a = s.post_records(&records(0x4, 101, 60)).await;
    assert_graph_error(&a, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_ingest_key_is_401() {
    let s = start().await;
    let id = uuid_like(0x5, 1);
    let url = s.ingest_url(&format!("callRecords/{id}"));
    let body = serde_json::to_vec(&record(&id)).expect("json");
    for auth in [
        Some(format!("Bearer {}x", s.creds.ingest_key)),
        Some("Bearer ".to_string()),
        // A Graph access token is not an ingest key.
        Some(format!("Bearer {}", s.token().await)),
        None,
    ] {
        let mut req = s
            .http
            .put(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let a = Answer::from(req.send().await.expect("PUT")).await;
        assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    }
    s.stop().await;
}

#[tokio::test]
async fn unknown_tenant_is_404() {
    let s = start().await;
    let id = uuid_like(0x6, 1);
    let other = uuid_like(0xbad, 1);
    let url = format!("{}/ingest/v1/tenants/{other}/callRecords/{id}", s.base());
    let a = s
        .ingest_raw(
            Method::PUT,
            &url,
            serde_json::to_vec(&record(&id)).expect("json"),
        )
        .await;
    assert_graph_error(&a, 404, "NotFound");
    let url = format!("{}/ingest/v1/tenants/{other}/callRecords", s.base());
    let a = s
        .ingest_raw(
            Method::POST,
            &url,
            serde_json::to_vec(&json!({ "value": [record(&id)] })).expect("json"),
        )
        .await;
    assert_graph_error(&a, 404, "NotFound");
    s.stop().await;
}

/// PUTs `body` (bytes) and expects a 400 whose message starts with `path`.
async fn expect_400_naming(s: &TestServer, id: &str, body: Vec<u8>, path: &str) -> Answer {
    let a = s
        .ingest_raw(
            Method::PUT,
            &s.ingest_url(&format!("callRecords/{id}")),
            body,
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message().starts_with(path),
        "message should name {path:?}: {}",
        a.message()
    );
    a
}

fn edited(id: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut r = record(id);
    edit(&mut r);
    serde_json::to_vec(&r).expect("json")
}

#[tokio::test]
async fn malformed_json_is_400() {
    let s = start().await;
    let id = uuid_like(0x7, 1);
    let a = s
        .ingest_raw(
            Method::PUT,
            &s.ingest_url(&format!("callRecords/{id}")),
            b"{\"id\": ".to_vec(),
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(a.message().contains("JSON"), "{}", a.message());
    s.stop().await;
}

#[tokio::test]
async fn wrong_json_type_is_400_naming_the_path() {
    let s = start().await;
    let id = uuid_like(0x7, 2);
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| r["modalities"] = json!("audio")),
        "modalities",
    )
    .await;
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| {
            r["sessions"][0]["segments"][0]["media"][0]["streams"][0]["streamId"] = json!({"a": 1})
        }),
        "sessions[0].segments[0].media[0].streams[0].streamId",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn missing_required_property_is_400_naming_the_path() {
    let s = start().await;
    let id = uuid_like(0x7, 3);
    let a = expect_400_naming(
        &s,
        &id,
        edited(&id, |r| {
            r["sessions"][0]["segments"][0]["media"][0]["streams"][0]
                .as_object_mut()
                .expect("stream")
                .remove("streamDirection");
        }),
        "sessions[0].segments[0].media[0].streams[0].streamDirection",
    )
    .await;
    assert!(
        a.message().contains("missing required property"),
        "{}",
        a.message()
    );
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| {
            r.as_object_mut().expect("record").remove("type");
        }),
        "type",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn enum_of_the_wrong_json_type_is_400_but_unknown_member_is_kept() {
    let s = start().await;
    let id = uuid_like(0x7, 4);
    expect_400_naming(&s, &id, edited(&id, |r| r["type"] = json!(3)), "type").await;
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| {
            r["sessions"][0]["segments"][0]["media"][0]["streams"][0]["streamDirection"] =
                json!(true)
        }),
        "sessions[0].segments[0].media[0].streams[0].streamDirection",
    )
    .await;
    // Unknown members are kept as sent (the contract), so this one is accepted.
    let a = s
        .put_record(&id, &{
            let mut r = record(&id);
            r["type"] = json!("someFutureCallType");
            r
        })
        .await;
    a.expect_status(201);
    s.stop().await;
}

#[tokio::test]
async fn invalid_date_is_400_naming_the_path() {
    let s = start().await;
    let id = uuid_like(0x7, 5);
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| r["startDateTime"] = json!("yesterday")),
        "startDateTime",
    )
    .await;
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| {
            r["sessions"][0]["segments"][0]["endDateTime"] = json!("2024-02-30T00:00:00Z")
        }),
        "sessions[0].segments[0].endDateTime",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn unknown_property_is_400_naming_the_path() {
    let s = start().await;
    let id = uuid_like(0x7, 6);
    expect_400_naming(
        &s,
        &id,
        edited(&id, |r| r["sessions"][0]["foo"] = json!(1)),
        "sessions[0].foo",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn body_over_8_mib_is_413_with_graph_error() {
    let s = start().await;
    let id = uuid_like(0x7, 7);
    let mut body = Vec::with_capacity(9 << 20);
    body.extend_from_slice(br#"{"id":""#);
    body.extend(std::iter::repeat_n(b'a', 9 << 20));
    body.extend_from_slice(br#""}"#);
    let a = s
        .ingest_raw(
            Method::PUT,
            &s.ingest_url(&format!("callRecords/{id}")),
            body,
        )
        .await;
    assert_graph_error(&a, 413, "RequestEntityTooLarge");
    s.stop().await;
}

#[tokio::test]
async fn path_and_body_id_mismatch_is_400() {
    let s = start().await;
    let id = uuid_like(0x7, 8);
    let other = uuid_like(0x7, 9);
    expect_400_naming(
        &s,
        &id,
        serde_json::to_vec(&record(&other)).expect("json"),
        "id",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn record_older_than_30_days_is_400() {
    let s = start().await;
    let id = uuid_like(0x7, 10);
    let old = RecordBuilder::new(&id).start(ago(60 * 24 * 31)).build();
    let a = expect_400_naming(
        &s,
        &id,
        serde_json::to_vec(&old).expect("json"),
        "startDateTime",
    )
    .await;
    assert!(a.message().contains("30 days"), "{}", a.message());
    s.stop().await;
}

#[tokio::test]
async fn non_json_content_type_is_refused() {
    let s = start().await;
    let id = uuid_like(0x7, 11);
    let resp = s
        .http
        .put(s.ingest_url(&format!("callRecords/{id}")))
        .bearer_auth(&s.creds.ingest_key)
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&record(&id)).expect("json"))
        .send()
        .await
        .expect("PUT");
    let a = Answer::from(resp).await;
    assert_graph_error(&a, 415, "UnsupportedMediaType");
    s.stop().await;
}

#[tokio::test]
async fn published_graph_example_is_accepted_once_its_dates_are_recent() {
    let s = start().await;
    let token = s.token().await;
    let mut r: Value =
        serde_json::from_str(include_str!("data/callrecord-expanded-current-shape.json"))
            .expect("fixture");
    let start = ago(90);
    let end = start + chrono::Duration::seconds(25);
    for ptr in ["", "/sessions/0", "/sessions/0/segments/0"] {
        let t = r.pointer_mut(ptr).expect("fixture shape");
        t["startDateTime"] = json!(ts(start));
        t["endDateTime"] = json!(ts(end));
    }
    let id = r["id"].as_str().expect("id").to_string();
    s.put_record(&id, &r).await.expect_status(201);
    let g = s
        .get(
            &format!("/v1.0/communications/callRecords/{id}?$expand=sessions($expand=segments)"),
            &token,
        )
        .await;
    g.expect_status(200);
    let stream = &g.json["sessions"][0]["segments"][0]["media"][0]["streams"][0];
    assert_eq!(stream["streamDirection"], "callerToCallee");
    assert_eq!(stream["averageJitter"], "PT0.016S");
    assert_eq!(
        g.json["organizer_v2"]["id"],
        "821809f5-0000-0000-0000-3b5136c0e777"
    );
    s.stop().await;
}
