//! `callTranscript` and `callRecording`: the artifacts of an online meeting or ad hoc call.
//! Their `content` (and a transcript's `metadataContent`) are streams, served by their own
//! routes, so they are not properties here.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::identity::{Identity, IdentitySet};

graph_struct! {
    /// `graph.callTranscript`. All properties are read-only for Graph clients; on ingest
    /// `meetingId`, `meetingOrganizer` and `transcriptContentUrl` are owned by the server.
    pub struct CallTranscript = "microsoft.graph.callTranscript" {
        /// Transcript id (key).
        id: String = "id", artifact_key;
        /// Id of the online meeting; `null` for ad hoc calls.
        meeting_id: Option<String> = "meetingId", opt;
        /// Id of the call.
        call_id: Option<String> = "callId", opt;
        /// When the transcript was created.
        created_date_time: Option<DateTime<Utc>> = "createdDateTime", opt;
        /// When transcription ended.
        end_date_time: Option<DateTime<Utc>> = "endDateTime", opt;
        /// Links the transcript to the recording of the same call.
        content_correlation_id: Option<String> = "contentCorrelationId", opt;
        /// URL of `…/content`.
        transcript_content_url: Option<String> = "transcriptContentUrl", opt;
        /// Organizer of the meeting (or the user who started the ad hoc call).
        meeting_organizer: Option<IdentitySet> = "meetingOrganizer", opt;
    }
}

graph_struct! {
    /// `graph.callRecording`. As [`CallTranscript`], with `recordingContentUrl`.
    pub struct CallRecording = "microsoft.graph.callRecording" {
        /// Recording id (key).
        id: String = "id", artifact_key;
        /// Id of the online meeting; `null` for ad hoc calls.
        meeting_id: Option<String> = "meetingId", opt;
        /// Id of the call.
        call_id: Option<String> = "callId", opt;
        /// When the recording was created.
        created_date_time: Option<DateTime<Utc>> = "createdDateTime", opt;
        /// When recording ended.
        end_date_time: Option<DateTime<Utc>> = "endDateTime", opt;
        /// Links the recording to the transcript of the same call.
        content_correlation_id: Option<String> = "contentCorrelationId", opt;
        /// URL of `…/content`.
        recording_content_url: Option<String> = "recordingContentUrl", opt;
        /// Organizer of the meeting (or the user who started the ad hoc call).
        meeting_organizer: Option<IdentitySet> = "meetingOrganizer", opt;
    }
}

/// The `meetingOrganizer` Graph writes on artifacts: a `teamworkUserIdentity` of an Entra user
/// with a `null` display name, as in Graph's published responses.
pub fn meeting_organizer(user_id: &str, tenant_id: &str) -> IdentitySet {
    let mut additional = Map::new();
    additional.insert("userIdentityType".into(), Value::String("aadUser".into()));
    additional.insert("tenantId".into(), Value::String(tenant_id.into()));
    IdentitySet {
        user: Some(Identity {
            odata_type: Some("#microsoft.graph.teamworkUserIdentity".into()),
            id: Some(user_id.into()),
            display_name: None,
            additional,
        }),
        ..IdentitySet::default()
    }
}
