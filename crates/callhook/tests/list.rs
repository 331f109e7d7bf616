//! `GET communications/callRecords`: paging, stable nextLinks, $filter, $select and refusals.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use common::*;
use serde_json::Value;

const LIST: &str = "/v1.0/communications/callRecords";

/// Ingests `recs` in batches of at most 100.
async fn ingest(s: &TestServer, recs: &[Value]) {
    for chunk in recs.chunks(100) {
        s.post_records(chunk).await.expect_status(200);
    }
}

fn count_ids(items: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for id in ids(items) {
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

#[tokio::test]
async fn default_page_is_60_records_with_a_next_link() {
    let s = start().await;
    let token = s.token().await;
    let recs = records(0x100, 130, 60);
    ingest(&s, &recs).await;
    let first = s.get(LIST, &token).await;
    first.expect_status(200);
    assert_eq!(first.values().len(), 60);
    let next = first.next_link().expect("@odata.nextLink on a full page");
    assert!(
        next.starts_with(&format!("{}/v1.0/communications/callRecords?", s.base())),
        "{next}"
    );
    assert!(next.contains("$skiptoken="), "{next}");
    assert!(first.json["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("/v1.0/$metadata#communications/callRecords")));
    let (all, pages) = s.collect_pages(LIST, &token, &[]).await;
    assert_eq!(pages, 3);
    let counts = count_ids(&all);
    assert_eq!(counts.len(), 130);
    assert!(counts.values().all(|n| *n == 1));
    s.stop().await;
}

#[tokio::test]
async fn maxpagesize_preference_pages_by_7() {
    let s = start().await;
    let token = s.token().await;
    ingest(&s, &records(0x101, 20, 60)).await;
    let prefer = [("prefer", "odata.maxpagesize=7")];
    let first = s.get_with(LIST, &token, &prefer).await;
    first.expect_status(200);
    assert_eq!(first.values().len(), 7);
    assert_eq!(
        first.header("preference-applied"),
        Some("odata.maxpagesize=7")
    );
    let mut sizes = Vec::new();
    let mut next = Some(LIST.to_string());
    while let Some(url) = next {
        let a = s.get_with(&url, &token, &prefer).await;
        a.expect_status(200);
        sizes.push(a.values().len());
        next = a.next_link();
    }
    assert_eq!(sizes, [7, 7, 6]);
    // The page size also travels in the nextLink when the header is not repeated.
    let (all, pages) = s
        .collect_pages(&first.next_link().expect("next"), &token, &[])
        .await;
    assert_eq!((all.len(), pages), (13, 2));
    s.stop().await;
}

#[tokio::test]
async fn following_next_links_yields_every_record_once_despite_concurrent_writes() {
    let s = start().await;
    let token = s.token().await;
    let originals = records(0x102, 40, 90);
    ingest(&s, &originals).await;
    let prefer = [("prefer", "odata.maxpagesize=7")];

    let mut seen: Vec<Value> = Vec::new();
    let mut next = Some(LIST.to_string());
    let mut page = 0u64;
    while let Some(url) = next {
        let a = s.get_with(&url, &token, &prefer).await;
        a.expect_status(200);
        seen.extend(a.values());
        next = a.next_link();
        page += 1;
        // Between pages: new records arrive, records already seen and not yet seen change
        // (with a different start time, so an order by start would shuffle them).
        s.put_records(&records(0x2000 + page as u32, 2, 30)).await;
        for i in [page as usize, 39 - page as usize] {
            let id = originals[i]["id"].as_str().expect("id");
            let upd = RecordBuilder::new(id)
                .start(ago(200) - Duration::minutes(page as i64))
                .sessions(2)
                .build();
            s.put_record(id, &upd).await.expect_status(200);
        }
        assert!(page < 100);
    }
    let counts = count_ids(&seen);
    for (id, n) in &counts {
        assert_eq!(*n, 1, "{id} returned {n} times");
    }
    for id in ids(&originals) {
        assert!(counts.contains_key(&id), "{id} was never returned");
    }
    s.stop().await;
}

#[tokio::test]
async fn start_date_time_range_filter_selects_exactly_the_range() {
    let s = start().await;
    let token = s.token().await;
    let base = ago(600);
    let recs: Vec<Value> = (0..10)
        .map(|i| {
            RecordBuilder::new(uuid_like(0x103, i))
                .start(base + Duration::minutes(10 * i as i64))
                .build()
        })
        .collect();
    ingest(&s, &recs).await;
    // [20 min, 60 min) → records 2, 3, 4, 5.
    let filter = format!(
        "startDateTime ge {} and startDateTime lt {}",
        ts(base + Duration::minutes(20)),
        ts(base + Duration::minutes(60))
    );
    let url = format!("{LIST}?$filter={}", enc(&filter));
    let (items, pages) = s
        .collect_pages(&url, &token, &[("prefer", "odata.maxpagesize=3")])
        .await;
    assert_eq!(pages, 2, "the filter must travel in the nextLink");
    let got: BTreeSet<String> = ids(&items).into_iter().collect();
    let want: BTreeSet<String> = (2..6).map(|i| uuid_like(0x103, i)).collect();
    assert_eq!(got, want);
    s.stop().await;
}

#[tokio::test]
async fn participant_lambda_filter_selects_records_with_that_participant() {
    let s = start().await;
    let token = s.token().await;
    let alice = "821809f5-0000-0000-0000-3b5136c0e777";
    let bob = "f69e2c00-0000-0000-0000-185e5f5f5d8a";
    let mut recs = Vec::new();
    for i in 0..6u64 {
        let who: &[&str] = match i % 3 {
            0 => &[alice, bob],
            1 => &[bob],
            _ => &[],
        };
        recs.push(
            RecordBuilder::new(uuid_like(0x104, i))
                .participant_ids(who)
                .participants(3)
                .build(),
        );
    }
    ingest(&s, &recs).await;
    let url = format!(
        "{LIST}?$filter={}",
        enc(&format!("participants_v2/any(p:p/id eq '{alice}')"))
    );
    let a = s.get(&url, &token).await;
    a.expect_status(200);
    let got: BTreeSet<String> = ids(&a.values()).into_iter().collect();
    let want: BTreeSet<String> = [0, 3].iter().map(|i| uuid_like(0x104, *i)).collect();
    assert_eq!(got, want);
    let url = format!(
        "{LIST}?$filter={}",
        enc(&format!("participants_v2/any(p:p/id eq '{bob}')"))
    );
    let a = s.get(&url, &token).await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 4);
    s.stop().await;
}

#[tokio::test]
async fn select_keeps_only_the_selected_properties_on_every_page() {
    let s = start().await;
    let token = s.token().await;
    ingest(&s, &records(0x105, 9, 60)).await;
    let url = format!("{LIST}?$select={}", enc("id,version"));
    let (items, pages) = s
        .collect_pages(&url, &token, &[("prefer", "odata.maxpagesize=4")])
        .await;
    assert_eq!((items.len(), pages), (9, 3));
    for item in &items {
        let keys: Vec<&str> = item
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["id", "version"], "{item}");
    }
    s.stop().await;
}

#[tokio::test]
async fn list_items_carry_organizer_inline_but_never_sessions_or_participants() {
    let s = start().await;
    let token = s.token().await;
    ingest(
        &s,
        &[RecordBuilder::new(uuid_like(0x106, 1))
            .sessions(3)
            .participants(4)
            .build()],
    )
    .await;
    let a = s.get(LIST, &token).await;
    a.expect_status(200);
    let item = a.values().pop().expect("one record");
    assert!(item.get("sessions").is_none(), "{item}");
    assert!(item.get("participants_v2").is_none(), "{item}");
    assert!(item.get("sessions@odata.nextLink").is_none());
    assert_eq!(
        item["organizer_v2"]["id"],
        uuid_like(0x0a11_0000, 0).as_str()
    );
    assert_eq!(item["version"], 1);
    s.stop().await;
}

#[tokio::test]
async fn filter_syntax_error_is_400_saying_where() {
    let s = start().await;
    let token = s.token().await;
    for bad in [
        "startDateTime ge",
        "startDateTime ge 2024-01-01T00:00:00Z and",
        "participants_v2/any(p:p/id eq 'x'",
        "startDateTime ge '2024",
        "startDateTime ge 2024-01-01T00:00:00Z and (",
    ] {
        let a = s.get(&format!("{LIST}?$filter={}", enc(bad)), &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert!(a.message().contains("position"), "{bad:?}: {}", a.message());
    }
    s.stop().await;
}

#[tokio::test]
async fn filter_on_an_unsupported_property_is_400() {
    let s = start().await;
    let token = s.token().await;
    for bad in [
        "type eq 'groupCall'",
        "endDateTime ge 2024-01-01T00:00:00Z",
        "startDateTime eq 2024-01-01T00:00:00Z",
    ] {
        let a = s.get(&format!("{LIST}?$filter={}", enc(bad)), &token).await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    s.stop().await;
}

#[tokio::test]
async fn unsupported_query_options_are_400() {
    let s = start().await;
    let token = s.token().await;
    for (q, name) in [
        ("$top=5", "$top"),
        ("$orderby=startDateTime", "$orderby"),
        ("$expand=sessions", "$expand"),
        ("$count=true", "$count"),
    ] {
        let a = s.get(&format!("{LIST}?{q}"), &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert!(a.message().contains(name), "{q}: {}", a.message());
    }
    s.stop().await;
}

#[tokio::test]
async fn forged_or_garbled_skiptoken_is_400() {
    let s = start().await;
    let token = s.token().await;
    ingest(&s, &records(0x107, 5, 60)).await;
    let first = s
        .get_with(LIST, &token, &[("prefer", "odata.maxpagesize=2")])
        .await;
    let next = first.next_link().expect("next");
    let (head, tok) = next.split_once("$skiptoken=").expect("skiptoken");
    // Flip one character in the middle of the token.
    let mut chars: Vec<char> = tok.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let garbled: String = chars.into_iter().collect();
    for bad in [
        format!("{head}$skiptoken={garbled}"),
        format!("{head}$skiptoken=abc"),
        format!("{head}$skiptoken="),
        format!("{head}$skiptoken={}", &tok[..tok.len() / 2]),
        format!(
            "{head}$skiptoken={}",
            b64url_encode(br#"{"k":"r","t":"x","a":0,"f":null,"s":[],"n":2}"#)
        ),
    ] {
        let a = s.get(&bad, &token).await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    s.stop().await;
}

#[tokio::test]
async fn skiptoken_of_one_tenant_is_refused_for_another() {
    let s = start().await;
    let token_a = s.token().await;
    ingest(&s, &records(0x108, 5, 60)).await;
    let first = s
        .get_with(LIST, &token_a, &[("prefer", "odata.maxpagesize=2")])
        .await;
    let next = first.next_link().expect("next");
    let (tenant_b, client_b, secret_b) = s.add_tenant(2).await;
    let token_b = s.token_for(&tenant_b, &client_b, &secret_b).await;
    // Tenant B sees none of A's records...
    let own = s.get(LIST, &token_b).await;
    own.expect_status(200);
    assert!(own.values().is_empty(), "{}", own.text);
    // ...and cannot use A's paging state.
    let a = s.get(&next, &token_b).await;
    assert_graph_error(&a, 400, "BadRequest");
    // A still can.
    s.get(&next, &token_a).await.expect_status(200);
    s.stop().await;
}

#[tokio::test]
async fn beta_lists_the_same_records() {
    let s = start().await;
    let token = s.token().await;
    ingest(&s, &records(0x109, 3, 60)).await;
    let a = s.get("/beta/communications/callRecords", &token).await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 3);
    assert!(a.json["@odata.context"]
        .as_str()
        .is_some_and(|c| c.contains("/beta/$metadata#")));
    s.stop().await;
}
