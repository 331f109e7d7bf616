//! Published Graph payloads parse, lose nothing, and serialize to a fixed point.

use callhook_model::{
    from_value, parse, parse_call_record, parse_list, CallRecord, ClientPlatform, DialoutUsageRow,
    DirectRoutingLogRow, Endpoint, GraphType, MediaStreamDirection, Participant, ProductFamily,
    PstnCallLogRow, Session, UserAgent, UserFeedbackRating,
};
use serde_json::Value;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn doc(name: &str) -> Value {
    serde_json::from_slice(&data(name)).expect("fixture is JSON")
}

/// Every non-null, non-annotation member of `original` appears in `emitted` with the same value
/// (numbers compared numerically, since `0.00` is written `0`).
fn assert_preserved(original: &Value, emitted: &Value, path: &str) {
    match (original, emitted) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if k.contains('@') && k != "@odata.type" || v.is_null() {
                    continue;
                }
                let Some(w) = b.get(k) else {
                    panic!("{path}.{k} lost");
                };
                assert_preserved(v, w, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_preserved(v, w, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{path}");
        }
        _ => assert_eq!(original, emitted, "{path}"),
    }
}

/// Parses `v` as `T`, checks nothing was lost, and that serialize → parse → serialize is stable.
fn round_trip<T: GraphType + serde::Serialize>(v: Value) -> T {
    let parsed: T = from_value(v.clone()).unwrap_or_else(|e| panic!("parse: {e}"));
    let first = serde_json::to_value(&parsed).expect("serialize");
    assert_preserved(&v, &first, "$");
    let reparsed: T = from_value(first.clone()).unwrap_or_else(|e| panic!("reparse: {e}"));
    let second = serde_json::to_value(&reparsed).expect("serialize");
    assert_eq!(first, second, "serialize is a fixed point");
    assert_eq!(
        serde_json::to_string(&first).ok(),
        serde_json::to_string(&second).ok(),
        "byte-identical including order"
    );
    parsed
}

fn list_items(name: &str) -> Vec<Value> {
    match doc(name).get("value") {
        Some(Value::Array(items)) => items.clone(),
        _ => panic!("{name} has no value array"),
    }
}

#[test]
fn call_record_list_fixture_round_trips_including_pstn_organizer() {
    let items = list_items("callrecords-list.json");
    assert_eq!(items.len(), 2);
    let records: Vec<CallRecord> = items.into_iter().map(round_trip).collect();
    let phone_organizer = records[1].organizer_v2.as_ref().expect("organizer_v2");
    assert_eq!(phone_organizer.id, "+5564981205182");
    let identity = phone_organizer.identity.as_ref().expect("identity");
    assert_eq!(
        identity.phone.as_ref().and_then(|p| p.id.as_deref()),
        Some("+5564981205182")
    );
    // Dynamic members of the open identity set survive, null or not.
    assert!(identity.additional.contains_key("acsUser"));
    assert!(identity.additional.contains_key("spoolUser"));
    let out = serde_json::to_value(&records[1]).expect("serialize");
    assert_eq!(out["organizer_v2"]["identity"]["acsUser"], Value::Null);
    assert_eq!(out["lastModifiedDateTime"], "2023-09-25T14:18:13Z");
}

#[test]
fn basic_get_fixture_keeps_seven_digit_timestamps() {
    let record = parse_call_record(&data("callrecord-get-basic.json")).expect("parses");
    let out = serde_json::to_value(&record).expect("serialize");
    assert_eq!(out["startDateTime"], "2020-02-25T18:52:21.2169889Z");
    assert_eq!(out["lastModifiedDateTime"], "2020-02-25T19:00:24.582757Z");
    assert_eq!(out["version"], 1);
    round_trip::<CallRecord>(doc("callrecord-get-basic.json"));
}

