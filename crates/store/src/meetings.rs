//! Online meetings, ad hoc calls, their transcripts and recordings, and call events: the
//! [`MeetingStore`] part of the [`crate::Store`] and the rows it reads and writes.
//!
//! Write methods return what they newly created or published ([`MeetingWritten`],
//! [`ArtifactWritten`], [`CallEventWritten`]): those are the changes Graph notifies, and each
//! implementation marks the one place in its transaction where they are known.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// What an artifact belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArtifactParent {
    OnlineMeeting,
    AdhocCall,
}

impl ArtifactParent {
    /// The name used in storage (and Graph's collection name, singular).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactParent::OnlineMeeting => "onlineMeeting",
            ArtifactParent::AdhocCall => "adhocCall",
        }
    }
}

/// Transcript or recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArtifactKind {
    Transcript,
    Recording,
}

/// One of an artifact's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArtifactStream {
    /// `content`: WebVTT of a transcript, MP4 of a recording. Storing it publishes the artifact.
    Content,
    /// `metadataContent` (transcripts only).
    MetadataContent,
}

/// Identifies an artifact within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArtifactKey {
    pub kind: ArtifactKind,
    pub parent: ArtifactParent,
    /// The online meeting's or ad hoc call's id.
    pub parent_id: String,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct OnlineMeetingWrite {
    pub id: String,
    /// Entra object id of the organizer.
    pub organizer_id: String,
    pub join_web_url: Option<String>,
    /// Organizer and attendees with an Entra object id.
    pub user_ids: Vec<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOnlineMeeting {
    pub id: String,
    pub organizer_id: String,
    pub join_web_url: Option<String>,
    pub user_ids: Vec<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct AdhocCallWrite {
    pub id: String,
    pub organizer_id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdhocCall {
    pub id: String,
    pub organizer_id: String,
    pub body: String,
}

/// Outcome of storing a meeting or an ad hoc call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingWritten {
    pub id: String,
    /// New id (false: replaced).
    pub created: bool,
}

/// An artifact's metadata ready to store: `body` is its Graph JSON without the server-owned
/// `transcriptContentUrl`/`recordingContentUrl` (computed when read).
#[derive(Debug, Clone)]
pub struct ArtifactWrite {
    pub key: ArtifactKey,
    /// Entra object id of the meeting organizer (or of the ad hoc call's organizer).
    pub organizer_id: String,
    /// `createdDateTime`: what getAllTranscripts/getAllRecordings filter on.
    pub created: DateTime<Utc>,
    /// When the metadata arrived (server clock); kept from the first write.
    pub received: DateTime<Utc>,
    pub content_correlation_id: Option<String>,
    pub body: String,
}

/// Outcome of storing an artifact's metadata or one of its streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactWritten {
    pub key: ArtifactKey,
    pub organizer_id: String,
    /// The metadata row was new.
    pub inserted: bool,
    /// This write published the artifact: metadata and content are now both stored. That is
    /// Graph's `created` change (artifacts are never `updated`).
    pub published: bool,
    /// Publication order; `None` while unpublished.
    pub seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    pub key: ArtifactKey,
    pub organizer_id: String,
    pub created: DateTime<Utc>,
    pub content_correlation_id: Option<String>,
    /// Publication order; `None` while the content is missing.
    pub seq: Option<i64>,
    pub body: String,
    /// Bytes of `content` / `metadataContent`, if stored.
    pub content_len: Option<i64>,
    pub metadata_content_len: Option<i64>,
}

impl StoredArtifact {
    pub fn is_published(&self) -> bool {
        self.seq.is_some()
    }
}

/// Published artifacts of one kind and parent kind, in publication order.
#[derive(Debug, Clone)]
pub struct ArtifactQuery {
    pub tenant_id: String,
    pub kind: ArtifactKind,
    pub parent: ArtifactParent,
    /// Only those of this meeting or call.
    pub parent_id: Option<String>,
    /// Only those whose organizer is this user.
    pub organizer_id: Option<String>,
    pub content_correlation_id: Option<String>,
    /// Inclusive bounds on `createdDateTime`.
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Only those published after this `seq` (the page or delta cursor).
    pub after_seq: Option<i64>,
    pub limit: u32,
}

impl ArtifactQuery {
    /// Every published artifact of `kind` under `parent` kind in the tenant (narrow it with the
    /// public fields).
    pub fn new(tenant_id: &str, kind: ArtifactKind, parent: ArtifactParent, limit: u32) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            kind,
            parent,
            parent_id: None,
            organizer_id: None,
            content_correlation_id: None,
            created_from: None,
            created_to: None,
            after_seq: None,
            limit,
        }
    }
}

