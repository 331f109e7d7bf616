use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

/// An app registration: a client id, its secrets (hashed) and its application permissions.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    pub client_id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub secret_hashes: Vec<String>,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for App {
    // Secret hashes stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("display_name", &self.display_name)
            .field(
                "secret_hashes",
                &format_args!("<{} redacted>", self.secret_hashes.len()),
            )
            .field("roles", &self.roles)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub pkcs8: Vec<u8>,
}

/// A validated call record ready to store. `body` is its Graph JSON object without the
/// `sessions` and `participants_v2` navigations (kept as JSON arrays beside it); its `version`
/// and `lastModifiedDateTime` are owned by the store.
#[derive(Debug, Clone)]
pub struct CallRecordWrite {
    pub id: String,
    pub start: DateTime<Utc>,
    /// Distinct participant ids, for `participants_v2/any(p:p/id eq '…')`.
    pub participant_ids: Vec<String>,
    pub body: String,
    pub sessions: String,
    pub participants: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecordWritten {
    pub id: String,
    pub version: i64,
    pub last_modified: DateTime<Utc>,
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct StoredCallRecord {
    /// Position in the tenant's list order; fixed at first insert.
    pub seq: i64,
    pub id: String,
    pub version: i64,
    pub last_modified: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub body: String,
    /// The `sessions` array (JSON); `None` from list queries, which do not read it.
    pub sessions: Option<String>,
    /// The `participants_v2` array (JSON); `None` from list queries.
    pub participants: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CallRecordQuery {
    pub tenant_id: String,
    /// Only records after this `seq` (the page cursor).
    pub after_seq: Option<i64>,
    /// Conditions on the call's start time (`startDateTime`), all of which must hold.
    pub start: Vec<(Cmp, DateTime<Utc>)>,
    /// Every one of these ids must be among the record's participants.
    pub participant_ids: Vec<String>,
    pub limit: u32,
}

/// The report feeds of Graph's call-records functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReportKind {
    PstnCalls,
    DirectRoutingCalls,
    SmsLog,
    PstnBlockedUsersLog,
    PstnOnlineMeetingDialout,
}

impl ReportKind {
    pub const ALL: [ReportKind; 5] = [
        ReportKind::PstnCalls,
        ReportKind::DirectRoutingCalls,
        ReportKind::SmsLog,
        ReportKind::PstnBlockedUsersLog,
        ReportKind::PstnOnlineMeetingDialout,
    ];

    /// The name used in the ingest path and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::PstnCalls => "pstnCalls",
            ReportKind::DirectRoutingCalls => "directRoutingCalls",
            ReportKind::SmsLog => "smsLog",
            ReportKind::PstnBlockedUsersLog => "pstnBlockedUsersLog",
            ReportKind::PstnOnlineMeetingDialout => "pstnOnlineMeetingDialout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct ReportRowWrite {
    pub id: String,
    pub time: DateTime<Utc>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub tenant_id: String,
    pub report: ReportKind,
    /// Inclusive lower bound on the row's time key.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub to_inclusive: bool,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct UserWrite {
    pub id: String,
    pub body: String,
}

/// A change-notification subscription: the columns matching and delivery use, plus `body`, the
/// subscription as the API shows it (owned by the API; the store never reads inside it).
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    /// Which kind of resource is watched, e.g. `callRecords`.
    pub resource_kind: String,
    pub resource: String,
    pub change_type: String,
    pub notify_created: bool,
    pub notify_updated: bool,
    /// Participant ids of a `participants/any(p:p/id eq '…')` filter; empty = every record.
    pub participant_filter: Vec<String>,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
    /// End of the subscription's access authorization (Graph's endpoint token lifetime).
    pub authorized_until: DateTime<Utc>,
    /// What the resource path names, for the kinds that watch one thing: a meeting, an ad hoc
    /// call, a user, a Teams app or a meeting's join URL (see [`crate::matching`]).
    pub scope: Option<String>,
    /// When the subscription was created (a transcript is only notified to subscriptions that
    /// existed before transcription started).
    pub created: DateTime<Utc>,
    /// Set for rich notifications (`includeResourceData`): the certificate to encrypt with.
    pub encryption: Option<EncryptionSettings>,
    /// `notificationUrlAppId`: the audience of validation tokens, when not the app itself.
    pub notification_url_app_id: Option<String>,
    pub body: String,
}

impl std::fmt::Debug for SubscriptionRow {
    // `clientState` is the receiver's secret, and `body` repeats it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRow")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("app_id", &self.app_id)
            .field("resource_kind", &self.resource_kind)
            .field("resource", &self.resource)
            .field("change_type", &self.change_type)
            .field("notification_url", &self.notification_url)
            .field("lifecycle_url", &self.lifecycle_url)
            .field(
                "client_state",
                &self.client_state.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .field("authorized_until", &self.authorized_until)
            .field("scope", &self.scope)
            .field("rich", &self.encryption.is_some())
            .finish_non_exhaustive()
    }
}

/// A rich subscription's encryption certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionSettings {
    /// Base64 DER X.509, as the client sent it.
    pub certificate: String,
    /// The client's label for it, echoed in each notification.
    pub certificate_id: String,
}

