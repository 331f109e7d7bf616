//! Every notification's `resource` answers a GET as is: consumers commonly read back what a
//! notification names by appending its `resource` to the Graph base URL. One subscription per
//! notification kind; each kind's notification is produced through the ingest API and its
//! `resource` fetched under the subscription's version. To add a kind, add a [`Kind`] variant
//! and its arms in `subscription` and `produce`.
//!
//! Also: OData key segments (`callRecords('{id}')`, quoting, bad keys) on the read routes.

mod common;
mod webhook;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use common::*;
use webhook::Webhook;

const ORGANIZER: &str = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
const MEETING: &str =
    "MSo4YjA4MWVmNi00NzkyLTRkZWYtYjJjOS1jMzYzYTFiZjQxZDUqMCoqMTk6bWVldGluZ193YWxrQHRocmVhZC52Mg";
const JOIN_URL: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_walk%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d";
const ADHOC_CALL: &str = "5f3640e7-a59c-4bec-82ca-e66251f795b7";
const RECORD: &str = "2e4c1d0a-0000-4000-8000-00000000a11c";
const VTT: &str = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Megan Bowen>Hello.</v>\n";
const LIMIT: Duration = Duration::from_secs(30);

/// Every kind of notification callhook writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CallRecord,
    MeetingTranscript,
    MeetingRecording,
    AdhocTranscript,
    AdhocRecording,
    UserCallEvent,
    MeetingCallEvent,
}

const KINDS: &[Kind] = &[
    Kind::CallRecord,
    Kind::MeetingTranscript,
    Kind::MeetingRecording,
    Kind::AdhocTranscript,
    Kind::AdhocRecording,
    Kind::UserCallEvent,
    Kind::MeetingCallEvent,
];

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Kind {
    /// (API version, subscription resource, change type, rich).
    fn subscription(self) -> (&'static str, String, &'static str, bool) {
        match self {
            Kind::CallRecord => (
                "v1.0",
                "communications/callRecords".into(),
                "created",
                false,
            ),
            Kind::MeetingTranscript => (
                "v1.0",
                "communications/onlineMeetings/getAllTranscripts".into(),
                "created",
                false,
            ),
            Kind::MeetingRecording => (
                "v1.0",
                "communications/onlineMeetings/getAllRecordings".into(),
                "created",
                false,
            ),
            Kind::AdhocTranscript => (
                "beta",
                "communications/adhocCalls/getAllTranscripts".into(),
                "created",
                true,
            ),
            Kind::AdhocRecording => (
                "beta",
                "communications/adhocCalls/getAllRecordings".into(),
                "created",
                true,
            ),
            Kind::UserCallEvent => (
                "beta",
                format!("users/{ORGANIZER}/communications/callEvents"),
                "updated",
                true,
            ),
            Kind::MeetingCallEvent => (
                "beta",
                format!(
                    "communications/onlineMeetings(joinWebUrl='{}')/meetingCallEvents",
                    encode(JOIN_URL)
                ),
                "updated",
                true,
            ),
        }
    }

    /// Makes callhook write this kind's notification; returns the id its `resource` leads to.
    async fn produce(self, s: &TestServer) -> String {
        match self {
            Kind::CallRecord => {
                s.put_record(RECORD, &record(RECORD))
                    .await
                    .expect_status(201);
                RECORD.into()
            }
            Kind::MeetingTranscript => {
                put_json(
                    s,
                    &format!("onlineMeetings/{MEETING}/transcripts/tr-walk"),
                    &json!({}),
                )
                .await
                .expect_status(201);
                put_bytes(
                    s,
                    &format!("onlineMeetings/{MEETING}/transcripts/tr-walk/content"),
                    "text/vtt",
                    VTT.into(),
                )
                .await
                .expect_status(200);
                "tr-walk".into()
            }
            Kind::MeetingRecording => {
                put_json(
                    s,
                    &format!("onlineMeetings/{MEETING}/recordings/rec-walk"),
                    &json!({}),
                )
                .await
                .expect_status(201);
                put_bytes(
                    s,
                    &format!("onlineMeetings/{MEETING}/recordings/rec-walk/content"),
                    "video/mp4",
                    mp4(),
                )
                .await
                .expect_status(200);
                "rec-walk".into()
            }
            Kind::AdhocTranscript => {
                put_json(
                    s,
                    &format!("adhocCalls/{ADHOC_CALL}/transcripts/tr-adhoc"),
                    &json!({"callId": ADHOC_CALL}),
                )
                .await
                .expect_status(201);
                put_bytes(
                    s,
                    &format!("adhocCalls/{ADHOC_CALL}/transcripts/tr-adhoc/content"),
                    "text/vtt",
                    VTT.into(),
                )
                .await
                .expect_status(200);
                "tr-adhoc".into()
            }
            Kind::AdhocRecording => {
                put_json(
                    s,
                    &format!("adhocCalls/{ADHOC_CALL}/recordings/rec-adhoc"),
                    &json!({"callId": ADHOC_CALL}),
                )
                .await
                .expect_status(201);
                put_bytes(
                    s,
                    &format!("adhocCalls/{ADHOC_CALL}/recordings/rec-adhoc/content"),
                    "video/mp4",
                    mp4(),
                )
                .await
                .expect_status(200);
                "rec-adhoc".into()
            }
            Kind::UserCallEvent => {
                post_events(s, json!({"id": "ev-user", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()),
                    "userId": ORGANIZER, "direction": "outgoing", "callId": "call-walk"})).await;
                "ev-user".into()
            }
            Kind::MeetingCallEvent => {
                post_events(s, json!({"id": "ev-meeting", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()),
                    "joinWebUrl": JOIN_URL})).await;
                "ev-meeting".into()
            }
        }
    }
}

