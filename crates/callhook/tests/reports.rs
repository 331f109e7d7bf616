//! The report functions: getPstnCalls, getDirectRoutingCalls and the beta-only ones.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::*;
use serde_json::{json, Value};

const FN: &str = "communications/callRecords";

/// A whole-second instant two days ago, so URL values and stored times compare exactly.
fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::days(2))
        .duration_trunc(Duration::seconds(1))
        .expect("trunc")
}

fn z(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn call(version: &str, func: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "/{version}/{FN}/{func}(fromDateTime={},toDateTime={})",
        z(from),
        z(to)
    )
}

fn pstn_row(i: u64, start: DateTime<Utc>) -> Value {
    let mut r: Value =
        serde_json::from_str(include_str!("data/pstn-call-log-row.json")).expect("fixture");
    r["id"] = json!(uuid_like(0x9570, i));
    r["startDateTime"] = json!(z(start));
    r["endDateTime"] = json!(z(start + Duration::seconds(219)));
    r["otherPartyCountryCode"] = json!("GB");
    r
}

fn dr_row(i: u64, start: DateTime<Utc>) -> Value {
    let mut r: Value =
        serde_json::from_str(include_str!("data/direct-routing-log-row.json")).expect("fixture");
    r["id"] = json!(uuid_like(0xd400, i));
    r["startDateTime"] = json!(z(start));
    r["inviteDateTime"] = json!(z(start - Duration::seconds(3)));
    r["endDateTime"] = json!(z(start + Duration::seconds(5)));
    r["otherPartyCountryCode"] = json!("FR");
    r["userCountryCode"] = json!("US");
    r
}

#[tokio::test]
async fn get_pstn_calls_returns_rows_in_range_in_every_url_form() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    let rows: Vec<Value> = (0..5)
        .map(|i| pstn_row(i, t0 + Duration::hours(i as i64)))
        .collect();
    let a = s.post_rows("pstnCalls", &rows).await;
    assert_eq!(a.json["accepted"], 5);
    let from = t0 + Duration::minutes(30);
    let to = t0 + Duration::hours(3) + Duration::minutes(30);
    let want: Vec<String> = (1..4).map(|i| uuid_like(0x9570, i)).collect();
    let urls = [
        call("v1.0", "getPstnCalls", from, to),
        call("v1.0", "microsoft.graph.callRecords.getPstnCalls", from, to),
        format!(
            "/v1.0/{FN}/getPstnCalls(fromDateTime='{}',toDateTime='{}')",
            z(from),
            z(to)
        ),
        call("beta", "getPstnCalls", from, to),
    ];
    for url in &urls {
        let a = s.get(url, &token).await;
        a.expect_status(200);
        let mut got = ids(&a.values());
        got.sort();
        assert_eq!(got, want, "{url}");
        assert_eq!(a.json["@odata.count"], 3, "{url}");
        assert!(a.json["@odata.context"].as_str().is_some_and(
            |c| c.ends_with("$metadata#Collection(microsoft.graph.callRecords.pstnCallLogRow)")
        ));
        assert!(a.next_link().is_none());
    }
    // Date-only values are accepted too.
    let day = t0.date_naive();
    let a = s
        .get(
            &format!(
                "/v1.0/{FN}/getPstnCalls(fromDateTime={day},toDateTime={})",
                day + chrono::Days::new(2)
            ),
            &token,
        )
        .await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 5);
    s.stop().await;
}

#[tokio::test]
async fn to_date_time_is_inclusive_for_pstn_calls_and_exclusive_for_direct_routing() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    let to = t0 + Duration::hours(1);
    s.post_rows("pstnCalls", &[pstn_row(1, t0), pstn_row(2, to)])
        .await;
    s.post_rows("directRoutingCalls", &[dr_row(1, t0), dr_row(2, to)])
        .await;
    let a = s.get(&call("v1.0", "getPstnCalls", t0, to), &token).await;
    a.expect_status(200);
    let mut got = ids(&a.values());
    got.sort();
    assert_eq!(
        got,
        [uuid_like(0x9570, 1), uuid_like(0x9570, 2)],
        "from and to both inclusive"
    );
    let a = s
        .get(&call("v1.0", "getDirectRoutingCalls", t0, to), &token)
        .await;
    a.expect_status(200);
    assert_eq!(ids(&a.values()), [uuid_like(0xd400, 1)], "to is exclusive");
    assert!(a.json["@odata.context"].as_str().is_some_and(
        |c| c.ends_with("Collection(microsoft.graph.callRecords.directRoutingLogRow)")
    ));
    s.stop().await;
}

