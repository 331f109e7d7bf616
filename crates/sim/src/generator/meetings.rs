//! Online meetings, ad hoc calls, their transcripts and recordings, and call events, derived
//! from the generated calls.
//!
//! Drawn from a second ChaCha8 stream of the same seed, after every call record is drafted: the
//! call records (and report rows) of a seed are exactly what they were before these existed.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use super::draft::{ts, Draft};
use super::{CallKind, Person};
use crate::artifacts::{self, Cue};

/// The ChaCha8 stream of these artifacts (stream 0 draws the call records).
const STREAM: u64 = 1;
/// Share of meetings transcribed / recorded.
const MEETING_TRANSCRIBED: f64 = 0.35;
const MEETING_RECORDED: f64 = 0.25;
/// Share of ad hoc Teams calls transcribed / recorded.
const ADHOC_TRANSCRIBED: f64 = 0.06;
const ADHOC_RECORDED: f64 = 0.04;
/// Most cues in one transcript (keeps the plan small for long meetings).
const MAX_CUES: u64 = 40;

const SUBJECTS: &[&str] = &[
    "Weekly sync",
    "Project kickoff",
    "Design review",
    "Quarterly business review",
    "Customer escalation",
    "Sprint planning",
    "Budget check-in",
    "Hiring debrief",
    "Roadmap walkthrough",
    "Incident retrospective",
];

const LINES: &[&str] = &[
    "Thanks everyone for joining.",
    "Can you all hear me okay?",
    "Let's start with the open items from last time.",
    "I shared the document in the chat.",
    "The numbers look better than last quarter.",
    "We are still waiting on the vendor for that.",
    "I can take that action item.",
    "Could you go back one slide?",
    "That matches what the customer told us.",
    "Let's park that and come back to it.",
    "I'll follow up by email after the call.",
    "Any questions before we move on?",
    "The release is on track for next week.",
    "We need a decision on the budget by Friday.",
    "Sorry, I was on mute.",
    "Let's wrap up here, thanks all.",
];

/// A transcript or recording as the driver uploads it: metadata, then its streams.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimArtifact {
    /// Ingest path under the tenant, e.g. `onlineMeetings/{id}/transcripts/{id}`.
    pub path: String,
    /// The `callTranscript` / `callRecording` metadata.
    pub metadata: Value,
    /// `text/vtt` or `video/mp4`.
    pub content_type: &'static str,
    /// The WebVTT text or the MP4 bytes (left out of the plan's JSON form).
    #[serde(skip_serializing)]
    pub content: Vec<u8>,
    /// A transcript's `metadataContent`.
    pub metadata_content: Option<String>,
}

/// Everything this module adds to a plan.
#[derive(Default)]
pub(super) struct MeetingPlan {
    pub online_meetings: Vec<Value>,
    pub adhoc_calls: Vec<Value>,
    pub artifacts: Vec<SimArtifact>,
    pub call_events: Vec<Value>,
}

/// A user of a call: who, and when they were in it.
struct Presence {
    id: String,
    name: String,
    tenant: String,
    join: DateTime<Utc>,
    leave: DateTime<Utc>,
}

struct MeetingGen<'a> {
    rng: ChaCha8Rng,
    tenant: &'a str,
    people: HashMap<&'a str, &'a Person>,
    plan: MeetingPlan,
    /// (time, order of generation, event) so that events sort stably by time.
    events: Vec<(DateTime<Utc>, usize, Value)>,
}

pub(super) fn make(
    seed: u64,
    tenant: &str,
    users: &[Person],
    externals: &[Person],
    drafts: &[Draft],
) -> MeetingPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM);
    let mut g = MeetingGen {
        rng,
        tenant,
        people: users
            .iter()
            .chain(externals)
            .map(|p| (p.id.as_str(), p))
            .collect(),
        plan: MeetingPlan::default(),
        events: Vec::new(),
    };
    for d in drafts {
        g.call(d);
    }
    g.events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    g.plan.call_events = g.events.into_iter().map(|e| e.2).collect();
    g.plan
}

/// URL-safe base64 without padding: ids that go into URL paths as they are.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out
}