#[test]
fn expanded_current_shape_fixture_round_trips_with_subtypes() {
    let record: CallRecord = round_trip(doc("callrecord-expanded-current-shape.json"));
    let session = &record.sessions[0];
    assert_eq!(session.is_test, Some(false));
    let Some(Endpoint::Participant(caller)) = &session.caller else {
        panic!("caller is a participant endpoint");
    };
    assert_eq!(caller.name.as_deref(), Some("machineName_2"));
    let Some(UserAgent::Client(ua)) = &caller.user_agent else {
        panic!("client user agent");
    };
    assert_eq!(ua.platform, ClientPlatform::Android);
    assert_eq!(ua.product_family, ProductFamily::SkypeForBusiness);
    let stream = &record.sessions[0].segments[0]
        .media
        .as_ref()
        .expect("media")[0]
        .streams
        .as_ref()
        .expect("streams")[0];
    assert_eq!(
        stream.stream_direction,
        MediaStreamDirection::CallerToCallee
    );
    assert_eq!(stream.average_jitter.map(|d| d.as_millis_f64()), Some(16.0));

    let out = serde_json::to_value(&record).expect("serialize");
    let caller = &out["sessions"][0]["caller"];
    assert_eq!(
        caller["associatedIdentity"]["@odata.type"],
        "#microsoft.graph.callRecords.userIdentity"
    );
    assert_eq!(
        caller["associatedIdentity"]["tenantId"],
        "dc368399-474c-4d40-900c-6265431fd81f"
    );
    // Non-nullable networkInfo members get their defaults.
    let network = &out["sessions"][0]["segments"][0]["media"][0]["callerNetwork"];
    assert_eq!(network["connectionType"], "unknown");
    assert_eq!(network["wifiBand"], "unknown");
    assert_eq!(network["traceRouteHops"], Value::Array(vec![]));
    assert_eq!(network["linkSpeed"], 54_000_000);
}

#[test]
fn full_expanded_fixture_round_trips_every_stream_and_device_field() {
    let record: CallRecord = round_trip(doc("callrecord-full-expanded.json"));
    assert_eq!(record.participants.as_ref().map(Vec::len), Some(2));
    let media = &record.sessions[0].segments[0]
        .media
        .as_ref()
        .expect("media")[0];
    let streams = media.streams.as_ref().expect("streams");
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[1].average_packet_loss_rate.map(|s| s.value()),
        Some(0.01381693)
    );
    let callee_network = media.callee_network.as_ref().expect("callee network");
    assert_eq!(callee_network.link_speed, Some(4_294_967_295));
    let out = serde_json::to_value(&record).expect("serialize");
    let device = &out["sessions"][0]["segments"][0]["media"][0]["callerDevice"];
    assert_eq!(
        device["initialSignalLevelRootMeanSquare"].as_f64(),
        Some(60.25816)
    );
    // Declared but absent properties are written as explicit nulls.
    assert!(device
        .get("cpuInsufficentEventRatio")
        .is_some_and(Value::is_null));
    let stream = &out["sessions"][0]["segments"][0]["media"][0]["streams"][0];
    assert_eq!(stream.as_object().map(|o| o.len()), Some(30));
    assert_eq!(stream["maxAudioNetworkJitter"], "PT0.046S");
}

#[test]
fn expanded_participants_v2_fixture_keeps_duplicate_ids() {
    let record: CallRecord = round_trip(doc("callrecord-expanded-participants-v2.json"));
    assert_eq!(record.participants_v2.len(), 2);
    assert_eq!(record.participants_v2[0].id, record.participants_v2[1].id);
}

#[test]
fn sessions_list_fixture_keeps_cpu_fields_and_feedback_tokens() {
    let sessions: Vec<Session> = list_items("callrecord-sessions-list.json")
        .into_iter()
        .map(round_trip)
        .collect();
    let Some(Endpoint::Participant(callee)) = &sessions[0].callee else {
        panic!("callee is a participant endpoint");
    };
    assert_eq!(callee.cpu_cores_count, Some(2));
    let feedback = callee.feedback.as_ref().expect("feedback");
    assert_eq!(feedback.rating, UserFeedbackRating::Poor);
    let tokens = feedback.tokens.as_ref().expect("tokens");
    assert_eq!(tokens.0.get("Noisy"), Some(&Value::Bool(true)));
    assert_eq!(tokens.0.len(), 8);
}

#[test]
fn participants_v2_list_fixture_keeps_user_identity_type() {
    let participants: Vec<Participant> =
        parse_list(&data("callrecord-participants-v2-list.json")).expect("list parses");
    assert_eq!(participants.len(), 2);
    let user = participants[0]
        .identity
        .as_ref()
        .and_then(|i| i.user.as_ref())
        .expect("user");
    assert_eq!(
        user.odata_type.as_deref(),
        Some("#microsoft.graph.userIdentity")
    );
    for item in list_items("callrecord-participants-v2-list.json") {
        round_trip::<Participant>(item);
    }
}