#[tokio::test]
async fn more_than_1000_rows_page_with_skip_and_per_page_count() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    let rows: Vec<Value> = (0..1500)
        .map(|i| pstn_row(i, t0 + Duration::seconds(i as i64)))
        .collect();
    for chunk in rows.chunks(1000) {
        s.post_rows("pstnCalls", chunk).await;
    }
    let first = s
        .get(
            &call("v1.0", "getPstnCalls", t0, t0 + Duration::hours(1)),
            &token,
        )
        .await;
    first.expect_status(200);
    assert_eq!(first.values().len(), 1000);
    assert_eq!(first.json["@odata.count"], 1000);
    let next = first.next_link().expect("@odata.nextLink");
    assert!(next.ends_with("?$skip=1000"), "{next}");
    assert!(next.contains("getPstnCalls(fromDateTime="), "{next}");
    let second = s.get(&next, &token).await;
    second.expect_status(200);
    assert_eq!(second.values().len(), 500);
    assert_eq!(second.json["@odata.count"], 500);
    assert!(second.next_link().is_none());
    let mut all = ids(&first.values());
    all.extend(ids(&second.values()));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 1500);
    s.stop().await;
}

#[tokio::test]
async fn range_over_90_days_is_406() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    for func in ["getPstnCalls", "getDirectRoutingCalls"] {
        let a = s
            .get(&call("v1.0", func, t0 - Duration::days(91), t0), &token)
            .await;
        assert_graph_error(&a, 406, "NotAcceptable");
    }
    // Exactly 90 days is fine.
    s.get(
        &call("v1.0", "getPstnCalls", t0 - Duration::days(90), t0),
        &token,
    )
    .await
    .expect_status(200);
    s.stop().await;
}

#[tokio::test]
async fn empty_parameters_are_400_expression_expected_at_position_13() {
    let s = start().await;
    let token = s.token().await;
    let a = s
        .get(
            &format!("/v1.0/{FN}/getPstnCalls(fromDateTime=,toDateTime=)"),
            &token,
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message()
            .starts_with("Expression expected at position 13 in 'fromDateTime=,toDateTime='"),
        "{}",
        a.message()
    );
    s.stop().await;
}

#[tokio::test]
async fn missing_or_unknown_parameters_are_400() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    for url in [
        format!("/v1.0/{FN}/getPstnCalls(fromDateTime={})", z(t0)),
        format!(
            "/v1.0/{FN}/getPstnCalls(fromDateTime={},toDateTime={},extra=1)",
            z(t0),
            z(t0)
        ),
        format!(
            "/v1.0/{FN}/getPstnCalls(fromDateTime=yesterday,toDateTime={})",
            z(t0)
        ),
        format!("{}?$top=5", call("v1.0", "getPstnCalls", t0, t0)),
    ] {
        let a = s.get(&url, &token).await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    s.stop().await;
}

#[tokio::test]
async fn beta_only_functions_are_400_on_v1() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    for func in [
        "getSmsLog",
        "getPstnBlockedUsersLog",
        "getPstnOnlineMeetingDialoutReport",
    ] {
        let a = s.get(&call("v1.0", func, t0, t0), &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert_eq!(
            a.message(),
            format!("Resource not found for the segment '{func}'.")
        );
        s.get(&call("beta", func, t0, t0), &token)
            .await
            .expect_status(200);
    }
    s.stop().await;
}

#[tokio::test]
async fn v1_rows_lack_beta_only_properties_that_beta_rows_have() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    s.post_rows("pstnCalls", &[pstn_row(1, t0)]).await;
    s.post_rows("directRoutingCalls", &[dr_row(1, t0)]).await;
    let to = t0 + Duration::minutes(1);
    let v1 = s
        .get(&call("v1.0", "getPstnCalls", t0, to), &token)
        .await
        .values();
    let beta = s
        .get(&call("beta", "getPstnCalls", t0, to), &token)
        .await
        .values();
    assert_eq!(v1.len(), 1);
    assert!(v1[0].get("otherPartyCountryCode").is_none(), "{}", v1[0]);
    assert_eq!(v1[0]["callId"], "1835317186_112562680@61.221.3.176");
    assert_eq!(beta[0]["otherPartyCountryCode"], "GB");
    let v1 = s
        .get(&call("v1.0", "getDirectRoutingCalls", t0, to), &token)
        .await
        .values();
    let beta = s
        .get(&call("beta", "getDirectRoutingCalls", t0, to), &token)
        .await
        .values();
    assert!(
        v1[0].get("otherPartyCountryCode").is_none() && v1[0].get("userCountryCode").is_none(),
        "{}",
        v1[0]
    );
    assert_eq!(
        v1[0]["trunkFullyQualifiedDomainName"],
        "tll-audiocodes01.adatum.biz"
    );
    assert_eq!(beta[0]["otherPartyCountryCode"], "FR");
    assert_eq!(beta[0]["userCountryCode"], "US");
    s.stop().await;
}

