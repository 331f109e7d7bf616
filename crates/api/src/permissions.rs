//! Permissions by Graph's names, and the one table of which permissions each route and each
//! subscription resource accepts: delegated (a user's token, `scp`) and application (an app's
//! token, `roles`), least privileged first, and the resource-specific consent (RSC) permission
//! that grants an app access within one meeting or chat.

use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub const CALL_RECORDS_READ_ALL: &str = "CallRecords.Read.All";
pub const CALL_RECORD_PSTN_CALLS_READ_ALL: &str = "CallRecord-PstnCalls.Read.All";
pub const USER_READ: &str = "User.Read";
pub const USER_READ_ALL: &str = "User.Read.All";
pub const USER_READ_BASIC_ALL: &str = "User.ReadBasic.All";
pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";
pub const ONLINE_MEETINGS_READ: &str = "OnlineMeetings.Read";
pub const ONLINE_MEETINGS_READ_WRITE: &str = "OnlineMeetings.ReadWrite";
pub const ONLINE_MEETINGS_READ_ALL: &str = "OnlineMeetings.Read.All";
pub const ONLINE_MEETINGS_READ_WRITE_ALL: &str = "OnlineMeetings.ReadWrite.All";
pub const ONLINE_MEETING_TRANSCRIPT_READ_ALL: &str = "OnlineMeetingTranscript.Read.All";
pub const ONLINE_MEETING_RECORDING_READ_ALL: &str = "OnlineMeetingRecording.Read.All";
pub const ONLINE_MEETING_ARTIFACT_READ_ALL: &str = "OnlineMeetingArtifact.Read.All";
/// Transcripts of ad hoc calls.
pub const CALL_TRANSCRIPTS_READ_ALL: &str = "CallTranscripts.Read.All";
/// Recordings of ad hoc calls.
pub const CALL_RECORDINGS_READ_ALL: &str = "CallRecordings.Read.All";
pub const CALL_EVENTS_READ_ALL: &str = "CallEvents.Read.All";
pub const CALL_EVENTS_EMERGENCY_READ_ALL: &str = "CallEvents-Emergency.Read.All";
/// RSC: transcripts of the meetings the app is installed in.
pub const ONLINE_MEETING_TRANSCRIPT_READ_CHAT: &str = "OnlineMeetingTranscript.Read.Chat";
/// RSC: recordings of the meetings the app is installed in.
pub const ONLINE_MEETING_RECORDING_READ_CHAT: &str = "OnlineMeetingRecording.Read.Chat";

/// Every application permission (role) callhook knows; the development app holds them all.
pub const ALL: &[&str] = &[
    CALL_RECORDS_READ_ALL,
    CALL_RECORD_PSTN_CALLS_READ_ALL,
    USER_READ_ALL,
    USER_READ_BASIC_ALL,
    DIRECTORY_READ_ALL,
    CALL_EVENTS_READ_ALL,
    CALL_EVENTS_EMERGENCY_READ_ALL,
    ONLINE_MEETINGS_READ_ALL,
    ONLINE_MEETING_TRANSCRIPT_READ_ALL,
    ONLINE_MEETING_RECORDING_READ_ALL,
    ONLINE_MEETING_ARTIFACT_READ_ALL,
    ONLINE_MEETINGS_READ_WRITE_ALL,
    CALL_TRANSCRIPTS_READ_ALL,
    CALL_RECORDINGS_READ_ALL,
];

/// Application permissions an app can be granted (every known role).
pub const APPLICATION: &[&str] = &[
    CALL_RECORDS_READ_ALL,
    CALL_RECORD_PSTN_CALLS_READ_ALL,
    USER_READ_ALL,
    USER_READ_BASIC_ALL,
    DIRECTORY_READ_ALL,
    CALL_EVENTS_READ_ALL,
    CALL_EVENTS_EMERGENCY_READ_ALL,
    ONLINE_MEETINGS_READ_ALL,
    ONLINE_MEETINGS_READ_WRITE_ALL,
    ONLINE_MEETING_TRANSCRIPT_READ_ALL,
    ONLINE_MEETING_RECORDING_READ_ALL,
    ONLINE_MEETING_ARTIFACT_READ_ALL,
    CALL_TRANSCRIPTS_READ_ALL,
    CALL_RECORDINGS_READ_ALL,
];

