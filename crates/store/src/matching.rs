//! Which subscriptions a stored change notifies, for every backend alike.
//!
//! A subscription's `resource_kind` names what its resource path watches and its `scope` the one
//! thing it names (a meeting, an ad hoc call, a user, a Teams app, a meeting's join URL, an
//! emergency policy's name). A
//! backend selects the live subscriptions of the tenant whose kind is among
//! [`artifact_kinds`] / [`call_event_kinds`], then keeps those this module says match, and
//! writes one outbox row each with the [`subject`](ArtifactEvent::subject) given here.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::meetings::{ArtifactKind, ArtifactParent};

/// `resource_kind` values.
pub mod kind {
    pub const CALL_RECORDS: &str = "callRecords";

    pub const TRANSCRIPTS_TENANT_MEETINGS: &str = "transcripts.tenantMeetings";
    pub const TRANSCRIPTS_TENANT_ADHOC_CALLS: &str = "transcripts.tenantAdhocCalls";
    pub const TRANSCRIPTS_MEETING: &str = "transcripts.meeting";
    pub const TRANSCRIPTS_ADHOC_CALL: &str = "transcripts.adhocCall";
    pub const TRANSCRIPTS_USER_MEETINGS: &str = "transcripts.userMeetings";
    pub const TRANSCRIPTS_USER_ADHOC_CALLS: &str = "transcripts.userAdhocCalls";
    pub const TRANSCRIPTS_TEAMS_APP: &str = "transcripts.teamsApp";

    pub const RECORDINGS_TENANT_MEETINGS: &str = "recordings.tenantMeetings";
    pub const RECORDINGS_TENANT_ADHOC_CALLS: &str = "recordings.tenantAdhocCalls";
    pub const RECORDINGS_MEETING: &str = "recordings.meeting";
    pub const RECORDINGS_ADHOC_CALL: &str = "recordings.adhocCall";
    pub const RECORDINGS_USER_MEETINGS: &str = "recordings.userMeetings";
    pub const RECORDINGS_USER_ADHOC_CALLS: &str = "recordings.userAdhocCalls";
    pub const RECORDINGS_TEAMS_APP: &str = "recordings.teamsApp";

    /// `users/{userId}/communications/callEvents`.
    pub const USER_CALL_EVENTS: &str = "callEvents.user";
    /// `communications/onlineMeetings(joinWebUrl='…')/meetingCallEvents`.
    pub const MEETING_CALL_EVENTS: &str = "callEvents.meeting";
    /// `communications/calls/getEmergencyEventsByPolicy(policyName='…')`.
    pub const EMERGENCY_CALL_EVENTS: &str = "callEvents.emergency";

    /// Every kind of the Teams family (they share Graph's per-organisation quota).
    pub const TEAMS: &[&str] = &[
        TRANSCRIPTS_TENANT_MEETINGS,
        TRANSCRIPTS_TENANT_ADHOC_CALLS,
        TRANSCRIPTS_MEETING,
        TRANSCRIPTS_ADHOC_CALL,
        TRANSCRIPTS_USER_MEETINGS,
        TRANSCRIPTS_USER_ADHOC_CALLS,
        TRANSCRIPTS_TEAMS_APP,
        RECORDINGS_TENANT_MEETINGS,
        RECORDINGS_TENANT_ADHOC_CALLS,
        RECORDINGS_MEETING,
        RECORDINGS_ADHOC_CALL,
        RECORDINGS_USER_MEETINGS,
        RECORDINGS_USER_ADHOC_CALLS,
        RECORDINGS_TEAMS_APP,
        USER_CALL_EVENTS,
        MEETING_CALL_EVENTS,
        EMERGENCY_CALL_EVENTS,
    ];
}

/// A transcript or recording that just became available.
#[derive(Debug, Clone)]
pub struct ArtifactEvent<'a> {
    pub kind: ArtifactKind,
    pub parent: ArtifactParent,
    pub parent_id: &'a str,
    pub organizer_id: &'a str,
    pub id: &'a str,
    /// When transcription or recording started, as callhook knows it: when the artifact's
    /// metadata arrived (a live platform reports it then), or its `createdDateTime` for rows
    /// stored before callhook kept that time.
    pub created: DateTime<Utc>,
    /// Its stored metadata (a JSON object).
    pub body: &'a str,
    /// Teams apps installed in the meeting.
    pub installed_apps: &'a [String],
}