#[test]
fn pstn_row_fixture_round_trips_and_drops_beta_properties_for_v1() {
    let row: PstnCallLogRow = round_trip(doc("pstn-call-log-row.json"));
    assert_eq!(row.duration, Some(219));
    let v1 = row.to_graph_json(false);
    assert_eq!(v1["charge"], 0);
    assert_eq!(v1["callDurationSource"], "microsoft");
    assert!(v1.get("clientPublicIpV4Address").is_none());
    assert_eq!(v1.as_object().map(|o| o.len()), Some(23));
    let beta = row.to_graph_json(true);
    assert!(beta
        .get("clientPublicIpV4Address")
        .is_some_and(Value::is_null));
    assert_eq!(beta.as_object().map(|o| o.len()), Some(29));
    // The v1.0 output is exactly the published row, in the published order.
    let published = doc("pstn-call-log-row.json");
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&v1), keys(&published));
}

#[test]
fn direct_routing_row_fixture_keeps_year_one_failure_time() {
    let row: DirectRoutingLogRow = round_trip(doc("direct-routing-log-row.json"));
    let v1 = row.to_graph_json(false);
    assert_eq!(v1["failureDateTime"], "0001-01-01T00:00:00Z");
    assert_eq!(v1["startDateTime"], "2019-11-01T00:00:25.105Z");
    assert!(v1.get("transferorCorrelationId").is_none());
    assert!(row
        .to_graph_json(true)
        .get("transferorCorrelationId")
        .is_some());
    let rows: Vec<DirectRoutingLogRow> =
        parse_list(&data("getdirectroutingcalls-response.json")).expect("page parses");
    assert_eq!(rows, vec![row]);
    let pstn: Vec<PstnCallLogRow> =
        parse_list(&data("getpstncalls-response.json")).expect("page parses");
    assert_eq!(pstn.len(), 1);
}

#[test]
fn dialout_row_needs_usage_date_time_and_hides_it_from_graph() {
    let err = parse::<DialoutUsageRow>(&data("pstn-online-meeting-dialout-report-row.json"))
        .expect_err("usageDateTime is required on ingest");
    assert_eq!(err.path, "usageDateTime");

    let mut v = doc("pstn-online-meeting-dialout-report-row.json");
    if let Value::Object(o) = &mut v {
        o.insert("usageDateTime".into(), "2024-05-01T10:00:00Z".into());
    }
    let row: DialoutUsageRow = round_trip(v);
    assert_eq!(row.total_call_charge, Some(12.83));
    let graph = row.to_graph_json(true);
    assert!(graph.get("usageDateTime").is_none());
    assert!(graph.get("id").is_none());
    assert_eq!(graph, doc("pstn-online-meeting-dialout-report-row.json"));
}

/// The streaming serializer (used for storage and answers) writes byte for byte what the tree
/// writer does, for every published record and row.
#[test]
fn streamed_json_equals_the_tree_writer() {
    for name in [
        "callrecord-full-expanded.json",
        "callrecord-expanded-current-shape.json",
        "callrecord-expanded-participants-v2.json",
        "callrecord-get-basic.json",
    ] {
        let mut d = doc(name);
        if let Value::Object(m) = &mut d {
            m.retain(|k, _| !k.contains('@'));
        }
        let rec: CallRecord = from_value(d).expect(name);
        let streamed = serde_json::to_string(&rec).unwrap();
        let tree = serde_json::to_string(&rec.to_graph_value()).unwrap();
        assert_eq!(streamed, tree, "{name}");
        let sessions = serde_json::to_string(&rec.sessions).unwrap();
        let tree_sessions = serde_json::to_string(&rec.to_graph_value()["sessions"]).unwrap();
        assert_eq!(sessions, tree_sessions, "{name} sessions");
    }
    let row: PstnCallLogRow = parse(&data("pstn-call-log-row.json")).unwrap();
    assert_eq!(
        serde_json::to_string(&row).unwrap(),
        serde_json::to_string(&row.to_graph_value()).unwrap()
    );
}