async fn put_json(s: &TestServer, rest: &str, body: &Value) -> Answer {
    put_bytes(
        s,
        rest,
        "application/json",
        serde_json::to_vec(body).expect("json"),
    )
    .await
}

async fn put_bytes(s: &TestServer, rest: &str, content_type: &str, body: Vec<u8>) -> Answer {
    s.ingest_typed(Method::PUT, &s.ingest_url(rest), content_type, body)
        .await
}

async fn post_events(s: &TestServer, event: Value) {
    s.ingest_raw(
        Method::POST,
        &s.ingest_url("callEvents"),
        serde_json::to_vec(&json!({ "value": [event] })).expect("json"),
    )
    .await
    .expect_status(200);
}

fn mp4() -> Vec<u8> {
    use chrono::TimeZone;
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("time");
    callhook_sim::artifacts::mp4(start, 60_000, b"recorded media")
}

/// A receiver certificate for rich subscriptions (the test never decrypts: `resource` is plain).
fn certificate() -> String {
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("RSA key");
    let cert = rcgen::CertificateParams::new(vec!["receiver.example".to_string()])
        .expect("params")
        .self_signed(&pair)
        .expect("certificate");
    STANDARD.encode(cert.der())
}

async fn seed(s: &TestServer) {
    put_json(
        s,
        &format!("onlineMeetings/{MEETING}"),
        &json!({
            "subject": "Walk",
            "startDateTime": "2026-03-02T09:00:00Z",
            "endDateTime": "2026-03-02T10:00:00Z",
            "joinWebUrl": JOIN_URL,
            "participants": {"organizer": {"identity": {"user": {"id": ORGANIZER, "displayName": "Megan Bowen"}}}}
        }),
    )
    .await
    .expect_status(201);
    put_json(
        s,
        &format!("adhocCalls/{ADHOC_CALL}"),
        &json!({"organizer": {"user": {"id": ORGANIZER}}}),
    )
    .await
    .expect_status(201);
}