/// The subscription kinds an artifact of this kind and parent can notify.
pub fn artifact_kinds(kind: ArtifactKind, parent: ArtifactParent) -> &'static [&'static str] {
    use kind::*;
    match (kind, parent) {
        (ArtifactKind::Transcript, ArtifactParent::OnlineMeeting) => &[
            TRANSCRIPTS_TENANT_MEETINGS,
            TRANSCRIPTS_MEETING,
            TRANSCRIPTS_USER_MEETINGS,
            TRANSCRIPTS_TEAMS_APP,
        ],
        (ArtifactKind::Transcript, ArtifactParent::AdhocCall) => &[
            TRANSCRIPTS_TENANT_ADHOC_CALLS,
            TRANSCRIPTS_ADHOC_CALL,
            TRANSCRIPTS_USER_ADHOC_CALLS,
        ],
        (ArtifactKind::Recording, ArtifactParent::OnlineMeeting) => &[
            RECORDINGS_TENANT_MEETINGS,
            RECORDINGS_MEETING,
            RECORDINGS_USER_MEETINGS,
            RECORDINGS_TEAMS_APP,
        ],
        (ArtifactKind::Recording, ArtifactParent::AdhocCall) => &[
            RECORDINGS_TENANT_ADHOC_CALLS,
            RECORDINGS_ADHOC_CALL,
            RECORDINGS_USER_ADHOC_CALLS,
        ],
    }
}

impl ArtifactEvent<'_> {
    /// Whether a live subscription of `kind` and `scope`, created at `created`, is told.
    pub fn matches(&self, kind: &str, scope: Option<&str>, created: DateTime<Utc>) -> bool {
        if !artifact_kinds(self.kind, self.parent).contains(&kind) {
            return false;
        }
        // Graph sends a transcript only to subscriptions that existed before transcription
        // started.
        if self.kind == ArtifactKind::Transcript && created > self.created {
            return false;
        }
        let suffix = kind.split_once('.').map(|(_, s)| s).unwrap_or("");
        match suffix {
            "tenantMeetings" | "tenantAdhocCalls" => true,
            "meeting" | "adhocCall" => scope == Some(self.parent_id),
            "userMeetings" | "userAdhocCalls" => scope == Some(self.organizer_id),
            "teamsApp" => scope.is_some_and(|app| self.installed_apps.iter().any(|a| a == app)),
            _ => false,
        }
    }

    /// The outbox `subject`: everything the notifier needs to render the notification.
    pub fn subject(&self) -> String {
        let body: serde_json::Value =
            serde_json::from_str(self.body).unwrap_or(serde_json::Value::Null);
        json!({
            "type": match self.kind {
                ArtifactKind::Transcript => "callTranscript",
                ArtifactKind::Recording => "callRecording",
            },
            "parent": self.parent.as_str(),
            "parentId": self.parent_id,
            "organizerId": self.organizer_id,
            "id": self.id,
            "body": body,
        })
        .to_string()
    }
}

/// A call event that was just stored.
#[derive(Debug, Clone)]
pub struct CallEventEvent<'a> {
    pub id: &'a str,
    pub user_id: Option<&'a str>,
    pub join_web_url: Option<&'a str>,
    /// An emergency event's policy.
    pub policy_name: Option<&'a str>,
    /// Its stored body (a JSON object).
    pub body: &'a str,
}

/// The subscription kinds a call event can notify.
pub fn call_event_kinds() -> &'static [&'static str] {
    &[
        kind::USER_CALL_EVENTS,
        kind::MEETING_CALL_EVENTS,
        kind::EMERGENCY_CALL_EVENTS,
    ]
}

