//! A call record's JSON flattened into the store's rows: one per session, segment, media stream
//! (with both endpoints' agent, identity, network and device on it) and participant.
//!
//! Each table's columns are declared once here, as Graph property paths with a type; the store
//! writes whatever these lists name (the migrations create the same columns, and a test checks
//! that they agree). Reading the JSON rather than `callhook-model`'s strict types keeps the
//! collector working when real Graph adds properties the model does not know.

use std::sync::OnceLock;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

/// How a column's value is read from JSON and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Real,
    Bool,
    Time,
    /// An ISO 8601 duration stored as milliseconds (REAL).
    Millis,
    /// An array of strings stored comma-separated (`modalities`).
    List,
}

/// Where a column's path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Record,
    Session,
    Segment,
    Media,
    Stream,
    Item,
}

#[derive(Debug, Clone)]
pub struct Col {
    pub name: String,
    pub ctx: Ctx,
    /// JSON pointer below the context (`/callerNetwork/subnet`).
    pub path: String,
    pub kind: Kind,
}

/// One typed cell; `None` is SQL NULL of the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

/// `reflexiveIPAddress` → `reflexive_ip_address`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn col(name: impl Into<String>, ctx: Ctx, path: impl Into<String>, kind: Kind) -> Col {
    Col {
        name: name.into(),
        ctx,
        path: path.into(),
        kind,
    }
}

/// Columns named after their Graph property, below `base`, prefixed.
fn group(out: &mut Vec<Col>, prefix: &str, ctx: Ctx, base: &str, props: &[(&str, Kind)]) {
    for (p, kind) in props {
        out.push(col(
            format!("{prefix}{}", snake(p)),
            ctx,
            format!("{base}/{p}"),
            *kind,
        ));
    }
}

use Kind::*;

const STREAM_PROPS: &[(&str, Kind)] = &[
    ("streamId", Text),
    ("streamDirection", Text),
    ("startDateTime", Time),
    ("endDateTime", Time),
    ("audioCodec", Text),
    ("videoCodec", Text),
    ("averageAudioDegradation", Real),
    ("averageAudioNetworkJitter", Millis),
    ("maxAudioNetworkJitter", Millis),
    ("averageJitter", Millis),
    ("maxJitter", Millis),
    ("averagePacketLossRate", Real),
    ("maxPacketLossRate", Real),
    ("averageRatioOfConcealedSamples", Real),
    ("maxRatioOfConcealedSamples", Real),
    ("averageRoundTripTime", Millis),
    ("maxRoundTripTime", Millis),
    ("averageBandwidthEstimate", Int),
    ("packetUtilization", Int),
    ("wasMediaBypassed", Bool),
    ("isAudioForwardErrorCorrectionUsed", Bool),
    ("postForwardErrorCorrectionPacketLossRate", Real),
    ("averageVideoFrameLossPercentage", Real),
    ("averageReceivedFrameRate", Real),
    ("averageVideoFrameRate", Real),
    ("averageVideoPacketLossRate", Real),
    ("lowFrameRateRatio", Real),
    ("lowVideoProcessingCapabilityRatio", Real),
    ("averageFreezeDuration", Millis),
    ("rmsFreezeDuration", Millis),
];

/// An endpoint (`caller`/`callee` of a session or segment): its kind, agent, user and feedback.
const ENDPOINT_PROPS: &[(&str, Kind)] = &[
    ("@odata.type", Text),
    ("name", Text),
    ("cpuName", Text),
    ("cpuCoresCount", Int),
    ("cpuProcessorSpeedInMhz", Int),
    ("userAgent/@odata.type", Text),
    ("userAgent/headerValue", Text),
    ("userAgent/applicationVersion", Text),
    ("userAgent/platform", Text),
    ("userAgent/productFamily", Text),
    ("userAgent/role", Text),
    ("userAgent/azureADAppId", Text),
    ("userAgent/communicationServiceId", Text),
    ("associatedIdentity/@odata.type", Text),
    ("associatedIdentity/id", Text),
    ("associatedIdentity/displayName", Text),
    ("associatedIdentity/userPrincipalName", Text),
    ("associatedIdentity/tenantId", Text),
    ("feedback/rating", Text),
    ("feedback/text", Text),
];

