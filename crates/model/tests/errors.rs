//! Ingest errors name the offending field by JSON path; nothing panics.

use callhook_model::{
    parse, parse_call_record, parse_list, CallRecord, DirectoryUser, Endpoint, ModelError,
    PstnBlockedUsersLogRow, Session, SmsLogRow,
};
use serde_json::{json, Value};

fn record() -> Value {
    json!({
        "id": "rec-1",
        "type": "peerToPeer",
        "modalities": ["audio"],
        "startDateTime": "2024-01-01T10:00:00Z",
        "endDateTime": "2024-01-01T10:30:00Z",
        "sessions": [{
            "id": "s1",
            "modalities": ["audio"],
            "startDateTime": "2024-01-01T10:00:00Z",
            "endDateTime": "2024-01-01T10:30:00Z",
            "segments": [
                {
                    "id": "seg-0",
                    "startDateTime": "2024-01-01T10:00:00Z",
                    "endDateTime": "2024-01-01T10:30:00Z",
                },
                {
                    "id": "seg-1",
                    "startDateTime": "2024-01-01T10:00:00Z",
                    "endDateTime": "2024-01-01T10:30:00Z",
                    "media": [{
                        "label": "main-audio",
                        "streams": [{"streamDirection": "callerToCallee", "averageJitter": "PT0.01S"}],
                    }],
                },
            ],
        }],
    })
}

fn parse_err(v: &Value) -> ModelError {
    match parse_call_record(v.to_string().as_bytes()) {
        Ok(_) => panic!("expected an error for {v}"),
        Err(e) => e,
    }
}