#[tokio::test]
async fn every_notifications_resource_answers_a_get_as_is() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let cert = certificate();
    seed(&s).await;
    for kind in KINDS {
        let (version, resource, change_type, rich) = kind.subscription();
        let mut body = json!({
            "changeType": change_type,
            "notificationUrl": hook.url(&format!("/notify/{kind:?}")),
            "lifecycleNotificationUrl": hook.url("/lifecycle"),
            "resource": resource,
            "expirationDateTime": ts(chrono::Utc::now() + chrono::Duration::minutes(50)),
            "clientState": "walk",
        });
        if rich {
            body["includeResourceData"] = json!(true);
            body["encryptionCertificate"] = json!(cert);
            body["encryptionCertificateId"] = json!("walk-cert");
        }
        let a = Answer::from(
            s.http
                .post(s.url(&format!("/{version}/subscriptions")))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("subscribe"),
        )
        .await;
        assert_eq!(a.status, 201, "{kind:?}: {}", a.text);
    }
    let mut expected = Vec::new();
    for kind in KINDS {
        expected.push((*kind, kind.produce(&s).await));
    }
    hook.wait_until(
        LIMIT,
        || {},
        |posts| {
            KINDS.iter().all(|k| {
                let path = format!("/notify/{k:?}");
                posts
                    .iter()
                    .any(|p| p.path == path && !p.items().is_empty())
            })
        },
    )
    .await;

    for (kind, id) in expected {
        let (version, ..) = kind.subscription();
        let path = format!("/notify/{kind:?}");
        let post = hook
            .seen
            .iter()
            .find(|p| p.path == path)
            .expect("a notification");
        let item = &post.items()[0];
        let resource = item["resource"].as_str().expect("resource");
        let a = s.get(&format!("/{version}/{resource}"), &token).await;
        assert_eq!(
            a.status, 200,
            "{kind:?}: GET /{version}/{resource} answered {}",
            a.text
        );
        // The entity itself, or (meeting call events: the resource is the feed) a collection
        // holding it.
        let found = a.json["id"] == id.as_str() || ids(&a.values()).contains(&id);
        assert!(found, "{kind:?}: {id} not in {}", a.text);
        // The resource data's own `@odata.id` leads to the same place.
        if let Some(odata_id) = item["resourceData"]["@odata.id"].as_str() {
            let b = s
                .get(
                    &format!("/{version}/{}", odata_id.trim_start_matches('/')),
                    &token,
                )
                .await;
            assert_eq!(b.status, 200, "{kind:?}: @odata.id {odata_id}: {}", b.text);
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn odata_key_segments_read_like_path_segments() {
    let s = start().await;
    let token = s.token().await;
    let id = "5b0e9f5e-1c1f-4e7b-9a55-0d0f0d0a0b0c";
    s.put_record(id, &record(id)).await.expect_status(201);
    let direct = s
        .get(&format!("/v1.0/communications/callRecords/{id}"), &token)
        .await;
    direct.expect_status(200);
    for path in [
        format!("/v1.0/communications/callRecords('{id}')"),
        format!("/v1.0/communications/callRecords(%27{id}%27)"),
        format!("/beta/Communications/CallRecords('{id}')"),
    ] {
        let a = s.get(&path, &token).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.json["id"], id);
    }
    let sessions = s
        .get(
            &format!("/v1.0/communications/callRecords('{id}')/sessions"),
            &token,
        )
        .await;
    sessions.expect_status(200);
    assert_eq!(sessions.values().len(), 1);

    // A key with a quote is written with the quote doubled; it reaches the route as itself.
    let a = s.get("/v1.0/users('o''brien')", &token).await;
    assert_graph_error(&a, 404, "Request_ResourceNotFound");
    assert!(a.message().contains("o\\'brien"), "{}", a.message());

    // Function calls keep their parentheses.
    let now = chrono::Utc::now();
    let f = s
        .get(
            &format!(
                "/v1.0/communications/callRecords/getPstnCalls(fromDateTime={},toDateTime={})",
                (now - chrono::Duration::days(1)).format("%Y-%m-%d"),
                now.format("%Y-%m-%d")
            ),
            &token,
        )
        .await;
    f.expect_status(200);

    // Bad key segments are Graph's OData 400.
    for bad in [
        format!("/v1.0/communications/callRecords('{id})"),
        format!("/v1.0/communications/callRecords({id})"),
        "/v1.0/users('a'b')".to_string(),
        "/v1.0/users('')".to_string(),
    ] {
        let a = s.get(&bad, &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert_eq!(a.message(), "Bad Request - Error in query syntax.", "{bad}");
    }
    s.stop().await;
}
