//! `GET communications/callRecords/{id}` with `$expand`, and the `sessions` / `participants_v2`
//! collections with their own paging.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const NOT_FOUND: &str = "Could not find the requested call record. Records about calls or online meetings that started more than 30 days ago are not available.";

fn rec_path(version: &str, id: &str, rest: &str) -> String {
    format!("/{version}/communications/callRecords/{id}{rest}")
}

async fn server_with(b: RecordBuilder) -> (TestServer, String, String) {
    let s = start().await;
    let token = s.token().await;
    let id = b.id.clone();
    s.put_record(&id, &b.build()).await.expect_status(201);
    (s, token, id)
}

fn assert_each_once(items: &[Value], expected: usize) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in ids(items) {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), expected, "distinct ids");
    assert!(counts.values().all(|n| *n == 1), "some id came back twice");
}

#[tokio::test]
async fn plain_get_has_no_sessions_or_participants_but_organizer_inline() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 1)).sessions(2)).await;
    for version in ["v1.0", "beta"] {
        let a = s.get(&rec_path(version, &id, ""), &token).await;
        a.expect_status(200);
        assert_eq!(a.json["id"], id.as_str());
        assert_eq!(a.json["version"], 1);
        assert!(a.json.get("sessions").is_none(), "{}", a.text);
        assert!(a.json.get("participants_v2").is_none(), "{}", a.text);
        assert!(a.json["organizer_v2"]["id"].is_string());
        let ctx = a.json["@odata.context"].as_str().expect("context");
        assert!(
            ctx.ends_with(&format!(
                "/{version}/$metadata#communications/callRecords/$entity"
            )),
            "{ctx}"
        );
        assert!(a
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")));
    }
    s.stop().await;
}

#[tokio::test]
async fn expand_sessions_with_segments_includes_segments() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 2)).sessions(3)).await;
    let a = s
        .get(
            &rec_path("v1.0", &id, "?$expand=sessions($expand=segments)"),
            &token,
        )
        .await;
    a.expect_status(200);
    let sessions = a.json["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3);
    for sess in sessions {
        let segs = sess["segments"].as_array().expect("segments");
        assert_eq!(segs.len(), 1);
        assert_eq!(
            segs[0]["media"][0]["streams"][0]["streamDirection"],
            "callerToCallee"
        );
    }
    assert!(a.json.get("sessions@odata.nextLink").is_none());
    assert!(a.json["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("#communications/callRecords(sessions(segments()))/$entity")));
    s.stop().await;
}

#[tokio::test]
async fn expand_sessions_alone_omits_segments() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 3)).sessions(2)).await;
    let a = s
        .get(&rec_path("beta", &id, "?$expand=sessions"), &token)
        .await;
    a.expect_status(200);
    let sessions = a.json["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions.iter().all(|x| x.get("segments").is_none()),
        "{}",
        a.text
    );
    assert!(sessions.iter().all(|x| x["modalities"][0] == "audio"));
    s.stop().await;
}

#[tokio::test]
async fn expand_participants_includes_participants_only() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 4)).participants(5)).await;
    let a = s
        .get(&rec_path("v1.0", &id, "?$expand=participants_v2"), &token)
        .await;
    a.expect_status(200);
    assert_eq!(a.json["participants_v2"].as_array().map(Vec::len), Some(5));
    assert!(a.json.get("sessions").is_none());
    assert!(a.json.get("participants_v2@odata.nextLink").is_none());
    s.stop().await;
}

#[tokio::test]
async fn record_with_150_sessions_pages_sessions_by_60_through_next_links() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 5)).sessions(150)).await;
    let a = s
        .get(
            &rec_path("v1.0", &id, "?$expand=sessions($expand=segments)"),
            &token,
        )
        .await;
    a.expect_status(200);
    let mut all = a.json["sessions"].as_array().cloned().expect("sessions");
    assert_eq!(all.len(), 60);
    let link = a.json["sessions@odata.nextLink"]
        .as_str()
        .expect("sessions@odata.nextLink")
        .to_string();
    assert!(
        link.starts_with(&format!(
            "{}/v1.0/communications/callRecords/{id}/sessions?",
            s.base()
        )),
        "{link}"
    );
    let (rest, pages) = s.collect_pages(&link, &token, &[]).await;
    assert_eq!(pages, 2);
    assert!(
        rest.iter()
            .all(|x| x["segments"].as_array().is_some_and(|v| v.len() == 1)),
        "segments must stay expanded on later pages"
    );
    all.extend(rest);
    assert_each_once(&all, 150);
    s.stop().await;
}

#[tokio::test]
async fn record_with_200_participants_pages_participants_by_130() {
    let s = start().await;
    let token = s.token().await;
    let id = uuid_like(0x200, 6);
    let ps: Vec<String> = (0..200).map(|i| uuid_like(0x9a9a, i)).collect();
    let refs: Vec<&str> = ps.iter().map(String::as_str).collect();
    let b = RecordBuilder::new(&id).participant_ids(&refs);
    s.put_record(&id, &b.build()).await.expect_status(201);
    let a = s
        .get(&rec_path("v1.0", &id, "?$expand=participants_v2"), &token)
        .await;
    a.expect_status(200);
    let mut all = a.json["participants_v2"]
        .as_array()
        .cloned()
        .expect("participants");
    assert_eq!(all.len(), 130);
    let link = a.json["participants_v2@odata.nextLink"]
        .as_str()
        .expect("participants_v2@odata.nextLink")
        .to_string();
    let (rest, pages) = s.collect_pages(&link, &token, &[]).await;
    assert_eq!((rest.len(), pages), (70, 1));
    all.extend(rest);
    assert_each_once(&all, 200);
    s.stop().await;
}

