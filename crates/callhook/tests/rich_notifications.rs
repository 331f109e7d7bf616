//! Subscriptions to transcripts, recordings and call events, and their rich notifications: a
//! receiver with its own key and certificate decrypts every notification with the client
//! library, checks the signature, validates the validation tokens against callhook's published
//! keys, and follows the transcript's content URL to WebVTT. Bad certificates and bad
//! combinations get Graph's errors.

mod common;
mod webhook;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use callhook_client::ChangeNotificationCollection;
use common::*;
use webhook::Webhook;

const ORGANIZER: &str = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
const MEETING: &str =
    "MSo4YjA4MWVmNi00NzkyLTRkZWYtYjJjOS1jMzYzYTFiZjQxZDUqMCoqMTk6bWVldGluZ19yaWNoQHRocmVhZC52Mg";
const JOIN_URL: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_rich%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d";
const VTT: &str =
    "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\n<v Megan Bowen>Rich notifications work.</v>\n";
const LIMIT: Duration = Duration::from_secs(20);

fn in_minutes(m: i64) -> String {
    ts(chrono::Utc::now() + chrono::Duration::minutes(m))
}

fn rich(hook: &Webhook, resource: &str, change_type: &str, key: &ReceiverKey) -> Value {
    json!({
        "changeType": change_type,
        "notificationUrl": hook.url("/notify"),
        "lifecycleNotificationUrl": hook.url("/lifecycle"),
        "resource": resource,
        "expirationDateTime": in_minutes(120),
        "clientState": "rich-secret",
        "includeResourceData": true,
        "encryptionCertificate": key.certificate,
        "encryptionCertificateId": "receiver-cert-1",
    })
}

async fn put_json(s: &TestServer, rest: &str, body: &Value) -> Answer {
    s.ingest_raw(
        Method::PUT,
        &s.ingest_url(rest),
        serde_json::to_vec(body).expect("json"),
    )
    .await
}

async fn put_vtt(s: &TestServer, rest: &str) -> Answer {
    let resp = s
        .http
        .put(s.ingest_url(rest))
        .bearer_auth(&s.creds.ingest_key)
        .header("content-type", "text/vtt")
        .body(VTT)
        .send()
        .await
        .expect("ingest");
    Answer::from(resp).await
}

async fn seed_meeting(s: &TestServer) {
    put_json(
        s,
        &format!("onlineMeetings/{MEETING}"),
        &json!({
            "subject": "Rich review",
            "startDateTime": "2026-03-02T09:00:00Z",
            "endDateTime": "2026-03-02T10:00:00Z",
            "joinWebUrl": JOIN_URL,
            "participants": {"organizer": {"identity": {"user": {"id": ORGANIZER, "displayName": "Megan Bowen"}}}}
        }),
    )
    .await
    .expect_status(201);
}

/// Publishes transcript `id` of the meeting (metadata, then content).
async fn publish_transcript(s: &TestServer, id: &str) {
    put_json(
        s,
        &format!("onlineMeetings/{MEETING}/transcripts/{id}"),
        &json!({"callId": "af630fe0-04d3-4559-8cf9-91fe45e36296", "contentCorrelationId": "corr-9"}),
    )
    .await
    .expect_status(201);
    put_vtt(
        s,
        &format!("onlineMeetings/{MEETING}/transcripts/{id}/content"),
    )
    .await
    .expect_status(200);
}

async fn first_change(hook: &mut Webhook) -> ChangeNotificationCollection {
    let post = hook.first_to(LIMIT, "/notify").await;
    ChangeNotificationCollection::from_slice(&serde_json::to_vec(&post.body).expect("json"))
        .expect("a change notification collection")
}