/// Applies `edit` to the value at JSON pointer `at` of a valid record and parses it.
fn err_after(at: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> ModelError {
    let mut v = record();
    match v.pointer_mut(at) {
        Some(Value::Object(o)) => edit(o),
        _ => panic!("no object at {at}"),
    }
    parse_err(&v)
}

const STREAM: &str = "/sessions/0/segments/1/media/0/streams/0";

#[test]
fn valid_record_parses() {
    let record = parse_call_record(record().to_string().as_bytes()).expect("valid");
    assert_eq!(record.sessions[0].segments.len(), 2);
    assert_eq!(record.version, None);
}

#[test]
fn missing_required_properties_are_named_by_path() {
    let cases = [
        ("", "id", "id"),
        ("", "type", "type"),
        ("", "modalities", "modalities"),
        ("", "startDateTime", "startDateTime"),
        ("", "endDateTime", "endDateTime"),
        ("/sessions/0", "id", "sessions[0].id"),
        ("/sessions/0", "modalities", "sessions[0].modalities"),
        ("/sessions/0", "endDateTime", "sessions[0].endDateTime"),
        (
            "/sessions/0/segments/1",
            "startDateTime",
            "sessions[0].segments[1].startDateTime",
        ),
        (
            STREAM,
            "streamDirection",
            "sessions[0].segments[1].media[0].streams[0].streamDirection",
        ),
    ];
    for (at, key, path) in cases {
        let err = err_after(at, |o| {
            o.remove(key);
        });
        assert_eq!(err.path, path);
        assert_eq!(err.message, "missing required property");
    }
    let err = err_after(STREAM, |o| {
        o.remove("streamDirection");
    });
    assert_eq!(
        err.to_string(),
        "sessions[0].segments[1].media[0].streams[0].streamDirection: missing required property"
    );
}

#[test]
fn null_for_a_non_nullable_property_is_refused() {
    let err = err_after("/sessions/0", |o| {
        o.insert("startDateTime".into(), Value::Null);
    });
    assert_eq!(err.path, "sessions[0].startDateTime");
}

#[test]
fn wrong_json_types_are_named_by_path() {
    let cases: [(&str, &str, Value, &str); 6] = [
        ("", "modalities", json!("audio"), "modalities"),
        ("", "version", json!("1"), "version"),
        ("/sessions/0", "isTest", json!("no"), "sessions[0].isTest"),
        (
            STREAM,
            "packetUtilization",
            json!(1.5),
            "sessions[0].segments[1].media[0].streams[0].packetUtilization",
        ),
        (
            STREAM,
            "streamDirection",
            json!(0),
            "sessions[0].segments[1].media[0].streams[0].streamDirection",
        ),
        (
            "/sessions/0/segments/1/media/0",
            "streams",
            json!({}),
            "sessions[0].segments[1].media[0].streams",
        ),
    ];
    for (at, key, value, path) in cases {
        let err = err_after(at, |o| {
            o.insert(key.into(), value);
        });
        assert_eq!(err.path, path, "{err}");
    }
    let err = err_after("/sessions/0", |o| {
        o.insert("modalities".into(), json!(["audio", 7]));
    });
    assert_eq!(err.path, "sessions[0].modalities[1]");
}

#[test]
fn int32_overflow_is_refused() {
    let err = err_after("/sessions/0/segments/1/media/0", |o| {
        o.insert("callerNetwork".into(), json!({"port": 4_294_967_296_i64}));
    });
    assert_eq!(
        err.path,
        "sessions[0].segments[1].media[0].callerNetwork.port"
    );
}

#[test]
fn invalid_dates_and_durations_are_named_by_path() {
    let err = err_after("/sessions/0/segments/0", |o| {
        o.insert("endDateTime".into(), json!("2024-02-30T00:00:00Z"));
    });
    assert_eq!(err.path, "sessions[0].segments[0].endDateTime");
    assert!(err.message.contains("invalid DateTimeOffset"), "{err}");

    let err = err_after(STREAM, |o| {
        o.insert("averageJitter".into(), json!("16ms"));
    });
    assert_eq!(
        err.path,
        "sessions[0].segments[1].media[0].streams[0].averageJitter"
    );
    assert!(err.message.contains("invalid Duration"), "{err}");
}

#[test]
fn unknown_properties_on_closed_types_are_refused() {
    let err = err_after("/sessions/0", |o| {
        o.insert("foo".into(), json!(1));
    });
    assert_eq!(err.path, "sessions[0].foo");
    assert_eq!(
        err.message,
        "property 'foo' does not exist on type 'microsoft.graph.callRecords.session'"
    );
    let err = err_after(STREAM, |o| {
        o.insert("averageMos".into(), json!(4.1));
    });
    assert_eq!(
        err.path,
        "sessions[0].segments[1].media[0].streams[0].averageMos"
    );
    assert!(err
        .message
        .contains("microsoft.graph.callRecords.mediaStream"));
}

#[test]
fn annotations_are_ignored_but_open_types_keep_dynamic_members() {
    let mut v = record();
    {
        let o = v.as_object_mut().expect("object");
        o.insert(
            "@odata.context".into(),
            json!("https://example/$metadata#x"),
        );
        o.insert(
            "sessions@odata.nextLink".into(),
            json!("https://example/next"),
        );
        o.insert("@odata.etag".into(), json!("W/\"1\""));
        o.insert(
            "organizer_v2".into(),
            json!({"id": "u1", "identity": {"user": {"id": "u1", "tenantId": "t"}, "spoolUser": {"id": "x"}}}),
        );
    }
    let record = parse_call_record(v.to_string().as_bytes()).expect("annotations ignored");
    let out = serde_json::to_value(&record).expect("serialize");
    assert!(out.get("@odata.context").is_none());
    assert_eq!(out["organizer_v2"]["identity"]["spoolUser"]["id"], "x");
    assert_eq!(out["organizer_v2"]["identity"]["user"]["tenantId"], "t");
}

#[test]
fn huge_offending_values_are_not_echoed_whole() {
    let long = "x".repeat(100_000);
    let err = err_after("/sessions/0", |o| {
        o.insert("startDateTime".into(), json!(long.clone()));
    });
    assert_eq!(err.path, "sessions[0].startDateTime");
    assert!(err.message.len() < 300, "{} bytes", err.message.len());
    let err = err_after("/sessions/0", |o| {
        o.insert(long.clone(), json!(1));
    });
    assert!(
        err.to_string().len() < 500,
        "{} bytes",
        err.to_string().len()
    );
}

#[test]
fn bad_ids_are_refused_with_their_path() {
    for bad in ["", "a/b", "a?b", "a#b", "it's", "a\\b", "tab\there"] {
        let err = err_after("/sessions/0/segments/1", |o| {
            o.insert("id".into(), json!(bad));
        });
        assert_eq!(err.path, "sessions[0].segments[1].id", "{bad:?}");
        assert!(err.message.starts_with("invalid id"), "{err}");
    }
    let err = err_after("", |o| {
        o.insert("id".into(), json!("x".repeat(257)));
    });
    assert_eq!(err.path, "id");
    let err = err_after("", |o| {
        o.insert(
            "participants_v2".into(),
            json!([{"id": "ok"}, {"id": "no/slash"}]),
        );
    });
    assert_eq!(err.path, "participants_v2[1].id");
    // 256 characters (not bytes) is fine.
    let ok = err_after("", |o| {
        o.insert("id".into(), json!("é".repeat(256)));
        o.insert("type".into(), json!(5));
    });
    assert_eq!(ok.path, "type");
}

#[test]
fn polymorphic_subtypes_follow_odata_type_or_are_inferred() {
    let endpoint = |v: Value| -> Result<Endpoint, ModelError> { parse(v.to_string().as_bytes()) };
    assert!(matches!(
        endpoint(json!({"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint"})),
        Ok(Endpoint::Service(_))
    ));
    assert!(matches!(
        endpoint(json!({"name": "pc"})),
        Ok(Endpoint::Participant(_))
    ));
    assert!(matches!(
        endpoint(json!({"associatedIdentity": {"id": "u"}})),
        Ok(Endpoint::Participant(_))
    ));
    assert!(matches!(
        endpoint(json!({"userAgent": null})),
        Ok(Endpoint::Base(_))
    ));
    let base = endpoint(json!({})).expect("base");
    assert_eq!(
        serde_json::to_value(&base).ok(),
        Some(json!({"userAgent": null}))
    );
    let err = endpoint(json!({"@odata.type": "#microsoft.graph.callRecords.robotEndpoint"}))
        .expect_err("unknown subtype");
    assert_eq!(err.path, "@odata.type");
    let err = endpoint(json!({
        "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
        "name": "pc",
    }))
    .expect_err("service endpoints have no name");
    assert_eq!(err.path, "name");
    assert!(err.message.contains("serviceEndpoint"));
}

#[test]
fn report_rows_need_their_time_key_and_valid_ids() {
    let err = parse::<SmsLogRow>(br#"{"id": "r1"}"#).expect_err("sentDateTime required");
    assert_eq!(err.path, "sentDateTime");
    let err = parse::<PstnBlockedUsersLogRow>(br#"{"userId": "u"}"#).expect_err("blockDateTime");
    assert_eq!(err.path, "blockDateTime");
    let row: PstnBlockedUsersLogRow =
        parse(br#"{"blockDateTime": "2024-01-01T00:00:00Z", "userBlockMode": "Blocked"}"#)
            .expect("parses");
    assert_eq!(row.to_graph_json(true)["userBlockMode"], "Blocked");
    assert!(row.to_graph_json(true).get("id").is_none());

    let err = parse_list::<SmsLogRow>(
        br#"{"value": [{"sentDateTime": "2024-01-01T00:00:00Z"}, {"id": "a/b", "sentDateTime": "2024-01-01T00:00:00Z"}]}"#,
    )
    .expect_err("bad id");
    assert_eq!(err.path, "value[1].id");
}

#[test]
fn directory_user_needs_an_id() {
    let user: DirectoryUser = parse(
        br#"{"id": "u1", "displayName": "Abbie", "userPrincipalName": "a@contoso.com", "mail": null}"#,
    )
    .expect("parses");
    assert_eq!(
        serde_json::to_value(&user).ok(),
        Some(
            json!({"id": "u1", "displayName": "Abbie", "userPrincipalName": "a@contoso.com", "mail": null})
        )
    );
    let err = parse::<DirectoryUser>(br#"{"displayName": "x"}"#).expect_err("id required");
    assert_eq!(err.path, "id");
    let err = parse::<DirectoryUser>(br#"{"id": "u", "jobTitle": "x"}"#).expect_err("closed");
    assert_eq!(err.path, "jobTitle");
}

#[test]
fn hostile_documents_give_errors_not_panics() {
    let deep = "[".repeat(10_000);
    for body in [
        &b""[..],
        b"null",
        b"[]",
        b"{\"id\": ",
        b"\xff\xfe",
        deep.as_bytes(),
        br#"{"id":"r","type":"x","modalities":[],"startDateTime":"2024-01-01T00:00:00Z","endDateTime":"2024-01-01T00:00:00Z","sessions":[[[]]]}"#,
    ] {
        assert!(parse::<CallRecord>(body).is_err());
        assert!(parse::<Session>(body).is_err());
    }
    let err = parse::<CallRecord>(b"[]").expect_err("not an object");
    assert_eq!(err.path, "");
    assert_eq!(err.message, "expected an object, found an array");
}