/// Delegated permissions (scopes) an app can be consented to for a tenant's users.
pub const DELEGATED: &[&str] = &[
    USER_READ,
    USER_READ_BASIC_ALL,
    USER_READ_ALL,
    DIRECTORY_READ_ALL,
    ONLINE_MEETINGS_READ,
    ONLINE_MEETINGS_READ_WRITE,
    ONLINE_MEETING_TRANSCRIPT_READ_ALL,
    ONLINE_MEETING_RECORDING_READ_ALL,
    ONLINE_MEETING_ARTIFACT_READ_ALL,
    CALL_TRANSCRIPTS_READ_ALL,
    CALL_RECORDINGS_READ_ALL,
];

/// Resource-specific consent permissions an app can hold in one meeting or chat.
pub const RESOURCE_SPECIFIC: &[&str] = &[
    ONLINE_MEETING_TRANSCRIPT_READ_CHAT,
    ONLINE_MEETING_RECORDING_READ_CHAT,
];

/// What a route or subscription resource accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// Scopes of a user's token; empty: delegated access is not supported.
    pub delegated: &'static [&'static str],
    /// Roles of an app's token; empty: application access is not supported.
    pub application: &'static [&'static str],
    /// An RSC permission that lets an app in where it is installed (the meeting in the path).
    pub resource_specific: Option<&'static str>,
}

const fn app_only(application: &'static [&'static str]) -> Requirement {
    Requirement {
        delegated: &[],
        application,
        resource_specific: None,
    }
}

/// List/get call records, sessions, participants_v2, organizer_v2.
pub const CALL_RECORDS: Requirement = app_only(&[CALL_RECORDS_READ_ALL]);
/// The PSTN and direct-routing report functions (and the beta SMS, blocked-users and dial-out
/// ones): the narrow PSTN permission or the call-records one.
pub const PSTN_REPORTS: Requirement =
    app_only(&[CALL_RECORD_PSTN_CALLS_READ_ALL, CALL_RECORDS_READ_ALL]);
/// List/get users.
pub const USERS: Requirement = Requirement {
    delegated: &[USER_READ_BASIC_ALL, USER_READ_ALL, DIRECTORY_READ_ALL],
    application: &[USER_READ_BASIC_ALL, USER_READ_ALL, DIRECTORY_READ_ALL],
    resource_specific: None,
};
/// Get online meetings (delegated: only the signed-in user's own).
pub const ONLINE_MEETINGS: Requirement = Requirement {
    delegated: &[ONLINE_MEETINGS_READ, ONLINE_MEETINGS_READ_WRITE],
    application: &[ONLINE_MEETINGS_READ_ALL, ONLINE_MEETINGS_READ_WRITE_ALL],
    resource_specific: None,
};
/// Transcripts of one online meeting.
pub const MEETING_TRANSCRIPTS: Requirement = Requirement {
    delegated: &[ONLINE_MEETING_TRANSCRIPT_READ_ALL],
    application: &[ONLINE_MEETING_TRANSCRIPT_READ_ALL],
    resource_specific: Some(ONLINE_MEETING_TRANSCRIPT_READ_CHAT),
};
/// Recordings of one online meeting.
pub const MEETING_RECORDINGS: Requirement = Requirement {
    delegated: &[ONLINE_MEETING_RECORDING_READ_ALL],
    application: &[ONLINE_MEETING_RECORDING_READ_ALL],
    resource_specific: Some(ONLINE_MEETING_RECORDING_READ_CHAT),
};
/// Transcripts of one ad hoc call.
pub const ADHOC_CALL_TRANSCRIPTS: Requirement = Requirement {
    delegated: &[CALL_TRANSCRIPTS_READ_ALL],
    application: &[CALL_TRANSCRIPTS_READ_ALL],
    resource_specific: None,
};
/// Recordings of one ad hoc call.
pub const ADHOC_CALL_RECORDINGS: Requirement = Requirement {
    delegated: &[CALL_RECORDINGS_READ_ALL],
    application: &[CALL_RECORDINGS_READ_ALL],
    resource_specific: None,
};
/// `onlineMeetings/getAllTranscripts(…)` and its delta: application only.
pub const ALL_MEETING_TRANSCRIPTS: Requirement = app_only(&[ONLINE_MEETING_TRANSCRIPT_READ_ALL]);
pub const ALL_MEETING_RECORDINGS: Requirement = app_only(&[ONLINE_MEETING_RECORDING_READ_ALL]);
pub const ALL_ADHOC_CALL_TRANSCRIPTS: Requirement = app_only(&[CALL_TRANSCRIPTS_READ_ALL]);
pub const ALL_ADHOC_CALL_RECORDINGS: Requirement = app_only(&[CALL_RECORDINGS_READ_ALL]);