#[tokio::test]
async fn a_tenant_transcript_subscription_gets_an_encrypted_notification_a_receiver_can_trust() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    seed_meeting(&s).await;

    let created = s
        .post_subscription(
            "v1.0",
            &token,
            &rich(
                &hook,
                "communications/onlineMeetings/getAllTranscripts",
                "created",
                &key,
            ),
        )
        .await;
    created.expect_status(201);
    assert_eq!(created.json["includeResourceData"], true);
    assert_eq!(created.json["encryptionCertificateId"], "receiver-cert-1");
    let sub_id = created.json["id"].as_str().expect("id").to_string();

    publish_transcript(&s, "tr-rich-1").await;
    let delivery = first_change(&mut hook).await;

    let n = &delivery.value[0];
    assert_eq!(n.subscription_id, sub_id);
    assert_eq!(n.change_type, Some(callhook_client::ChangeType::Created));
    n.verify_client_state("rich-secret").expect("clientState");
    let resource =
        format!("users/{ORGANIZER}/onlineMeetings('{MEETING}')/transcripts('tr-rich-1')");
    assert_eq!(n.resource.as_deref(), Some(resource.as_str()));
    let data = n.resource_data.as_ref().expect("resourceData");
    assert_eq!(
        data.odata_type.as_deref(),
        Some("#Microsoft.Graph.callTranscript")
    );
    assert_eq!(data.id.as_deref(), Some("tr-rich-1"));

    // The receiver trusts it: tokens from callhook's keys, for its app, from Graph's publisher.
    let claims = s
        .token_validator()
        .await
        .validate_collection(&delivery, callhook_client::unix_now())
        .expect("validation tokens verify");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].tid.as_deref(), Some(s.tenant()));

    // It decrypts, and the transcript points at content that downloads as WebVTT.
    let encrypted = n.encrypted_content.as_ref().expect("encryptedContent");
    assert_eq!(
        encrypted.encryption_certificate_id.as_deref(),
        Some("receiver-cert-1")
    );
    let transcript: Value = encrypted.decrypt_json(&key.key).expect("decrypts");
    assert_eq!(transcript["id"], "tr-rich-1");
    assert_eq!(transcript["meetingId"], MEETING);
    assert_eq!(transcript["meetingOrganizer"]["user"]["id"], ORGANIZER);
    let url = transcript["transcriptContentUrl"]
        .as_str()
        .expect("content URL");
    let vtt = s
        .http
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET content");
    assert_eq!(vtt.status(), 200);
    assert!(vtt
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/vtt")));
    assert_eq!(vtt.text().await.expect("vtt"), VTT);

    // A tampered signature is caught before decryption.
    let mut tampered = encrypted.clone();
    tampered.data_signature = Some(STANDARD.encode([0u8; 32]));
    assert!(tampered.decrypt(&key.key).is_err());
}

#[tokio::test]
async fn basic_transcript_notifications_carry_no_resource_data_and_late_subscriptions_get_none() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    seed_meeting(&s).await;

    // A transcript whose transcription started before the subscription existed is not sent.
    put_json(
        &s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-early"),
        &json!({"createdDateTime": ts(chrono::Utc::now() - chrono::Duration::minutes(5))}),
    )
    .await
    .expect_status(201);
    let body = json!({
        "changeType": "created",
        "notificationUrl": hook.url("/notify"),
        "resource": format!("communications/onlineMeetings/{MEETING}/transcripts"),
        "expirationDateTime": in_minutes(50),
    });
    s.post_subscription("beta", &token, &body)
        .await
        .expect_status(201);
    put_vtt(
        &s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-early/content"),
    )
    .await
    .expect_status(200);
    assert_eq!(
        s.server.state.store.outbox_len().await.expect("outbox"),
        0,
        "nothing queued for a transcript that started before the subscription"
    );

    publish_transcript(&s, "tr-basic").await;
    let delivery = first_change(&mut hook).await;
    let n = &delivery.value[0];
    assert!(n.encrypted_content.is_none());
    assert!(
        delivery.validation_tokens.is_none(),
        "basic notifications carry no tokens"
    );
    assert_eq!(
        n.resource.as_deref(),
        Some(
            format!("users/{ORGANIZER}/onlineMeetings('{MEETING}')/transcripts('tr-basic')")
                .as_str()
        )
    );
}

