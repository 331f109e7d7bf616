//! `onlineMeeting` (the properties that link meetings to call records and artifacts) and
//! `adhocCall`.

use chrono::{DateTime, Utc};

use crate::enums::OnlineMeetingRole;
use crate::identity::IdentitySet;

graph_struct! {
    /// `graph.onlineMeeting`, limited to what call data needs: when it ran, how to join it, who
    /// organized and attended it, and its chat thread. Other meeting settings are refused at
    /// ingest rather than silently dropped.
    pub struct OnlineMeeting = "microsoft.graph.onlineMeeting" {
        /// Meeting id (key).
        id: String = "id", artifact_key;
        /// When the meeting was created.
        creation_date_time: Option<DateTime<Utc>> = "creationDateTime", opt;
        /// Scheduled start.
        start_date_time: Option<DateTime<Utc>> = "startDateTime", opt;
        /// Scheduled end.
        end_date_time: Option<DateTime<Utc>> = "endDateTime", opt;
        /// Join URL; equals `callRecord.joinWebUrl` of the meeting's call record.
        join_web_url: Option<String> = "joinWebUrl", opt;
        /// Subject.
        subject: Option<String> = "subject", opt;
        /// Whether this is a live event.
        is_broadcast: Option<bool> = "isBroadcast", opt;
        /// Caller-supplied external id.
        external_id: Option<String> = "externalId", opt;
        /// Video teleconference id.
        video_teleconference_id: Option<String> = "videoTeleconferenceId", opt;
        /// Whether recording is allowed.
        allow_recording: Option<bool> = "allowRecording", opt;
        /// Whether transcription is allowed.
        allow_transcription: Option<bool> = "allowTranscription", opt;
        /// Whether the meeting is recorded automatically.
        record_automatically: Option<bool> = "recordAutomatically", opt;
        /// Organizer and attendees.
        participants: Option<MeetingParticipants> = "participants", opt;
        /// The meeting chat.
        chat_info: Option<ChatInfo> = "chatInfo", opt;
        /// Meeting id and passcode for joining by id.
        join_meeting_id_settings: Option<JoinMeetingIdSettings> = "joinMeetingIdSettings", opt;
    }
}

impl OnlineMeeting {
    /// Entra object id of the organizer (`participants.organizer.identity.user.id`).
    pub fn organizer_user_id(&self) -> Option<&str> {
        let organizer = self.participants.as_ref()?.organizer.as_ref()?;
        organizer.identity.as_ref()?.user.as_ref()?.id.as_deref()
    }

    /// Entra object ids of the organizer and every attendee with a user identity.
    pub fn user_ids(&self) -> Vec<String> {
        let Some(p) = &self.participants else {
            return Vec::new();
        };
        let mut ids: Vec<String> = p
            .organizer
            .iter()
            .chain(p.attendees.iter())
            .filter_map(|i| i.identity.as_ref()?.user.as_ref()?.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

graph_struct! {
    /// `graph.meetingParticipants`.
    pub struct MeetingParticipants = "microsoft.graph.meetingParticipants" {
        /// The organizer.
        organizer: Option<MeetingParticipantInfo> = "organizer", opt;
        /// Invited attendees.
        attendees: Vec<MeetingParticipantInfo> = "attendees", dflt;
    }
}

graph_struct! {
    /// `graph.meetingParticipantInfo`.
    pub struct MeetingParticipantInfo = "microsoft.graph.meetingParticipantInfo" {
        /// Who the participant is.
        identity: Option<IdentitySet> = "identity", opt;
        /// Role in the meeting.
        role: Option<OnlineMeetingRole> = "role", opt;
        /// User principal name.
        upn: Option<String> = "upn", opt;
    }
}

graph_struct! {
    /// `graph.chatInfo`: the meeting's chat thread.
    pub struct ChatInfo = "microsoft.graph.chatInfo" {
        /// Chat thread id, e.g. `19:meeting_…@thread.v2`.
        thread_id: Option<String> = "threadId", opt;
        /// Message id.
        message_id: Option<String> = "messageId", opt;
        /// Reply chain message id.
        reply_chain_message_id: Option<String> = "replyChainMessageId", opt;
    }
}

graph_struct! {
    /// `graph.joinMeetingIdSettings`.
    pub struct JoinMeetingIdSettings = "microsoft.graph.joinMeetingIdSettings" {
        /// Whether a passcode is required.
        is_passcode_required: Option<bool> = "isPasscodeRequired", opt;
        /// Numeric meeting id.
        join_meeting_id: Option<String> = "joinMeetingId", opt;
        /// Passcode.
        passcode: Option<String> = "passcode", opt;
    }
}

graph_struct! {
    /// `graph.adhocCall` as ingested: Graph's only property is `id` (the call id, which is
    /// also the `callId` of its transcripts and recordings); `organizer`, `startDateTime` and
    /// `endDateTime` exist only on ingest and say whose artifacts these are.
    pub struct AdhocCall = "microsoft.graph.adhocCall" {
        /// Ad hoc call id (key).
        id: String = "id", artifact_key;
        /// Ingest-only: the user who started the call (owner of its artifacts).
        organizer: IdentitySet = "organizer", req;
        /// Ingest-only: when the call started.
        start_date_time: Option<DateTime<Utc>> = "startDateTime", opt;
        /// Ingest-only: when the call ended.
        end_date_time: Option<DateTime<Utc>> = "endDateTime", opt;
    }
}

impl AdhocCall {
    /// Properties that exist only on ingest.
    pub const INGEST_ONLY: &'static [&'static str] = &["organizer", "startDateTime", "endDateTime"];

    /// Entra object id of the organizer (`organizer.user.id`).
    pub fn organizer_user_id(&self) -> Option<&str> {
        self.organizer.user.as_ref()?.id.as_deref()
    }
}