impl CallEventEvent<'_> {
    pub fn matches(&self, kind: &str, scope: Option<&str>) -> bool {
        match kind {
            kind::USER_CALL_EVENTS => self.user_id.is_some() && scope == self.user_id,
            kind::MEETING_CALL_EVENTS => self.join_web_url.is_some() && scope == self.join_web_url,
            kind::EMERGENCY_CALL_EVENTS => self.policy_name.is_some() && scope == self.policy_name,
            _ => false,
        }
    }

    /// The outbox `subject` for a subscription of `kind`.
    pub fn subject(&self, kind: &str) -> String {
        let body: serde_json::Value =
            serde_json::from_str(self.body).unwrap_or(serde_json::Value::Null);
        json!({
            "type": match kind {
                kind::MEETING_CALL_EVENTS => "meetingCallEvent",
                kind::EMERGENCY_CALL_EVENTS => "emergencyCallEvent",
                _ => "userCallEvent",
            },
            "id": self.id,
            "userId": self.user_id,
            "joinWebUrl": self.join_web_url,
            "policyName": self.policy_name,
            "body": body,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn transcript<'a>(created: DateTime<Utc>, apps: &'a [String]) -> ArtifactEvent<'a> {
        ArtifactEvent {
            kind: ArtifactKind::Transcript,
            parent: ArtifactParent::OnlineMeeting,
            parent_id: "m1",
            organizer_id: "u1",
            id: "t1",
            created,
            body: "{}",
            installed_apps: apps,
        }
    }

    #[test]
    fn transcripts_reach_the_subscriptions_that_name_their_meeting_organizer_or_app() {
        let now = Utc::now();
        let before = now - Duration::minutes(5);
        let apps = vec!["app-1".to_string()];
        let t = transcript(now, &apps);
        assert!(t.matches(kind::TRANSCRIPTS_TENANT_MEETINGS, None, before));
        assert!(t.matches(kind::TRANSCRIPTS_MEETING, Some("m1"), before));
        assert!(!t.matches(kind::TRANSCRIPTS_MEETING, Some("m2"), before));
        assert!(t.matches(kind::TRANSCRIPTS_USER_MEETINGS, Some("u1"), before));
        assert!(!t.matches(kind::TRANSCRIPTS_USER_MEETINGS, Some("u2"), before));
        assert!(t.matches(kind::TRANSCRIPTS_TEAMS_APP, Some("app-1"), before));
        assert!(!t.matches(kind::TRANSCRIPTS_TEAMS_APP, Some("app-2"), before));
        assert!(!t.matches(kind::RECORDINGS_TENANT_MEETINGS, None, before));
        assert!(!t.matches(kind::TRANSCRIPTS_TENANT_ADHOC_CALLS, None, before));
    }

    #[test]
    fn a_transcript_is_not_sent_to_a_subscription_made_after_transcription_started() {
        let now = Utc::now();
        let t = transcript(now, &[]);
        assert!(!t.matches(
            kind::TRANSCRIPTS_TENANT_MEETINGS,
            None,
            now + Duration::seconds(1)
        ));
        let recording = ArtifactEvent {
            kind: ArtifactKind::Recording,
            ..transcript(now, &[])
        };
        assert!(
            recording.matches(
                kind::RECORDINGS_TENANT_MEETINGS,
                None,
                now + Duration::seconds(1)
            ),
            "the rule is the transcripts' only"
        );
    }

    #[test]
    fn call_events_reach_their_user_or_meeting_feed() {
        let e = CallEventEvent {
            id: "e1",
            user_id: Some("u1"),
            join_web_url: None,
            policy_name: None,
            body: "{}",
        };
        assert!(e.matches(kind::USER_CALL_EVENTS, Some("u1")));
        assert!(!e.matches(kind::USER_CALL_EVENTS, Some("u2")));
        assert!(!e.matches(kind::MEETING_CALL_EVENTS, Some("u1")));
        let m = CallEventEvent {
            id: "e2",
            user_id: None,
            join_web_url: Some("https://join/1"),
            policy_name: None,
            body: "{}",
        };
        assert!(m.matches(kind::MEETING_CALL_EVENTS, Some("https://join/1")));
        assert!(!m.matches(kind::USER_CALL_EVENTS, None));
        assert!(!m.matches(kind::EMERGENCY_CALL_EVENTS, None));
    }

    #[test]
    fn emergency_events_reach_the_subscriptions_of_their_policy_only() {
        let e = CallEventEvent {
            id: "e3",
            user_id: None,
            join_web_url: None,
            policy_name: Some("Redmond HQ"),
            body: "{}",
        };
        assert!(e.matches(kind::EMERGENCY_CALL_EVENTS, Some("Redmond HQ")));
        assert!(!e.matches(kind::EMERGENCY_CALL_EVENTS, Some("redmond hq")));
        assert!(!e.matches(kind::EMERGENCY_CALL_EVENTS, None));
        assert!(!e.matches(kind::USER_CALL_EVENTS, None));
        assert!(e
            .subject(kind::EMERGENCY_CALL_EVENTS)
            .contains("\"type\":\"emergencyCallEvent\""));
    }
}
