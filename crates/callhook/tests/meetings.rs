//! Online meetings, ad hoc calls, transcripts, recordings and call events: ingest, then read
//! back through Graph's routes on v1.0 and beta; content types and bytes; getAllTranscripts
//! paging and delta; permissions; 404s for unknown and other-tenant ids; bad ingest input.

mod common;

use chrono::{Duration, TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use common::*;

const ORGANIZER: &str = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
const ATTENDEE: &str = "e98eb11c-8385-445e-8b19-4a2f169ac5bc";
const MEETING: &str =
    "MSo4YjA4MWVmNi00NzkyLTRkZWYtYjJjOS1jMzYzYTFiZjQxZDUqMCoqMTk6bWVldGluZ19hYmNAdGhyZWFkLnYy";
const JOIN_URL: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d";
const VTT: &str =
    "WEBVTT\n\n00:00:00.000 --> 00:00:05.320\n<v Megan Bowen>This is a transcript test.</v>\n";
const META_VTT: &str = "WEBVTT\n\n00:00:00.000 --> 00:00:05.320\n{\"speakerName\":\"Megan Bowen\",\"spokenText\":\"This is a transcript test.\",\"spokenLanguage\":\"en-us\"}\n";

fn meeting_body() -> Value {
    json!({
        "subject": "Quarterly review",
        "startDateTime": "2026-03-02T09:00:00Z",
        "endDateTime": "2026-03-02T10:00:00Z",
        "joinWebUrl": JOIN_URL,
        "participants": {
            "organizer": {"identity": {"user": {"id": ORGANIZER, "displayName": "Megan Bowen"}}, "role": "presenter", "upn": "megan@contoso.com"},
            "attendees": [{"identity": {"user": {"id": ATTENDEE, "displayName": "Adele Vance"}}, "role": "attendee", "upn": "adele@contoso.com"}]
        },
        "chatInfo": {"threadId": "19:meeting_abc@thread.v2", "messageId": "0", "replyChainMessageId": null}
    })
}

fn mp4() -> Vec<u8> {
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    callhook_sim::artifacts::mp4(start, 60_000, b"recorded media")
}

// Ingest helpers for this file (the shared ones cover call records).
async fn put_json(s: &TestServer, rest: &str, body: &Value) -> Answer {
    s.ingest_raw(
        Method::PUT,
        &s.ingest_url(rest),
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn put_bytes(s: &TestServer, rest: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let resp = s
        .http
        .put(s.ingest_url(rest))
        .bearer_auth(&s.creds.ingest_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("ingest request");
    Answer::from(resp).await
}

async fn get_bytes(s: &TestServer, path: &str, token: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = s
        .http
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, resp.bytes().await.expect("body").to_vec())
}

/// A meeting with one published transcript (with metadataContent) and one recording.
async fn seed_meeting(s: &TestServer) {
    put_json(s, &format!("onlineMeetings/{MEETING}"), &meeting_body())
        .await
        .expect_status(201);
    let t = put_json(
        s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-1"),
        &json!({
            "callId": "af630fe0-04d3-4559-8cf9-91fe45e36296",
            "createdDateTime": "2026-03-02T10:01:00Z",
            "endDateTime": "2026-03-02T10:00:00Z",
            "contentCorrelationId": "corr-1"
        }),
    )
    .await;
    t.expect_status(201);
    assert_eq!(t.json["published"], false);
    put_bytes(
        s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-1/metadataContent"),
        "text/vtt",
        META_VTT.into(),
    )
    .await
    .expect_status(200);
    let c = put_bytes(
        s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-1/content"),
        "text/vtt; charset=utf-8",
        VTT.into(),
    )
    .await;
    c.expect_status(200);
    assert_eq!(c.json["published"], true);
    put_json(
        s,
        &format!("onlineMeetings/{MEETING}/recordings/rec-1"),
        &json!({"callId": "af630fe0-04d3-4559-8cf9-91fe45e36296", "createdDateTime": "2026-03-02T10:02:00Z", "contentCorrelationId": "corr-1"}),
    )
    .await
    .expect_status(201);
    put_bytes(
        s,
        &format!("onlineMeetings/{MEETING}/recordings/rec-1/content"),
        "video/mp4",
        mp4(),
    )
    .await
    .expect_status(200);
}

fn meeting_path(v: &str) -> String {
    format!("/{v}/users/{ORGANIZER}/onlineMeetings/{MEETING}")
}

#[tokio::test]
async fn meetings_are_read_by_id_and_by_join_web_url_on_both_versions() {
    let s = start().await;
    seed_meeting(&s).await;
    let token = s.token().await;
    for v in ["v1.0", "beta"] {
        let a = s.get(&meeting_path(v), &token).await;
        a.expect_status(200);
        assert_eq!(a.json["id"], MEETING);
        assert_eq!(a.json["joinWebUrl"], JOIN_URL);
        assert_eq!(
            a.json["participants"]["organizer"]["upn"],
            "megan@contoso.com"
        );
        assert_eq!(a.json["chatInfo"]["threadId"], "19:meeting_abc@thread.v2");
        assert!(a.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "/{v}/$metadata#users('{ORGANIZER}')/onlineMeetings/$entity"
            )));

        // Organizer and attendee both find it by its join URL; the filter is URL-encoded.
        for user in [ORGANIZER, ATTENDEE] {
            let filter = enc(&format!("JoinWebUrl eq '{JOIN_URL}'"));
            let a = s
                .get(
                    &format!("/{v}/users/{user}/onlineMeetings?$filter={filter}"),
                    &token,
                )
                .await;
            a.expect_status(200);
            assert_eq!(ids(&a.values()), [MEETING], "{user}");
        }
        let a = s
            .get(
                &format!(
                    "/{v}/users/{ORGANIZER}/onlineMeetings?$filter={}",
                    enc("joinWebUrl eq 'https://nope'")
                ),
                &token,
            )
            .await;
        a.expect_status(200);
        assert!(a.values().is_empty());
    }
    let a = s
        .get(
            &format!("{}?$select=subject,joinWebUrl", meeting_path("v1.0")),
            &token,
        )
        .await;
    a.expect_status(200);
    assert_eq!(a.json["subject"], "Quarterly review");
    assert!(a.json.get("participants").is_none());
    s.stop().await;
}

#[tokio::test]
async fn transcripts_and_recordings_round_trip_with_their_content() {
    let s = start().await;
    seed_meeting(&s).await;
    let token = s.token().await;
    for v in ["v1.0", "beta"] {
        let base = meeting_path(v);
        let list = s.get(&format!("{base}/transcripts"), &token).await;
        list.expect_status(200);
        let items = list.values();
        assert_eq!(ids(&items), ["tr-1"]);
        let t = s.get(&format!("{base}/transcripts/tr-1"), &token).await;
        t.expect_status(200);
        assert_eq!(t.json["meetingId"], MEETING);
        assert_eq!(t.json["callId"], "af630fe0-04d3-4559-8cf9-91fe45e36296");
        assert_eq!(t.json["contentCorrelationId"], "corr-1");
        assert_eq!(t.json["createdDateTime"], "2026-03-02T10:01:00Z");
        let organizer = &t.json["meetingOrganizer"]["user"];
        assert_eq!(organizer["id"], ORGANIZER);
        assert_eq!(organizer["tenantId"], s.tenant());
        assert_eq!(organizer["userIdentityType"], "aadUser");
        assert_eq!(
            organizer["@odata.type"],
            "#microsoft.graph.teamworkUserIdentity"
        );
        let url = t.json["transcriptContentUrl"].as_str().unwrap().to_string();
        assert_eq!(url, s.url(&format!("{base}/transcripts/tr-1/content")));

        // The content URL serves the WebVTT bytes as text/vtt.
        let (status, ct, bytes) = get_bytes(&s, &url, &token).await;
        assert_eq!((status, ct.as_deref()), (200, Some("text/vtt")));
        assert_eq!(bytes, VTT.as_bytes());
        let (status, _, bytes) = get_bytes(&s, &format!("{url}?$format=text/vtt"), &token).await;
        assert_eq!((status, bytes.as_slice()), (200, VTT.as_bytes()));
        let docx = s
            .get(&format!("{url}?$format=application/vnd.openxmlformats-officedocument.wordprocessingml.document"), &token)
            .await;
        assert_graph_error(&docx, 400, "BadRequest");
        assert!(docx.message().contains("text/vtt"), "{}", docx.message());
        let (status, ct, bytes) = get_bytes(
            &s,
            &format!("{base}/transcripts/tr-1/metadataContent"),
            &token,
        )
        .await;
        assert_eq!(
            (status, ct.as_deref(), bytes.as_slice()),
            (200, Some("text/vtt"), META_VTT.as_bytes())
        );

        let r = s.get(&format!("{base}/recordings/rec-1"), &token).await;
        r.expect_status(200);
        assert_eq!(r.json["meetingId"], MEETING);
        let rurl = r.json["recordingContentUrl"].as_str().unwrap().to_string();
        let (status, ct, bytes) = get_bytes(&s, &rurl, &token).await;
        assert_eq!((status, ct.as_deref()), (200, Some("video/mp4")));
        assert_eq!(bytes, mp4());
        let list = s.get(&format!("{base}/recordings"), &token).await;
        assert_eq!(ids(&list.values()), ["rec-1"]);
    }
    // $select on a transcript, and the contentCorrelationId filter of the list.
    let base = meeting_path("v1.0");
    let a = s
        .get(
            &format!("{base}/transcripts/tr-1?$select=id,callId"),
            &token,
        )
        .await;
    a.expect_status(200);
    assert!(a.json.get("meetingOrganizer").is_none());
    let a = s
        .get(
            &format!(
                "{base}/transcripts?$filter={}",
                enc("contentCorrelationId eq 'corr-1'")
            ),
            &token,
        )
        .await;
    assert_eq!(ids(&a.values()), ["tr-1"]);
    let a = s
        .get(
            &format!(
                "{base}/transcripts?$filter={}",
                enc("contentcorrelationId eq 'other'")
            ),
            &token,
        )
        .await;
    a.expect_status(200);
    assert!(a.values().is_empty());
    let a = s
        .get(
            &format!("{base}/transcripts?$filter={}", enc("callId eq 'x'")),
            &token,
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn an_artifact_is_invisible_until_its_content_arrives() {
    let s = start().await;
    put_json(&s, &format!("onlineMeetings/{MEETING}"), &meeting_body())
        .await
        .expect_status(201);
    put_json(
        &s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-9"),
        &json!({}),
    )
    .await
    .expect_status(201);
    let token = s.token().await;
    let base = meeting_path("v1.0");
    assert!(s
        .get(&format!("{base}/transcripts"), &token)
        .await
        .values()
        .is_empty());
    assert_graph_error(
        &s.get(&format!("{base}/transcripts/tr-9"), &token).await,
        404,
        "NotFound",
    );
    put_bytes(
        &s,
        &format!("onlineMeetings/{MEETING}/transcripts/tr-9/content"),
        "text/vtt",
        VTT.into(),
    )
    .await
    .expect_status(200);
    let a = s.get(&format!("{base}/transcripts/tr-9"), &token).await;
    a.expect_status(200);
    // createdDateTime defaults to the time of ingest.
    assert!(a.json["createdDateTime"].is_string());
    // No metadataContent was stored.
    let m = s
        .get(&format!("{base}/transcripts/tr-9/metadataContent"), &token)
        .await;
    assert_graph_error(&m, 404, "NotFound");
    s.stop().await;
}

#[tokio::test]
async fn ad_hoc_call_artifacts_have_no_meeting_id_and_their_own_paths() {
    let s = start().await;
    let call = "5f3640e7-a59c-4bec-82ca-e66251f795b7";
    put_json(
        &s,
        &format!("adhocCalls/{call}"),
        &json!({"organizer": {"user": {"id": ORGANIZER}}}),
    )
    .await
    .expect_status(201);
    put_json(
        &s,
        &format!("adhocCalls/{call}/transcripts/tr-a"),
        &json!({"callId": call, "contentCorrelationId": "c-a"}),
    )
    .await
    .expect_status(201);
    put_bytes(
        &s,
        &format!("adhocCalls/{call}/transcripts/tr-a/content"),
        "text/vtt",
        VTT.into(),
    )
    .await
    .expect_status(200);
    put_json(
        &s,
        &format!("adhocCalls/{call}/recordings/rec-a"),
        &json!({"callId": call}),
    )
    .await
    .expect_status(201);
    put_bytes(
        &s,
        &format!("adhocCalls/{call}/recordings/rec-a/content"),
        "video/mp4",
        mp4(),
    )
    .await
    .expect_status(200);
    // meetingId must stay null for an ad hoc call.
    let bad = put_json(
        &s,
        &format!("adhocCalls/{call}/transcripts/tr-b"),
        &json!({"meetingId": "m"}),
    )
    .await;
    assert_graph_error(&bad, 400, "BadRequest");
    assert!(bad.message().starts_with("meetingId:"), "{}", bad.message());

    let token = s.token().await;
    for v in ["v1.0", "beta"] {
        let base = format!("/{v}/users/{ORGANIZER}/adhocCalls/{call}");
        let t = s.get(&format!("{base}/transcripts/tr-a"), &token).await;
        t.expect_status(200);
        assert!(t.json["meetingId"].is_null());
        assert_eq!(
            t.json["transcriptContentUrl"],
            s.url(&format!("{base}/transcripts/tr-a/content"))
        );
        let (status, ct, bytes) =
            get_bytes(&s, &format!("{base}/recordings/rec-a/content"), &token).await;
        assert_eq!(
            (status, ct.as_deref(), bytes),
            (200, Some("video/mp4"), mp4())
        );
        let all = s
            .get(
                &format!(
                    "/{v}/users/{ORGANIZER}/adhocCalls/getAllTranscripts(userId='{ORGANIZER}')"
                ),
                &token,
            )
            .await;
        all.expect_status(200);
        assert_eq!(ids(&all.values()), ["tr-a"]);
        let all = s
            .get(
                &format!("/{v}/communications/adhocCalls/getAllRecordings(userId='{ORGANIZER}')"),
                &token,
            )
            .await;
        all.expect_status(200);
        assert_eq!(ids(&all.values()), ["rec-a"]);
        assert_eq!(
            all.values()[0]["@odata.type"],
            "#microsoft.graph.callRecording"
        );
    }
    // Meeting transcripts are another collection.
    let a = s
        .get(&format!("/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')"), &token)
        .await;
    a.expect_status(200);
    assert!(a.values().is_empty());
    s.stop().await;
}

/// `n` meetings of ORGANIZER, each with one published transcript created an hour apart.
async fn seed_transcripts(s: &TestServer, n: usize) -> Vec<String> {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let meeting = format!("meeting-{i}");
        put_json(s, &format!("onlineMeetings/{meeting}"), &meeting_body())
            .await
            .expect_status(201);
        let id = format!("transcript-{i:02}");
        let created = start + Duration::hours(i as i64);
        put_json(
            s,
            &format!("onlineMeetings/{meeting}/transcripts/{id}"),
            &json!({"createdDateTime": ts(created)}),
        )
        .await
        .expect_status(201);
        put_bytes(
            s,
            &format!("onlineMeetings/{meeting}/transcripts/{id}/content"),
            "text/vtt",
            VTT.into(),
        )
        .await
        .expect_status(200);
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn get_all_transcripts_pages_with_top_and_filters_by_time() {
    let s = start().await;
    let all = seed_transcripts(&s, 7).await;
    let token = s.token().await;
    let first = format!(
        "/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')?$top=3"
    );
    let a = s.get(&first, &token).await;
    a.expect_status(200);
    assert_eq!(a.json["@odata.count"], 3);
    assert!(a.json["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#Collection(callTranscript)"));
    assert_eq!(
        a.values()[0]["@odata.type"],
        "#microsoft.graph.callTranscript"
    );
    assert!(
        a.next_link().unwrap().contains("skipToken="),
        "{:?}",
        a.next_link()
    );
    let (items, pages) = s.collect_pages(&first, &token, &[]).await;
    assert_eq!(pages, 3);
    assert_eq!(ids(&items), all);
    // The organizer filter form.
    let filtered = format!(
        "/beta/users/{ORGANIZER}/onlineMeetings/getAllTranscripts?$filter={}",
        enc(&format!("MeetingOrganizer/User/Id eq '{ORGANIZER}'"))
    );
    let (items, _) = s.collect_pages(&filtered, &token, &[]).await;
    assert_eq!(items.len(), 7);
    // startDateTime / endDateTime bound createdDateTime (both inclusive).
    let window = format!(
        "/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}',startDateTime=2026-03-01T10:00:00Z,endDateTime=2026-03-01T12:00:00Z)"
    );
    let a = s.get(&window, &token).await;
    a.expect_status(200);
    assert_eq!(
        ids(&a.values()),
        ["transcript-02", "transcript-03", "transcript-04"]
    );
    assert!(a.next_link().is_none());
    // Another organizer has none.
    let other = format!(
        "/v1.0/users/{ATTENDEE}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ATTENDEE}')"
    );
    assert!(s.get(&other, &token).await.values().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn get_all_transcripts_delta_returns_only_what_was_published_since() {
    let s = start().await;
    seed_transcripts(&s, 3).await;
    let token = s.token().await;
    let url = format!(
        "/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')/delta?$top=2"
    );
    let a = s.get(&url, &token).await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 2);
    let b = s.get(&a.next_link().unwrap(), &token).await;
    b.expect_status(200);
    assert_eq!(ids(&b.values()), ["transcript-02"]);
    let delta = b.json["@odata.deltaLink"].as_str().unwrap().to_string();
    let c = s.get(&delta, &token).await;
    c.expect_status(200);
    assert!(c.values().is_empty());
    put_json(&s, "onlineMeetings/meeting-0/transcripts/late", &json!({}))
        .await
        .expect_status(201);
    put_bytes(
        &s,
        "onlineMeetings/meeting-0/transcripts/late/content",
        "text/vtt",
        VTT.into(),
    )
    .await
    .expect_status(200);
    let d = s.get(&delta, &token).await;
    assert_eq!(ids(&d.values()), ["late"]);
    assert!(d.json["@odata.deltaLink"].is_string());
    s.stop().await;
}

#[tokio::test]
async fn get_all_needs_an_organizer_and_valid_parameters() {
    let s = start().await;
    let token = s.token().await;
    let base = format!("/v1.0/users/{ORGANIZER}/onlineMeetings");
    for (path, needle) in [
        (format!("{base}/getAllTranscripts"), "meetingOrganizerUserId"),
        (format!("{base}/getAllTranscripts()"), "meetingOrganizerUserId"),
        (
            format!("{base}/getAllRecordings(meetingOrganizerUserId='{ORGANIZER}',startDateTime=yesterday)"),
            "startDateTime",
        ),
        (
            format!("{base}/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}',color='red')"),
            "color",
        ),
        (format!("{base}/getAllTranscripts(meetingOrganizerUserId='{ATTENDEE}')"), "user in the path"),
        (format!("{base}/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')?$top=0"), "page size"),
    ] {
        let a = s.get(&path, &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert!(a.message().contains(needle), "{path}: {}", a.message());
    }
    let forged = s
        .get(
            &format!(
                "{base}/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')?skipToken=abc"
            ),
            &token,
        )
        .await;
    assert_graph_error(&forged, 400, "BadRequest");
    s.stop().await;
}

#[tokio::test]
async fn unknown_ids_other_organizers_and_other_tenants_are_404() {
    let s = start().await;
    seed_meeting(&s).await;
    let token = s.token().await;
    let base = meeting_path("v1.0");
    for path in [
        format!("/v1.0/users/{ORGANIZER}/onlineMeetings/MSo-unknown"),
        format!("/v1.0/users/{ATTENDEE}/onlineMeetings/{MEETING}"),
        format!("{base}/transcripts/unknown"),
        format!("{base}/transcripts/unknown/content"),
        format!("{base}/recordings/unknown"),
        format!("{base}/recordings/rec-1x/content"),
        format!("/v1.0/users/{ATTENDEE}/onlineMeetings/{MEETING}/transcripts"),
        format!("/v1.0/users/{ATTENDEE}/onlineMeetings/{MEETING}/transcripts/tr-1"),
        format!("/v1.0/users/{ORGANIZER}/adhocCalls/nope/transcripts"),
        // A transcript id under the recordings collection.
        format!("{base}/recordings/tr-1"),
    ] {
        assert_graph_error(&s.get(&path, &token).await, 404, "NotFound");
    }
    // The same meeting seen from another tenant does not exist.
    let (tenant, client, secret) = s.add_tenant(1).await;
    let other = s.token_for(&tenant, &client, &secret).await;
    for path in [
        base.clone(),
        format!("{base}/transcripts"),
        format!("{base}/transcripts/tr-1"),
        format!("{base}/transcripts/tr-1/content"),
        format!("{base}/recordings/rec-1/content"),
    ] {
        assert_graph_error(&s.get(&path, &other).await, 404, "NotFound");
    }
    let all = s
        .get(&format!("/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')"), &other)
        .await;
    all.expect_status(200);
    assert!(all.values().is_empty());
    let filter = enc(&format!("JoinWebUrl eq '{JOIN_URL}'"));
    let a = s
        .get(
            &format!("/v1.0/users/{ORGANIZER}/onlineMeetings?$filter={filter}"),
            &other,
        )
        .await;
    assert!(a.values().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn each_route_requires_its_permission() {
    let s = start().await;
    seed_meeting(&s).await;
    let call = "c-perm";
    put_json(
        &s,
        &format!("adhocCalls/{call}"),
        &json!({"organizer": {"user": {"id": ORGANIZER}}}),
    )
    .await
    .expect_status(201);
    let base = meeting_path("v1.0");
    let adhoc = format!("/v1.0/users/{ORGANIZER}/adhocCalls/{call}");
    let get_all = format!("/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')");
    let get_all_rec = format!("/v1.0/users/{ORGANIZER}/onlineMeetings/getAllRecordings(meetingOrganizerUserId='{ORGANIZER}')");
    let cases: Vec<(String, &str)> = vec![
        (base.clone(), "OnlineMeetings.Read.All"),
        (
            format!("{base}/transcripts"),
            "OnlineMeetingTranscript.Read.All",
        ),
        (
            format!("{base}/transcripts/tr-1"),
            "OnlineMeetingTranscript.Read.All",
        ),
        (
            format!("{base}/transcripts/tr-1/content"),
            "OnlineMeetingTranscript.Read.All",
        ),
        (
            format!("{base}/transcripts/tr-1/metadataContent"),
            "OnlineMeetingTranscript.Read.All",
        ),
        (get_all, "OnlineMeetingTranscript.Read.All"),
        (
            format!("{base}/recordings"),
            "OnlineMeetingRecording.Read.All",
        ),
        (
            format!("{base}/recordings/rec-1/content"),
            "OnlineMeetingRecording.Read.All",
        ),
        (get_all_rec, "OnlineMeetingRecording.Read.All"),
        (format!("{adhoc}/transcripts"), "CallTranscripts.Read.All"),
        (format!("{adhoc}/recordings"), "CallRecordings.Read.All"),
    ];
    // A token with every role but the one a route needs gets Graph's 403.
    let everything_but_artifacts = s
        .app_with_roles(1, &["CallRecords.Read.All", "User.Read.All"])
        .await
        .1;
    for (i, (path, role)) in cases.iter().enumerate() {
        let a = s.get(path, &everything_but_artifacts).await;
        assert_graph_error(&a, 403, "Forbidden");
        let ok = s.app_with_roles(10 + i as u32, &[role]).await.1;
        let a = s.get(path, &ok).await;
        a.expect_status(200);
    }
    // A meeting-transcript permission does not open ad hoc call transcripts.
    let meeting_only = s
        .app_with_roles(99, &["OnlineMeetingTranscript.Read.All"])
        .await
        .1;
    assert_graph_error(
        &s.get(&format!("{adhoc}/transcripts"), &meeting_only).await,
        403,
        "Forbidden",
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_ingest_input_gets_clear_errors() {
    let s = start().await;
    // Artifacts need their meeting first.
    let a = put_json(&s, "onlineMeetings/nope/transcripts/t1", &json!({})).await;
    assert_graph_error(&a, 404, "NotFound");
    assert!(
        a.message().contains("Online meeting 'nope' does not exist"),
        "{}",
        a.message()
    );
    // A meeting needs an organizer with a user id.
    let a = put_json(&s, "onlineMeetings/m1", &json!({"subject": "x"})).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert_eq!(
        a.message(),
        "participants.organizer.identity.user.id: missing required property"
    );
    let mut body = meeting_body();
    body["participants"]["organizer"]["identity"]["user"]["id"] = json!("bad/id");
    let a = put_json(&s, "onlineMeetings/m1", &body).await;
    assert!(
        a.message()
            .starts_with("participants.organizer.identity.user.id: invalid id"),
        "{}",
        a.message()
    );
    let a = put_json(
        &s,
        "onlineMeetings/m1",
        &json!({"id": "m2", "participants": meeting_body()["participants"]}),
    )
    .await;
    assert_eq!(a.message(), "id: must equal the id in the path");
    let a = put_json(
        &s,
        "onlineMeetings/m1",
        &json!({"participants": meeting_body()["participants"], "startDateTime": "soon"}),
    )
    .await;
    assert!(
        a.message()
            .starts_with("startDateTime: invalid DateTimeOffset"),
        "{}",
        a.message()
    );
    put_json(&s, "onlineMeetings/m1", &meeting_body())
        .await
        .expect_status(201);
    put_json(&s, "onlineMeetings/m1", &meeting_body())
        .await
        .expect_status(200);

    // Transcript metadata: server-owned and unknown members.
    let a = put_json(
        &s,
        "onlineMeetings/m1/transcripts/t1",
        &json!({"meetingId": "other"}),
    )
    .await;
    assert_eq!(
        a.message(),
        "meetingId: must equal the meeting id in the path"
    );
    let a = put_json(
        &s,
        "onlineMeetings/m1/transcripts/t1",
        &json!({"content": "WEBVTT"}),
    )
    .await;
    assert!(
        a.message()
            .starts_with("content: property 'content' does not exist"),
        "{}",
        a.message()
    );
    put_json(&s, "onlineMeetings/m1/transcripts/t1", &json!({}))
        .await
        .expect_status(201);

    // Content: wrong type, not WebVTT, not MP4, unknown artifact.
    let a = put_bytes(
        &s,
        "onlineMeetings/m1/transcripts/t1/content",
        "application/json",
        VTT.into(),
    )
    .await;
    assert_graph_error(&a, 415, "UnsupportedMediaType");
    assert!(a.message().contains("text/vtt"));
    let a = put_bytes(
        &s,
        "onlineMeetings/m1/transcripts/t1/content",
        "text/vtt",
        b"hello".to_vec(),
    )
    .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(a.message().contains("WEBVTT"));
    let a = put_bytes(
        &s,
        "onlineMeetings/m1/transcripts/t2/content",
        "text/vtt",
        VTT.into(),
    )
    .await;
    assert_graph_error(&a, 404, "NotFound");
    put_json(&s, "onlineMeetings/m1/recordings/r1", &json!({}))
        .await
        .expect_status(201);
    let a = put_bytes(
        &s,
        "onlineMeetings/m1/recordings/r1/content",
        "video/mp4",
        b"not a movie at all".to_vec(),
    )
    .await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(a.message().contains("ftyp"));
    let a = put_bytes(
        &s,
        "onlineMeetings/m1/recordings/r1/content",
        "text/vtt",
        mp4(),
    )
    .await;
    assert_graph_error(&a, 415, "UnsupportedMediaType");

    // Ad hoc calls need an organizer.
    let a = put_json(&s, "adhocCalls/c1", &json!({})).await;
    assert_eq!(a.message(), "organizer: missing required property");

    // Call events.
    let post = |body: Value| {
        let s = &s;
        async move {
            s.ingest_raw(
                Method::POST,
                &s.ingest_url("callEvents"),
                serde_json::to_vec(&body).unwrap(),
            )
            .await
        }
    };
    let a = post(json!({"value": [{"callEventType": "callStarted", "eventDateTime": "2026-03-02T09:00:00Z"}]})).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(
        a.message()
            .starts_with("value[0]: a call event needs userId"),
        "{}",
        a.message()
    );
    let a = post(json!({"value": [{"callEventType": "callStarted", "eventDateTime": "2026-03-02T09:00:00Z", "userId": ORGANIZER, "direction": "sideways", "bogus": 1}]})).await;
    assert_eq!(
        a.message(),
        "value[0].bogus: property 'bogus' does not exist on type 'microsoft.graph.callEvent'"
    );
    let a =
        post(json!({"value": [{"eventDateTime": "2026-03-02T09:00:00Z", "userId": ORGANIZER}]}))
            .await;
    assert_eq!(
        a.message(),
        "value[0].callEventType: missing required property"
    );

    // Wrong ingest key.
    let resp = s
        .http
        .put(s.ingest_url("onlineMeetings/m1"))
        .bearer_auth("wrong")
        .json(&meeting_body())
        .send()
        .await
        .unwrap();
    assert_graph_error(&Answer::from(resp).await, 401, "InvalidAuthenticationToken");
    s.stop().await;
}

#[tokio::test]
async fn call_events_are_stored_once_per_id_in_time_order_for_each_feed() {
    let s = start().await;
    let events = json!({"value": [
        {"id": "ev-1", "callEventType": "callStarted", "eventDateTime": "2026-03-02T09:00:00Z", "userId": ORGANIZER,
         "direction": "outgoing", "callId": "call-1", "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/x"},
        {"id": "ev-2", "callEventType": "callStarted", "eventDateTime": "2026-03-02T09:00:01Z", "userId": ATTENDEE,
         "direction": "incoming", "callId": "call-1"},
        {"callEventType": "rosterUpdated", "eventDateTime": "2026-03-02T09:00:02Z", "joinWebUrl": JOIN_URL,
         "participants": [{"info": {"identity": {"user": {"id": ATTENDEE, "displayName": "Adele Vance"}}}, "isInLobby": false, "id": "leg-1"}]},
        {"id": "ev-4", "callEventType": "callEnded", "eventDateTime": "2026-03-02T09:30:00Z", "userId": ORGANIZER,
         "direction": "outgoing", "callId": "call-1"}
    ]});
    let url = s.ingest_url("callEvents");
    let a = s
        .ingest_raw(Method::POST, &url, serde_json::to_vec(&events).unwrap())
        .await;
    a.expect_status(200);
    let created: Vec<bool> = a
        .values()
        .iter()
        .map(|v| v["created"].as_bool().unwrap())
        .collect();
    assert_eq!(created, [true, true, true, true]);
    assert!(
        a.values()[2]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "a generated id"
    );
    // A retry changes nothing.
    let again = s
        .ingest_raw(
            Method::POST,
            &url,
            serde_json::to_vec(&json!({"value": [events["value"][0]]})).unwrap(),
        )
        .await;
    assert_eq!(again.values()[0]["created"], false);

    let store = &s.server.state.store;
    let feed = store
        .call_events(&callhook_store::CallEventQuery {
            tenant_id: s.tenant().to_string(),
            user_id: Some(ORGANIZER.into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        feed.iter()
            .map(|e| (e.id.as_str(), e.event_type.as_str()))
            .collect::<Vec<_>>(),
        [("ev-1", "callStarted"), ("ev-4", "callEnded")]
    );
    let body: Value = serde_json::from_str(&feed[0].body).unwrap();
    assert_eq!(body["direction"], "outgoing");
    assert_eq!(body["callId"], "call-1");
    let meeting = store
        .call_events(&callhook_store::CallEventQuery {
            tenant_id: s.tenant().to_string(),
            join_web_url: Some(JOIN_URL.into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(meeting.len(), 1);
    let body: Value = serde_json::from_str(&meeting[0].body).unwrap();
    assert_eq!(
        body["participants"][0]["info"]["identity"]["user"]["id"],
        ATTENDEE
    );
    s.stop().await;
}

#[tokio::test]
async fn the_simulator_feeds_meetings_artifacts_and_events_through_ingest() {
    let s = start().await;
    let now = Utc::now();
    let opts = callhook_sim::SimulateOptions {
        url: s.base().to_string(),
        data_dir: s.dir.path().to_path_buf(),
        calls: 80,
        users: 30,
        seed: Some(5),
        now: Some(now),
        concurrency: 2,
        ..Default::default()
    };
    callhook_sim::run(opts.clone()).await.expect("simulate");
    let plan = callhook_sim::generate(&opts.config(5, now, s.tenant()));
    let token = s.token().await;
    let organizer_of = |parent: &str, id: &str| -> String {
        let list = if parent == "onlineMeetings" {
            &plan.online_meetings
        } else {
            &plan.adhoc_calls
        };
        let m = list.iter().find(|m| m["id"] == id).expect("parent in plan");
        let user = if parent == "onlineMeetings" {
            &m["participants"]["organizer"]["identity"]["user"]
        } else {
            &m["organizer"]["user"]
        };
        user["id"].as_str().unwrap().to_string()
    };
    assert!(
        plan.artifacts.len() >= 3,
        "{} artifacts",
        plan.artifacts.len()
    );
    for a in &plan.artifacts {
        let mut parts = a.path.split('/');
        let (parent, parent_id) = (parts.next().unwrap(), parts.next().unwrap());
        let organizer = organizer_of(parent, parent_id);
        let url = format!("/v1.0/users/{organizer}/{}", a.path);
        let got = s.get(&url, &token).await;
        got.expect_status(200);
        assert_eq!(got.json["callId"], a.metadata["callId"]);
        let (status, ct, bytes) = get_bytes(&s, &format!("{url}/content"), &token).await;
        assert_eq!((status, ct.as_deref()), (200, Some(a.content_type)));
        assert_eq!(bytes, a.content);
    }
    // A meeting call record leads to its meeting through joinWebUrl.
    let m = &plan.online_meetings[0];
    let organizer = m["participants"]["organizer"]["identity"]["user"]["id"]
        .as_str()
        .unwrap();
    let filter = enc(&format!(
        "JoinWebUrl eq '{}'",
        m["joinWebUrl"].as_str().unwrap()
    ));
    let found = s
        .get(
            &format!("/v1.0/users/{organizer}/onlineMeetings?$filter={filter}"),
            &token,
        )
        .await;
    assert_eq!(ids(&found.values()), [m["id"].as_str().unwrap()]);
    let events = s
        .server
        .state
        .store
        .call_events(&callhook_store::CallEventQuery {
            tenant_id: s.tenant().to_string(),
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), plan.call_events.len());
    assert!(
        events
            .windows(2)
            .all(|w| w[0].event_time <= w[1].event_time),
        "arrived in time order"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_meeting_routes() {
    let s = start().await;
    let a = s.get("/ingest/v1/openapi.json", "").await;
    a.expect_status(200);
    let paths = &a.json["paths"];
    for p in [
        "/ingest/v1/tenants/{tenantId}/onlineMeetings/{id}",
        "/ingest/v1/tenants/{tenantId}/adhocCalls/{id}",
        "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/transcripts/{id}/content",
        "/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/recordings/{id}/content",
        "/ingest/v1/tenants/{tenantId}/callEvents",
    ] {
        assert!(paths[p].is_object(), "{p} missing");
    }
    assert!(paths["/ingest/v1/tenants/{tenantId}/callRecords/{id}"].is_object());
    let vtt = &paths["/ingest/v1/tenants/{tenantId}/{parent}/{parentId}/transcripts/{id}/content"];
    assert!(vtt["put"]["requestBody"]["content"]["text/vtt"].is_object());
    assert!(a.json["components"]["schemas"]["callEvent"].is_object());
    s.stop().await;
}
