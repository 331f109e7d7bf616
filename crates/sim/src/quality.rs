//! CQD stream classification (spec §10) over Graph `mediaStream` JSON values.
//!
//! The mapping from CQD metric names to Graph fields is callhook's own reading of the CQD page:
//! audio is Poor when any reported metric crosses its bar; video and video-based screen sharing
//! are decided by the first metric present in a fixed order.

use serde::Serialize;
use serde_json::Value;

/// Which CQD rule set applies to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamKind {
    Audio,
    Video,
    /// Video-based screen sharing.
    Vbss,
}

impl StreamKind {
    /// Kind of the streams of a `media` entry, from its `label` (`main-audio`, `main-video`,
    /// `applicationsharing-video`, ...). `None` for labels with no CQD rule (e.g. `data`).
    pub fn from_media_label(label: &str) -> Option<Self> {
        let l = label.to_ascii_lowercase();
        if l.contains("applicationsharing") || l.contains("screenshar") || l.contains("vbss") {
            Some(Self::Vbss)
        } else if l.contains("video") {
            Some(Self::Video)
        } else if l.contains("audio") {
            Some(Self::Audio)
        } else {
            None
        }
    }

    /// Fallback when a media entry has no usable label: the codec the stream carries.
    pub fn from_stream(stream: &Value) -> Option<Self> {
        if has_value(stream, "audioCodec") {
            Some(Self::Audio)
        } else if has_value(stream, "videoCodec") {
            Some(Self::Video)
        } else {
            None
        }
    }
}

/// CQD verdict for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamQuality {
    Good,
    Poor,
    Unclassified,
}

// Thresholds of spec §10.1–10.3.
const AUDIO_DEGRADATION_MAX: f64 = 1.0;
const AUDIO_RTT_MAX_MS: f64 = 500.0;
const AUDIO_LOSS_MAX: f64 = 0.1;
const AUDIO_JITTER_MAX_MS: f64 = 30.0;
const AUDIO_CONCEALED_MAX: f64 = 0.07;
const VIDEO_FRAME_LOSS_MAX_PCT: f64 = 50.0;
const VIDEO_FPS_MIN: f64 = 7.0;
const VBSS_FPS_MIN: f64 = 2.0;
const VIDEO_POST_FEC_MAX: f64 = 0.15;

/// Classifies one `mediaStream` value with the rules for `kind`.
pub fn classify_stream(kind: StreamKind, stream: &Value) -> StreamQuality {
    match kind {
        StreamKind::Audio => classify_audio(stream),
        StreamKind::Video => classify_video(stream, VIDEO_FPS_MIN),
        StreamKind::Vbss => classify_video(stream, VBSS_FPS_MIN),
    }
}

/// Classifies every stream of a `media` value; the kind comes from the label, else the codec.
pub fn classify_media(media: &Value) -> Vec<StreamQuality> {
    let by_label = media
        .get("label")
        .and_then(Value::as_str)
        .and_then(StreamKind::from_media_label);
    let Some(streams) = media.get("streams").and_then(Value::as_array) else {
        return Vec::new();
    };
    streams
        .iter()
        .map(|s| match by_label.or_else(|| StreamKind::from_stream(s)) {
            Some(kind) => classify_stream(kind, s),
            None => StreamQuality::Unclassified,
        })
        .collect()
}