const NETWORK_PROPS: &[(&str, Kind)] = &[
    ("connectionType", Text),
    ("networkTransportProtocol", Text),
    ("ipAddress", Text),
    ("subnet", Text),
    ("reflexiveIPAddress", Text),
    ("relayIPAddress", Text),
    ("relayPort", Int),
    ("port", Int),
    ("macAddress", Text),
    ("dnsSuffix", Text),
    ("linkSpeed", Int),
    ("wifiBand", Text),
    ("wifiRadioType", Text),
    ("wifiChannel", Int),
    ("wifiSignalStrength", Int),
    ("wifiBatteryCharge", Int),
    ("basicServiceSetIdentifier", Text),
    ("wifiMicrosoftDriver", Text),
    ("wifiMicrosoftDriverVersion", Text),
    ("wifiVendorDriver", Text),
    ("wifiVendorDriverVersion", Text),
    ("bandwidthLowEventRatio", Real),
    ("delayEventRatio", Real),
    ("receivedQualityEventRatio", Real),
    ("sentQualityEventRatio", Real),
];

const DEVICE_PROPS: &[(&str, Kind)] = &[
    ("captureDeviceName", Text),
    ("captureDeviceDriver", Text),
    ("renderDeviceName", Text),
    ("renderDeviceDriver", Text),
    ("captureNotFunctioningEventRatio", Real),
    ("cpuInsufficentEventRatio", Real),
    ("deviceClippingEventRatio", Real),
    ("deviceGlitchEventRatio", Real),
    ("howlingEventCount", Int),
    ("initialSignalLevelRootMeanSquare", Real),
    ("lowSpeechLevelEventRatio", Real),
    ("lowSpeechToNoiseEventRatio", Real),
    ("micGlitchRate", Real),
    ("speakerGlitchRate", Real),
    ("receivedNoiseLevel", Int),
    ("receivedSignalLevel", Int),
    ("sentNoiseLevel", Int),
    ("sentSignalLevel", Int),
    ("renderMuteEventRatio", Real),
    ("renderNotFunctioningEventRatio", Real),
    ("renderZeroVolumeEventRatio", Real),
];

fn endpoint_name(p: &str) -> String {
    // `userAgent/headerValue` → `user_agent_header_value`; `@odata.type` → `type`.
    snake(&p.replace("@odata.type", "type").replace('/', "_")).replace("__", "_")
}

fn endpoint(out: &mut Vec<Col>, prefix: &str, ctx: Ctx, base: &str) {
    for (p, kind) in ENDPOINT_PROPS {
        out.push(col(
            format!("{prefix}{}", endpoint_name(p)),
            ctx,
            format!("{base}/{p}"),
            *kind,
        ));
    }
}

/// The key columns every child table starts with.
fn keys(out: &mut Vec<Col>) {
    out.push(col("tenant_id", Ctx::Record, "", Text));
    out.push(col("call_id", Ctx::Record, "/id", Text));
}

/// What sessions and segments share: keys, times, failure and both endpoints.
fn leg(ctx: Ctx, extra: &[Col]) -> Vec<Col> {
    let mut c = Vec::new();
    keys(&mut c);
    c.push(col("session_id", Ctx::Session, "/id", Text));
    c.extend(extra.iter().cloned());
    c.push(col("start_date_time", ctx, "/startDateTime", Time));
    c.push(col("end_date_time", ctx, "/endDateTime", Time));
    c.push(col("failure_stage", ctx, "/failureInfo/stage", Text));
    c.push(col("failure_reason", ctx, "/failureInfo/reason", Text));
    endpoint(&mut c, "caller_", ctx, "/caller");
    endpoint(&mut c, "callee_", ctx, "/callee");
    c
}

