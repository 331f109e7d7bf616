//! The data model of Microsoft Graph's call records (`microsoft.graph.callRecords`) with Graph's
//! JSON conventions.
//!
//! - [`CallRecord`] and everything below it (sessions, segments, endpoints, media streams,
//!   network and device info), the identity types, the report rows ([`PstnCallLogRow`],
//!   [`DirectRoutingLogRow`], [`SmsLogRow`], [`PstnBlockedUsersLogRow`], [`DialoutUsageRow`]) and
//!   [`DirectoryUser`].
//! - Serialization (`serde_json::to_value`, or [`GraphType::to_graph_value`]) produces Graph's
//!   wire shape: every declared property present (`null` when absent), `@odata.type` on
//!   polymorphic values, durations as ISO 8601 ([`GraphDuration`]), timestamps as UTC with up to
//!   seven fractional digits, `Edm.Single` as numbers or `"NaN"`/`"INF"`/`"-INF"`
//!   ([`GraphSingle`]), enums as camelCase names (unknown members kept as sent).
//! - Parsing ([`parse`], [`parse_call_record`], [`from_value`], [`parse_list`]) is strict enough
//!   for an ingest API: required properties, closed types refusing unknown properties, entity
//!   ids safe for URLs, and every error located by JSON path ([`ModelError`]). `@odata.*`
//!   annotations are ignored except `@odata.type`, which selects a polymorphic subtype.
//!
//! Serialize → parse → serialize is a fixed point.

#[macro_use]
mod macros;

mod call_event;
mod callrecord;
mod enums;
mod error;
mod identity;
mod json;
mod meeting;
mod rows;
pub mod schema;
mod transcript;
mod values;

pub use call_event::{
    CallEvent, CallParticipant, EmergencyAddress, EmergencyAddressData, EmergencyCallEvent,
    EmergencyCallerInfo, EmergencyCoordinates, EmergencyLocation, EmergencyPolicy, ParticipantInfo,
    RemovedState,
};
pub use callrecord::{
    BaseEndpoint, CallRecord, ClientUserAgent, DeviceInfo, Endpoint, FailureInfo, Media,
    MediaStream, NetworkInfo, Organizer, Participant, ParticipantEndpoint, Segment,
    ServiceEndpoint, ServiceUserAgent, Session, TraceRouteHop, UserAgent, UserFeedback,
};
pub use enums::{
    hide_evolvable_members, AudioCodec, CallDirection, CallEventType, CallType, ClientPlatform,
    EndpointType, FailureStage, MediaStreamDirection, Modality, NetworkConnectionType,
    NetworkTransportProtocol, OnlineMeetingRole, ProductFamily, PstnCallDurationSource,
    PstnUserBlockMode, ServiceRole, UserFeedbackRating, VideoCodec, WifiBand, WifiRadioType,
};
pub use error::ModelError;
pub use identity::{
    AdministrativeUnitInfo, CommunicationsIdentitySet, FeedbackTokenSet, Identity, IdentitySet,
    UserIdentity,
};
pub use json::{validate_artifact_id, validate_id, MAX_ARTIFACT_ID_CHARS, MAX_ID_CHARS};
pub use meeting::{
    AdhocCall, ChatInfo, JoinMeetingIdSettings, MeetingParticipantInfo, MeetingParticipants,
    OnlineMeeting,
};
pub use rows::{
    DialoutUsageRow, DirectRoutingLogRow, DirectoryUser, PstnBlockedUsersLogRow, PstnCallLogRow,
    SmsLogRow,
};
pub use transcript::{meeting_organizer, CallRecording, CallTranscript};
pub use values::{format_date_time, parse_date_time, GraphDuration, GraphSingle};

use serde_json::Value;

/// A model type that can be read from and written as Graph JSON.
pub trait GraphType: Sized {
    /// Qualified OData type name, e.g. `microsoft.graph.callRecords.session`.
    const TYPE_NAME: &'static str;

    /// Reads a value, with the same rules and errors as [`parse`].
    fn from_graph_value(value: Value) -> Result<Self, ModelError>;

    /// Writes the value in Graph's shape (what `serde_json::to_value` also gives, without the
    /// extra copy).
    fn to_graph_value(&self) -> Value;
}

fn json_document(bytes: &[u8]) -> Result<Value, ModelError> {
    serde_json::from_slice(bytes).map_err(|e| ModelError::new("", format!("invalid JSON: {e}")))
}

/// Parses one value of type `T` from a JSON body.
pub fn parse<T: GraphType>(bytes: &[u8]) -> Result<T, ModelError> {
    T::from_graph_value(json_document(bytes)?)
}

/// Reads one value of type `T` from an already parsed JSON value.
pub fn from_value<T: GraphType>(value: Value) -> Result<T, ModelError> {
    T::from_graph_value(value)
}

/// Parses a call record as the ingest API receives it (fully expanded, Graph's shape).
pub fn parse_call_record(bytes: &[u8]) -> Result<CallRecord, ModelError> {
    parse(bytes)
}

/// Parses an OData collection body `{"value": [...]}`; errors are located as `value[i]...`.
/// Annotations such as `@odata.context` are ignored; any other member is refused.
pub fn parse_list<T: GraphType>(bytes: &[u8]) -> Result<Vec<T>, ModelError> {
    let doc = json_document(bytes)?;
    let mut o = match doc {
        Value::Object(o) => o,
        other => {
            return Err(ModelError::new(
                "",
                format!("expected an object, found {}", json::kind(&other)),
            ))
        }
    };
    if let Some(k) = o.keys().find(|k| *k != "value" && !json::is_annotation(k)) {
        let k = json::snippet(k);
        return Err(ModelError::new(
            k.clone(),
            format!("property '{k}' does not exist on a collection body"),
        ));
    }
    match o.remove("value") {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                T::from_graph_value(item).map_err(|e| e.prefixed(&format!("value[{i}]")))
            })
            .collect(),
        Some(other) => Err(ModelError::new(
            "value",
            format!("expected an array, found {}", json::kind(&other)),
        )),
        None => Err(ModelError::new("value", "missing required property")),
    }
}
