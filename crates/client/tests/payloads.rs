//! Every published payload shape parses into typed values, and nothing is lost.

mod common;

use callhook_client::{
    ChangeNotification, ChangeNotificationCollection, ChangeType, ClientError, LifecycleEvent,
};
use common::data;
use serde_json::{json, Value};

fn collection(name: &str) -> ChangeNotificationCollection {
    ChangeNotificationCollection::from_slice(data(name).as_bytes())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn basic_call_record_notification() {
    let c = collection("notification-callrecord-created.json");
    assert_eq!(c.validation_tokens, None);
    assert!(!c.has_encrypted_content());
    let n = &c.value[0];
    assert_eq!(n.subscription_id, "{Subscription id}");
    assert_eq!(n.change_type, Some(ChangeType::Created));
    assert_eq!(
        n.resource.as_deref(),
        Some("communications/callRecords/{Call id}")
    );
    let rd = n.resource_data.as_ref().unwrap();
    assert_eq!(
        rd.odata_type.as_deref(),
        Some("#Microsoft.Graph.callRecord")
    );
    assert_eq!(
        rd.odata_id.as_deref(),
        Some("communications/callRecords/{Call id}")
    );
    assert_eq!(rd.id.as_deref(), Some("{Call id}"));
    assert_eq!(n.tenant_id.as_deref(), Some("{Organization/Tenant id}"));
    assert!(n.verify_client_state("{Secret client state}").is_ok());
    assert_eq!(
        n.subscription_expiration().unwrap().to_rfc3339(),
        "2023-02-28T00:00:00+00:00"
    );
    assert!(!n.is_lifecycle());
}

#[test]
fn rich_notifications_of_every_published_kind() {
    for name in [
        "notification-meetingcallevents-rich.json",
        "notification-onlinemeeting-legacy-rich.json",
        "notification-recording-rich.json",
        "notification-recording-rich-adhoc.json",
        "notification-transcript-rich.json",
        "notification-transcript-rich-adhoc.json",
    ] {
        let c = collection(name);
        assert!(c.has_encrypted_content(), "{name}");
        assert_eq!(
            c.validation_tokens.as_ref().map(Vec::len),
            Some(1),
            "{name}"
        );
        let n = &c.value[0];
        let ec = n.encrypted_content.as_ref().unwrap();
        assert!(!ec.data.is_empty() && !ec.data_key.is_empty(), "{name}");
        assert!(ec.encryption_certificate_id.is_some(), "{name}");
        assert!(ec.encryption_certificate_thumbprint.is_some(), "{name}");
        assert!(
            n.resource_data.as_ref().unwrap().odata_type.is_some(),
            "{name}"
        );
        assert!(n.subscription_expiration().is_some(), "{name}");
        assert!(n.extra.is_empty(), "{name}: {:?}", n.extra);
    }

    let meeting = collection("notification-meetingcallevents-rich.json");
    let n = &meeting.value[0];
    assert_eq!(n.change_type, Some(ChangeType::Updated));
    assert_eq!(
        n.organization_id.as_deref(),
        Some("{Organization/Tenant id}")
    );
    assert_eq!(
        n.encrypted_content
            .as_ref()
            .unwrap()
            .data_signature
            .as_deref(),
        Some("{Encrypted data signature}")
    );
    // Several Teams examples leave dataSignature out; parsing keeps going.
    let transcript = collection("notification-transcript-rich.json");
    assert_eq!(
        transcript.value[0]
            .encrypted_content
            .as_ref()
            .unwrap()
            .data_signature,
        None
    );
    // The ad hoc example's clientState is the string "null", not a null.
    let adhoc = collection("notification-transcript-rich-adhoc.json");
    assert!(adhoc.value[0].verify_client_state("null").is_ok());
}

#[test]
fn lifecycle_notifications() {
    for (name, event) in [
        (
            "lifecycle-reauthorization-required.json",
            LifecycleEvent::ReauthorizationRequired,
        ),
        (
            "lifecycle-subscription-removed.json",
            LifecycleEvent::SubscriptionRemoved,
        ),
        ("lifecycle-missed.json", LifecycleEvent::Missed),
    ] {
        let c = collection(name);
        let n = &c.value[0];
        assert_eq!(n.lifecycle_event.as_ref(), Some(&event), "{name}");
        assert!(n.is_lifecycle());
        assert_eq!(n.change_type, None);
        assert_eq!(n.resource, None);
        assert!(n.tenant_id.is_some());
        assert!(n.subscription_expiration().is_some(), "{name}");
    }
}

#[test]
fn unwrapped_single_notifications() {
    let n = ChangeNotification::from_slice(data("notification-transcript-basic.json").as_bytes())
        .unwrap();
    assert_eq!(n.subscription_id, "0cc28c98-4d2a-4a34-b850-815d7e6486ea");
    assert_eq!(
        n.resource_data.unwrap().odata_type.as_deref(),
        Some("#Microsoft.Graph.callTranscript")
    );

    // The schema listing of per-user call events: "@odata.type" members everywhere, and
    // placeholder strings where enums go.
    let n = ChangeNotification::from_slice(data("notification-callevent-shape.json").as_bytes())
        .unwrap();
    assert_eq!(
        n.odata_type.as_deref(),
        Some("#microsoft.graph.changeNotification")
    );
    assert_eq!(n.change_type, Some(ChangeType::Other("String".into())));
    assert_eq!(
        n.lifecycle_event,
        Some(LifecycleEvent::Other("String".into()))
    );
    assert_eq!(
        n.encrypted_content.unwrap().odata_type.as_deref(),
        Some("microsoft.graph.changeNotificationEncryptedContent")
    );
}

#[test]
fn unknown_members_are_kept_and_written_back() {
    let mut body: Value =
        serde_json::from_str(&data("notification-meetingcallevents-rich.json")).unwrap();
    body["@odata.nextLink"] = json!("https://example.test/next");
    body["value"][0]["futureField"] = json!({"a": [1, 2]});
    body["value"][0]["changeType"] = json!("Created");
    body["value"][0]["resourceData"]["eventType"] = json!("callStarted");
    body["value"][0]["encryptedContent"]["newThing"] = json!(true);
    let c = ChangeNotificationCollection::from_slice(body.to_string().as_bytes()).unwrap();
    assert_eq!(c.extra["@odata.nextLink"], "https://example.test/next");
    let n = &c.value[0];
    assert_eq!(n.extra["futureField"], json!({"a": [1, 2]}));
    assert_eq!(n.change_type, Some(ChangeType::Created));
    assert_eq!(
        n.resource_data.as_ref().unwrap().extra["eventType"],
        "callStarted"
    );
    assert_eq!(
        n.encrypted_content.as_ref().unwrap().extra["newThing"],
        true
    );

    let back = serde_json::to_value(&c).unwrap();
    assert_eq!(
        back["value"][0]["futureField"],
        body["value"][0]["futureField"]
    );
    assert_eq!(back["value"][0]["changeType"], "created");
    assert_eq!(back["validationTokens"], body["validationTokens"]);
}

#[test]
fn null_validation_tokens_and_bad_payloads() {
    // Graph sends `validationTokens: null` when the tenant is misconfigured.
    let c = ChangeNotificationCollection::from_slice(
        br#"{"value":[{"subscriptionId":"s","tenantId":"t"}],"validationTokens":null}"#,
    )
    .unwrap();
    assert_eq!(c.validation_tokens, None);

    for (body, path) in [
        (&br#"{"value":[{"tenantId":"t"}]}"#[..], "value[0]"),
        (
            br#"{"value":[{"subscriptionId":"s","resourceData":{"id":5}}]}"#,
            "value[0].resourceData.id",
        ),
        (br#"{"value":"x"}"#, "value"),
        (br#"{}"#, ""),
    ] {
        let err = ChangeNotificationCollection::from_slice(body).unwrap_err();
        let ClientError::InvalidPayload(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.starts_with(path), "{msg} should start with {path}");
    }
    assert!(ChangeNotificationCollection::from_slice(b"").is_err());
    assert!(ChangeNotificationCollection::from_slice(&[0xff, 0xfe]).is_err());
    // Deep nesting is refused, not a stack overflow.
    let deep = format!(
        "{{\"value\":[{{\"subscriptionId\":\"s\",\"x\":{}{}}}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(ChangeNotificationCollection::from_slice(deep.as_bytes()).is_err());
}
