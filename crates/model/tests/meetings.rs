//! Transcripts, recordings, online meetings, ad hoc calls and call events: published payloads
//! parse and serialize back to Graph's member order; ingest refuses what does not fit.

use callhook_model::{
    from_value, meeting_organizer, AdhocCall, CallEvent, CallEventType, CallRecording,
    CallTranscript, GraphType, OnlineMeeting, OnlineMeetingRole,
};
use serde_json::{json, Value};

fn doc(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().filter(|k| !k.starts_with('@')).cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_published_transcript_round_trips_in_graph_order() {
    let fixture = doc("transcript-get.json");
    let t: CallTranscript = from_value(fixture.clone()).expect("parses");
    assert_eq!(
        t.call_id.as_deref(),
        Some("af630fe0-04d3-4559-8cf9-91fe45e36296")
    );
    let out = t.to_graph_value();
    assert_eq!(keys(&out), keys(&fixture));
    let org = &out["meetingOrganizer"]["user"];
    assert_eq!(
        org["@odata.type"],
        "#Microsoft.Teams.GraphSvc.teamworkUserIdentity"
    );
    assert_eq!(org["userIdentityType"], "aadUser");
    assert_eq!(out["meetingOrganizer"], fixture["meetingOrganizer"]);
    let again: CallTranscript = from_value(out.clone()).expect("fixed point");
    assert_eq!(again.to_graph_value(), out);
}

#[test]
fn the_getalltranscripts_item_parses() {
    let page = doc("transcripts-getalltranscripts-response.json");
    let item = page["value"][0].clone();
    let t: CallTranscript = from_value(item.clone()).expect("parses");
    assert!(t.meeting_id.is_some());
    assert_eq!(
        t.to_graph_value()["meetingOrganizer"],
        item["meetingOrganizer"]
    );
}

#[test]
fn the_published_recording_parses_and_keeps_its_members() {
    let fixture = doc("recording-get.json");
    let r: CallRecording = from_value(fixture.clone()).expect("parses");
    let out = r.to_graph_value();
    for k in keys(&fixture) {
        assert_eq!(out[&k], fixture[&k], "{k}");
    }
    // Every declared property is written, null when unknown.
    assert!(out["callId"].is_null());
    assert_eq!(
        keys(&out),
        [
            "id",
            "meetingId",
            "callId",
            "createdDateTime",
            "endDateTime",
            "contentCorrelationId",
            "recordingContentUrl",
            "meetingOrganizer"
        ]
    );
}

#[test]
fn artifact_streams_are_not_json_properties() {
    let e = from_value::<CallTranscript>(json!({"id": "t1", "content": "WEBVTT"})).unwrap_err();
    assert_eq!(e.path, "content");
    assert!(e.message.contains("does not exist"), "{e}");
    let e = from_value::<CallRecording>(json!({"id": "r/1"})).unwrap_err();
    assert_eq!(e.path, "id");
}

#[test]
fn meeting_organizer_has_graphs_teamwork_identity_shape() {
    let v = GraphType::to_graph_value(&meeting_organizer("u1", "t1"));
    assert_eq!(
        v,
        json!({"application": null, "device": null, "user": {
            "@odata.type": "#microsoft.graph.teamworkUserIdentity",
            "id": "u1", "displayName": null, "userIdentityType": "aadUser", "tenantId": "t1"}})
    );
}

#[test]
fn online_meeting_reads_organizer_and_attendees() {
    let m: OnlineMeeting = from_value(json!({
        "id": "MSo1",
        "joinWebUrl": "https://teams.microsoft.com/l/meetup-join/x",
        "subject": "Weekly",
        "participants": {
            "organizer": {"identity": {"user": {"id": "o1", "displayName": "Org"}}, "role": "presenter", "upn": "o@x"},
            "attendees": [
                {"identity": {"user": {"id": "a1"}}, "role": "attendee"},
                {"identity": {"phone": {"id": "+1555"}}, "role": "coorganizer"}
            ]
        },
        "chatInfo": {"threadId": "19:meeting_x@thread.v2"}
    }))
    .expect("parses");
    assert_eq!(m.organizer_user_id(), Some("o1"));
    assert_eq!(m.user_ids(), ["a1", "o1"]);
    let p = m.participants.as_ref().expect("participants");
    assert_eq!(p.attendees[1].role, Some(OnlineMeetingRole::Coorganizer));
    let out = m.to_graph_value();
    assert_eq!(out["chatInfo"]["threadId"], "19:meeting_x@thread.v2");
    assert!(out["startDateTime"].is_null());
    let e = from_value::<OnlineMeeting>(json!({"id": "m", "lobbyBypassSettings": {}})).unwrap_err();
    assert_eq!(e.path, "lobbyBypassSettings");
}

#[test]
fn adhoc_call_needs_an_organizer() {
    let e = from_value::<AdhocCall>(json!({"id": "c1"})).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.message.as_str()),
        ("organizer", "missing required property")
    );
    let c: AdhocCall =
        from_value(json!({"id": "c1", "organizer": {"user": {"id": "u9"}}})).expect("parses");
    assert_eq!(c.organizer_user_id(), Some("u9"));
}

#[test]
fn call_events_read_the_roster_participants_of_the_published_payloads() {
    for name in [
        "meetingcallevent-rosterupdated-joined-decrypted.json",
        "meetingcallevent-rosterupdated-left-decrypted.json",
    ] {
        let fixture = doc(name);
        let body = json!({
            "callEventType": fixture["eventType"],
            "eventDateTime": fixture["eventDateTime"],
            "participants": fixture["participants@delta"],
            "joinWebUrl": "https://teams.microsoft.com/l/meetup-join/x",
        });
        let e: CallEvent = from_value(body).expect(name);
        assert_eq!(e.call_event_type, CallEventType::RosterUpdated);
        let delta = fixture["participants@delta"].as_array().expect("delta");
        assert_eq!(e.participants.len(), delta.len());
        for (p, want) in e.participants.iter().zip(delta) {
            let out = p.to_graph_value();
            assert_eq!(
                out["info"]["identity"]["user"],
                want["info"]["identity"]["user"]
            );
            assert_eq!(out["isInLobby"], want["isInLobby"]);
            assert_eq!(out["id"], want["id"]);
            assert_eq!(
                out["removedState"].is_null(),
                want.get("removedState").is_none()
            );
        }
    }
}

#[test]
fn call_events_refuse_unknown_members_and_need_a_type_and_time() {
    let e = from_value::<CallEvent>(json!({"eventDateTime": "2024-01-01T00:00:00Z"})).unwrap_err();
    assert_eq!(e.path, "callEventType");
    let e = from_value::<CallEvent>(json!({"callEventType": "callStarted"})).unwrap_err();
    assert_eq!(e.path, "eventDateTime");
    let e = from_value::<CallEvent>(json!({
        "callEventType": "callStarted", "eventDateTime": "2024-01-01T00:00:00Z", "state": "active"
    }))
    .unwrap_err();
    assert_eq!(e.path, "state");
    let e = from_value::<CallEvent>(json!({
        "callEventType": "callStarted", "eventDateTime": "2024-01-01T00:00:00Z", "direction": 3
    }))
    .unwrap_err();
    assert_eq!(e.path, "direction");
}
