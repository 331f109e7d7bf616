//! A call record under construction, with the version each late piece of data first appears in,
//! so that version 1 and every later correction render from the same draw of random values.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::CallKind;
use crate::quality::StreamKind;

/// Version gate meaning "never reported" (stream statistics that stay empty for good).
pub(super) const NEVER: u8 = u8::MAX;

pub(super) struct Draft {
    pub id: String,
    pub kind: CallKind,
    pub call_type: &'static str,
    pub join_url: Option<String>,
    pub organizer: Value,
    /// (first version, participant id, participant JSON).
    pub participants: Vec<(u8, String, Value)>,
    pub sessions: Vec<SessionDraft>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Number of later corrections (0..=3); correction k renders as version k + 1.
    pub corrections: u8,
}

pub(super) struct SessionDraft {
    pub from: u8,
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub caller: EndpointDraft,
    pub callee: EndpointDraft,
    pub failure: Option<Value>,
    pub segments: Vec<SegmentDraft>,
}

pub(super) struct EndpointDraft {
    pub value: Map<String, Value>,
    /// Whether this is a user's client (can rate the call) rather than a service.
    pub is_client: bool,
    pub feedback: Option<(u8, Value)>,
}

pub(super) struct SegmentDraft {
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub caller: Value,
    pub callee: Value,
    pub media: Vec<MediaDraft>,
}

pub(super) struct MediaDraft {
    pub label: &'static str,
    pub kind: StreamKind,
    pub caller_network: Option<Value>,
    pub callee_network: Option<Value>,
    pub caller_device: Option<Value>,
    pub callee_device: Option<Value>,
    /// Trace-route hops reported late for the caller (index 0) and callee (index 1) networks.
    pub hops: [Option<(u8, Value)>; 2],
    pub streams: Vec<StreamDraft>,
}

pub(super) struct StreamDraft {
    pub base: Map<String, Value>,
    pub stats: Map<String, Value>,
    pub stats_from: u8,
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    // Graph writes seven fractional digits (100 ns ticks).
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

impl Draft {
    /// The record body as sent at `version` (1 = first version).
    pub fn render(&self, version: u8) -> Value {
        let sessions: Vec<&SessionDraft> =
            self.sessions.iter().filter(|s| s.from <= version).collect();
        let mut modalities: Vec<&'static str> = Vec::new();
        let rendered: Vec<Value> = sessions
            .iter()
            .map(|s| {
                let (v, mods) = s.render(version);
                for m in mods {
                    if !modalities.contains(&m) {
                        modalities.push(m);
                    }
                }
                v
            })
            .collect();
        sort_modalities(&mut modalities);
        if modalities.is_empty() {
            modalities.push("audio");
        }
        let participants: Vec<Value> = self
            .participants
            .iter()
            .filter(|(from, _, _)| *from <= version)
            .map(|(_, _, p)| p.clone())
            .collect();
        let mut rec = Map::new();
        rec.insert("id".into(), json!(self.id));
        rec.insert("type".into(), json!(self.call_type));
        rec.insert("modalities".into(), json!(modalities));
        rec.insert("startDateTime".into(), json!(ts(self.start)));
        rec.insert("endDateTime".into(), json!(ts(self.end)));
        rec.insert(
            "joinWebUrl".into(),
            self.join_url.clone().map_or(Value::Null, Value::String),
        );
        rec.insert("organizer_v2".into(), self.organizer.clone());
        rec.insert("participants_v2".into(), Value::Array(participants));
        rec.insert("sessions".into(), Value::Array(rendered));
        Value::Object(rec)
    }
}

fn sort_modalities(m: &mut [&'static str]) {
    let rank = |x: &str| match x {
        "audio" => 0,
        "video" => 1,
        "videoBasedScreenSharing" => 2,
        _ => 3,
    };
    m.sort_by_key(|x| rank(x));
}

fn modality(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Audio => "audio",
        StreamKind::Video => "video",
        StreamKind::Vbss => "videoBasedScreenSharing",
    }
}

impl SessionDraft {
    fn render(&self, version: u8) -> (Value, Vec<&'static str>) {
        let mut mods: Vec<&'static str> = Vec::new();
        for seg in &self.segments {
            for m in &seg.media {
                let name = modality(m.kind);
                if !mods.contains(&name) {
                    mods.push(name);
                }
            }
        }
        sort_modalities(&mut mods);
        if mods.is_empty() {
            mods.push("audio");
        }
        let mut s = Map::new();
        s.insert("id".into(), json!(self.id));
        s.insert("modalities".into(), json!(mods));
        s.insert("startDateTime".into(), json!(ts(self.start)));
        s.insert("endDateTime".into(), json!(ts(self.end)));
        s.insert("isTest".into(), json!(false));
        s.insert("caller".into(), self.caller.render(version));
        s.insert("callee".into(), self.callee.render(version));
        if let Some(f) = &self.failure {
            s.insert("failureInfo".into(), f.clone());
        }
        let segs: Vec<Value> = self.segments.iter().map(|g| g.render(version)).collect();
        s.insert("segments".into(), Value::Array(segs));
        (Value::Object(s), mods)
    }
}

impl EndpointDraft {
    fn render(&self, version: u8) -> Value {
        let mut v = self.value.clone();
        if let Some((from, fb)) = &self.feedback {
            if *from <= version {
                v.insert("feedback".into(), fb.clone());
            }
        }
        Value::Object(v)
    }
}

impl SegmentDraft {
    fn render(&self, version: u8) -> Value {
        let media: Vec<Value> = self.media.iter().map(|m| m.render(version)).collect();
        json!({
            "id": self.id,
            "startDateTime": ts(self.start),
            "endDateTime": ts(self.end),
            "caller": self.caller,
            "callee": self.callee,
            "media": media,
        })
    }
}

impl MediaDraft {
    fn render(&self, version: u8) -> Value {
        let mut m = Map::new();
        m.insert("label".into(), json!(self.label));
        let nets = [
            ("callerNetwork", &self.caller_network),
            ("calleeNetwork", &self.callee_network),
        ];
        for (i, (key, net)) in nets.into_iter().enumerate() {
            if let Some(net) = net {
                let mut net = net.clone();
                if let Some(Some((from, hops))) = self.hops.get(i) {
                    if let (true, Some(obj)) = (*from <= version, net.as_object_mut()) {
                        obj.insert("traceRouteHops".into(), hops.clone());
                    }
                }
                m.insert(key.into(), net);
            }
        }
        if let Some(d) = &self.caller_device {
            m.insert("callerDevice".into(), d.clone());
        }
        if let Some(d) = &self.callee_device {
            m.insert("calleeDevice".into(), d.clone());
        }
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                let mut v = s.base.clone();
                if s.stats_from <= version {
                    v.extend(s.stats.clone());
                }
                Value::Object(v)
            })
            .collect();
        m.insert("streams".into(), Value::Array(streams));
        Value::Object(m)
    }
}