/// A validated call event ready to store; `body` is its JSON as ingested (with its `id`).
#[derive(Debug, Clone)]
pub struct CallEventWrite {
    pub id: String,
    /// `callEventType` member name.
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    /// Per-user feed (`users/{userId}/communications/callEvents`).
    pub user_id: Option<String>,
    /// Meeting feed (`…onlineMeetings(joinWebUrl='…')/meetingCallEvents`).
    pub join_web_url: Option<String>,
    pub call_id: Option<String>,
    /// Emergency feed (`communications/calls/getEmergencyEventsByPolicy(policyName='…')`): the
    /// emergency policy whose number was dialled.
    pub policy_name: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEventWritten {
    pub id: String,
    /// Arrival order within the store.
    pub seq: i64,
    /// False when an event with this id was already stored (a retried ingest): it is kept as
    /// first stored and must not be notified again.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallEvent {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    pub user_id: Option<String>,
    pub join_web_url: Option<String>,
    pub call_id: Option<String>,
    pub policy_name: Option<String>,
    pub body: String,
}

/// Call events of a tenant in arrival order, optionally of one user's, one meeting's or one
/// emergency policy's feed.
#[derive(Debug, Clone, Default)]
pub struct CallEventQuery {
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub join_web_url: Option<String>,
    pub policy_name: Option<String>,
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// A tenant's emergency calling policy: its name and its JSON as ingested (with the dial
/// strings emergency events are checked against).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyPolicyRow {
    pub name: String,
    pub body: String,
}

/// Durable state of online meetings, ad hoc calls, their artifacts, and call events. Every
/// method is scoped to one tenant; every write is one transaction.
#[async_trait]
pub trait MeetingStore: Send + Sync {
    /// Inserts or replaces an online meeting.
    async fn put_online_meeting(
        &self,
        tenant_id: &str,
        meeting: &OnlineMeetingWrite,
    ) -> StoreResult<MeetingWritten>;
    async fn online_meeting(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredOnlineMeeting>>;
    /// Meetings whose `joinWebUrl` is exactly `join_web_url`.
    async fn online_meetings_by_join_url(
        &self,
        tenant_id: &str,
        join_web_url: &str,
    ) -> StoreResult<Vec<StoredOnlineMeeting>>;

    /// Inserts or replaces an ad hoc call.
    async fn put_adhoc_call(
        &self,
        tenant_id: &str,
        call: &AdhocCallWrite,
    ) -> StoreResult<MeetingWritten>;
    async fn adhoc_call(&self, tenant_id: &str, id: &str) -> StoreResult<Option<StoredAdhocCall>>;

    /// Inserts or replaces an artifact's metadata (its streams are kept).
    async fn put_artifact(
        &self,
        tenant_id: &str,
        artifact: &ArtifactWrite,
    ) -> StoreResult<ArtifactWritten>;
    /// Stores one stream of an existing artifact; `None` if the artifact's metadata is not
    /// stored. Storing `content` the first time publishes the artifact.
    async fn put_artifact_stream(
        &self,
        tenant_id: &str,
        key: &ArtifactKey,
        stream: ArtifactStream,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ArtifactWritten>>;
    /// An artifact, published or not.
    async fn artifact(
        &self,
        tenant_id: &str,
        key: &ArtifactKey,
    ) -> StoreResult<Option<StoredArtifact>>;
    /// The bytes of one stream, if stored.
    async fn artifact_stream(
        &self,
        tenant_id: &str,
        key: &ArtifactKey,
        stream: ArtifactStream,
    ) -> StoreResult<Option<Vec<u8>>>;
    /// Published artifacts matching the query, in publication order, at most `limit`.
    async fn list_artifacts(&self, query: &ArtifactQuery) -> StoreResult<Vec<StoredArtifact>>;

    /// Stores call events in one transaction; an id already stored is left as it is
    /// (`created: false`). Results are in input order.
    async fn put_call_events(
        &self,
        tenant_id: &str,
        events: &[CallEventWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallEventWritten>>;
    /// Call events in arrival order after the query's cursor, at most `limit`.
    async fn call_events(&self, query: &CallEventQuery) -> StoreResult<Vec<StoredCallEvent>>;

    /// Inserts or replaces an emergency policy; true when its name was new.
    async fn put_emergency_policy(
        &self,
        tenant_id: &str,
        policy: &EmergencyPolicyRow,
    ) -> StoreResult<bool>;
    /// The tenant's emergency policies, by name.
    async fn emergency_policies(&self, tenant_id: &str) -> StoreResult<Vec<EmergencyPolicyRow>>;
}
