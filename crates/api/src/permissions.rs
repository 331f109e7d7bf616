//! Application permissions (app roles) callhook knows, by Graph's names.

pub const CALL_RECORDS_READ_ALL: &str = "CallRecords.Read.All";
pub const CALL_RECORD_PSTN_CALLS_READ_ALL: &str = "CallRecord-PstnCalls.Read.All";
pub const USER_READ_ALL: &str = "User.Read.All";
pub const USER_READ_BASIC_ALL: &str = "User.ReadBasic.All";
pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";
pub const ONLINE_MEETINGS_READ_ALL: &str = "OnlineMeetings.Read.All";
pub const ONLINE_MEETINGS_READ_WRITE_ALL: &str = "OnlineMeetings.ReadWrite.All";
pub const ONLINE_MEETING_TRANSCRIPT_READ_ALL: &str = "OnlineMeetingTranscript.Read.All";
pub const ONLINE_MEETING_RECORDING_READ_ALL: &str = "OnlineMeetingRecording.Read.All";
/// Transcripts of ad hoc calls.
pub const CALL_TRANSCRIPTS_READ_ALL: &str = "CallTranscripts.Read.All";
/// Recordings of ad hoc calls.
pub const CALL_RECORDINGS_READ_ALL: &str = "CallRecordings.Read.All";
pub const CALL_EVENTS_READ_ALL: &str = "CallEvents.Read.All";

/// Every role; the development app holds them all.
pub const ALL: &[&str] = &[
    CALL_RECORDS_READ_ALL,
    CALL_RECORD_PSTN_CALLS_READ_ALL,
    USER_READ_ALL,
    USER_READ_BASIC_ALL,
    DIRECTORY_READ_ALL,
    "CallEvents.Read.All",
    "OnlineMeetings.Read.All",
    "OnlineMeetingTranscript.Read.All",
    "OnlineMeetingRecording.Read.All",
    "OnlineMeetingArtifact.Read.All",
    ONLINE_MEETINGS_READ_WRITE_ALL,
    CALL_TRANSCRIPTS_READ_ALL,
    CALL_RECORDINGS_READ_ALL,
];
