//! `callhook simulate --scenario` against a real server: every incident kind is staged, and the
//! ground truth's aggregates are recomputed from what the Graph API serves afterwards.

mod common;

use std::collections::BTreeMap;

use callhook_model::{from_value, CallRecord, Endpoint};
use callhook_quality::{
    streams, tally_into, BuildingFile, Dimension, Modality, Quality, Tally, Thresholds,
};
use callhook_sim::scenario::Scenario;
use callhook_sim::SimulateOptions;
use serde_json::{json, Value};

use common::*;

const SCENARIO: &str = r#"
name = "every kind"

[[building]]
name = "HQ"
networks = ["10.50.0.0/16"]
city = "Seattle"

[[building]]
name = "Remote access"
networks = ["172.16.8.0/22"]
vpn = true

[[incident]]
kind = "network"
building = "HQ"
start = "+6h"
duration = "2h"
calls = 5

[[incident]]
kind = "device"
capture_device = "Fabrikam Voice 200"
driver = "Fabrikam Audio 1.0.3"
calls = 4

[[incident]]
kind = "wifi"
band = "2.4GHz"
start = "+20h"
calls = 4

[[incident]]
kind = "vpn"
building = "Remote access"
calls = 3

[[incident]]
kind = "trunk"
trunk = "sbc9.contoso.com"
sip_code = 503
calls = 5

[[incident]]
kind = "emergency"
calls = 2

[[incident]]
kind = "poor-streak"
calls = 4
duration = "4h"
"#;

/// Paths where two JSON values differ (at most 20), for a readable failure.
fn differences(at: &str, a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                out.extend(differences(&format!("{at}/{k}"), l, r));
                if out.len() >= 20 {
                    break;
                }
            }
        }
        // serde_json reads floats back to within an ulp or so (no `float_roundtrip`).
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() > 1e-12 {
                out.push(format!("{at}: served {x} truth {y}"));
            }
        }
        _ if a != b => out.push(format!("{at}: served {a} truth {b}")),
        _ => {}
    }
    out
}

fn parse_record(v: &Value) -> CallRecord {
    from_value(v.clone()).unwrap_or_else(|e| panic!("served record does not parse: {e}"))
}

fn is_user(e: Option<&Endpoint>, user: &str) -> bool {
    matches!(e, Some(Endpoint::Participant(p))
        if p.associated_identity.as_ref().and_then(|i| i.id.as_deref()) == Some(user))
}

