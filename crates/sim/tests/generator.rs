//! Properties of generated plans: determinism, mix, internal consistency, Graph shape, links
//! between report rows and records, and the share of poor streams.

use std::collections::{BTreeSet, HashMap, HashSet};

use callhook_quality::Quality as StreamQuality;
use callhook_sim::quality::classify_record;
use callhook_sim::{generate, generate_part, CallKind, SimConfig, SimPlan, SimSummary};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 12, 15, 30, 0)
        .single()
        .unwrap_or_default()
}

fn config(calls: usize, seed: u64) -> SimConfig {
    SimConfig {
        calls,
        seed,
        users: 120,
        days: 7,
        update_fraction: 0.3,
        now: now(),
        tenant_id: TENANT.into(),
        domain: "contoso.com".into(),
        emergency_calls: None,
    }
}

fn time(v: &Value, key: &str) -> DateTime<Utc> {
    let s = v.get(key).and_then(Value::as_str).unwrap_or_default();
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{key} = {s:?}: {e}"))
        .with_timezone(&Utc)
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[test]
fn same_seed_gives_identical_json_and_other_seeds_differ() {
    let a = serde_json::to_string(&generate(&config(150, 7))).unwrap_or_default();
    let b = serde_json::to_string(&generate(&config(150, 7))).unwrap_or_default();
    let c = serde_json::to_string(&generate(&config(150, 8))).unwrap_or_default();
    assert!(a.len() > 10_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn counts_and_mix_follow_the_configuration() {
    let plan = generate(&config(1000, 3));
    assert_eq!(plan.call_records.len(), 1000);
    assert_eq!(plan.record_kinds.len(), 1000);
    assert_eq!(plan.users.len(), 120);
    let s = SimSummary::of_plan(&plan);
    let r = &s.records;
    assert_eq!(
        r.peer_to_peer + r.group + r.meeting + r.pstn + r.direct_routing,
        1000
    );
    for (n, lo, hi) in [
        (r.peer_to_peer, 300, 460),
        (r.group, 60, 150),
        (r.meeting, 250, 400),
        (r.pstn, 80, 170),
        (r.direct_routing, 45, 120),
    ] {
        assert!((lo..=hi).contains(&n), "{n} not in {lo}..={hi}: {r:?}");
    }
    // About 30 % of the records get corrected, some of them two or three times.
    let corrected: HashSet<&str> = plan.updates.iter().map(|u| str_of(u, "id")).collect();
    assert!(
        (240..=360).contains(&corrected.len()),
        "{}",
        corrected.len()
    );
    assert!(plan.updates.len() > corrected.len());
    assert!(!plan.sms_log.is_empty());
    assert!(!plan.pstn_blocked_users.is_empty());
    assert!(!plan.dialout_usage.is_empty());
}

#[test]
fn calls_ended_before_now_within_the_window_mostly_in_working_hours() {
    let plan = generate(&config(600, 11));
    let earliest = now() - chrono::Duration::days(8);
    let mut working = 0;
    for r in &plan.call_records {
        let (start, end) = (time(r, "startDateTime"), time(r, "endDateTime"));
        assert!(start < end, "{}", str_of(r, "id"));
        assert!(end < now());
        assert!(start > earliest);
        let h = start.format("%H").to_string();
        if ("08".."19").contains(&h.as_str()) {
            working += 1;
        }
    }
    assert!(working > 600 * 7 / 10, "{working}");
    // Records are listed in the order the calls started.
    let starts: Vec<_> = plan
        .call_records
        .iter()
        .map(|r| time(r, "startDateTime"))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
}

fn identities_in_sessions(record: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for s in arr(record, "sessions") {
        let mut endpoints = vec![s.get("caller"), s.get("callee")];
        for seg in arr(s, "segments") {
            endpoints.push(seg.get("caller"));
            endpoints.push(seg.get("callee"));
        }
        for e in endpoints.into_iter().flatten() {
            if let Some(id) = e.pointer("/associatedIdentity/id").and_then(Value::as_str) {
                ids.insert(id.to_string());
            }
        }
    }
    ids
}

fn assert_consistent(r: &Value) {
    let id = str_of(r, "id");
    let (start, end) = (time(r, "startDateTime"), time(r, "endDateTime"));
    let participants: HashSet<&str> = arr(r, "participants_v2")
        .iter()
        .map(|p| str_of(p, "id"))
        .collect();
    assert_eq!(
        participants.len(),
        arr(r, "participants_v2").len(),
        "{id}: duplicate participant"
    );
    let organizer = r
        .pointer("/organizer_v2/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        participants.contains(organizer),
        "{id}: organizer not a participant"
    );
    for who in identities_in_sessions(r) {
        assert!(
            participants.contains(who.as_str()),
            "{id}: {who} missing from participants_v2"
        );
    }
    let record_modalities: HashSet<&str> = arr(r, "modalities")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut session_ids = HashSet::new();
    assert!(!arr(r, "sessions").is_empty(), "{id}: no session");
    for s in arr(r, "sessions") {
        assert!(
            session_ids.insert(str_of(s, "id")),
            "{id}: duplicate session id"
        );
        let (ss, se) = (time(s, "startDateTime"), time(s, "endDateTime"));
        assert!(
            start <= ss && ss <= se && se <= end,
            "{id}: session outside record"
        );
        for m in arr(s, "modalities").iter().filter_map(Value::as_str) {
            assert!(record_modalities.contains(m), "{id}: modality {m}");
        }
        let mut segment_ids = HashSet::new();
        for seg in arr(s, "segments") {
            assert!(
                segment_ids.insert(str_of(seg, "id")),
                "{id}: duplicate segment id"
            );
            let (gs, ge) = (time(seg, "startDateTime"), time(seg, "endDateTime"));
            assert!(
                ss <= gs && gs <= ge && ge <= se,
                "{id}: segment outside session"
            );
            for media in arr(seg, "media") {
                for st in arr(media, "streams") {
                    let dir = str_of(st, "streamDirection");
                    assert!(dir == "callerToCallee" || dir == "calleeToCaller");
                }
            }
        }
    }
}

#[test]
fn every_record_and_update_is_internally_consistent() {
    let plan = generate(&config(500, 5));
    let mut ids = HashSet::new();
    for r in &plan.call_records {
        assert!(ids.insert(str_of(r, "id")), "duplicate record id");
        assert_consistent(r);
    }
    for u in &plan.updates {
        assert_consistent(u);
    }
}

#[test]
fn updates_replace_known_records_in_order_with_more_data() {
    let plan = generate(&config(400, 9));
    let mut latest: HashMap<&str, &Value> = plan
        .call_records
        .iter()
        .map(|r| (str_of(r, "id"), r))
        .collect();
    let mut added_sessions = 0;
    let mut added_feedback = 0;
    for u in &plan.updates {
        let id = str_of(u, "id");
        let previous = latest.get(id).copied();
        let Some(previous) = previous else {
            panic!("update for unknown record {id}");
        };
        assert_ne!(previous, u, "{id}: correction carries nothing new");
        // Nothing reported earlier disappears: sessions and participants only grow.
        assert!(arr(u, "sessions").len() >= arr(previous, "sessions").len());
        assert!(arr(u, "participants_v2").len() >= arr(previous, "participants_v2").len());
        assert_eq!(u.get("startDateTime"), previous.get("startDateTime"));
        added_sessions += arr(u, "sessions").len() - arr(previous, "sessions").len();
        let feedback = |r: &Value| r.to_string().matches("\"rating\"").count();
        added_feedback += feedback(u).saturating_sub(feedback(previous));
        latest.insert(id, u);
    }
    assert!(added_sessions > 0);
    assert!(added_feedback > 0);
}

#[test]
fn poor_streams_are_about_ten_percent() {
    let plan = generate(&config(800, 21));
    let s = SimSummary::of_plan(&plan);
    assert!(s.streams > 3000, "{}", s.streams);
    assert!((0.08..=0.12).contains(&s.poor_share), "{}", s.poor_share);
    // Version 1 of corrected records may lack statistics that corrections fill in.
    let v1_unclassified = plan
        .call_records
        .iter()
        .flat_map(classify_record)
        .filter(|q| *q == StreamQuality::Unclassified)
        .count();
    assert!(v1_unclassified > s.unclassified_streams);
    assert!(s.unclassified_streams > 0);
}

#[test]
fn pstn_and_direct_routing_rows_link_to_their_records() {
    let plan = generate(&config(600, 13));
    let by_id: HashMap<&str, (&Value, CallKind)> = plan
        .call_records
        .iter()
        .zip(&plan.record_kinds)
        .map(|(r, k)| (str_of(r, "id"), (r, *k)))
        .collect();
    for (r, kind) in plan.call_records.iter().zip(&plan.record_kinds) {
        let id = str_of(r, "id");
        let participants: HashSet<&str> = arr(r, "participants_v2")
            .iter()
            .map(|p| str_of(p, "id"))
            .collect();
        match kind {
            CallKind::Pstn => {
                let row = plan.pstn_calls.iter().find(|row| {
                    row.get("startDateTime") == r.get("startDateTime")
                        && participants.contains(str_of(row, "userId"))
                });
                let row = row.unwrap_or_else(|| panic!("{id}: no pstnCallLogRow"));
                // The number (E.164, or a short emergency number); user ids are GUIDs.
                let phone = participants
                    .iter()
                    .find(|p| !p.contains('-'))
                    .copied()
                    .unwrap_or_default();
                assert!(
                    str_of(row, "callerNumber") == phone || str_of(row, "calleeNumber") == phone
                );
                assert!(r.to_string().contains("\"mediationServer\""));
            }
            CallKind::DirectRouting => {
                let row = plan
                    .direct_routing_calls
                    .iter()
                    .find(|row| str_of(row, "correlationId") == id);
                let row = row.unwrap_or_else(|| panic!("{id}: no directRoutingLogRow"));
                assert_eq!(row.get("successfulCall"), Some(&Value::Bool(true)));
                assert!(participants.contains(str_of(row, "userId")));
                assert!(str_of(row, "trunkFullyQualifiedDomainName").ends_with(".contoso.com"));
            }
            _ => {}
        }
    }
    for row in &plan.direct_routing_calls {
        if row.get("successfulCall") == Some(&Value::Bool(true)) {
            let linked = by_id.get(str_of(row, "correlationId"));
            assert!(matches!(linked, Some((_, CallKind::DirectRouting))));
        } else {
            assert!(row.get("finalSipCode").and_then(Value::as_i64).unwrap_or(0) >= 400);
        }
    }
    // Dial-out usage is charged to meeting organizers.
    let organizers: HashSet<&str> = plan
        .call_records
        .iter()
        .filter_map(|r| r.pointer("/organizer_v2/id").and_then(Value::as_str))
        .collect();
    for row in &plan.dialout_usage {
        assert!(organizers.contains(str_of(row, "userId")));
    }
}

#[test]
fn users_have_unique_addresses_on_the_domain() {
    let plan = generate(&config(10, 1));
    let mut upns = HashSet::new();
    for u in &plan.users {
        let obj = u
            .as_object()
            .map(|o| o.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default();
        let expected: BTreeSet<String> = ["id", "displayName", "userPrincipalName", "mail"]
            .map(String::from)
            .into();
        assert_eq!(obj, expected);
        let upn = str_of(u, "userPrincipalName");
        assert!(upn.ends_with("@contoso.com"), "{upn}");
        assert!(upns.insert(upn.to_string()), "duplicate {upn}");
        assert_eq!(u.get("mail"), u.get("userPrincipalName"));
    }
}

#[test]
fn tiny_configurations_still_work() {
    let mut cfg = config(20, 2);
    cfg.users = 0;
    cfg.days = 0;
    cfg.update_fraction = 1.0;
    let plan = generate(&cfg);
    assert_eq!(plan.users.len(), 2);
    assert_eq!(plan.call_records.len(), 20);
    for r in &plan.call_records {
        assert_consistent(r);
        assert!(time(r, "endDateTime") < now());
    }
    assert!(plan.updates.len() >= 20);
    let empty = generate(&SimConfig { calls: 0, ..cfg });
    assert!(empty.call_records.is_empty() && empty.updates.is_empty());
}

// ---- Graph shape: only declared properties, required ones present -------------------------

const RECORD: &[&str] = &[
    "id",
    "type",
    "modalities",
    "startDateTime",
    "endDateTime",
    "joinWebUrl",
    "organizer_v2",
    "participants_v2",
    "sessions",
];
const SESSION: &[&str] = &[
    "id",
    "caller",
    "callee",
    "failureInfo",
    "isTest",
    "modalities",
    "startDateTime",
    "endDateTime",
    "segments",
];
const SEGMENT: &[&str] = &[
    "id",
    "caller",
    "callee",
    "failureInfo",
    "media",
    "startDateTime",
    "endDateTime",
];
const MEDIA: &[&str] = &[
    "label",
    "callerNetwork",
    "calleeNetwork",
    "callerDevice",
    "calleeDevice",
    "streams",
];
const ENDPOINT: &[&str] = &[
    "@odata.type",
    "userAgent",
    "associatedIdentity",
    "cpuCoresCount",
    "cpuName",
    "cpuProcessorSpeedInMhz",
    "feedback",
    "identity",
    "name",
];
const USER_AGENT: &[&str] = &[
    "@odata.type",
    "applicationVersion",
    "headerValue",
    "azureADAppId",
    "communicationServiceId",
    "platform",
    "productFamily",
    "role",
];
const FEEDBACK: &[&str] = &["rating", "text", "tokens"];
const STREAM: &[&str] = &[
    "streamId",
    "streamDirection",
    "startDateTime",
    "endDateTime",
    "audioCodec",
    "videoCodec",
    "averageAudioDegradation",
    "averageAudioNetworkJitter",
    "maxAudioNetworkJitter",
    "averageJitter",
    "maxJitter",
    "averagePacketLossRate",
    "maxPacketLossRate",
    "averageRatioOfConcealedSamples",
    "maxRatioOfConcealedSamples",
    "averageRoundTripTime",
    "maxRoundTripTime",
    "averageBandwidthEstimate",
    "packetUtilization",
    "wasMediaBypassed",
    "isAudioForwardErrorCorrectionUsed",
    "postForwardErrorCorrectionPacketLossRate",
    "averageVideoFrameLossPercentage",
    "averageReceivedFrameRate",
    "averageVideoFrameRate",
    "averageVideoPacketLossRate",
    "lowFrameRateRatio",
    "lowVideoProcessingCapabilityRatio",
    "averageFreezeDuration",
    "rmsFreezeDuration",
];
const NETWORK: &[&str] = &[
    "connectionType",
    "networkTransportProtocol",
    "wifiBand",
    "wifiRadioType",
    "traceRouteHops",
    "bandwidthLowEventRatio",
    "basicServiceSetIdentifier",
    "delayEventRatio",
    "dnsSuffix",
    "ipAddress",
    "linkSpeed",
    "macAddress",
    "port",
    "receivedQualityEventRatio",
    "reflexiveIPAddress",
    "relayIPAddress",
    "relayPort",
    "sentQualityEventRatio",
    "subnet",
    "wifiBatteryCharge",
    "wifiChannel",
    "wifiMicrosoftDriver",
    "wifiMicrosoftDriverVersion",
    "wifiSignalStrength",
    "wifiVendorDriver",
    "wifiVendorDriverVersion",
];
const HOP: &[&str] = &["hopCount", "ipAddress", "roundTripTime"];
const DEVICE: &[&str] = &[
    "captureDeviceDriver",
    "captureDeviceName",
    "captureNotFunctioningEventRatio",
    "cpuInsufficentEventRatio",
    "deviceClippingEventRatio",
    "deviceGlitchEventRatio",
    "howlingEventCount",
    "initialSignalLevelRootMeanSquare",
    "lowSpeechLevelEventRatio",
    "lowSpeechToNoiseEventRatio",
    "micGlitchRate",
    "receivedNoiseLevel",
    "receivedSignalLevel",
    "renderDeviceDriver",
    "renderDeviceName",
    "renderMuteEventRatio",
    "renderNotFunctioningEventRatio",
    "renderZeroVolumeEventRatio",
    "sentNoiseLevel",
    "sentSignalLevel",
    "speakerGlitchRate",
];

fn check_keys(v: &Value, allowed: &[&str], required: &[&str], at: &str) {
    let Some(obj) = v.as_object() else {
        panic!("{at}: not an object");
    };
    for k in obj.keys() {
        assert!(
            allowed.contains(&k.as_str()) || k.contains("@odata") && k != "@odata.type",
            "{at}: unknown property {k}"
        );
    }
    for k in required {
        assert!(
            obj.get(*k).is_some_and(|x| !x.is_null()),
            "{at}: missing {k}"
        );
    }
}

fn check_endpoint(e: &Value, at: &str) {
    check_keys(e, ENDPOINT, &[], at);
    if let Some(ua) = e.get("userAgent") {
        let required: &[&str] = if ua.get("role").is_some() {
            &["role"]
        } else {
            &["platform", "productFamily"]
        };
        check_keys(ua, USER_AGENT, required, &format!("{at}.userAgent"));
    }
    if let Some(f) = e.get("feedback") {
        check_keys(f, FEEDBACK, &["rating"], &format!("{at}.feedback"));
    }
}

fn check_record_shape(r: &Value) {
    check_keys(
        r,
        RECORD,
        &["id", "type", "modalities", "startDateTime", "endDateTime"],
        "record",
    );
    for (i, s) in arr(r, "sessions").iter().enumerate() {
        let at = format!("sessions[{i}]");
        check_keys(
            s,
            SESSION,
            &["id", "modalities", "startDateTime", "endDateTime"],
            &at,
        );
        for side in ["caller", "callee"] {
            if let Some(e) = s.get(side) {
                check_endpoint(e, &format!("{at}.{side}"));
            }
        }
        for (j, seg) in arr(s, "segments").iter().enumerate() {
            let at = format!("{at}.segments[{j}]");
            check_keys(seg, SEGMENT, &["id", "startDateTime", "endDateTime"], &at);
            for side in ["caller", "callee"] {
                if let Some(e) = seg.get(side) {
                    check_endpoint(e, &format!("{at}.{side}"));
                }
            }
            for (k, m) in arr(seg, "media").iter().enumerate() {
                let at = format!("{at}.media[{k}]");
                check_keys(m, MEDIA, &[], &at);
                for net in ["callerNetwork", "calleeNetwork"] {
                    if let Some(n) = m.get(net) {
                        check_keys(n, NETWORK, &[], &format!("{at}.{net}"));
                        for h in arr(n, "traceRouteHops") {
                            check_keys(h, HOP, &[], &format!("{at}.{net}.hop"));
                        }
                    }
                }
                for dev in ["callerDevice", "calleeDevice"] {
                    if let Some(d) = m.get(dev) {
                        check_keys(d, DEVICE, &[], &format!("{at}.{dev}"));
                    }
                }
                for (n, st) in arr(m, "streams").iter().enumerate() {
                    check_keys(
                        st,
                        STREAM,
                        &["streamDirection"],
                        &format!("{at}.streams[{n}]"),
                    );
                }
            }
        }
    }
}

#[test]
fn the_published_full_example_passes_the_shape_check() {
    // Guards the allow-lists above against typos: Graph's own example must pass them.
    let text = include_str!("data/callrecord-full-expanded.json");
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let mut v = v;
    if let Some(o) = v.as_object_mut() {
        for k in [
            "version",
            "lastModifiedDateTime",
            "organizer",
            "participants",
        ] {
            o.remove(k);
        }
    }
    check_record_shape(&v);
    assert_eq!(
        classify_record(&v),
        // CQD's current rule: the first stream has 67 packets (too few to classify); the
        // second stream's degradation (1.16) no longer makes it Poor.
        vec![StreamQuality::Unclassified, StreamQuality::Good]
    );
}

#[test]
fn generated_records_use_only_declared_graph_properties() {
    let plan: SimPlan = generate(&config(400, 17));
    for r in plan.call_records.iter().chain(&plan.updates) {
        check_record_shape(r);
        if let Some(url) = r.get("joinWebUrl").and_then(Value::as_str) {
            assert!(url.starts_with("https://teams.microsoft.com/l/meetup-join/19%3ameeting_"));
            assert!(url.contains("%40thread.v2/0?context="));
        }
    }
    let text = serde_json::to_string(&plan.call_records).unwrap_or_default();
    for needle in [
        "\"skypeForBusinessAudioVideoMcu\"",
        "\"mediationServer\"",
        "\"gateway\"",
        "\"videoBasedScreenSharing\"",
        "\"video\"",
        "\"wifi\"",
        "\"wired\"",
        "\"mobile\"",
        "\"macOS\"",
        "\"iOS\"",
        "\"android\"",
        "\"web\"",
        "\"roomSystem\"",
        "\"ipPhone\"",
        "\"frequency50GHz\"",
        "\"cpuName\"",
        "\"phone\"",
    ] {
        assert!(text.contains(needle), "no {needle} anywhere");
    }
}

#[test]
fn emergency_calls_agree_with_their_records_and_report_rows() {
    let cfg = SimConfig {
        emergency_calls: Some(12),
        ..config(300, 21)
    };
    let plan = generate(&cfg);
    assert_eq!(
        plan.call_records.len(),
        300,
        "emergency calls are among the calls"
    );
    assert_eq!(plan.emergency_call_events.len(), 12);
    assert_eq!(plan.emergency_policies.len(), 1);
    let policy = &plan.emergency_policies[0];
    assert_eq!(str_of(policy, "name"), callhook_sim::EMERGENCY_POLICY_NAME);
    let dial: Vec<&str> = arr(policy, "dialStrings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let users: HashMap<&str, &Value> = plan
        .users
        .iter()
        .map(|u| (str_of(u, "userPrincipalName"), u))
        .collect();
    let (mut pstn, mut direct) = (0, 0);
    for e in &plan.emergency_call_events {
        // The event: Graph's shape, the policy's number, a directory user.
        let number = str_of(e, "emergencyNumberDialed");
        assert!(dial.contains(&number), "{number}");
        assert_eq!(str_of(e, "callEventType"), "callStarted");
        assert_eq!(str_of(e, "policyName"), callhook_sim::EMERGENCY_POLICY_NAME);
        let caller = &e["callerInfo"];
        let user = users[str_of(caller, "upn")];
        let user_id = str_of(user, "id");
        assert_eq!(str_of(caller, "displayName"), str_of(user, "displayName"));
        assert_eq!(str_of(caller, "tenantId"), cfg.tenant_id);
        assert!(caller.pointer("/location/address/city").is_some());
        let at = str_of(e, "eventDateTime");

        // Its call record: started then, by that user, to that number.
        let (i, record) = plan
            .call_records
            .iter()
            .enumerate()
            .find(|(_, r)| {
                str_of(r, "startDateTime") == at
                    && arr(r, "participants_v2")
                        .iter()
                        .any(|p| str_of(p, "id") == number)
            })
            .unwrap_or_else(|| panic!("no record for the emergency call at {at}"));
        let ids: Vec<&str> = arr(record, "participants_v2")
            .iter()
            .map(|p| str_of(p, "id"))
            .collect();
        assert!(ids.contains(&user_id));
        assert_eq!(
            record.pointer("/organizer_v2/id").and_then(Value::as_str),
            Some(user_id)
        );

        // Its report row: the same user, number and start.
        match plan.record_kinds[i] {
            CallKind::DirectRouting => {
                direct += 1;
                let rows: Vec<&Value> = plan
                    .direct_routing_calls
                    .iter()
                    .filter(|r| str_of(r, "correlationId") == str_of(record, "id"))
                    .collect();
                assert_eq!(rows.len(), 1, "one row, no failed retry");
                let row = rows[0];
                assert_eq!(str_of(row, "callType"), "dr_emergency_out");
                assert_eq!(str_of(row, "calleeNumber"), number);
                assert_eq!(str_of(row, "callerNumber"), str_of(caller, "phoneNumber"));
                assert_eq!(str_of(row, "userId"), user_id);
                assert_eq!(str_of(row, "startDateTime"), at);
            }
            CallKind::Pstn => {
                pstn += 1;
                let row = plan
                    .pstn_calls
                    .iter()
                    .find(|r| str_of(r, "startDateTime") == at && str_of(r, "userId") == user_id)
                    .unwrap_or_else(|| panic!("no pstnCallLogRow at {at}"));
                assert_eq!(str_of(row, "callType"), "emergency_out");
                assert_eq!(str_of(row, "calleeNumber"), number);
                assert_eq!(str_of(row, "callerNumber"), str_of(caller, "phoneNumber"));
                assert_eq!(str_of(row, "userPrincipalName"), str_of(caller, "upn"));
            }
            other => panic!("an emergency call recorded as {other:?}"),
        }
    }
    assert!(
        pstn > 0 && direct > 0,
        "both kinds: {pstn} PSTN, {direct} direct routing"
    );
    // Events are in time order.
    let times: Vec<&str> = plan
        .emergency_call_events
        .iter()
        .map(|e| str_of(e, "eventDateTime"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // Rare by default: one per 1,000 calls, none below 100 calls.
    assert_eq!(generate(&config(300, 21)).emergency_call_events.len(), 1);
    assert!(generate(&config(50, 21)).emergency_call_events.is_empty());
    assert!(generate(&config(50, 21)).emergency_policies.is_empty());
}

#[test]
fn parts_of_a_large_run_share_the_directory_and_make_other_calls() {
    let cfg = config(60, 3);
    let first = generate_part(&cfg, 0);
    assert_eq!(first, generate(&cfg));
    let second = generate_part(&cfg, 1);
    assert_eq!(second, generate_part(&cfg, 1));
    assert_eq!(first.users, second.users);
    assert_eq!(second.call_records.len(), 60);
    let ids = |p: &SimPlan| -> HashSet<String> {
        p.call_records
            .iter()
            .map(|r| str_of(r, "id").to_string())
            .collect()
    };
    assert!(ids(&first).is_disjoint(&ids(&second)));
    // Directory-level rows once per run.
    assert!(!first.pstn_blocked_users.is_empty());
    assert!(second.pstn_blocked_users.is_empty());
}
