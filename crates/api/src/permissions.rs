//! Application permissions (app roles) callhook knows, by Graph's names.

pub const CALL_RECORDS_READ_ALL: &str = "CallRecords.Read.All";
pub const CALL_RECORD_PSTN_CALLS_READ_ALL: &str = "CallRecord-PstnCalls.Read.All";
pub const USER_READ_ALL: &str = "User.Read.All";
pub const USER_READ_BASIC_ALL: &str = "User.ReadBasic.All";
pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";

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
];