/// Subscription resources by the shape of their `resource` (ids as `{id}`), with what creating,
/// reading, renewing and reauthorizing such a subscription needs (Graph asks for read permissions
/// only). For the subscription code to look up; `None` for shapes callhook does not know.
/// A user's call events (beta), read or subscribed.
pub const USER_CALL_EVENTS: Requirement = app_only(&[CALL_EVENTS_READ_ALL]);
/// A meeting's call events (beta), read or subscribed.
pub const MEETING_CALL_EVENTS: Requirement =
    app_only(&[ONLINE_MEETINGS_READ_ALL, ONLINE_MEETINGS_READ_WRITE_ALL]);

pub fn subscription_requirement(shape: &str) -> Option<Requirement> {
    const TABLE: &[(&str, Requirement)] = &[
        ("communications/callRecords", CALL_RECORDS),
        (
            "communications/onlineMeetings(joinWebUrl='{id}')/meetingCallEvents",
            MEETING_CALL_EVENTS,
        ),
        ("users/{id}/communications/callEvents", USER_CALL_EVENTS),
        (
            "communications/calls/getEmergencyEventsByPolicy(policyName='{id}')",
            app_only(&[CALL_EVENTS_EMERGENCY_READ_ALL]),
        ),
        (
            "communications/onlineMeetings/getAllTranscripts",
            ALL_MEETING_TRANSCRIPTS,
        ),
        (
            "communications/onlineMeetings/getAllRecordings",
            ALL_MEETING_RECORDINGS,
        ),
        (
            "communications/adhocCalls/getAllTranscripts",
            ALL_ADHOC_CALL_TRANSCRIPTS,
        ),
        (
            "communications/adhocCalls/getAllRecordings",
            ALL_ADHOC_CALL_RECORDINGS,
        ),
        (
            "communications/onlineMeetings/{id}/transcripts",
            MEETING_TRANSCRIPTS,
        ),
        (
            "communications/onlineMeetings/{id}/recordings",
            MEETING_RECORDINGS,
        ),
        (
            "communications/adhocCalls/{id}/transcripts",
            Requirement {
                delegated: &[CALL_TRANSCRIPTS_READ_ALL],
                application: &[],
                resource_specific: None,
            },
        ),
        (
            "communications/adhocCalls/{id}/recordings",
            ADHOC_CALL_RECORDINGS,
        ),
        (
            "users/{id}/onlineMeetings/getAllTranscripts",
            Requirement {
                delegated: &[ONLINE_MEETING_TRANSCRIPT_READ_ALL],
                ..ALL_MEETING_TRANSCRIPTS
            },
        ),
        (
            "users/{id}/onlineMeetings/getAllRecordings",
            Requirement {
                delegated: &[ONLINE_MEETING_RECORDING_READ_ALL],
                ..ALL_MEETING_RECORDINGS
            },
        ),
        (
            "users/{id}/adhocCalls/getAllTranscripts",
            ADHOC_CALL_TRANSCRIPTS,
        ),
        (
            "users/{id}/adhocCalls/getAllRecordings",
            ADHOC_CALL_RECORDINGS,
        ),
        (
            "appCatalogs/teamsApps/{id}/installedToOnlineMeetings/getAllTranscripts",
            Requirement {
                delegated: &[],
                application: &[ONLINE_MEETING_TRANSCRIPT_READ_ALL],
                resource_specific: Some(ONLINE_MEETING_TRANSCRIPT_READ_CHAT),
            },
        ),
        (
            "appCatalogs/teamsApps/{id}/installedToOnlineMeetings/getAllRecordings",
            Requirement {
                delegated: &[],
                application: &[ONLINE_MEETING_RECORDING_READ_ALL],
                resource_specific: Some(ONLINE_MEETING_RECORDING_READ_CHAT),
            },
        ),
    ];
    TABLE
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(shape.trim_start_matches('/')))
        .map(|(_, r)| *r)
}

