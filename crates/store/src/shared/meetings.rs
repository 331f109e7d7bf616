//! [`crate::MeetingStore`] written once for both stores: each write one transaction, with its
//! notifications in the same transaction.

use chrono::{DateTime, Utc};

use crate::meetings::*;
use crate::shared::Columns;
use crate::{StoreError, StoreResult};

/// A live subscription that may be told of a change.
pub(crate) struct Watcher {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) scope: Option<String>,
    pub(crate) created: DateTime<Utc>,
}

impl Watcher {
    pub(crate) fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Watcher {
            id: r.text("id")?,
            kind: r.text("resource_kind")?,
            scope: r.opt_text("scope")?,
            created: r.ns("created_ns")?,
        })
    }
}

pub(crate) fn table(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Transcript => "transcripts",
        ArtifactKind::Recording => "recordings",
    }
}

pub(crate) fn stream_column(
    kind: ArtifactKind,
    stream: ArtifactStream,
) -> StoreResult<&'static str> {
    match (kind, stream) {
        (_, ArtifactStream::Content) => Ok("content"),
        (ArtifactKind::Transcript, ArtifactStream::MetadataContent) => Ok("metadata_content"),
        (ArtifactKind::Recording, ArtifactStream::MetadataContent) => Err(StoreError::Database(
            "recordings have no metadataContent".into(),
        )),
    }
}

fn parent_from(s: &str) -> StoreResult<ArtifactParent> {
    match s {
        "onlineMeeting" => Ok(ArtifactParent::OnlineMeeting),
        "adhocCall" => Ok(ArtifactParent::AdhocCall),
        other => Err(StoreError::Corrupt(format!(
            "unknown parent kind {other:?}"
        ))),
    }
}

/// An artifact's key, bound as `$1` to `$4`.
pub(crate) const ARTIFACT_KEY: &str =
    "tenant_id = $1 AND parent_kind = $2 AND parent_id = $3 AND id = $4";

pub(crate) const MEETING_COLUMNS: &str = "id, organizer_id, join_web_url, user_ids, body";

pub(crate) fn meeting_from_row(r: &impl Columns) -> StoreResult<StoredOnlineMeeting> {
    Ok(StoredOnlineMeeting {
        id: r.text("id")?,
        organizer_id: r.text("organizer_id")?,
        join_web_url: r.opt_text("join_web_url")?,
        user_ids: r.list("user_ids")?,
        body: r.text("body")?,
    })
}

/// Columns of an artifact row except its streams (which only the stream reads load).
pub(crate) fn artifact_columns(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Transcript => {
            "parent_kind, parent_id, id, organizer_id, created_ns, content_correlation_id, seq, body, \
             CAST(octet_length(content) AS BIGINT) AS content_len, \
             CAST(octet_length(metadata_content) AS BIGINT) AS metadata_content_len"
        }
        ArtifactKind::Recording => {
            "parent_kind, parent_id, id, organizer_id, created_ns, content_correlation_id, seq, body, \
             CAST(octet_length(content) AS BIGINT) AS content_len, \
             CAST(NULL AS BIGINT) AS metadata_content_len"
        }
    }
}

pub(crate) fn artifact_from_row(
    kind: ArtifactKind,
    r: &impl Columns,
) -> StoreResult<StoredArtifact> {
    Ok(StoredArtifact {
        key: ArtifactKey {
            kind,
            parent: parent_from(&r.text("parent_kind")?)?,
            parent_id: r.text("parent_id")?,
            id: r.text("id")?,
        },
        organizer_id: r.text("organizer_id")?,
        created: r.ns("created_ns")?,
        content_correlation_id: r.opt_text("content_correlation_id")?,
        seq: r.opt_int("seq")?,
        body: r.text("body")?,
        content_len: r.opt_int("content_len")?,
        metadata_content_len: r.opt_int("metadata_content_len")?,
    })
}

pub(crate) const CALL_EVENT_COLUMNS: &str =
    "seq, id, event_type, event_ns, user_id, join_web_url, call_id, policy_name, body";

