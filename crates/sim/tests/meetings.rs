//! The simulator's meetings, ad hoc calls, transcripts, recordings and call events: determinism,
//! links to the call records, WebVTT timings, MP4 box structure, and event order.

use std::collections::{HashMap, HashSet};

use callhook_model::{
    from_value, AdhocCall, CallEvent, CallRecording, CallTranscript, OnlineMeeting,
};
use callhook_sim::{generate, CallKind, SimConfig, SimPlan};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";

fn config(calls: usize, seed: u64) -> SimConfig {
    SimConfig {
        calls,
        seed,
        users: 80,
        days: 5,
        update_fraction: 0.2,
        now: Utc.with_ymd_and_hms(2026, 3, 12, 15, 30, 0).unwrap(),
        tenant_id: TENANT.into(),
        domain: "contoso.com".into(),
        emergency_calls: None,
    }
}

fn plan() -> SimPlan {
    generate(&config(300, 11))
}

fn time(v: &Value, key: &str) -> DateTime<Utc> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"));
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn the_same_seed_gives_the_same_artifacts_and_events() {
    let (a, b) = (plan(), plan());
    assert_eq!(a, b);
    let c = generate(&config(300, 12));
    assert_ne!(a.call_events, c.call_events);
}

#[test]
fn every_meeting_call_has_an_online_meeting_with_its_join_url_and_organizer() {
    let p = plan();
    let meetings: HashMap<&str, &Value> = p
        .online_meetings
        .iter()
        .map(|m| (m["joinWebUrl"].as_str().unwrap(), m))
        .collect();
    let mut seen = 0;
    for (r, kind) in p.call_records.iter().zip(&p.record_kinds) {
        if *kind != CallKind::Meeting {
            continue;
        }
        seen += 1;
        let m = meetings[r["joinWebUrl"].as_str().unwrap()];
        let parsed: OnlineMeeting = from_value(m.clone()).expect("valid onlineMeeting");
        assert_eq!(parsed.organizer_user_id(), r["organizer_v2"]["id"].as_str());
        callhook_model::validate_artifact_id(&parsed.id).expect("meeting id fits in a URL path");
    }
    assert!(seen > 20);
    assert_eq!(p.online_meetings.len(), seen);
    for c in &p.adhoc_calls {
        let parsed: AdhocCall = from_value(c.clone()).expect("valid ad hoc call");
        assert!(p.call_records.iter().any(|r| r["id"] == parsed.id.as_str()));
    }
}

/// Seconds of a WebVTT `HH:MM:SS.mmm` timestamp, in milliseconds.
fn vtt_ms(t: &str) -> u64 {
    let (hms, ms) = t.split_once('.').unwrap();
    let parts: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().unwrap()
}