impl Requirement {
    /// Whether the token's own permissions (roles or scopes) satisfy this requirement.
    pub fn allows(&self, caller: &Caller) -> bool {
        let (held, accepted) = if caller.is_delegated() {
            (&caller.scopes, self.delegated)
        } else {
            (&caller.roles, self.application)
        };
        held.iter().any(|p| accepted.contains(&p.as_str()))
    }
}

/// `Ok` when the caller's token satisfies `req`; Graph's 403 (`Forbidden`, empty message)
/// otherwise, which is also what a delegated token gets on an application-only route.
pub fn require(caller: &Caller, req: &Requirement) -> GraphResult<()> {
    if req.allows(caller) {
        Ok(())
    } else {
        Err(GraphError::forbidden())
    }
}

/// Like [`require`], and an app without the tenant-wide permission is let in where it is
/// installed with the requirement's RSC permission (`resource_id`: the meeting or chat).
pub async fn require_in(
    state: &AppState,
    caller: &Caller,
    req: &Requirement,
    resource_id: &str,
) -> GraphResult<()> {
    if req.allows(caller) {
        return Ok(());
    }
    if let (false, Some(permission)) = (caller.is_delegated(), req.resource_specific) {
        if rsc_granted(state, caller, resource_id, permission).await? {
            return Ok(());
        }
    }
    Err(GraphError::forbidden())
}

/// Whether the calling app holds `permission` by resource-specific consent on the meeting or
/// chat `resource_id` of its tenant.
pub async fn rsc_granted(
    state: &AppState,
    caller: &Caller,
    resource_id: &str,
    permission: &str,
) -> GraphResult<bool> {
    Ok(state
        .store
        .rsc_granted(&caller.tenant_id, &caller.app_id, resource_id, permission)
        .await?)
}

/// Delegated access to `/users/{id}/…` is limited to the signed-in user's own data; an app's
/// token may name any user of its tenant.
pub fn require_own(caller: &Caller, user_in_path: &str) -> GraphResult<()> {
    match &caller.user_id {
        Some(me) if !me.eq_ignore_ascii_case(user_in_path) => Err(GraphError::forbidden()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str], scopes: Option<&[&str]>) -> Caller {
        Caller {
            tenant_id: "t".into(),
            app_id: "a".into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            user_id: scopes.map(|_| "u".to_string()),
            scopes: scopes
                .unwrap_or_default()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    #[test]
    fn application_only_routes_refuse_delegated_tokens_whatever_their_scopes() {
        let user = caller(&[], Some(&[CALL_RECORDS_READ_ALL, ONLINE_MEETINGS_READ]));
        assert!(!CALL_RECORDS.allows(&user));
        assert!(!PSTN_REPORTS.allows(&user));
        assert!(ONLINE_MEETINGS.allows(&user));
        let app = caller(&[CALL_RECORD_PSTN_CALLS_READ_ALL], None);
        assert!(PSTN_REPORTS.allows(&app));
        assert!(!CALL_RECORDS.allows(&app));
        // A delegated scope's name as an app role counts for nothing.
        assert!(!ONLINE_MEETINGS.allows(&caller(&[ONLINE_MEETINGS_READ], None)));
    }

    #[test]
    fn delegated_users_see_only_their_own_path() {
        let user = caller(&[], Some(&[ONLINE_MEETINGS_READ]));
        assert!(require_own(&user, "U").is_ok());
        assert_eq!(
            require_own(&user, "someone-else").unwrap_err().status,
            axum::http::StatusCode::FORBIDDEN
        );
        assert!(require_own(&caller(&[], None), "anyone").is_ok());
    }

    #[test]
    fn subscription_resources_have_their_tables_permissions() {
        let r = subscription_requirement("/communications/callRecords").unwrap();
        assert_eq!(r, CALL_RECORDS);
        let r = subscription_requirement("communications/onlineMeetings/{id}/transcripts").unwrap();
        assert_eq!(
            r.resource_specific,
            Some(ONLINE_MEETING_TRANSCRIPT_READ_CHAT)
        );
        let r = subscription_requirement("communications/adhocCalls/{id}/transcripts").unwrap();
        assert!(r.application.is_empty());
        assert!(subscription_requirement("me/messages").is_none());
    }
}