/// `call_sessions`.
pub fn session_columns() -> &'static [Col] {
    static C: OnceLock<Vec<Col>> = OnceLock::new();
    C.get_or_init(|| {
        leg(
            Ctx::Session,
            &[
                col("modalities", Ctx::Session, "/modalities", List),
                col("is_test", Ctx::Session, "/isTest", Bool),
            ],
        )
    })
}

/// `call_segments`.
pub fn segment_columns() -> &'static [Col] {
    static C: OnceLock<Vec<Col>> = OnceLock::new();
    C.get_or_init(|| {
        leg(
            Ctx::Segment,
            &[col("segment_id", Ctx::Segment, "/id", Text)],
        )
    })
}

/// `call_streams`: one row per media stream, with the call, session and segment it belongs to
/// and both endpoints of its segment (caller and callee; `stream_direction` says which sent it).
pub fn stream_columns() -> &'static [Col] {
    static C: OnceLock<Vec<Col>> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = Vec::new();
        keys(&mut c);
        c.push(col("session_id", Ctx::Session, "/id", Text));
        c.push(col("segment_id", Ctx::Segment, "/id", Text));
        c.push(col("media_index", Ctx::Item, "/media_index", Int));
        c.push(col("stream_index", Ctx::Item, "/stream_index", Int));
        c.push(col("call_type", Ctx::Record, "/type", Text));
        c.push(col(
            "call_start_date_time",
            Ctx::Record,
            "/startDateTime",
            Time,
        ));
        c.push(col(
            "segment_start_date_time",
            Ctx::Segment,
            "/startDateTime",
            Time,
        ));
        c.push(col(
            "segment_end_date_time",
            Ctx::Segment,
            "/endDateTime",
            Time,
        ));
        c.push(col(
            "session_failure_stage",
            Ctx::Session,
            "/failureInfo/stage",
            Text,
        ));
        c.push(col(
            "session_failure_reason",
            Ctx::Session,
            "/failureInfo/reason",
            Text,
        ));
        c.push(col(
            "segment_failure_stage",
            Ctx::Segment,
            "/failureInfo/stage",
            Text,
        ));
        c.push(col(
            "segment_failure_reason",
            Ctx::Segment,
            "/failureInfo/reason",
            Text,
        ));
        c.push(col("media_label", Ctx::Media, "/label", Text));
        group(&mut c, "", Ctx::Stream, "", STREAM_PROPS);
        endpoint(&mut c, "caller_", Ctx::Segment, "/caller");
        endpoint(&mut c, "callee_", Ctx::Segment, "/callee");
        group(
            &mut c,
            "caller_network_",
            Ctx::Media,
            "/callerNetwork",
            NETWORK_PROPS,
        );
        group(
            &mut c,
            "callee_network_",
            Ctx::Media,
            "/calleeNetwork",
            NETWORK_PROPS,
        );
        group(
            &mut c,
            "caller_device_",
            Ctx::Media,
            "/callerDevice",
            DEVICE_PROPS,
        );
        group(
            &mut c,
            "callee_device_",
            Ctx::Media,
            "/calleeDevice",
            DEVICE_PROPS,
        );
        c
    })
}

/// `call_participants` (`participants_v2`).
pub fn participant_columns() -> &'static [Col] {
    static C: OnceLock<Vec<Col>> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = Vec::new();
        keys(&mut c);
        c.push(col("participant_id", Ctx::Item, "/id", Text));
        for kind in [
            "user",
            "phone",
            "guest",
            "applicationInstance",
            "application",
        ] {
            let k = snake(kind);
            c.push(col(
                format!("{k}_id"),
                Ctx::Item,
                format!("/identity/{kind}/id"),
                Text,
            ));
            c.push(col(
                format!("{k}_display_name"),
                Ctx::Item,
                format!("/identity/{kind}/displayName"),
                Text,
            ));
        }
        c.push(col(
            "user_principal_name",
            Ctx::Item,
            "/identity/user/userPrincipalName",
            Text,
        ));
        c.push(col(
            "user_tenant_id",
            Ctx::Item,
            "/identity/user/tenantId",
            Text,
        ));
        c.push(col("participant_json", Ctx::Item, "", Kind::Text));
        c
    })
}