/// The user identity of a participant JSON (`identity.user`), if it has one.
fn user_of(participant: &Value) -> Option<(String, String, String)> {
    let u = participant.get("identity")?.get("user")?;
    Some((
        u.get("id")?.as_str()?.to_string(),
        u.get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        u.get("tenantId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    ))
}

/// When each user was in the call, from the sessions their endpoints took part in.
fn presences(d: &Draft) -> Vec<Presence> {
    let mut out: Vec<Presence> = Vec::new();
    let people = std::iter::once(&d.organizer).chain(d.participants.iter().map(|(_, _, p)| p));
    for p in people {
        let Some((id, name, tenant)) = user_of(p) else {
            continue;
        };
        if out.iter().any(|x| x.id == id) {
            continue;
        }
        let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for s in &d.sessions {
            let mine = [&s.caller.value, &s.callee.value].iter().any(|e| {
                e.get("associatedIdentity")
                    .and_then(|a| a.get("id"))
                    .and_then(Value::as_str)
                    == Some(id.as_str())
            });
            if mine {
                span = Some(match span {
                    None => (s.start, s.end),
                    Some((a, b)) => (a.min(s.start), b.max(s.end)),
                });
            }
        }
        let (join, leave) = span.unwrap_or((d.start, d.end));
        out.push(Presence {
            id,
            name,
            tenant,
            join,
            leave,
        });
    }
    out
}

impl MeetingGen<'_> {
    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    fn event(&mut self, at: DateTime<Utc>, mut body: Value) {
        let id = self.uuid();
        if let Some(m) = body.as_object_mut() {
            m.insert("id".into(), json!(id));
            m.insert("eventDateTime".into(), json!(ts(at)));
        }
        let n = self.events.len();
        self.events.push((at, n, body));
    }

    fn call(&mut self, d: &Draft) {
        let present = presences(d);
        let organizer = user_of(&d.organizer).map(|(id, _, _)| id);
        let join_url = match (&d.join_url, d.kind) {
            (Some(url), CallKind::Meeting) => Some(url.clone()),
            _ => None,
        };
        let call_url = match &join_url {
            Some(url) => url.clone(),
            None => format!(
                "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv-euno-{:02}.conv.skype.com/conv/{}?i={}&e={}",
                self.rng.gen_range(1..20),
                base64url(&self.rng.gen::<[u8; 12]>()),
                self.rng.gen_range(1..40),
                self.rng.gen_range(10_000_000..99_999_999u64)
            ),
        };
        // Per-user feed: each user of this tenant enters and leaves the call.
        let tenant = self.tenant;
        for p in present.iter().filter(|p| p.tenant == tenant) {
            let direction = if Some(&p.id) == organizer.as_ref() {
                "outgoing"
            } else {
                "incoming"
            };
            for (at, kind) in [(p.join, "callStarted"), (p.leave, "callEnded")] {
                self.event(
                    at,
                    json!({"callEventType": kind, "userId": p.id, "direction": direction,
                           "callId": d.id, "joinCallUrl": call_url}),
                );
            }
        }
        match (&join_url, organizer) {
            (Some(url), Some(org)) => self.meeting(d, url, &org, &present),
            (None, Some(org)) if matches!(d.kind, CallKind::PeerToPeer | CallKind::Group) => {
                self.adhoc_call(d, &org, &present)
            }
            _ => {}
        }
    }

    fn meeting(&mut self, d: &Draft, url: &str, organizer: &str, present: &[Presence]) {
        // Meeting feed: the call starts, people join and leave, the call ends.
        self.event(
            d.start,
            json!({"callEventType": "callStarted", "joinWebUrl": url}),
        );
        for p in present {
            let leg = self.uuid();
            let user = json!({"id": p.id, "displayName": p.name, "tenantId": p.tenant});
            self.event(
                p.join,
                json!({"callEventType": "rosterUpdated", "joinWebUrl": url, "participants": [
                    {"info": {"identity": {"user": user}}, "isInLobby": false, "id": leg}]}),
            );
            self.event(
                p.leave,
                json!({"callEventType": "rosterUpdated", "joinWebUrl": url, "participants": [
                    {"info": {"identity": {"user": user}}, "isInLobby": false,
                     "removedState": {"reason": "Participant has left the meeting call."}, "id": leg}]}),
            );
        }
        self.event(
            d.end,
            json!({"callEventType": "callEnded", "joinWebUrl": url}),
        );

        let thread = url
            .split("meeting_")
            .nth(1)
            .and_then(|s| s.split("%40").next())
            .unwrap_or("")
            .to_string();
        let id = base64url(format!("1*{organizer}*0**19:meeting_{thread}@thread.v2").as_bytes());
        let scheduled = d
            .start
            .duration_round(Duration::minutes(15))
            .unwrap_or(d.start);
        let planned_end = d
            .end
            .duration_round(Duration::minutes(15))
            .unwrap_or(d.end)
            .max(scheduled + Duration::minutes(15));
        let created = scheduled - Duration::hours(self.rng.gen_range(2..24 * 14));
        let info = |p: &Presence, role: &str, people: &HashMap<&str, &Person>| {
            json!({
                "identity": {"user": {"id": p.id, "displayName": p.name, "tenantId": p.tenant}},
                "role": role,
                "upn": people.get(p.id.as_str()).map(|x| x.upn.clone()),
            })
        };
        let organizer_info = present
            .iter()
            .find(|p| p.id == organizer)
            .map(|p| info(p, "presenter", &self.people));
        let attendees: Vec<Value> = present
            .iter()
            .filter(|p| p.id != organizer)
            .map(|p| info(p, "attendee", &self.people))
            .collect();
        let subject = SUBJECTS[self.rng.gen_range(0..SUBJECTS.len())];
        let transcribed = self.rng.gen_bool(MEETING_TRANSCRIBED);
        let recorded = self.rng.gen_bool(MEETING_RECORDED);
        self.plan.online_meetings.push(json!({
            "id": id,
            "creationDateTime": ts(created),
            "startDateTime": ts(scheduled),
            "endDateTime": ts(planned_end),
            "joinWebUrl": url,
            "subject": subject,
            "isBroadcast": false,
            "allowRecording": true,
            "allowTranscription": true,
            "participants": {"organizer": organizer_info, "attendees": attendees},
            "chatInfo": {"threadId": format!("19:meeting_{thread}@thread.v2"), "messageId": "0", "replyChainMessageId": null},
        }));
        let parent = format!("onlineMeetings/{id}");
        self.artifacts(d, &parent, Some(&id), present, transcribed, recorded);
    }

    fn adhoc_call(&mut self, d: &Draft, organizer: &str, present: &[Presence]) {
        let transcribed = self.rng.gen_bool(ADHOC_TRANSCRIBED);
        let recorded = self.rng.gen_bool(ADHOC_RECORDED);
        if !transcribed && !recorded {
            // callhook stores an ad hoc call only as the owner of its artifacts.
            return;
        }
        let (name, tenant) = present
            .iter()
            .find(|p| p.id == organizer)
            .map(|p| (p.name.clone(), p.tenant.clone()))
            .unwrap_or_default();
        self.plan.adhoc_calls.push(json!({
            "id": d.id,
            "organizer": {"user": {"id": organizer, "displayName": name, "tenantId": tenant}},
            "startDateTime": ts(d.start),
            "endDateTime": ts(d.end),
        }));
        let parent = format!("adhocCalls/{}", d.id);
        self.artifacts(d, &parent, None, present, transcribed, recorded);
    }

    fn artifacts(
        &mut self,
        d: &Draft,
        parent: &str,
        meeting_id: Option<&str>,
        present: &[Presence],
        transcribed: bool,
        recorded: bool,
    ) {
        // Capture starts a little after the call does and stops before it ends.
        let span_ms = (d.end - d.start).num_milliseconds().max(2_000) as u64;
        let lead = self.rng.gen_range(0..span_ms / 10 + 1);
        let tail = self.rng.gen_range(0..span_ms / 20 + 1);
        let captured = (span_ms - lead - tail).max(1_000);
        let start = d.start + Duration::milliseconds(lead as i64);
        let end = start + Duration::milliseconds(captured as i64);
        let correlation = self.uuid();
        let meta = |id: &str| {
            json!({
                "id": id,
                "meetingId": meeting_id,
                "callId": d.id,
                "createdDateTime": ts(start),
                "endDateTime": ts(end),
                "contentCorrelationId": correlation,
            })
        };
        if transcribed {
            let id = base64url(format!("V2##{}##{}", d.id, self.uuid()).as_bytes());
            let cues = self.cues(start, captured, present);
            self.plan.artifacts.push(SimArtifact {
                path: format!("{parent}/transcripts/{id}"),
                metadata: meta(&id),
                content_type: "text/vtt",
                content: artifacts::webvtt(&cues).into_bytes(),
                metadata_content: Some(artifacts::metadata_vtt(start, &cues)),
            });
        }
        if recorded {
            let id = base64url(format!("V2##{}##{}", d.id, self.uuid()).as_bytes());
            let media: [u8; 32] = self.rng.gen();
            self.plan.artifacts.push(SimArtifact {
                path: format!("{parent}/recordings/{id}"),
                metadata: meta(&id),
                content_type: "video/mp4",
                content: artifacts::mp4(start, captured, &media),
                metadata_content: None,
            });
        }
    }

    /// Utterances spread over the capture, in order and inside it, each spoken by someone who
    /// was in the call at that moment.
    fn cues(&mut self, start: DateTime<Utc>, captured_ms: u64, present: &[Presence]) -> Vec<Cue> {
        let n = (captured_ms / 15_000).clamp(1, MAX_CUES);
        let slot = captured_ms / n;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let from = i * slot + self.rng.gen_range(0..slot / 4 + 1);
            let len = self
                .rng
                .gen_range(slot / 4..slot * 3 / 4 + 1)
                .clamp(1, 9_000);
            let to = (from + len).min((i + 1) * slot);
            let at = start + Duration::milliseconds(from as i64);
            let here: Vec<&Presence> = present
                .iter()
                .filter(|p| p.join <= at && at < p.leave)
                .collect();
            let pool = if here.is_empty() {
                present.iter().collect()
            } else {
                here
            };
            let speaker = pool
                .get(self.rng.gen_range(0..pool.len().max(1)))
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "Unknown speaker".into());
            out.push(Cue {
                start_ms: from,
                end_ms: to.max(from + 1),
                speaker,
                text: LINES[self.rng.gen_range(0..LINES.len())].to_string(),
            });
        }
        out
    }
}
