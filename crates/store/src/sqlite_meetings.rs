//! [`MeetingStore`] for [`SqliteStore`]: writes on the single writer connection, each in one
//! transaction; reads on the reader pool.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use chrono::{DateTime, Utc};

use crate::matching::{artifact_kinds, call_event_kinds, ArtifactEvent, CallEventEvent};
use crate::meetings::*;
use crate::sqlite::{from_ns, json_list, parse_list, to_ns};
use crate::NotificationKind;
use crate::{SqliteStore, StoreError, StoreResult};

/// A live subscription that may be told of a change.
struct Watcher {
    id: String,
    kind: String,
    scope: Option<String>,
    created: DateTime<Utc>,
}

async fn live_watchers(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    tenant_id: &str,
    kinds: &[&str],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Watcher>> {
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
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
    let rows = b.build().fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| {
            Ok(Watcher {
                id: r.try_get("id")?,
                kind: r.try_get("resource_kind")?,
                scope: r.try_get("scope")?,
                created: from_ns(r.try_get("created_ns")?),
            })
        })
        .collect()
}

/// Outbox rows, one per `(subscription, subject)`.
async fn enqueue(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    tenant_id: &str,
    event: &str,
    resource_id: &str,
    rows: &[(&str, String)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, created_ns, due_ns, subject) ",
    );
    b.push_values(rows, |mut row, (sub, subject)| {
        row.push_bind(uuid::Uuid::new_v4().to_string())
            .push_bind(tenant_id)
            .push_bind(*sub)
            .push_bind(NotificationKind::Change.as_str())
            .push_bind(event)
            .push_bind(resource_id)
            .push_bind(to_ns(now))
            .push_bind(to_ns(now))
            .push_bind(subject);
    });
    b.build().execute(&mut **tx).await?;
    Ok(())
}

fn table(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Transcript => "transcripts",
        ArtifactKind::Recording => "recordings",
    }
}

fn stream_column(kind: ArtifactKind, stream: ArtifactStream) -> StoreResult<&'static str> {
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

fn meeting_from_row(r: &SqliteRow) -> StoreResult<StoredOnlineMeeting> {
    Ok(StoredOnlineMeeting {
        id: r.try_get("id")?,
        organizer_id: r.try_get("organizer_id")?,
        join_web_url: r.try_get("join_web_url")?,
        user_ids: parse_list(&r.try_get::<String, _>("user_ids")?)?,
        body: r.try_get("body")?,
    })
}

/// Columns of an artifact row except its streams (which only the stream reads load).
fn artifact_columns(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Transcript => {
            "parent_kind, parent_id, id, organizer_id, created_ns, content_correlation_id, seq, body, \
             length(content) AS content_len, length(metadata_content) AS metadata_content_len"
        }
        ArtifactKind::Recording => {
            "parent_kind, parent_id, id, organizer_id, created_ns, content_correlation_id, seq, body, \
             length(content) AS content_len, NULL AS metadata_content_len"
        }
    }
}

fn artifact_from_row(kind: ArtifactKind, r: &SqliteRow) -> StoreResult<StoredArtifact> {
    Ok(StoredArtifact {
        key: ArtifactKey {
            kind,
            parent: parent_from(&r.try_get::<String, _>("parent_kind")?)?,
            parent_id: r.try_get("parent_id")?,
            id: r.try_get("id")?,
        },
        organizer_id: r.try_get("organizer_id")?,
        created: from_ns(r.try_get("created_ns")?),
        content_correlation_id: r.try_get("content_correlation_id")?,
        seq: r.try_get("seq")?,
        body: r.try_get("body")?,
        content_len: r.try_get("content_len")?,
        metadata_content_len: r.try_get("metadata_content_len")?,
    })
}

fn call_event_from_row(r: &SqliteRow) -> StoreResult<StoredCallEvent> {
    Ok(StoredCallEvent {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        event_type: r.try_get("event_type")?,
        event_time: from_ns(r.try_get("event_ns")?),
        user_id: r.try_get("user_id")?,
        join_web_url: r.try_get("join_web_url")?,
        call_id: r.try_get("call_id")?,
        policy_name: r.try_get("policy_name")?,
        body: r.try_get("body")?,
    })
}