/// A parsed ISO 8601 duration (`PT1M2.5S`, `P1DT2H`) in milliseconds.
pub fn duration_millis(s: &str) -> Option<f64> {
    let rest = s.strip_prefix('P')?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms = 0.0;
    let mut num = String::new();
    for (part, time) in [(days_part, false), (time_part, true)] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let n: f64 = num.parse().ok()?;
            num.clear();
            ms += n * match (c, time) {
                ('D', false) => 86_400_000.0,
                ('W', false) => 7.0 * 86_400_000.0,
                ('H', true) => 3_600_000.0,
                ('M', true) => 60_000.0,
                ('S', true) => 1_000.0,
                _ => return None,
            };
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(ms)
}

fn read(v: Option<&Value>, kind: Kind) -> Val {
    let v = v.filter(|v| !v.is_null());
    match kind {
        Text => Val::Text(v.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        List => Val::Text(v.and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })),
        Int => Val::Int(v.and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })),
        Real => Val::Real(
            v.and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .filter(|f: &f64| f.is_finite()),
        ),
        Bool => Val::Bool(v.and_then(Value::as_bool)),
        // Microseconds: PostgreSQL's precision, so both backends hold the same instant (the
        // record's JSON keeps Graph's seven digits).
        Time => Val::Time(
            v.and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc).trunc_subsecs(6)),
        ),
        Millis => Val::Real(v.and_then(Value::as_str).and_then(duration_millis)),
    }
}

/// The contexts one row is read from.
#[derive(Default, Clone, Copy)]
pub struct Scope<'a> {
    pub record: Option<&'a Value>,
    pub session: Option<&'a Value>,
    pub segment: Option<&'a Value>,
    pub media: Option<&'a Value>,
    pub stream: Option<&'a Value>,
    pub item: Option<&'a Value>,
}

/// One row's cells for `cols`.
pub fn row(cols: &[Col], tenant_id: &str, scope: Scope<'_>) -> Vec<Val> {
    cols.iter()
        .map(|c| {
            if c.name == "tenant_id" {
                return Val::Text(Some(tenant_id.to_string()));
            }
            let base = match c.ctx {
                Ctx::Record => scope.record,
                Ctx::Session => scope.session,
                Ctx::Segment => scope.segment,
                Ctx::Media => scope.media,
                Ctx::Stream => scope.stream,
                Ctx::Item => scope.item,
            };
            if c.path.is_empty() {
                // The whole item as JSON text (participant_json).
                return Val::Text(base.map(Value::to_string));
            }
            read(base.and_then(|b| b.pointer(&c.path)), c.kind)
        })
        .collect()
}