pub(crate) fn call_event_from_row(r: &impl Columns) -> StoreResult<StoredCallEvent> {
    Ok(StoredCallEvent {
        seq: r.int("seq")?,
        id: r.text("id")?,
        event_type: r.text("event_type")?,
        event_time: r.ns("event_ns")?,
        user_id: r.opt_text("user_id")?,
        join_web_url: r.opt_text("join_web_url")?,
        call_id: r.opt_text("call_id")?,
        policy_name: r.opt_text("policy_name")?,
        body: r.text("body")?,
    })
}

/// `impl MeetingStore for $store`.
macro_rules! meetings_impl {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::QueryBuilder;

            use $crate::matching::{artifact_kinds, call_event_kinds, ArtifactEvent, CallEventEvent};
            use $crate::meetings::*;
            use $crate::shared::meetings::*;
            use $crate::shared::{to_ns, json_list, Backend, Columns, Notifications};
            use $crate::{NotificationKind, StoreResult};

            type Db = <$store as Backend>::Db;

            type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

            /// Inserts a row, or else replaces it: `insert` (`… ON CONFLICT DO NOTHING`) and
            /// `update` take the same values in the same order, which `bind` binds. Answers
            /// whether it inserted. A concurrent insert of the same key makes the INSERT wait for
            /// it and then do nothing, so exactly one writer is told it created the row.
            async fn insert_or_replace<'q>(
                conn: &mut <Db as sqlx::Database>::Connection,
                insert: &'q str,
                update: &'q str,
                bind: impl Fn(Query<'q>) -> Query<'q>,
            ) -> StoreResult<bool> {
                let inserted = bind(sqlx::query(insert))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                    > 0;
                if !inserted {
                    bind(sqlx::query(update)).execute(&mut *conn).await?;
                }
                Ok(inserted)
            }

            /// The tenant's live subscriptions of these kinds (read inside the writing
            /// transaction).
            async fn live_watchers(
                conn: &mut <Db as sqlx::Database>::Connection,
                tenant_id: &str,
                kinds: &[&str],
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<Watcher>> {
                if kinds.is_empty() {
                    return Ok(Vec::new());
                }
                let mut b: QueryBuilder<Db> = QueryBuilder::new(
                    "SELECT id, resource_kind, scope, created_ns FROM subscriptions WHERE tenant_id = ",
                );
                b.push_bind(tenant_id)
                    .push(" AND expiration_ns > ")
                    .push_bind(to_ns(now))
                    .push(" AND resource_kind IN (");
                let mut list = b.separated(", ");
                for k in kinds {
                    list.push_bind(*k);
                }
                b.push(")");
                let rows = b.build().fetch_all(&mut *conn).await?;
                rows.iter().map(Watcher::from_row).collect()
            }

            #[async_trait::async_trait]
            impl MeetingStore for $store {
                async fn put_online_meeting(
                    &self,
                    tenant_id: &str,
                    m: &OnlineMeetingWrite,
                ) -> StoreResult<MeetingWritten> {
                    let user_ids = json_list(&m.user_ids);
                    let mut tx = self.begin_write().await?;
                    let created = insert_or_replace(
                        &mut tx,
                        "INSERT INTO online_meetings (tenant_id, id, organizer_id, join_web_url, user_ids, body) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO NOTHING",
                        "UPDATE online_meetings SET organizer_id = $3, join_web_url = $4, user_ids = $5, \
                         body = $6 WHERE tenant_id = $1 AND id = $2",
                        |q| {
                            q.bind(tenant_id)
                                .bind(&m.id)
                                .bind(&m.organizer_id)
                                .bind(&m.join_web_url)
                                .bind(&user_ids)
                                .bind(&m.body)
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(MeetingWritten {
                        id: m.id.clone(),
                        created,
                    })
                }

                async fn online_meeting(
                    &self,
                    tenant_id: &str,
                    id: &str,
                ) -> StoreResult<Option<StoredOnlineMeeting>> {
                    let sql = format!(
                        "SELECT {MEETING_COLUMNS} FROM online_meetings WHERE tenant_id = $1 AND id = $2"
                    );
                    Self::find(self.reader(), &sql, &[tenant_id, id], meeting_from_row).await
                }

                async fn online_meetings_by_join_url(
                    &self,
                    tenant_id: &str,
                    join_web_url: &str,
                ) -> StoreResult<Vec<StoredOnlineMeeting>> {
                    let sql = format!(
                        "SELECT {MEETING_COLUMNS} FROM online_meetings \
                         WHERE tenant_id = $1 AND join_web_url = $2 ORDER BY id"
                    );
                    Self::find_all(self.reader(), &sql, &[tenant_id, join_web_url], meeting_from_row)
                        .await
                }

                async fn put_adhoc_call(
                    &self,
                    tenant_id: &str,
                    c: &AdhocCallWrite,
                ) -> StoreResult<MeetingWritten> {
                    let mut tx = self.begin_write().await?;
                    let created = insert_or_replace(
                        &mut tx,
                        "INSERT INTO adhoc_calls (tenant_id, id, organizer_id, body) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, id) DO NOTHING",
                        "UPDATE adhoc_calls SET organizer_id = $3, body = $4 WHERE tenant_id = $1 AND id = $2",
                        |q| q.bind(tenant_id).bind(&c.id).bind(&c.organizer_id).bind(&c.body),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(MeetingWritten {
                        id: c.id.clone(),
                        created,
                    })
                }

                async fn adhoc_call(
                    &self,
                    tenant_id: &str,
                    id: &str,
                ) -> StoreResult<Option<StoredAdhocCall>> {
                    Self::find(
                        self.reader(),
                        "SELECT id, organizer_id, body FROM adhoc_calls WHERE tenant_id = $1 AND id = $2",
                        &[tenant_id, id],
                        |r| {
                            Ok(StoredAdhocCall {
                                id: r.text("id")?,
                                organizer_id: r.text("organizer_id")?,
                                body: r.text("body")?,
                            })
                        },
                    )
                    .await
                }

                async fn put_artifact(
                    &self,
                    tenant_id: &str,
                    a: &ArtifactWrite,
                ) -> StoreResult<ArtifactWritten> {
                    let t = table(a.key.kind);
                    // Insert, or else replace the metadata (as `insert_or_replace`, but the
                    // replacement tells the seq); replacing keeps the streams and the publication
                    // order.
                    let mut tx = self.begin_write().await?;
                    let inserted = sqlx::query(&format!(
                        "INSERT INTO {t} (tenant_id, parent_kind, parent_id, id, organizer_id, created_ns, \
                         content_correlation_id, body, received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (tenant_id, parent_kind, parent_id, id) DO NOTHING"
                    ))
                    .bind(tenant_id)
                    .bind(a.key.parent.as_str())
                    .bind(&a.key.parent_id)
                    .bind(&a.key.id)
                    .bind(&a.organizer_id)
                    .bind(to_ns(a.created))
                    .bind(&a.content_correlation_id)
                    .bind(&a.body)
                    .bind(to_ns(a.received))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    let seq: Option<i64> = if inserted {
                        None
                    } else {
                        sqlx::query_scalar(&format!(
                            "UPDATE {t} SET organizer_id = $5, created_ns = $6, \
                             content_correlation_id = $7, body = $8 \
                             WHERE {ARTIFACT_KEY} RETURNING seq"
                        ))
                        .bind(tenant_id)
                        .bind(a.key.parent.as_str())
                        .bind(&a.key.parent_id)
                        .bind(&a.key.id)
                        .bind(&a.organizer_id)
                        .bind(to_ns(a.created))
                        .bind(&a.content_correlation_id)
                        .bind(&a.body)
                        .fetch_one(&mut *tx)
                        .await?
                    };
                    // Metadata alone never publishes an artifact, so there is nothing to notify.
                    tx.commit().await?;
                    Ok(ArtifactWritten {
                        key: a.key.clone(),
                        organizer_id: a.organizer_id.clone(),
                        inserted,
                        published: false,
                        seq,
                    })
                }

                async fn put_artifact_stream(
                    &self,
                    tenant_id: &str,
                    key: &ArtifactKey,
                    stream: ArtifactStream,
                    bytes: &[u8],
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<ArtifactWritten>> {
                    if Self::unstorable(&[tenant_id, &key.parent_id, &key.id]) {
                        return Ok(None);
                    }
                    let t = table(key.kind);
                    let column = stream_column(key.kind, stream)?;
                    let mut tx = self.begin_write().await?;
                    // Locked (where rows are locked) until commit: "publish once" and the seq
                    // below are race-free.
                    let Some(row) = sqlx::query(&format!(
                        "SELECT seq, organizer_id, COALESCE(received_ns, created_ns) AS started_ns, body \
                         FROM {t} WHERE {ARTIFACT_KEY}{}",
                        Self::FOR_UPDATE
                    ))
                    .bind(tenant_id)
                    .bind(key.parent.as_str())
                    .bind(&key.parent_id)
                    .bind(&key.id)
                    .fetch_optional(&mut *tx)
                    .await?
                    else {
                        return Ok(None);
                    };
                    let old_seq = row.opt_int("seq")?;
                    let organizer_id = row.text("organizer_id")?;
                    let publish = old_seq.is_none() && stream == ArtifactStream::Content;
                    let seq = if publish {
                        // Publication order is global per table: one publisher at a time, so
                        // commit order is seq order and paging by seq never skips a late commit.
                        Self::serialize(&mut tx, &format!("publish/{t}")).await?;
                        let next: i64 =
                            sqlx::query_scalar(&format!("SELECT COALESCE(MAX(seq), 0) + 1 FROM {t}"))
                                .fetch_one(&mut *tx)
                                .await?;
                        Some(next)
                    } else {
                        old_seq
                    };
                    sqlx::query(&format!(
                        "UPDATE {t} SET {column} = $1, seq = $2 \
                         WHERE tenant_id = $3 AND parent_kind = $4 AND parent_id = $5 AND id = $6"
                    ))
                    .bind(bytes)
                    .bind(seq)
                    .bind(tenant_id)
                    .bind(key.parent.as_str())
                    .bind(&key.parent_id)
                    .bind(&key.id)
                    .execute(&mut *tx)
                    .await?;
                    let written = ArtifactWritten {
                        key: key.clone(),
                        organizer_id,
                        inserted: false,
                        published: publish,
                        seq,
                    };
                    let mut notes = Notifications::default();
                    if publish {
                        // The artifact's `created` notifications, in the same transaction.
                        let watchers =
                            live_watchers(&mut tx, tenant_id, artifact_kinds(key.kind, key.parent), now)
                                .await?;
                        if !watchers.is_empty() {
                            let body = row.text("body")?;
                            let installed_apps: Vec<String> =
                                if watchers.iter().any(|w| w.kind.ends_with(".teamsApp")) {
                                    sqlx::query_scalar(
                                        "SELECT DISTINCT client_id FROM rsc_grants \
                                         WHERE tenant_id = $1 AND resource_id = $2",
                                    )
                                    .bind(tenant_id)
                                    .bind(&key.parent_id)
                                    .fetch_all(&mut *tx)
                                    .await?
                                } else {
                                    Vec::new()
                                };
                            let event = ArtifactEvent {
                                kind: key.kind,
                                parent: key.parent,
                                parent_id: &key.parent_id,
                                organizer_id: &written.organizer_id,
                                id: &key.id,
                                created: row.ns("started_ns")?,
                                body: &body,
                                installed_apps: &installed_apps,
                            };
                            let subject = event.subject();
                            for w in watchers
                                .iter()
                                .filter(|w| event.matches(&w.kind, w.scope.as_deref(), w.created))
                            {
                                notes.push(
                                    &w.id,
                                    NotificationKind::Change,
                                    "created",
                                    Some(&key.id),
                                    Some(subject.clone()),
                                );
                            }
                        }
                    }
                    let queued = !notes.0.is_empty();
                    if queued {
                        Self::insert_notifications(&mut tx, tenant_id, now, &notes.0).await?;
                    }
                    tx.commit().await?;
                    if queued {
                        self.announce_outbox().await;
                    }
                    Ok(Some(written))
                }

                async fn artifact(
                    &self,
                    tenant_id: &str,
                    key: &ArtifactKey,
                ) -> StoreResult<Option<StoredArtifact>> {
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {ARTIFACT_KEY}",
                        artifact_columns(key.kind),
                        table(key.kind)
                    );
                    let keys = [tenant_id, key.parent.as_str(), &key.parent_id, &key.id];
                    Self::find(self.reader(), &sql, &keys, |r| artifact_from_row(key.kind, r)).await
                }

                async fn artifact_stream(
                    &self,
                    tenant_id: &str,
                    key: &ArtifactKey,
                    stream: ArtifactStream,
                ) -> StoreResult<Option<Vec<u8>>> {
                    let column = stream_column(key.kind, stream)?;
                    let sql = format!("SELECT {column} AS bytes FROM {} WHERE {ARTIFACT_KEY}", table(key.kind));
                    let keys = [tenant_id, key.parent.as_str(), &key.parent_id, &key.id];
                    let bytes = Self::find(self.reader(), &sql, &keys, |r| r.opt_bytes("bytes")).await?;
                    Ok(bytes.flatten())
                }

                async fn list_artifacts(&self, q: &ArtifactQuery) -> StoreResult<Vec<StoredArtifact>> {
                    if Self::unstorable(&[
                        &q.tenant_id,
                        q.parent_id.as_deref().unwrap_or(""),
                        q.organizer_id.as_deref().unwrap_or(""),
                        q.content_correlation_id.as_deref().unwrap_or(""),
                    ]) {
                        return Ok(Vec::new());
                    }
                    let mut b: QueryBuilder<Db> = QueryBuilder::new(format!(
                        "SELECT {} FROM {} WHERE seq IS NOT NULL AND tenant_id = ",
                        artifact_columns(q.kind),
                        table(q.kind)
                    ));
                    b.push_bind(&q.tenant_id);
                    b.push(" AND parent_kind = ").push_bind(q.parent.as_str());
                    if let Some(p) = &q.parent_id {
                        b.push(" AND parent_id = ").push_bind(p);
                    }
                    if let Some(o) = &q.organizer_id {
                        b.push(" AND organizer_id = ").push_bind(o);
                    }
                    if let Some(c) = &q.content_correlation_id {
                        b.push(" AND content_correlation_id = ").push_bind(c);
                    }
                    if let Some(from) = q.created_from {
                        b.push(" AND created_ns >= ").push_bind(to_ns(from));
                    }
                    if let Some(to) = q.created_to {
                        b.push(" AND created_ns <= ").push_bind(to_ns(to));
                    }
                    if let Some(after) = q.after_seq {
                        b.push(" AND seq > ").push_bind(after);
                    }
                    b.push(" ORDER BY seq LIMIT ").push_bind(i64::from(q.limit));
                    let rows = b.build().fetch_all(self.reader()).await?;
                    rows.iter().map(|r| artifact_from_row(q.kind, r)).collect()
                }

                async fn put_call_events(
                    &self,
                    tenant_id: &str,
                    events: &[CallEventWrite],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<CallEventWritten>> {
                    let mut tx = self.begin_write().await?;
                    // Arrival order (seq) is the feeds' paging order: commit order must follow it.
                    Self::serialize(&mut tx, &format!("call_events/{tenant_id}")).await?;
                    let watchers = live_watchers(&mut tx, tenant_id, call_event_kinds(), now).await?;
                    let mut notes = Notifications::default();
                    let mut out = Vec::with_capacity(events.len());
                    for e in events {
                        let inserted: Option<i64> = sqlx::query_scalar(
                            "INSERT INTO call_events (tenant_id, id, event_type, event_ns, user_id, \
                             join_web_url, call_id, policy_name, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                             ON CONFLICT (tenant_id, id) DO NOTHING RETURNING seq",
                        )
                        .bind(tenant_id)
                        .bind(&e.id)
                        .bind(&e.event_type)
                        .bind(to_ns(e.event_time))
                        .bind(&e.user_id)
                        .bind(&e.join_web_url)
                        .bind(&e.call_id)
                        .bind(&e.policy_name)
                        .bind(&e.body)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let (seq, created) = match inserted {
                            Some(seq) => (seq, true),
                            None => {
                                let seq: i64 = sqlx::query_scalar(
                                    "SELECT seq FROM call_events WHERE tenant_id = $1 AND id = $2",
                                )
                                .bind(tenant_id)
                                .bind(&e.id)
                                .fetch_one(&mut *tx)
                                .await?;
                                (seq, false)
                            }
                        };
                        if created && !watchers.is_empty() {
                            // Each new event notifies its user's or meeting's feed, in arrival order.
                            let event = CallEventEvent {
                                id: &e.id,
                                user_id: e.user_id.as_deref(),
                                join_web_url: e.join_web_url.as_deref(),
                                policy_name: e.policy_name.as_deref(),
                                body: &e.body,
                            };
                            for w in watchers
                                .iter()
                                .filter(|w| event.matches(&w.kind, w.scope.as_deref()))
                            {
                                notes.push(
                                    &w.id,
                                    NotificationKind::Change,
                                    "updated",
                                    Some(&e.id),
                                    Some(event.subject(&w.kind)),
                                );
                            }
                        }
                        out.push(CallEventWritten {
                            id: e.id.clone(),
                            seq,
                            created,
                        });
                    }
                    let queued = !notes.0.is_empty();
                    if queued {
                        Self::insert_notifications(&mut tx, tenant_id, now, &notes.0).await?;
                    }
                    tx.commit().await?;
                    if queued {
                        self.announce_outbox().await;
                    }
                    Ok(out)
                }

                async fn call_events(&self, q: &CallEventQuery) -> StoreResult<Vec<StoredCallEvent>> {
                    if Self::unstorable(&[
                        &q.tenant_id,
                        q.user_id.as_deref().unwrap_or(""),
                        q.join_web_url.as_deref().unwrap_or(""),
                        q.policy_name.as_deref().unwrap_or(""),
                    ]) {
                        return Ok(Vec::new());
                    }
                    let mut b: QueryBuilder<Db> = QueryBuilder::new(format!(
                        "SELECT {CALL_EVENT_COLUMNS} FROM call_events WHERE tenant_id = "
                    ));
                    b.push_bind(&q.tenant_id);
                    if let Some(u) = &q.user_id {
                        b.push(" AND user_id = ").push_bind(u);
                    }
                    if let Some(j) = &q.join_web_url {
                        b.push(" AND join_web_url = ").push_bind(j);
                    }
                    if let Some(p) = &q.policy_name {
                        b.push(" AND policy_name = ").push_bind(p);
                    }
                    if let Some(after) = q.after_seq {
                        b.push(" AND seq > ").push_bind(after);
                    }
                    b.push(" ORDER BY seq LIMIT ").push_bind(i64::from(q.limit));
                    let rows = b.build().fetch_all(self.reader()).await?;
                    rows.iter().map(call_event_from_row).collect()
                }

                async fn put_emergency_policy(
                    &self,
                    tenant_id: &str,
                    policy: &EmergencyPolicyRow,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let created = insert_or_replace(
                        &mut tx,
                        "INSERT INTO emergency_policies (tenant_id, name, body) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_id, name) DO NOTHING",
                        "UPDATE emergency_policies SET body = $3 WHERE tenant_id = $1 AND name = $2",
                        |q| q.bind(tenant_id).bind(&policy.name).bind(&policy.body),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn emergency_policies(
                    &self,
                    tenant_id: &str,
                ) -> StoreResult<Vec<EmergencyPolicyRow>> {
                    Self::find_all(
                        self.reader(),
                        "SELECT name, body FROM emergency_policies WHERE tenant_id = $1 ORDER BY name",
                        &[tenant_id],
                        |r| {
                            Ok(EmergencyPolicyRow {
                                name: r.text("name")?,
                                body: r.text("body")?,
                            })
                        },
                    )
                    .await
                }
            }
        };
    };
}

pub(crate) use meetings_impl;