#[async_trait]
impl MeetingStore for SqliteStore {
    async fn put_online_meeting(
        &self,
        tenant_id: &str,
        m: &OnlineMeetingWrite,
    ) -> StoreResult<MeetingWritten> {
        let mut tx = self.write().await?;
        let existed = sqlx::query("SELECT 1 FROM online_meetings WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(&m.id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO online_meetings (tenant_id, id, organizer_id, join_web_url, user_ids, body) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO UPDATE SET \
             organizer_id = excluded.organizer_id, join_web_url = excluded.join_web_url, \
             user_ids = excluded.user_ids, body = excluded.body",
        )
        .bind(tenant_id)
        .bind(&m.id)
        .bind(&m.organizer_id)
        .bind(&m.join_web_url)
        .bind(json_list(&m.user_ids))
        .bind(&m.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(MeetingWritten {
            id: m.id.clone(),
            created: !existed,
        })
    }

    async fn online_meeting(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredOnlineMeeting>> {
        let row = sqlx::query(
            "SELECT id, organizer_id, join_web_url, user_ids, body FROM online_meetings \
             WHERE tenant_id = ? AND id = ?",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(meeting_from_row).transpose()
    }

    async fn online_meetings_by_join_url(
        &self,
        tenant_id: &str,
        join_web_url: &str,
    ) -> StoreResult<Vec<StoredOnlineMeeting>> {
        let rows = sqlx::query(
            "SELECT id, organizer_id, join_web_url, user_ids, body FROM online_meetings \
             WHERE tenant_id = ? AND join_web_url = ? ORDER BY id",
        )
        .bind(tenant_id)
        .bind(join_web_url)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(meeting_from_row).collect()
    }

    async fn put_adhoc_call(
        &self,
        tenant_id: &str,
        c: &AdhocCallWrite,
    ) -> StoreResult<MeetingWritten> {
        let mut tx = self.write().await?;
        let existed = sqlx::query("SELECT 1 FROM adhoc_calls WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(&c.id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO adhoc_calls (tenant_id, id, organizer_id, body) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET organizer_id = excluded.organizer_id, \
             body = excluded.body",
        )
        .bind(tenant_id)
        .bind(&c.id)
        .bind(&c.organizer_id)
        .bind(&c.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(MeetingWritten {
            id: c.id.clone(),
            created: !existed,
        })
    }

    async fn adhoc_call(&self, tenant_id: &str, id: &str) -> StoreResult<Option<StoredAdhocCall>> {
        let row = sqlx::query(
            "SELECT id, organizer_id, body FROM adhoc_calls WHERE tenant_id = ? AND id = ?",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(StoredAdhocCall {
                id: r.try_get("id")?,
                organizer_id: r.try_get("organizer_id")?,
                body: r.try_get("body")?,
            })
        })
        .transpose()
    }

    async fn put_artifact(
        &self,
        tenant_id: &str,
        a: &ArtifactWrite,
    ) -> StoreResult<ArtifactWritten> {
        let t = table(a.key.kind);
        let mut tx = self.write().await?;
        let existing = sqlx::query(&format!(
            "SELECT seq FROM {t} WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?"
        ))
        .bind(tenant_id)
        .bind(a.key.parent.as_str())
        .bind(&a.key.parent_id)
        .bind(&a.key.id)
        .fetch_optional(&mut *tx)
        .await?;
        let seq: Option<i64> = match &existing {
            Some(r) => r.try_get("seq")?,
            None => None,
        };
        // Replacing metadata keeps the streams and the publication order.
        sqlx::query(&format!(
            "INSERT INTO {t} (tenant_id, parent_kind, parent_id, id, organizer_id, created_ns, \
             content_correlation_id, body, received_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (tenant_id, parent_kind, parent_id, id) DO UPDATE SET \
             organizer_id = excluded.organizer_id, created_ns = excluded.created_ns, \
             content_correlation_id = excluded.content_correlation_id, body = excluded.body"
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
        .await?;
        // Metadata alone never publishes an artifact, so there is nothing to notify here.
        tx.commit().await?;
        Ok(ArtifactWritten {
            key: a.key.clone(),
            organizer_id: a.organizer_id.clone(),
            inserted: existing.is_none(),
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
        let t = table(key.kind);
        let column = stream_column(key.kind, stream)?;
        let mut tx = self.write().await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT seq, organizer_id FROM {t} \
             WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?"
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
        let old_seq: Option<i64> = row.try_get("seq")?;
        let organizer_id: String = row.try_get("organizer_id")?;
        let publish = old_seq.is_none() && stream == ArtifactStream::Content;
        let seq = if publish {
            // One writer connection: MAX + 1 inside the transaction cannot race.
            let r = sqlx::query(&format!(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM {t}"
            ))
            .fetch_one(&mut *tx)
            .await?;
            Some(r.try_get::<i64, _>("next")?)
        } else {
            old_seq
        };
        sqlx::query(&format!(
            "UPDATE {t} SET {column} = ?, seq = ? \
             WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?"
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
        if publish {
            // The artifact's `created` notifications, in the same transaction.
            let watchers = live_watchers(
                &mut tx,
                tenant_id,
                artifact_kinds(key.kind, key.parent),
                now,
            )
            .await?;
            if !watchers.is_empty() {
                let r = sqlx::query(&format!(
                    "SELECT COALESCE(received_ns, created_ns) AS started_ns, body FROM {t} \
                     WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?"
                ))
                .bind(tenant_id)
                .bind(key.parent.as_str())
                .bind(&key.parent_id)
                .bind(&key.id)
                .fetch_one(&mut *tx)
                .await?;
                let body: String = r.try_get("body")?;
                let installed_apps: Vec<String> = if watchers
                    .iter()
                    .any(|w| w.kind.ends_with(".teamsApp"))
                {
                    sqlx::query_scalar(
                        "SELECT DISTINCT client_id FROM rsc_grants WHERE tenant_id = ? AND resource_id = ?",
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
                    created: from_ns(r.try_get("started_ns")?),
                    body: &body,
                    installed_apps: &installed_apps,
                };
                let subject = event.subject();
                let rows: Vec<(&str, String)> = watchers
                    .iter()
                    .filter(|w| event.matches(&w.kind, w.scope.as_deref(), w.created))
                    .map(|w| (w.id.as_str(), subject.clone()))
                    .collect();
                enqueue(&mut tx, tenant_id, "created", &key.id, &rows, now).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(written))
    }

    async fn artifact(
        &self,
        tenant_id: &str,
        key: &ArtifactKey,
    ) -> StoreResult<Option<StoredArtifact>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?",
            artifact_columns(key.kind),
            table(key.kind)
        ))
        .bind(tenant_id)
        .bind(key.parent.as_str())
        .bind(&key.parent_id)
        .bind(&key.id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(|r| artifact_from_row(key.kind, r))
            .transpose()
    }

    async fn artifact_stream(
        &self,
        tenant_id: &str,
        key: &ArtifactKey,
        stream: ArtifactStream,
    ) -> StoreResult<Option<Vec<u8>>> {
        let column = stream_column(key.kind, stream)?;
        let row = sqlx::query(&format!(
            "SELECT {column} AS bytes FROM {} \
             WHERE tenant_id = ? AND parent_kind = ? AND parent_id = ? AND id = ?",
            table(key.kind)
        ))
        .bind(tenant_id)
        .bind(key.parent.as_str())
        .bind(&key.parent_id)
        .bind(&key.id)
        .fetch_optional(&self.reader)
        .await?;
        match row {
            Some(r) => Ok(r.try_get("bytes")?),
            None => Ok(None),
        }
    }

    async fn list_artifacts(&self, q: &ArtifactQuery) -> StoreResult<Vec<StoredArtifact>> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
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
        let rows = b.build().fetch_all(&self.reader).await?;
        rows.iter().map(|r| artifact_from_row(q.kind, r)).collect()
    }

    async fn put_call_events(
        &self,
        tenant_id: &str,
        events: &[CallEventWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallEventWritten>> {
        let mut tx = self.write().await?;
        let watchers = live_watchers(&mut tx, tenant_id, call_event_kinds(), now).await?;
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let inserted = sqlx::query(
                "INSERT INTO call_events (tenant_id, id, event_type, event_ns, user_id, join_web_url, \
                 call_id, policy_name, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
                Some(r) => (r.try_get("seq")?, true),
                None => {
                    let r =
                        sqlx::query("SELECT seq FROM call_events WHERE tenant_id = ? AND id = ?")
                            .bind(tenant_id)
                            .bind(&e.id)
                            .fetch_one(&mut *tx)
                            .await?;
                    (r.try_get("seq")?, false)
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
                let rows: Vec<(&str, String)> = watchers
                    .iter()
                    .filter(|w| event.matches(&w.kind, w.scope.as_deref()))
                    .map(|w| (w.id.as_str(), event.subject(&w.kind)))
                    .collect();
                enqueue(&mut tx, tenant_id, "updated", &e.id, &rows, now).await?;
            }
            out.push(CallEventWritten {
                id: e.id.clone(),
                seq,
                created,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn call_events(&self, q: &CallEventQuery) -> StoreResult<Vec<StoredCallEvent>> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT seq, id, event_type, event_ns, user_id, join_web_url, call_id, policy_name, body \
             FROM call_events WHERE tenant_id = ",
        );
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
        let rows = b.build().fetch_all(&self.reader).await?;
        rows.iter().map(call_event_from_row).collect()
    }

    async fn put_emergency_policy(
        &self,
        tenant_id: &str,
        policy: &EmergencyPolicyRow,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        let existed =
            sqlx::query("SELECT 1 FROM emergency_policies WHERE tenant_id = ? AND name = ?")
                .bind(tenant_id)
                .bind(&policy.name)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        sqlx::query(
            "INSERT INTO emergency_policies (tenant_id, name, body) VALUES (?, ?, ?) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET body = excluded.body",
        )
        .bind(tenant_id)
        .bind(&policy.name)
        .bind(&policy.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(!existed)
    }

    async fn emergency_policies(&self, tenant_id: &str) -> StoreResult<Vec<EmergencyPolicyRow>> {
        let rows = sqlx::query(
            "SELECT name, body FROM emergency_policies WHERE tenant_id = ? ORDER BY name",
        )
        .bind(tenant_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EmergencyPolicyRow {
                    name: r.try_get("name")?,
                    body: r.try_get("body")?,
                })
            })
            .collect()
    }
}
