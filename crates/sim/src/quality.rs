//! Quality of generated records by CQD's rules (the `callhook-quality` crate), and the
//! ISO 8601 durations the generator writes.

use callhook_quality::{streams, Quality, Thresholds};
use serde::Serialize;
use serde_json::Value;

/// What kind of media the generator makes for a media line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamKind {
    Audio,
    Video,
    /// Video-based screen sharing.
    Vbss,
}

/// The CQD verdict (current rule) of every stream of a call record in ingest JSON; a value
/// that is not a valid call record has none.
pub fn classify_record(record: &Value) -> Vec<Quality> {
    let Ok(r) = callhook_model::from_value::<callhook_model::CallRecord>(record.clone()) else {
        return Vec::new();
    };
    streams(&r, &Thresholds::default())
        .into_iter()
        .map(|v| v.verdict.quality)
        .collect()
}

/// Milliseconds as the ISO 8601 form Graph emits for short durations (`PT0.016S`, `PT1S`).
pub(crate) fn format_duration_ms(ms: u64) -> String {
    callhook_model::GraphDuration::from_millis_f64(ms as f64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_like_graph() {
        assert_eq!(format_duration_ms(16), "PT0.016S");
        assert_eq!(format_duration_ms(1000), "PT1S");
        assert_eq!(format_duration_ms(1250), "PT1.25S");
        assert_eq!(format_duration_ms(61_007), "PT1M1.007S");
    }
}