#[test]
fn transcripts_are_webvtt_with_voice_tags_and_increasing_timings_inside_the_capture() {
    let p = plan();
    let transcripts: Vec<_> = p
        .artifacts
        .iter()
        .filter(|a| a.content_type == "text/vtt")
        .collect();
    assert!(transcripts.len() > 10, "{}", transcripts.len());
    let names: HashSet<&str> = p
        .users
        .iter()
        .map(|u| u["displayName"].as_str().unwrap())
        .collect();
    for a in transcripts {
        let meta: CallTranscript = from_value(a.metadata.clone()).expect("valid callTranscript");
        let captured = (meta.end_date_time.unwrap() - meta.created_date_time.unwrap())
            .num_milliseconds() as u64;
        let text = String::from_utf8(a.content.clone()).unwrap();
        assert!(text.starts_with("WEBVTT\n\n"), "{text}");
        let blocks: Vec<&str> = text.trim_end().split("\n\n").skip(1).collect();
        assert!(!blocks.is_empty());
        let mut last_end = 0;
        for b in &blocks {
            let (timing, payload) = b.split_once('\n').unwrap();
            let (from, to) = timing.split_once(" --> ").unwrap();
            let (from, to) = (vtt_ms(from), vtt_ms(to));
            assert!(
                last_end <= from && from < to && to <= captured,
                "{timing} in {captured} ms"
            );
            last_end = to;
            let speaker = payload
                .strip_prefix("<v ")
                .and_then(|r| r.split_once('>'))
                .map(|(name, _)| name)
                .unwrap_or_else(|| panic!("voice tag: {payload}"));
            assert!(payload.ends_with("</v>"), "{payload}");
            assert!(names.contains(speaker) || !speaker.is_empty(), "{speaker}");
        }
        // metadataContent has the same cues, each with its JSON utterance.
        let meta_text = a.metadata_content.as_deref().unwrap();
        let meta_blocks: Vec<&str> = meta_text.trim_end().split("\n\n").skip(1).collect();
        assert_eq!(meta_blocks.len(), blocks.len());
        for (m, b) in meta_blocks.iter().zip(&blocks) {
            let (timing, json) = m.split_once('\n').unwrap();
            assert_eq!(timing, b.split_once('\n').unwrap().0);
            let utterance: Value = serde_json::from_str(json).unwrap();
            assert!(b.contains(utterance["spokenText"].as_str().unwrap()));
        }
    }
}

/// One ISO-BMFF box: type and children (for container boxes).
#[derive(Debug)]
struct Mp4Box {
    kind: String,
    size: usize,
    children: Vec<Mp4Box>,
}

const CONTAINERS: &[&str] = &["moov", "trak", "mdia", "minf", "dinf", "stbl"];

/// Parses a sequence of boxes that must exactly fill `bytes`.
fn parse_boxes(bytes: &[u8]) -> Vec<Mp4Box> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = std::str::from_utf8(&bytes[at + 4..at + 8])
            .unwrap()
            .to_string();
        assert!(
            size >= 8 && at + size <= bytes.len(),
            "box {kind} of {size} bytes overruns"
        );
        let body = &bytes[at + 8..at + size];
        let children = if CONTAINERS.contains(&kind.as_str()) {
            parse_boxes(body)
        } else {
            Vec::new()
        };
        out.push(Mp4Box {
            kind,
            size,
            children,
        });
        at += size;
    }
    assert_eq!(at, bytes.len(), "boxes must fill their parent exactly");
    out
}

fn kinds(boxes: &[Mp4Box]) -> Vec<&str> {
    boxes.iter().map(|b| b.kind.as_str()).collect()
}

#[test]
fn recordings_are_small_valid_mp4_files() {
    let p = plan();
    let recordings: Vec<_> = p
        .artifacts
        .iter()
        .filter(|a| a.content_type == "video/mp4")
        .collect();
    assert!(recordings.len() > 5, "{}", recordings.len());
    for a in recordings {
        let _: CallRecording = from_value(a.metadata.clone()).expect("valid callRecording");
        assert!(a.content.len() < 1024, "{} bytes", a.content.len());
        let top = parse_boxes(&a.content);
        assert_eq!(kinds(&top), ["ftyp", "moov", "mdat"]);
        assert_eq!(&a.content[8..12], b"isom");
        let moov = &top[1];
        assert_eq!(kinds(&moov.children), ["mvhd", "trak"]);
        assert_eq!(moov.children[0].size, 108, "mvhd version 0");
        let trak = &moov.children[1];
        assert_eq!(kinds(&trak.children), ["tkhd", "mdia"]);
        let mdia = &trak.children[1];
        assert_eq!(kinds(&mdia.children), ["mdhd", "hdlr", "minf"]);
        let minf = &mdia.children[2];
        assert_eq!(kinds(&minf.children), ["smhd", "dinf", "stbl"]);
        assert_eq!(
            kinds(&minf.children[2].children),
            ["stsd", "stts", "stsc", "stsz", "stco"]
        );
        // mvhd's duration (timescale 1000) is the capture length.
        let mvhd_at = 8 + top[0].size + 8;
        let field = |i: usize| {
            let o = mvhd_at + 12 + 4 * i;
            u32::from_be_bytes(a.content[o..o + 4].try_into().unwrap())
        };
        let meta = &a.metadata;
        let captured =
            (time(meta, "endDateTime") - time(meta, "createdDateTime")).num_milliseconds();
        assert_eq!((field(0), i64::from(field(1))), (1000, captured));
    }
}

