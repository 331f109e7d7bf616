//! Scalar conventions: durations, singles, timestamps, enums.

use callhook_model::{
    format_date_time, hide_evolvable_members, parse, parse_date_time, CallRecord, ClientPlatform,
    GraphDuration, GraphSingle, MediaStream, ProductFamily,
};
use serde_json::{json, Value};

fn duration(s: &str) -> GraphDuration {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn durations_format_like_xmlconvert() {
    for (input, expected) in [
        ("PT0.016S", "PT0.016S"),
        ("PT1M30S", "PT1M30S"),
        ("PT90S", "PT1M30S"),
        ("P1DT2H", "P1DT2H"),
        ("PT26H", "P1DT2H"),
        ("PT0S", "PT0S"),
        ("P0D", "PT0S"),
        ("PT1S", "PT1S"),
        ("PT0.5000000S", "PT0.5S"),
        ("PT0.0000001S", "PT0.0000001S"),
        ("PT0.123456789S", "PT0.1234567S"),
        ("-PT1.25S", "-PT1.25S"),
        ("P1Y", "P365D"),
        ("P1M", "P30D"),
        ("P2DT3H4M5.6S", "P2DT3H4M5.6S"),
    ] {
        assert_eq!(duration(input).to_string(), expected, "{input}");
    }
}

#[test]
fn durations_keep_100ns_precision_and_give_milliseconds() {
    assert_eq!(duration("PT0.016S").as_millis_f64(), 16.0);
    assert_eq!(duration("PT0.0000001S").ticks(), 1);
    assert_eq!(duration("PT1M").as_millis_f64(), 60_000.0);
    assert_eq!(GraphDuration::from_millis_f64(16.0).to_string(), "PT0.016S");
    assert_eq!(GraphDuration::ZERO.to_string(), "PT0S");
}

#[test]
fn malformed_durations_are_refused() {
    for bad in [
        "",
        "P",
        "PT",
        "1S",
        "PT1",
        "PT1.S",
        "PT.5S",
        "P1.5D",
        "PT1H1H",
        "PT1S1M",
        "P1W",
        "pt1s",
        "PT-1S",
        "P1DT",
        "PT1S ",
        "P99999999999999999999D",
    ] {
        assert!(bad.parse::<GraphDuration>().is_err(), "{bad:?} should fail");
    }
}

#[test]
fn singles_accept_special_strings_and_write_them_back() {
    for (input, expected) in [
        (json!("NaN"), json!("NaN")),
        (json!("INF"), json!("INF")),
        (json!("-INF"), json!("-INF")),
        (json!("Infinity"), json!("INF")),
        (json!("-Infinity"), json!("-INF")),
        (json!(0.27), json!(0.27)),
        (json!(0), json!(0)),
        (json!(23.0), json!(23)),
        (json!(60.25816), json!(60.25816)),
    ] {
        let s: GraphSingle = serde_json::from_value(input.clone()).expect("parses");
        assert_eq!(serde_json::to_value(s).ok(), Some(expected), "{input}");
    }
    assert!(serde_json::from_value::<GraphSingle>(json!("nan")).is_err());
    assert!(serde_json::from_value::<GraphSingle>(json!("0.5")).is_err());
}

#[test]
fn stream_with_nan_and_infinite_values_round_trips() {
    let body = json!({
        "streamDirection": "calleeToCaller",
        "averageAudioDegradation": "NaN",
        "maxPacketLossRate": "INF",
        "averageVideoFrameRate": "-Infinity",
    })
    .to_string();
    let stream: MediaStream = parse(body.as_bytes()).expect("parses");
    assert!(stream
        .average_audio_degradation
        .is_some_and(|s| s.value().is_nan()));
    let out = serde_json::to_value(&stream).expect("serialize");
    assert_eq!(out["averageAudioDegradation"], "NaN");
    assert_eq!(out["maxPacketLossRate"], "INF");
    assert_eq!(out["averageVideoFrameRate"], "-INF");
}

#[test]
fn date_times_are_written_in_utc_with_trimmed_fractions() {
    for (input, expected) in [
        (
            "2020-02-25T18:52:21.2169889Z",
            "2020-02-25T18:52:21.2169889Z",
        ),
        ("2023-09-25T09:28:38Z", "2023-09-25T09:28:38Z"),
        ("2023-09-25T09:28:38.000Z", "2023-09-25T09:28:38Z"),
        ("2020-02-25T19:00:24.582757Z", "2020-02-25T19:00:24.582757Z"),
        ("2020-02-25T20:52:21.5+02:00", "2020-02-25T18:52:21.5Z"),
        (
            "2020-02-25T18:52:21.123456789Z",
            "2020-02-25T18:52:21.1234567Z",
        ),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ] {
        let dt = parse_date_time(input).unwrap_or_else(|| panic!("{input} parses"));
        assert_eq!(format_date_time(&dt), expected, "{input}");
    }
    for bad in [
        "2020-02-25",
        "2020-02-25T18:52:21",
        "2020-13-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "yesterday",
    ] {
        assert!(parse_date_time(bad).is_none(), "{bad} should fail");
    }
}

fn record_with_user_agent(user_agent: Value) -> Value {
    json!({
        "id": "rec-1",
        "type": "groupCall",
        "modalities": ["audio", "holographic"],
        "startDateTime": "2024-01-01T10:00:00Z",
        "endDateTime": "2024-01-01T10:30:00Z",
        "sessions": [{
            "id": "s1",
            "modalities": ["audio"],
            "startDateTime": "2024-01-01T10:00:00Z",
            "endDateTime": "2024-01-01T10:30:00Z",
            "caller": {
                "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                "userAgent": user_agent,
            },
        }],
    })
}

#[test]
fn unknown_enum_members_survive_a_round_trip() {
    let body = record_with_user_agent(json!({
        "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
        "platform": "quantumPhone",
        "productFamily": "teams",
    }))
    .to_string();
    let record: CallRecord = parse(body.as_bytes()).expect("parses");
    let out = serde_json::to_value(&record).expect("serialize");
    assert_eq!(out["modalities"], json!(["audio", "holographic"]));
    assert_eq!(
        out["sessions"][0]["caller"]["userAgent"]["platform"],
        "quantumPhone"
    );
    assert_eq!(
        ClientPlatform::from_name("quantumPhone"),
        ClientPlatform::Other("quantumPhone".into())
    );
    let again: CallRecord = serde_json::from_value(out.clone()).expect("reparses");
    assert_eq!(serde_json::to_value(&again).ok(), Some(out));
}

#[test]
fn evolvable_members_are_hidden_unless_requested() {
    let body = record_with_user_agent(json!({
        "platform": "web",
        "productFamily": "azureCommunicationServices",
    }))
    .to_string();
    let record: CallRecord = parse(body.as_bytes()).expect("parses");
    let mut out = serde_json::to_value(&record).expect("serialize");
    let ua = "/sessions/0/caller/userAgent";
    assert_eq!(
        out.pointer(&format!("{ua}/productFamily")),
        Some(&json!("azureCommunicationServices"))
    );
    // The subtype was inferred from `platform`.
    assert_eq!(
        out.pointer(&format!("{ua}/@odata.type")),
        Some(&json!("#microsoft.graph.callRecords.clientUserAgent"))
    );
    hide_evolvable_members(&mut out);
    assert_eq!(
        out.pointer(&format!("{ua}/productFamily")),
        Some(&json!("unknownFutureValue"))
    );
    assert_eq!(out.pointer(&format!("{ua}/platform")), Some(&json!("web")));

    let mut teams = json!({"value": [{"productFamily": "teams"}]});
    hide_evolvable_members(&mut teams);
    assert_eq!(teams["value"][0]["productFamily"], "teams");
    assert_eq!(
        ProductFamily::from_name("azureCommunicationServices"),
        ProductFamily::AzureCommunicationServices
    );
}

#[test]
fn output_follows_declaration_order_with_explicit_nulls() {
    let body = record_with_user_agent(json!({"role": "voicemail"})).to_string();
    let record: CallRecord = parse(body.as_bytes()).expect("parses");
    let out = serde_json::to_value(&record).expect("serialize");
    let keys: Vec<&str> = out
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "id",
            "version",
            "type",
            "modalities",
            "lastModifiedDateTime",
            "startDateTime",
            "endDateTime",
            "joinWebUrl",
            "organizer",
            "participants",
            "organizer_v2",
            "participants_v2",
            "sessions"
        ]
    );
    assert_eq!(out["version"], Value::Null);
    assert_eq!(out["participants_v2"], json!([]));
    assert_eq!(out["sessions"][0]["segments"], json!([]));
    assert_eq!(
        out["sessions"][0]["caller"]["userAgent"],
        json!({
            "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
            "applicationVersion": null,
            "headerValue": null,
            "role": "voicemail",
        })
    );
}