/// The rows of one call record.
#[derive(Debug, Default)]
pub struct Flat {
    pub sessions: Vec<Vec<Val>>,
    pub segments: Vec<Vec<Val>>,
    pub streams: Vec<Vec<Val>>,
    pub participants: Vec<Vec<Val>>,
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn flatten(tenant_id: &str, record: &Value) -> Flat {
    let mut flat = Flat::default();
    let base = Scope {
        record: Some(record),
        ..Default::default()
    };
    for session in array(record, "sessions") {
        let s_scope = Scope {
            session: Some(session),
            ..base
        };
        flat.sessions
            .push(row(session_columns(), tenant_id, s_scope));
        for segment in array(session, "segments") {
            let g_scope = Scope {
                segment: Some(segment),
                ..s_scope
            };
            flat.segments
                .push(row(segment_columns(), tenant_id, g_scope));
            for (mi, media) in array(segment, "media").iter().enumerate() {
                for (si, stream) in array(media, "streams").iter().enumerate() {
                    let index = serde_json::json!({"media_index": mi, "stream_index": si});
                    flat.streams.push(row(
                        stream_columns(),
                        tenant_id,
                        Scope {
                            media: Some(media),
                            stream: Some(stream),
                            item: Some(&index),
                            ..g_scope
                        },
                    ));
                }
            }
        }
    }
    for p in array(record, "participants_v2") {
        flat.participants.push(row(
            participant_columns(),
            tenant_id,
            Scope {
                item: Some(p),
                ..base
            },
        ));
    }
    flat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_graph_in_snake_case() {
        assert_eq!(snake("reflexiveIPAddress"), "reflexive_ip_address");
        assert_eq!(snake("azureADAppId"), "azure_ad_app_id");
        assert_eq!(snake("wifiBand"), "wifi_band");
        assert_eq!(endpoint_name("userAgent/@odata.type"), "user_agent_type");
        assert_eq!(endpoint_name("@odata.type"), "type");
        let names: Vec<&str> = stream_columns().iter().map(|c| c.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate stream columns");
        assert!(names.contains(&"caller_network_basic_service_set_identifier"));
        assert!(names.contains(&"callee_device_mic_glitch_rate"));
    }

    #[test]
    fn durations_read_as_milliseconds() {
        assert_eq!(duration_millis("PT0.015S"), Some(15.0));
        assert_eq!(duration_millis("PT1M2S"), Some(62_000.0));
        assert_eq!(duration_millis("P1DT1H"), Some(90_000_000.0));
        assert_eq!(duration_millis("PT"), Some(0.0));
        assert_eq!(duration_millis("15ms"), None);
        assert_eq!(duration_millis("PT5"), None);
    }

    #[test]
    fn a_stream_row_carries_its_segment_endpoints_and_media_networks() {
        let record = serde_json::json!({
            "id": "c1", "type": "peerToPeer", "startDateTime": "2026-01-01T10:00:00Z",
            "sessions": [{"id": "s1", "failureInfo": {"stage": "midcall", "reason": "x"},
              "segments": [{"id": "g1", "startDateTime": "2026-01-01T10:00:00Z",
                "caller": {"@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                  "userAgent": {"platform": "windows", "headerValue": "UA/1"}},
                "callee": {"userAgent": {"role": "conferencingServer"}},
                "media": [{"label": "main-audio",
                  "callerNetwork": {"subnet": "10.0.0.0", "wifiSignalStrength": 80, "wifiBand": "frequency50GHz"},
                  "calleeDevice": {"micGlitchRate": "NaN"},
                  "streams": [{"streamDirection": "callerToCallee", "averageJitter": "PT0.02S",
                    "averagePacketLossRate": 0.01}, {"streamDirection": "calleeToCaller"}]}]}]}],
            "participants_v2": [{"id": "p1", "identity": {"user": {"id": "u1", "displayName": "Ann"}}}]
        });
        let flat = flatten("t1", &record);
        assert_eq!(flat.sessions.len(), 1);
        assert_eq!(flat.segments.len(), 1);
        assert_eq!(flat.streams.len(), 2);
        assert_eq!(flat.participants.len(), 1);
        let cols = stream_columns();
        let get = |name: &str| {
            let i = cols.iter().position(|c| c.name == name).expect(name);
            flat.streams[0][i].clone()
        };
        assert_eq!(get("tenant_id"), Val::Text(Some("t1".into())));
        assert_eq!(get("average_jitter"), Val::Real(Some(20.0)));
        assert_eq!(
            get("caller_network_subnet"),
            Val::Text(Some("10.0.0.0".into()))
        );
        assert_eq!(
            get("caller_network_wifi_signal_strength"),
            Val::Int(Some(80))
        );
        assert_eq!(
            get("caller_user_agent_platform"),
            Val::Text(Some("windows".into()))
        );
        assert_eq!(
            get("callee_user_agent_role"),
            Val::Text(Some("conferencingServer".into()))
        );
        assert_eq!(get("callee_device_mic_glitch_rate"), Val::Real(None));
        assert_eq!(
            get("session_failure_stage"),
            Val::Text(Some("midcall".into()))
        );
        assert_eq!(get("media_index"), Val::Int(Some(0)));
        assert_eq!(
            get("call_start_date_time"),
            Val::Time(Some("2026-01-01T10:00:00Z".parse().expect("t")))
        );
    }
}