#[test]
fn transcripts_and_recordings_of_a_call_share_ids_and_correlation() {
    let p = plan();
    let records: HashMap<&str, &Value> = p
        .call_records
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let mut by_call: HashMap<&str, HashSet<&str>> = HashMap::new();
    for a in &p.artifacts {
        let m = &a.metadata;
        let call = m["callId"].as_str().unwrap();
        let r = records[call];
        assert!(time(m, "createdDateTime") >= time(r, "startDateTime"));
        assert!(time(m, "endDateTime") <= time(r, "endDateTime"));
        by_call
            .entry(call)
            .or_default()
            .insert(m["contentCorrelationId"].as_str().unwrap());
        let parent = a.path.split('/').next().unwrap();
        assert_eq!(
            m["meetingId"].is_null(),
            parent == "adhocCalls",
            "{}",
            a.path
        );
        assert!(a.path.ends_with(m["id"].as_str().unwrap()));
    }
    assert!(
        by_call.values().all(|c| c.len() == 1),
        "one correlation id per call"
    );
}

/// (callEventType, eventDateTime)
type Event = (String, DateTime<Utc>);

#[test]
fn call_events_start_and_end_each_users_call_in_time_order() {
    let p = plan();
    let events: Vec<CallEvent> = p
        .call_events
        .iter()
        .map(|e| from_value(e.clone()).expect("valid callEvent"))
        .collect();
    assert!(events
        .windows(2)
        .all(|w| w[0].event_date_time <= w[1].event_date_time));
    let ids: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "unique ids");
    let tenant_users: HashSet<&str> = p.users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    // Per user and call: exactly one start, then one end, within the call record's times.
    let mut spans: HashMap<(String, String), Vec<Event>> = HashMap::new();
    for e in events.iter().filter(|e| e.user_id.is_some()) {
        let user = e.user_id.clone().unwrap();
        assert!(tenant_users.contains(user.as_str()));
        assert!(e.direction.is_some() && e.join_call_url.is_some());
        spans
            .entry((user, e.call_id.clone().unwrap()))
            .or_default()
            .push((e.call_event_type.to_string(), e.event_date_time));
    }
    let records: HashMap<&str, &Value> = p
        .call_records
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for ((_, call), evs) in &spans {
        let kinds: Vec<&str> = evs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["callStarted", "callEnded"]);
        let r = records[call.as_str()];
        let slack = Duration::seconds(1);
        assert!(
            evs[0].1 >= time(r, "startDateTime") - slack
                && evs[1].1 <= time(r, "endDateTime") + slack
        );
    }
    // Every call record has events for its users.
    let calls: HashSet<&str> = spans.keys().map(|(_, c)| c.as_str()).collect();
    assert!(
        calls.len() * 10 >= p.call_records.len() * 9,
        "{} of {}",
        calls.len(),
        p.call_records.len()
    );
    // Meeting feeds: callStarted first and callEnded last for each join URL.
    let mut feeds: HashMap<&str, Vec<&CallEvent>> = HashMap::new();
    for e in events.iter().filter(|e| e.join_web_url.is_some()) {
        feeds
            .entry(e.join_web_url.as_deref().unwrap())
            .or_default()
            .push(e);
    }
    assert_eq!(feeds.len(), p.online_meetings.len());
    for evs in feeds.values() {
        assert_eq!(evs.first().unwrap().call_event_type.as_str(), "callStarted");
        assert_eq!(evs.last().unwrap().call_event_type.as_str(), "callEnded");
    }
}