#[tokio::test]
async fn sms_and_blocked_users_logs_are_served_on_beta() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    s.post_rows(
        "smsLog",
        &[
            json!({ "id": uuid_like(0x5135, 1), "sentDateTime": z(t0), "smsType": "sms_out", "smsUnits": 2, "currency": "USD", "callCharge": 0.02 }),
            json!({ "id": uuid_like(0x5135, 2), "sentDateTime": z(t0 + Duration::days(1)), "smsType": "sms_in" }),
        ],
    )
    .await;
    s.post_rows(
        "pstnBlockedUsersLog",
        &[json!({ "blockDateTime": z(t0), "blockReason": "Tenant Requested", "userBlockMode": "blocked", "userTelephoneNumber": "+15555550100" })],
    )
    .await;
    let sms = s
        .get(
            &call("beta", "getSmsLog", t0, t0 + Duration::hours(1)),
            &token,
        )
        .await;
    sms.expect_status(200);
    let v = sms.values();
    assert_eq!(ids(&v), [uuid_like(0x5135, 1)]);
    assert_eq!(v[0]["smsUnits"], 2);
    let blocked = s
        .get(
            &call(
                "beta",
                "getPstnBlockedUsersLog",
                t0,
                t0 + Duration::hours(1),
            ),
            &token,
        )
        .await;
    blocked.expect_status(200);
    let v = blocked.values();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["blockReason"], "Tenant Requested");
    assert_eq!(v[0]["userTelephoneNumber"], "+15555550100");
    s.stop().await;
}

#[tokio::test]
async fn dialout_rows_are_summed_per_user_location_context_and_currency() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    let fixture: Value = serde_json::from_str(include_str!(
        "data/pstn-online-meeting-dialout-report-row.json"
    ))
    .expect("fixture");
    let row = |minutes: i64, ctx: &str, currency: &str, calls: i64, secs: i64, charge: f64| {
        let mut r = fixture.clone();
        r["usageDateTime"] = json!(z(t0 + Duration::minutes(minutes)));
        r["destinationContext"] = json!(ctx);
        r["currency"] = json!(currency);
        r["totalCalls"] = json!(calls);
        r["totalCallSeconds"] = json!(secs);
        r["totalCallCharge"] = json!(charge);
        r
    };
    s.post_rows(
        "pstnOnlineMeetingDialout",
        &[
            row(0, "International", "USD", 2, 100, 1.25),
            row(10, "International", "USD", 3, 50, 2.5),
            row(20, "Domestic", "USD", 1, 30, 0.1),
            row(30, "International", "EUR", 4, 40, 3.0),
            // Outside the range: not summed.
            row(600, "International", "USD", 100, 100, 100.0),
        ],
    )
    .await;
    let a = s
        .get(
            &call(
                "beta",
                "getPstnOnlineMeetingDialoutReport",
                t0,
                t0 + Duration::hours(1),
            ),
            &token,
        )
        .await;
    a.expect_status(200);
    let v = a.values();
    assert_eq!(v.len(), 3, "{}", a.text);
    assert_eq!(a.json["@odata.count"], 3);
    let find = |ctx: &str, cur: &str| {
        v.iter()
            .find(|r| r["destinationContext"] == ctx && r["currency"] == cur)
            .cloned()
            .unwrap_or_else(|| panic!("no {ctx}/{cur} row in {}", a.text))
    };
    let intl = find("International", "USD");
    assert_eq!(intl["totalCalls"], 5);
    assert_eq!(intl["totalCallSeconds"], 150);
    assert!((intl["totalCallCharge"].as_f64().expect("charge") - 3.75).abs() < 1e-9);
    assert_eq!(intl["userId"], "03de33bb-51df-40de-889a-61949faae24f");
    assert_eq!(intl["usageLocation"], "US");
    assert!(
        intl.get("usageDateTime").is_none(),
        "ingest-only property leaked: {intl}"
    );
    assert_eq!(find("Domestic", "USD")["totalCalls"], 1);
    assert_eq!(find("International", "EUR")["totalCallSeconds"], 40);
    s.stop().await;
}

#[tokio::test]
async fn report_row_with_an_existing_id_replaces_it() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    s.post_rows("pstnCalls", &[pstn_row(1, t0)]).await;
    let mut again = pstn_row(1, t0);
    again["duration"] = json!(999);
    s.post_rows("pstnCalls", &[again]).await;
    let v = s
        .get(
            &call("v1.0", "getPstnCalls", t0, t0 + Duration::minutes(1)),
            &token,
        )
        .await
        .values();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["duration"], 999);
    s.stop().await;
}

#[tokio::test]
async fn report_row_without_its_time_key_is_400_and_batch_stores_nothing() {
    let s = start().await;
    let token = s.token().await;
    let t0 = base();
    let mut bad = pstn_row(2, t0);
    bad.as_object_mut().expect("row").remove("startDateTime");
    let a = s
        .ingest_raw(
            reqwest::Method::POST,
            &s.ingest_url("reports/pstnCalls"),
            serde_json::to_vec(&json!({ "value": [pstn_row(1, t0), bad] })).expect("json"),
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message().starts_with("value[1].startDateTime"),
        "{}",
        a.message()
    );
    let v = s
        .get(
            &call("v1.0", "getPstnCalls", t0, t0 + Duration::minutes(1)),
            &token,
        )
        .await
        .values();
    assert!(v.is_empty());
    let a = s
        .ingest_raw(
            reqwest::Method::POST,
            &s.ingest_url("reports/nope"),
            serde_json::to_vec(&json!({ "value": [] })).expect("json"),
        )
        .await;
    assert_graph_error(&a, 404, "NotFound");
    s.stop().await;
}