/// Classifies every stream of a fully expanded call record (sessions → segments → media).
pub fn classify_record(record: &Value) -> Vec<StreamQuality> {
    let mut out = Vec::new();
    for session in array(record, "sessions") {
        for segment in array(session, "segments") {
            for media in array(segment, "media") {
                out.extend(classify_media(media));
            }
        }
    }
    out
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn classify_audio(s: &Value) -> StreamQuality {
    let checks = [
        number(s, "averageAudioDegradation").map(|v| v > AUDIO_DEGRADATION_MAX),
        duration_ms(s, "averageRoundTripTime").map(|v| v > AUDIO_RTT_MAX_MS),
        number(s, "averagePacketLossRate").map(|v| v > AUDIO_LOSS_MAX),
        duration_ms(s, "averageJitter").map(|v| v > AUDIO_JITTER_MAX_MS),
        number(s, "averageRatioOfConcealedSamples").map(|v| v > AUDIO_CONCEALED_MAX),
    ];
    let mut any_metric = false;
    for poor in checks.into_iter().flatten() {
        if poor {
            return StreamQuality::Poor;
        }
        any_metric = true;
    }
    if any_metric {
        StreamQuality::Good
    } else {
        StreamQuality::Unclassified
    }
}

fn classify_video(s: &Value, min_fps: f64) -> StreamQuality {
    let verdict = |poor: bool| {
        if poor {
            StreamQuality::Poor
        } else {
            StreamQuality::Good
        }
    };
    if let Some(loss) = number(s, "averageVideoFrameLossPercentage") {
        return verdict(loss > VIDEO_FRAME_LOSS_MAX_PCT);
    }
    if let Some(fps) =
        number(s, "averageVideoFrameRate").or_else(|| number(s, "averageReceivedFrameRate"))
    {
        return verdict(fps < min_fps);
    }
    if let Some(plr) = number(s, "postForwardErrorCorrectionPacketLossRate") {
        return verdict(plr > VIDEO_POST_FEC_MAX);
    }
    StreamQuality::Unclassified
}

fn has_value(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// A numeric field; Graph's `"NaN"`/`"INF"` strings count as absent (they cannot be compared).
fn number(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64().filter(|x| x.is_finite())
}

fn duration_ms(v: &Value, key: &str) -> Option<f64> {
    parse_duration_ms(v.get(key)?.as_str()?)
}

/// Parses an ISO 8601 duration (`PT0.016S`, `PT1M2.5S`, `P1DT2H`, `-PT1S`) into milliseconds.
/// Years and months have no fixed length and are refused, as is anything malformed.
pub fn parse_duration_ms(text: &str) -> Option<f64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    if date_part.is_empty() && time_part.is_none() {
        return None;
    }
    let mut total = 0.0;
    total += sum_components(date_part, &[('W', 604_800_000.0), ('D', 86_400_000.0)])?;
    if let Some(t) = time_part {
        total += sum_components(t, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)])?;
    }
    Some(if negative { -total } else { total })
}

/// Sums `<number><designator>` pairs; designators must appear in the given order, at most once.
fn sum_components(mut s: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut next_unit = 0;
    while !s.is_empty() {
        let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))?;
        let (num, tail) = s.split_at(end);
        if num.is_empty() {
            return None;
        }
        let mut chars = tail.chars();
        let designator = chars.next()?;
        let pos = units
            .iter()
            .skip(next_unit)
            .position(|(u, _)| *u == designator)?;
        let (_, scale) = units.get(next_unit + pos)?;
        let value: f64 = num.replace(',', ".").parse().ok()?;
        total += value * scale;
        next_unit += pos + 1;
        s = chars.as_str();
    }
    Some(total)
}