#[tokio::test]
async fn every_incident_kind_is_staged_and_its_truth_matches_what_graph_serves() {
    let s = start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let truth_path = out.path().join("truth.json");
    let opts = SimulateOptions {
        url: s.base().to_string(),
        data_dir: s.dir.path().to_path_buf(),
        calls: 40,
        users: 12,
        days: 2,
        seed: Some(5),
        concurrency: 2,
        scenario: Some(Scenario::parse(SCENARIO).expect("scenario")),
        truth: Some(truth_path.clone()),
        ..Default::default()
    };
    callhook_sim::run(opts)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).expect("truth written"))
        .expect("truth is JSON");
    let building_text = std::fs::read_to_string(out.path().join("truth.buildings.csv"))
        .expect("building file written alongside");
    let buildings = BuildingFile::parse(&building_text).expect("a valid CQD building file");
    assert_eq!(buildings.networks.len(), 2);
    assert!(buildings.networks[1].vpn);

    // Everything the Graph API serves, as a consumer reads it.
    let token = s.token().await;
    let (listed, _) = s
        .collect_pages("/v1.0/communications/callRecords", &token, &[])
        .await;
    let mut served: BTreeMap<String, Value> = BTreeMap::new();
    for r in &listed {
        let id = r["id"].as_str().expect("id").to_string();
        let a = s
            .get(
                &format!(
                    "/v1.0/communications/callRecords/{id}?$expand=sessions($expand=segments)"
                ),
                &token,
            )
            .await;
        a.expect_status(200);
        served.insert(id, a.json.clone());
    }
    let records: BTreeMap<&String, CallRecord> =
        served.iter().map(|(id, v)| (id, parse_record(v))).collect();
    let t = Thresholds::default();

    // Poor-stream tallies per dimension, recomputed.
    let mut tallies: BTreeMap<Dimension, Tally> = BTreeMap::new();
    for r in records.values() {
        let views = streams(r, &t);
        for d in Dimension::ALL {
            tally_into(tallies.entry(d).or_default(), &views, d, Some(&buildings));
        }
    }
    let diffs = differences(
        "",
        &serde_json::to_value(&tallies).expect("tally JSON"),
        &truth["aggregates"]["poorStreams"],
    );
    assert!(
        diffs.is_empty(),
        "poor-stream aggregates differ: {diffs:#?}"
    );

    // Direct-routing failures per trunk, from the report.
    let window = |f: &str| {
        format!(
            "/v1.0/communications/callRecords/{f}(fromDateTime={},toDateTime={})",
            truth["windowStart"]
                .as_str()
                .unwrap_or_default()
                .get(..10)
                .unwrap_or_default(),
            (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d")
        )
    };
    let (dr, _) = s
        .collect_pages(&window("getDirectRoutingCalls"), &token, &[])
        .await;
    let mut trunks: BTreeMap<String, Value> = BTreeMap::new();
    for row in &dr {
        let trunk = row["trunkFullyQualifiedDomainName"]
            .as_str()
            .unwrap_or_default();
        let e = trunks
            .entry(trunk.to_string())
            .or_insert_with(|| json!({"attempts": 0, "failed": 0, "finalSipCodes": {}}));
        e["attempts"] = json!(e["attempts"].as_u64().unwrap_or(0) + 1);
        if row["successfulCall"] == json!(false) {
            e["failed"] = json!(e["failed"].as_u64().unwrap_or(0) + 1);
            let code = row["finalSipCode"].to_string();
            let n = e["finalSipCodes"][&code].as_u64().unwrap_or(0);
            e["finalSipCodes"][&code] = json!(n + 1);
        }
    }
    assert_eq!(
        json!(trunks),
        truth["aggregates"]["directRoutingByTrunk"],
        "failures per trunk"
    );
    assert_eq!(trunks["sbc9.contoso.com"]["failed"], 5);
    assert_eq!(trunks["sbc9.contoso.com"]["finalSipCodes"]["503"], 5);

    // Emergency calls: their report rows.
    let (pstn, _) = s.collect_pages(&window("getPstnCalls"), &token, &[]).await;
    let emergency_rows = pstn
        .iter()
        .chain(dr.iter())
        .filter(|r| {
            matches!(
                r["callType"].as_str(),
                Some("emergency_out" | "dr_emergency_out")
            )
        })
        .count();
    assert_eq!(json!(emergency_rows), truth["aggregates"]["emergencyCalls"]);
    assert!(emergency_rows >= 2, "{emergency_rows}");

    // Each incident touched what it says, and the touched streams are poor where classified.
    let incidents = truth["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 7);
    for inc in incidents {
        let kind = inc["kind"].as_str().unwrap_or_default();
        let touched = inc["touched"].as_array().expect("touched");
        assert!(!touched.is_empty(), "{kind} touched nothing");
        let (start, end) = (inc["start"].as_str(), inc["end"].as_str());
        for item in touched {
            let at = item["startDateTime"].as_str();
            assert!(
                at >= start && at <= end,
                "{kind}: {item} outside {start:?}..{end:?}"
            );
            let Some(id) = item["callRecordId"].as_str() else {
                continue;
            };
            let record = records
                .get(&id.to_string())
                .unwrap_or_else(|| panic!("{kind}: call {id} is not served"));
            let views = streams(record, &t);
            let refs = item["streams"].as_array().cloned().unwrap_or_default();
            if kind != "emergency" {
                assert!(!refs.is_empty(), "{kind}: no streams");
            }
            for r in refs {
                let v = views
                    .iter()
                    .find(|v| {
                        v.segment_id == r["segmentId"]
                            && v.media.label.as_deref() == r["label"].as_str()
                            && v.stream.stream_direction.as_str() == r["streamDirection"]
                    })
                    .unwrap_or_else(|| panic!("{kind}: stream {r} not served"));
                assert_ne!(v.verdict.quality, Quality::Good, "{kind}: {r}");
                let values = |d| v.values(d, Some(&buildings));
                match kind {
                    "network" => assert!(values(Dimension::Building).contains(&"HQ".into())),
                    "vpn" => assert!(values(Dimension::Vpn).contains(&"vpn".into())),
                    "wifi" => {
                        assert!(values(Dimension::WifiBand).contains(&"frequency24GHz".into()))
                    }
                    "device" => {
                        assert!(
                            values(Dimension::CaptureDevice).contains(&"Fabrikam Voice 200".into())
                        );
                        assert!(values(Dimension::CaptureDriver)
                            .contains(&"Fabrikam Audio 1.0.3".into()));
                    }
                    _ => {}
                }
            }
        }
        if kind == "trunk" {
            assert_eq!(touched.len(), 5);
            let rows: Vec<&str> = touched
                .iter()
                .filter_map(|i| i["directRoutingRowId"].as_str())
                .collect();
            assert!(rows.iter().all(|id| dr.iter().any(|r| r["id"] == *id)));
        }
        if kind == "emergency" {
            assert_eq!(touched.len(), 2);
            assert!(touched
                .iter()
                .all(|i| i["emergencyCallEventId"].is_string()));
        }
    }
    // The staged buildings show up poor in the truth's aggregates.
    let hq = &truth["aggregates"]["poorStreams"]["building"]["HQ"]["audio"];
    assert!(hq["poor"].as_u64().unwrap_or(0) > 0, "{hq}");

    // The streak: the user's calls in time order, recomputed.
    let streak = incidents
        .iter()
        .find(|i| i["kind"] == "poor-streak")
        .expect("streak");
    let user = streak["touched"][0]["userId"]
        .as_str()
        .expect("streak user")
        .to_string();
    let mut calls: Vec<(chrono::DateTime<chrono::Utc>, bool)> = Vec::new();
    for r in records.values() {
        let views = streams(r, &t);
        let mine: Vec<_> = views
            .iter()
            .filter(|v| is_user(v.caller.endpoint, &user) || is_user(v.callee.endpoint, &user))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let poor = mine
            .iter()
            .any(|v| v.modality == Some(Modality::Audio) && v.verdict.quality == Quality::Poor);
        calls.push((r.start_date_time, poor));
    }
    calls.sort();
    let (mut run, mut longest) = (0u64, 0u64);
    for (_, poor) in &calls {
        run = if *poor { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let truth_streak = &truth["aggregates"]["poorCallStreaks"][&user];
    assert_eq!(truth_streak["longestPoorRun"], json!(longest));
    assert_eq!(truth_streak["calls"], json!(calls.len()));
    assert!(longest >= 4, "{longest}");
}