#[tokio::test]
async fn sessions_collection_with_expand_segments_and_maxpagesize() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 7)).sessions(10)).await;
    let a = s
        .get(&rec_path("v1.0", &id, "/sessions?$expand=segments"), &token)
        .await;
    a.expect_status(200);
    let v = a.values();
    assert_eq!(v.len(), 10);
    assert!(v.iter().all(|x| x["segments"].is_array()));
    assert!(a.json["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with(&format!("#communications/callRecords('{id}')/sessions"))));
    let plain = s.get(&rec_path("v1.0", &id, "/sessions"), &token).await;
    plain.expect_status(200);
    assert!(plain.values().iter().all(|x| x.get("segments").is_none()));
    let (items, pages) = s
        .collect_pages(
            &rec_path("beta", &id, "/sessions?$expand=segments"),
            &token,
            &[("prefer", "odata.maxpagesize=4")],
        )
        .await;
    assert_eq!(pages, 3);
    assert_each_once(&items, 10);
    s.stop().await;
}

#[tokio::test]
async fn participants_collection_lists_every_participant() {
    let (s, token, id) =
        server_with(RecordBuilder::new(uuid_like(0x200, 8)).participants(12)).await;
    let a = s
        .get(&rec_path("v1.0", &id, "/participants_v2"), &token)
        .await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 12);
    assert!(a.next_link().is_none());
    let (items, pages) = s
        .collect_pages(
            &rec_path("v1.0", &id, "/participants_v2"),
            &token,
            &[("prefer", "odata.maxpagesize=5")],
        )
        .await;
    assert_eq!(pages, 3);
    assert_each_once(&items, 12);
    s.stop().await;
}

#[tokio::test]
async fn unknown_id_is_404_with_the_30_day_message() {
    let s = start().await;
    let token = s.token().await;
    let id = uuid_like(0x200, 9);
    for rest in ["", "/sessions", "/participants_v2"] {
        let a = s.get(&rec_path("v1.0", &id, rest), &token).await;
        assert_graph_error(&a, 404, "NotFound");
        assert_eq!(a.message(), NOT_FOUND, "{rest}");
    }
    s.stop().await;
}

#[tokio::test]
async fn record_past_retention_is_404_and_gone_from_the_list() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 10))).await;
    let list = "/v1.0/communications/callRecords";
    assert_eq!(s.get(list, &token).await.values().len(), 1);
    s.server.state.clock.advance(chrono::Duration::days(31));
    // The old token expired with the clock jump; a client would get a new one.
    let token = s.token().await;
    let a = s.get(&rec_path("v1.0", &id, ""), &token).await;
    assert_graph_error(&a, 404, "NotFound");
    assert_eq!(a.message(), NOT_FOUND);
    let l = s.get(list, &token).await;
    l.expect_status(200);
    assert!(l.values().is_empty(), "{}", l.text);
    s.stop().await;
}

#[tokio::test]
async fn unknown_expand_is_400() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 11))).await;
    for q in [
        "?$expand=foo",
        "?$expand=sessions($expand=bar)",
        "?$filter=id eq 'x'",
    ] {
        let a = s.get(&rec_path("v1.0", &id, q), &token).await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    let a = s
        .get(&rec_path("v1.0", &id, "/sessions?$expand=media"), &token)
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn select_on_get_keeps_only_selected_properties() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 12))).await;
    let a = s
        .get(
            &rec_path("v1.0", &id, &format!("?$select={}", enc("id,type"))),
            &token,
        )
        .await;
    a.expect_status(200);
    let mut keys: Vec<&str> = a
        .json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "type"]);
    let bad = s.get(&rec_path("v1.0", &id, "?$select=nope"), &token).await;
    assert_graph_error(&bad, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn sessions_skiptoken_of_one_record_is_refused_for_another() {
    let s = start().await;
    let token = s.token().await;
    let a_id = uuid_like(0x200, 13);
    let b_id = uuid_like(0x200, 14);
    s.put_record(&a_id, &RecordBuilder::new(&a_id).sessions(5).build())
        .await
        .expect_status(201);
    s.put_record(&b_id, &RecordBuilder::new(&b_id).sessions(5).build())
        .await
        .expect_status(201);
    let first = s
        .get_with(
            &rec_path("v1.0", &a_id, "/sessions"),
            &token,
            &[("prefer", "odata.maxpagesize=2")],
        )
        .await;
    let next = first.next_link().expect("next");
    let (_, tok) = next.split_once("$skiptoken=").expect("skiptoken");
    let a = s
        .get(
            &rec_path("v1.0", &b_id, &format!("/sessions?$skiptoken={tok}")),
            &token,
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    let a = s
        .get(
            &rec_path("v1.0", &a_id, &format!("/participants_v2?$skiptoken={tok}")),
            &token,
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn omit_values_nulls_drops_null_members() {
    let (s, token, id) = server_with(RecordBuilder::new(uuid_like(0x200, 15))).await;
    let plain = s.get(&rec_path("v1.0", &id, ""), &token).await;
    plain.expect_status(200);
    assert!(plain.json["joinWebUrl"].is_null() && plain.json.get("joinWebUrl").is_some());
    let a = s
        .get_with(
            &rec_path("v1.0", &id, ""),
            &token,
            &[("prefer", "omit-values=nulls")],
        )
        .await;
    a.expect_status(200);
    assert!(a.json.get("joinWebUrl").is_none(), "{}", a.text);
    assert_eq!(a.json["id"], id.as_str());
    assert!(a
        .header("preference-applied")
        .is_some_and(|p| p.contains("omit-values=nulls")));
    s.stop().await;
}