/// Writes milliseconds as the ISO 8601 form Graph emits for short durations (`PT0.016S`, `PT1S`).
pub(crate) fn format_duration_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let frac = ms % 1000;
    if frac == 0 {
        format!("PT{secs}S")
    } else {
        let digits = format!("{frac:03}");
        format!("PT{secs}.{}S", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_graph_duration_forms() {
        assert_eq!(parse_duration_ms("PT0.016S"), Some(16.0));
        assert_eq!(parse_duration_ms("PT1S"), Some(1000.0));
        assert_eq!(parse_duration_ms("PT1M2.5S"), Some(62_500.0));
        assert_eq!(parse_duration_ms("P1DT1H"), Some(90_000_000.0));
        assert_eq!(parse_duration_ms("-PT0.5S"), Some(-500.0));
        assert_eq!(parse_duration_ms("PT0,25S"), Some(250.0));
    }

    #[test]
    fn refuses_malformed_durations() {
        for bad in [
            "", "P", "PT", "0.016S", "PT1X", "PTS", "PT1S2M", "P1Y", "PT1.2.3S", "PT1é",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_durations_like_graph() {
        assert_eq!(format_duration_ms(16), "PT0.016S");
        assert_eq!(format_duration_ms(1000), "PT1S");
        assert_eq!(format_duration_ms(1250), "PT1.25S");
        assert_eq!(
            parse_duration_ms(&format_duration_ms(61_007)),
            Some(61_007.0)
        );
    }

    #[test]
    fn audio_is_poor_when_any_metric_crosses_its_bar() {
        let good = json!({"averageJitter": "PT0.016S", "averagePacketLossRate": 0.01,
            "averageRoundTripTime": "PT0.061S", "averageAudioDegradation": 0.3,
            "averageRatioOfConcealedSamples": 0.02});
        assert_eq!(
            classify_stream(StreamKind::Audio, &good),
            StreamQuality::Good
        );
        for (k, v) in [
            ("averageJitter", json!("PT0.031S")),
            ("averagePacketLossRate", json!(0.11)),
            ("averageRoundTripTime", json!("PT0.501S")),
            ("averageAudioDegradation", json!(1.160898)),
            ("averageRatioOfConcealedSamples", json!(0.071)),
        ] {
            let mut s = good.clone();
            s[k] = v;
            assert_eq!(
                classify_stream(StreamKind::Audio, &s),
                StreamQuality::Poor,
                "{k}"
            );
        }
    }

    #[test]
    fn audio_at_exact_thresholds_is_good() {
        let s = json!({"averageJitter": "PT0.03S", "averagePacketLossRate": 0.1,
            "averageRoundTripTime": "PT0.5S", "averageAudioDegradation": 1.0,
            "averageRatioOfConcealedSamples": 0.07});
        assert_eq!(classify_stream(StreamKind::Audio, &s), StreamQuality::Good);
    }

    #[test]
    fn audio_without_metrics_is_unclassified() {
        let s = json!({"streamDirection": "callerToCallee", "averageAudioDegradation": null,
            "averagePacketLossRate": "NaN"});
        assert_eq!(
            classify_stream(StreamKind::Audio, &s),
            StreamQuality::Unclassified
        );
    }

    #[test]
    fn video_uses_the_first_available_metric() {
        // Frame loss decides even though the frame rate alone would be poor.
        let s = json!({"averageVideoFrameLossPercentage": 10.0, "averageVideoFrameRate": 3.0});
        assert_eq!(classify_stream(StreamKind::Video, &s), StreamQuality::Good);
        let s = json!({"averageVideoFrameLossPercentage": 51.0});
        assert_eq!(classify_stream(StreamKind::Video, &s), StreamQuality::Poor);
        let s = json!({"averageReceivedFrameRate": 6.5});
        assert_eq!(classify_stream(StreamKind::Video, &s), StreamQuality::Poor);
        let s = json!({"postForwardErrorCorrectionPacketLossRate": 0.2});
        assert_eq!(classify_stream(StreamKind::Video, &s), StreamQuality::Poor);
        assert_eq!(
            classify_stream(StreamKind::Video, &json!({})),
            StreamQuality::Unclassified
        );
    }

    #[test]
    fn vbss_accepts_lower_frame_rates_than_video() {
        let s = json!({"averageVideoFrameRate": 4.0});
        assert_eq!(classify_stream(StreamKind::Vbss, &s), StreamQuality::Good);
        assert_eq!(classify_stream(StreamKind::Video, &s), StreamQuality::Poor);
        let s = json!({"averageVideoFrameRate": 1.5});
        assert_eq!(classify_stream(StreamKind::Vbss, &s), StreamQuality::Poor);
    }

    #[test]
    fn media_label_selects_the_rule_set() {
        assert_eq!(
            StreamKind::from_media_label("main-audio"),
            Some(StreamKind::Audio)
        );
        assert_eq!(
            StreamKind::from_media_label("main-video"),
            Some(StreamKind::Video)
        );
        assert_eq!(
            StreamKind::from_media_label("applicationsharing-video"),
            Some(StreamKind::Vbss)
        );
        assert_eq!(StreamKind::from_media_label("data"), None);
        let media = json!({"label": "data", "streams": [{"audioCodec": "opus", "averageJitter": "PT0.05S"}]});
        assert_eq!(classify_media(&media), vec![StreamQuality::Poor]);
    }

    #[test]
    fn classifies_the_published_example_streams() {
        // Streams of the Graph "get full details" example: the second has degradation 1.16.
        let media = json!({"label": "main-audio", "streams": [
            {"streamDirection": "callerToCallee", "averageAudioDegradation": null,
             "averageJitter": "PT0.016S", "averagePacketLossRate": 0,
             "averageRoundTripTime": "PT0.061S"},
            {"streamDirection": "calleeToCaller", "averageAudioDegradation": 1.160898,
             "averageJitter": "PT0.007S", "averagePacketLossRate": 0.01381693,
             "averageRatioOfConcealedSamples": 0.06233422, "averageRoundTripTime": "PT0.064S"}
        ]});
        assert_eq!(
            classify_media(&media),
            vec![StreamQuality::Good, StreamQuality::Poor]
        );
    }
}