#[tokio::test]
async fn call_events_of_a_user_arrive_rich_in_order() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    let mut body = rich(
        &hook,
        &format!("/users/{ORGANIZER}/communications/callEvents"),
        "updated",
        &key,
    );
    body["expirationDateTime"] = json!(in_minutes(600));
    s.post_subscription("beta", &token, &body)
        .await
        .expect_status(201);

    let events = json!({"value": [
        {"id": "ev-start", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()), "userId": ORGANIZER,
         "direction": "outgoing", "callId": "call-7", "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/7"},
        {"id": "ev-end", "callEventType": "callEnded", "eventDateTime": ts(chrono::Utc::now()), "userId": ORGANIZER,
         "direction": "outgoing", "callId": "call-7"},
        {"id": "ev-other", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()), "userId": "someone-else"}
    ]});
    s.ingest_raw(
        Method::POST,
        &s.ingest_url("callEvents"),
        serde_json::to_vec(&events).expect("json"),
    )
    .await
    .expect_status(200);

    hook.wait_until(
        LIMIT,
        || {},
        |posts| posts.iter().map(|p| p.items().len()).sum::<usize>() >= 2,
    )
    .await;
    let mut types = Vec::new();
    let validator = s.token_validator().await;
    for post in &hook.seen {
        let c = ChangeNotificationCollection::from_slice(
            &serde_json::to_vec(&post.body).expect("json"),
        )
        .expect("collection");
        validator
            .validate_collection(&c, callhook_client::unix_now())
            .expect("tokens verify");
        for n in &c.value {
            assert_eq!(
                n.resource_data
                    .as_ref()
                    .and_then(|d| d.odata_type.as_deref()),
                Some("microsoft.graph.callEvent")
            );
            let event: Value = n
                .encrypted_content
                .as_ref()
                .expect("rich only")
                .decrypt_json(&key.key)
                .expect("decrypts");
            assert_eq!(event["callId"], "call-7");
            assert_eq!(event["direction"], "outgoing");
            types.push(event["eventType"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(
        types,
        ["callStarted", "callEnded"],
        "the user's events, in order, no one else's"
    );
}

#[tokio::test]
async fn bad_rich_subscriptions_get_graphs_errors() {
    let s = start().await;
    let token = s.token().await;
    let hook = Webhook::start().await;
    let key = receiver_key();
    let transcripts = "communications/onlineMeetings/getAllTranscripts";

    let mut b = rich(&hook, transcripts, "created", &key);
    b["encryptionCertificate"] = json!("not base64 at all!");
    let a = s.post_subscription("v1.0", &token, &b).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert_eq!(
        a.message(),
        "Certificate validation error: Cannot find the requested object."
    );

    let mut b = rich(&hook, transcripts, "created", &key);
    b["encryptionCertificate"] = json!(STANDARD.encode(b"not a certificate"));
    assert_graph_error(
        &s.post_subscription("v1.0", &token, &b).await,
        400,
        "InvalidRequest",
    );

    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let ec_cert = rcgen::CertificateParams::new(vec!["ec.example".to_string()])
        .expect("params")
        .self_signed(&ec)
        .expect("cert");
    let mut b = rich(&hook, transcripts, "created", &key);
    b["encryptionCertificate"] = json!(STANDARD.encode(ec_cert.der()));
    let a = s.post_subscription("v1.0", &token, &b).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(a.message().contains("not RSA"), "{}", a.message());

    let mut b = rich(&hook, transcripts, "created", &key);
    b.as_object_mut()
        .expect("object")
        .remove("encryptionCertificateId");
    let a = s.post_subscription("v1.0", &token, &b).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(
        a.message().contains("encryptionCertificateId"),
        "{}",
        a.message()
    );

    // Call events are rich only; call records never.
    let mut b = rich(
        &hook,
        &format!("users/{ORGANIZER}/communications/callEvents"),
        "updated",
        &key,
    );
    b["includeResourceData"] = json!(false);
    let a = s.post_subscription("beta", &token, &b).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(
        a.message().contains("only rich notifications"),
        "{}",
        a.message()
    );
    let a = s
        .post_subscription(
            "beta",
            &token,
            &rich(&hook, "communications/callRecords", "created", &key),
        )
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");

    // Beta-only resources on v1.0; the wrong change type; past the one-day call-event limit.
    let a = s
        .post_subscription(
            "v1.0",
            &token,
            &rich(
                &hook,
                "communications/adhocCalls/getAllTranscripts",
                "created",
                &key,
            ),
        )
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(a.message().contains("beta"), "{}", a.message());
    let a = s
        .post_subscription("v1.0", &token, &rich(&hook, transcripts, "updated", &key))
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");
    let mut b = rich(
        &hook,
        &format!("users/{ORGANIZER}/communications/callEvents"),
        "updated",
        &key,
    );
    b["expirationDateTime"] = json!(in_minutes(1500));
    let a = s.post_subscription("beta", &token, &b).await;
    assert_graph_error(&a, 400, "ExtensionError");
    assert_eq!(
        a.message(),
        "Subscription expiration can only be 1440 minutes in the future."
    );

    // Transcripts past one hour need a lifecycle URL, in Graph's words.
    let mut b = rich(&hook, transcripts, "created", &key);
    b.as_object_mut()
        .expect("object")
        .remove("lifecycleNotificationUrl");
    let a = s.post_subscription("v1.0", &token, &b).await;
    assert_eq!(
        a.message(),
        "lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour"
    );
}

#[tokio::test]
async fn a_rotated_certificate_encrypts_the_next_notification() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let (old, new) = (receiver_key(), receiver_key());
    seed_meeting(&s).await;
    let created = s
        .post_subscription(
            "v1.0",
            &token,
            &rich(
                &hook,
                "communications/onlineMeetings/getAllRecordings",
                "created",
                &old,
            ),
        )
        .await;
    created.expect_status(201);
    let id = created.json["id"].as_str().expect("id").to_string();
    let patched = s
        .http
        .patch(s.url(&format!("/v1.0/subscriptions/{id}")))
        .bearer_auth(&token)
        .json(&json!({"encryptionCertificate": new.certificate, "encryptionCertificateId": "receiver-cert-2"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patched.status(), 200);

    put_json(
        &s,
        &format!("onlineMeetings/{MEETING}/recordings/rec-rich"),
        &json!({"callId": "af630fe0-04d3-4559-8cf9-91fe45e36296"}),
    )
    .await
    .expect_status(201);
    let mut mp4 = vec![0, 0, 0, 16];
    mp4.extend_from_slice(b"ftypisom\0\0\0\0");
    let resp = s
        .http
        .put(s.ingest_url(&format!(
            "onlineMeetings/{MEETING}/recordings/rec-rich/content"
        )))
        .bearer_auth(&s.creds.ingest_key)
        .header("content-type", "video/mp4")
        .body(mp4)
        .send()
        .await
        .expect("ingest");
    assert_eq!(resp.status(), 200);

    let delivery = first_change(&mut hook).await;
    let encrypted = delivery.value[0]
        .encrypted_content
        .as_ref()
        .expect("encryptedContent");
    assert_eq!(
        encrypted.encryption_certificate_id.as_deref(),
        Some("receiver-cert-2")
    );
    assert!(
        encrypted.decrypt(&old.key).is_err(),
        "the old key no longer opens it"
    );
    let recording: Value = encrypted.decrypt_json(&new.key).expect("the new key does");
    assert_eq!(recording["id"], "rec-rich");
    assert!(recording["recordingContentUrl"]
        .as_str()
        .is_some_and(|u| u.ends_with("/recordings/rec-rich/content")));
}

#[tokio::test]
async fn a_meetings_call_events_arrive_rich_with_the_roster_and_unknown_meetings_are_404() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    let encoded: String = JOIN_URL
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let resource =
        format!("communications/onlineMeetings(joinWebUrl='{encoded}')/meetingCallEvents");

    // Before the meeting exists there is nothing to watch.
    let a = s
        .post_subscription("beta", &token, &rich(&hook, &resource, "updated", &key))
        .await;
    assert_graph_error(&a, 404, "NotFound");
    let a = s
        .post_subscription(
            "beta",
            &token,
            &rich(
                &hook,
                "communications/onlineMeetings/nope/transcripts",
                "created",
                &key,
            ),
        )
        .await;
    assert_graph_error(&a, 404, "NotFound");

    seed_meeting(&s).await;
    s.post_subscription("beta", &token, &rich(&hook, &resource, "updated", &key))
        .await
        .expect_status(201);
    let events = json!({"value": [
        {"id": "m-start", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()), "joinWebUrl": JOIN_URL},
        {"id": "m-roster", "callEventType": "rosterUpdated", "eventDateTime": ts(chrono::Utc::now()), "joinWebUrl": JOIN_URL,
         "participants": [{"info": {"identity": {"user": {"id": ORGANIZER, "displayName": "Megan Bowen"}}}, "isInLobby": false, "id": "leg-1"}]}
    ]});
    s.ingest_raw(
        Method::POST,
        &s.ingest_url("callEvents"),
        serde_json::to_vec(&events).expect("json"),
    )
    .await
    .expect_status(200);
    hook.wait_until(
        LIMIT,
        || {},
        |posts| posts.iter().map(|p| p.items().len()).sum::<usize>() >= 2,
    )
    .await;
    let mut seen = Vec::new();
    for (item, _) in hook.items() {
        assert_eq!(item["resource"], resource.as_str());
        assert_eq!(item["organizationId"], s.tenant());
        assert_eq!(
            item["resourceData"]["@odata.type"],
            "#microsoft.graph.callevent"
        );
        let n: callhook_client::ChangeNotification =
            serde_json::from_value(item.clone()).expect("a change notification");
        let event: Value = n
            .encrypted_content
            .as_ref()
            .expect("rich")
            .decrypt_json(&key.key)
            .expect("decrypts");
        assert_eq!(event["@odata.id"], resource.as_str());
        seen.push(event);
    }
    assert_eq!(seen[0]["eventType"], "callStarted");
    assert_eq!(seen[1]["eventType"], "rosterUpdated");
    assert_eq!(
        seen[1]["participants@delta"][0]["info"]["identity"]["user"]["id"],
        ORGANIZER
    );
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_earlier_tokens_verifiable() {
    let s = start().await;
    let token = s.token().await;
    let mut hook = Webhook::start().await;
    let key = receiver_key();
    let mut body = rich(
        &hook,
        &format!("users/{ORGANIZER}/communications/callEvents"),
        "updated",
        &key,
    );
    body["expirationDateTime"] = json!(in_minutes(600));
    s.post_subscription("beta", &token, &body)
        .await
        .expect_status(201);
    let events = json!({"value": [{"id": "rot-1", "callEventType": "callStarted",
        "eventDateTime": ts(chrono::Utc::now()), "userId": ORGANIZER}]});
    s.ingest_raw(
        Method::POST,
        &s.ingest_url("callEvents"),
        serde_json::to_vec(&events).expect("json"),
    )
    .await
    .expect_status(200);
    let before = first_change(&mut hook).await;

    let resp = s
        .http
        .post(s.url("/_callhook/keys/rotate"))
        .bearer_auth(&s.creds.ingest_key)
        .send()
        .await
        .expect("rotate");
    assert_eq!(resp.status(), 200);
    let jwks: Value = s
        .http
        .get(s.url(&format!("/{}/discovery/v2.0/keys", s.tenant())))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS body");
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(2),
        "old and new key"
    );

    // Tokens signed before the rotation still verify, and so does the old access token;
    // a new access token is signed with the new key.
    s.token_validator()
        .await
        .validate_collection(&before, callhook_client::unix_now())
        .expect("the earlier validation token verifies");
    s.get("/v1.0/subscriptions", &token)
        .await
        .expect_status(200);
    let fresh = s.token().await;
    s.get("/v1.0/subscriptions", &fresh)
        .await
        .expect_status(200);
    assert_ne!(
        fresh.split('.').next(),
        token.split('.').next(),
        "the new token names the new key"
    );
}