/// One quota a new subscription must fit: at most `limit` subscriptions of the tenant whose
/// kind is one of `kinds`, counting only the same app and/or the same scope when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRule {
    pub kinds: Vec<String>,
    pub same_app: bool,
    pub same_scope: bool,
    pub limit: u32,
}

impl QuotaRule {
    /// At most `limit` subscriptions of `kind` in the tenant.
    pub fn per_tenant(kind: &str, limit: u32) -> Self {
        Self {
            kinds: vec![kind.to_string()],
            same_app: false,
            same_scope: false,
            limit,
        }
    }
}

/// Why a subscription could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionRefusal {
    /// Quota `rule` (an index into the rules given) is full at `limit`.
    Quota { rule: usize, limit: u32 },
    /// The same app already watches the same resource with the same change types.
    Duplicate { existing_id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationKind {
    Change,
    Lifecycle,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Change => "change",
            NotificationKind::Lifecycle => "lifecycle",
        }
    }
}

/// One notification waiting in the outbox for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub seq: i64,
    /// Stable notification id: a redelivery carries the same id.
    pub id: String,
    pub tenant_id: String,
    pub subscription_id: String,
    pub kind: NotificationKind,
    /// `changeType` of a change notification, or `lifecycleEvent` of a lifecycle one.
    pub event: String,
    pub resource_id: Option<String>,
    pub created: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub attempts: i64,
    pub first_attempt: Option<DateTime<Utc>>,
    /// What changed, for notifications of meetings' artifacts and call events: a JSON object
    /// written by [`crate::matching`] (the notifier renders Graph's payload from it).
    pub subject: Option<String>,
}

/// What a delivery round reads from the outbox: each ready stream (a subscription's notifications
/// of one kind) from its head, at most `per_stream` rows of it, the streams' first rows before
/// their second ones and each tenant's oldest stream before any tenant's next one, at most
/// `limit` rows in all. A stream is ready when its first row (rows in `skip` aside) is due and
/// it is not in `busy`; its rows end before the first one that is not due. So a stream with a
/// POST in flight, backing off, or stuck behind a full URL takes nothing from the others,
/// whatever its backlog.
#[derive(Debug, Clone, Copy)]
pub struct DueQuery<'a> {
    pub now: DateTime<Utc>,
    pub limit: u32,
    pub per_stream: u32,
    /// Delivered rows whose removal is not committed yet: left out, and they block nothing.
    pub skip: &'a [i64],
    /// Streams that read nothing this round (a POST in flight, their URL's slots all taken).
    pub busy: &'a [(String, NotificationKind)],
}

impl<'a> DueQuery<'a> {
    /// Every ready stream's due rows, up to `limit` rows in all.
    pub fn new(now: DateTime<Utc>, limit: u32, skip: &'a [i64]) -> Self {
        Self {
            now,
            limit,
            per_stream: limit,
            skip,
            busy: &[],
        }
    }

    /// `busy` as the stores match it: `kind/subscription`.
    pub(crate) fn busy_keys(&self) -> Vec<String> {
        self.busy
            .iter()
            .map(|(s, k)| format!("{}/{s}", k.as_str()))
            .collect()
    }

    /// Cuts each stream's rows (in `seq` order within the stream) before its first row that is
    /// not due: a notification never overtakes an earlier one of its stream that waits.
    pub(crate) fn due_prefix(&self, rows: Vec<OutboxRow>) -> Vec<OutboxRow> {
        let mut blocked: std::collections::HashSet<(String, NotificationKind)> =
            std::collections::HashSet::new();
        rows.into_iter()
            .filter(|r| {
                let key = (r.subscription_id.clone(), r.kind);
                if blocked.contains(&key) {
                    return false;
                }
                if r.due > self.now {
                    blocked.insert(key);
                    return false;
                }
                true
            })
            .collect()
    }
}

/// A record of one delivery attempt (one POST, possibly for several notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub subscription_id: String,
    pub notification_ids: Vec<String>,
    pub url: String,
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub outcome: String,
    pub error: Option<String>,
}
