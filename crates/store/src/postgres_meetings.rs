//! [`MeetingStore`] for [`PostgresStore`]: each write one transaction, with its notifications
//! in the same transaction (as in `sqlite_meetings.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use crate::matching::{artifact_kinds, call_event_kinds, ArtifactEvent, CallEventEvent};
use crate::meetings::*;
use crate::postgres::{lock, nul, OutboxInsert};
use crate::sqlite::{from_ns, json_list, parse_list, to_ns};
use crate::{NotificationKind, PostgresStore, StoreError, StoreResult};

/// A live subscription that may be told of a change.
struct Watcher {
    id: String,
    kind: String,
    scope: Option<String>,
    created: DateTime<Utc>,
}

async fn live_watchers(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: &str,
    kinds: &[&str],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Watcher>> {
    let rows = sqlx::query(
        "SELECT id, resource_kind, scope, created_ns FROM subscriptions \
         WHERE tenant_id = $1 AND expiration_ns > $2 AND resource_kind = ANY($3)",
    )
    .bind(tenant_id)
    .bind(to_ns(now))
    .bind(kinds)
    .fetch_all(&mut **tx)
    .await?;
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

fn meeting_from_row(r: &PgRow) -> StoreResult<StoredOnlineMeeting> {
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
             octet_length(content)::BIGINT AS content_len, \
             octet_length(metadata_content)::BIGINT AS metadata_content_len"
        }
        ArtifactKind::Recording => {
            "parent_kind, parent_id, id, organizer_id, created_ns, content_correlation_id, seq, body, \
             octet_length(content)::BIGINT AS content_len, NULL::BIGINT AS metadata_content_len"
        }
    }
}

fn artifact_from_row(kind: ArtifactKind, r: &PgRow) -> StoreResult<StoredArtifact> {
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

fn call_event_from_row(r: &PgRow) -> StoreResult<StoredCallEvent> {
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
impl MeetingStore for PostgresStore {
    async fn put_online_meeting(
        &self,
        tenant_id: &str,
        m: &OnlineMeetingWrite,
    ) -> StoreResult<MeetingWritten> {
        // `xmax = 0` only on a freshly inserted row: new vs replaced in one atomic statement.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO online_meetings (tenant_id, id, organizer_id, join_web_url, user_ids, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO UPDATE SET \
             organizer_id = EXCLUDED.organizer_id, join_web_url = EXCLUDED.join_web_url, \
             user_ids = EXCLUDED.user_ids, body = EXCLUDED.body RETURNING (xmax = 0)",
        )
        .bind(tenant_id)
        .bind(&m.id)
        .bind(&m.organizer_id)
        .bind(&m.join_web_url)
        .bind(json_list(&m.user_ids))
        .bind(&m.body)
        .fetch_one(&self.pool)
        .await?;
        Ok(MeetingWritten {
            id: m.id.clone(),
            created: inserted,
        })
    }

    async fn online_meeting(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredOnlineMeeting>> {
        if nul(&[tenant_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, organizer_id, join_web_url, user_ids, body FROM online_meetings \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(meeting_from_row).transpose()
    }

    async fn online_meetings_by_join_url(
        &self,
        tenant_id: &str,
        join_web_url: &str,
    ) -> StoreResult<Vec<StoredOnlineMeeting>> {
        if nul(&[tenant_id, join_web_url]) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, organizer_id, join_web_url, user_ids, body FROM online_meetings \
             WHERE tenant_id = $1 AND join_web_url = $2 ORDER BY id",
        )
        .bind(tenant_id)
        .bind(join_web_url)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(meeting_from_row).collect()
    }

    async fn put_adhoc_call(
        &self,
        tenant_id: &str,
        c: &AdhocCallWrite,
    ) -> StoreResult<MeetingWritten> {
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO adhoc_calls (tenant_id, id, organizer_id, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET organizer_id = EXCLUDED.organizer_id, \
             body = EXCLUDED.body RETURNING (xmax = 0)",
        )
        .bind(tenant_id)
        .bind(&c.id)
        .bind(&c.organizer_id)
        .bind(&c.body)
        .fetch_one(&self.pool)
        .await?;
        Ok(MeetingWritten {
            id: c.id.clone(),
            created: inserted,
        })
    }

    async fn adhoc_call(&self, tenant_id: &str, id: &str) -> StoreResult<Option<StoredAdhocCall>> {
        if nul(&[tenant_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, organizer_id, body FROM adhoc_calls WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
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
        // Replacing metadata keeps the streams and the publication order.
        let r = sqlx::query(&format!(
            "INSERT INTO {t} (tenant_id, parent_kind, parent_id, id, organizer_id, created_ns, \
             content_correlation_id, body, received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, parent_kind, parent_id, id) DO UPDATE SET \
             organizer_id = EXCLUDED.organizer_id, created_ns = EXCLUDED.created_ns, \
             content_correlation_id = EXCLUDED.content_correlation_id, body = EXCLUDED.body \
             RETURNING seq, (xmax = 0) AS inserted"
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
        .fetch_one(&self.pool)
        .await?;
        // Metadata alone never publishes an artifact, so there is nothing to notify here.
        Ok(ArtifactWritten {
            key: a.key.clone(),
            organizer_id: a.organizer_id.clone(),
            inserted: r.try_get("inserted")?,
            published: false,
            seq: r.try_get("seq")?,
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
        if nul(&[tenant_id, &key.parent_id, &key.id]) {
            return Ok(None);
        }
        let t = table(key.kind);
        let column = stream_column(key.kind, stream)?;
        let mut tx = self.pool.begin().await?;
        // The row lock makes "publish once" and the seq below race-free across nodes.
        let Some(row) = sqlx::query(&format!(
            "SELECT seq, organizer_id, COALESCE(received_ns, created_ns) AS started_ns, body FROM {t} \
             WHERE tenant_id = $1 AND parent_kind = $2 AND parent_id = $3 AND id = $4 FOR UPDATE"
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
            // Publication order is global per table: one publisher at a time, so commit order is
            // seq order and paging by seq never skips a late commit.
            lock(&mut tx, &format!("publish/{t}")).await?;
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
        let mut queued = false;
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
                let body: String = row.try_get("body")?;
                let installed_apps: Vec<String> = if watchers
                    .iter()
                    .any(|w| w.kind.ends_with(".teamsApp"))
                {
                    sqlx::query_scalar(
                            "SELECT DISTINCT client_id FROM rsc_grants WHERE tenant_id = $1 AND resource_id = $2",
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
                    created: from_ns(row.try_get("started_ns")?),
                    body: &body,
                    installed_apps: &installed_apps,
                };
                let subject = event.subject();
                let mut notes = OutboxInsert::default();
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
                queued = notes.execute(&mut tx, tenant_id, now).await?;
            }
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
        if nul(&[tenant_id, &key.parent_id, &key.id]) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND parent_kind = $2 AND parent_id = $3 AND id = $4",
            artifact_columns(key.kind),
            table(key.kind)
        ))
        .bind(tenant_id)
        .bind(key.parent.as_str())
        .bind(&key.parent_id)
        .bind(&key.id)
        .fetch_optional(&self.pool)
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
        if nul(&[tenant_id, &key.parent_id, &key.id]) {
            return Ok(None);
        }
        let column = stream_column(key.kind, stream)?;
        let row = sqlx::query(&format!(
            "SELECT {column} AS bytes FROM {} \
             WHERE tenant_id = $1 AND parent_kind = $2 AND parent_id = $3 AND id = $4",
            table(key.kind)
        ))
        .bind(tenant_id)
        .bind(key.parent.as_str())
        .bind(&key.parent_id)
        .bind(&key.id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(r.try_get("bytes")?),
            None => Ok(None),
        }
    }

    async fn list_artifacts(&self, q: &ArtifactQuery) -> StoreResult<Vec<StoredArtifact>> {
        if nul(&[
            &q.tenant_id,
            q.parent_id.as_deref().unwrap_or(""),
            q.organizer_id.as_deref().unwrap_or(""),
            q.content_correlation_id.as_deref().unwrap_or(""),
        ]) {
            return Ok(Vec::new());
        }
        let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
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
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| artifact_from_row(q.kind, r)).collect()
    }

    async fn put_call_events(
        &self,
        tenant_id: &str,
        events: &[CallEventWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallEventWritten>> {
        let mut tx = self.pool.begin().await?;
        // Arrival order (seq) is the feeds' paging order: commit order must follow it.
        lock(&mut tx, &format!("call_events/{tenant_id}")).await?;
        let watchers = live_watchers(&mut tx, tenant_id, call_event_kinds(), now).await?;
        let mut notes = OutboxInsert::default();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO call_events (tenant_id, id, event_type, event_ns, user_id, join_web_url, \
                 call_id, policy_name, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
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
        let queued = notes.execute(&mut tx, tenant_id, now).await?;
        tx.commit().await?;
        if queued {
            self.announce_outbox().await;
        }
        Ok(out)
    }

    async fn call_events(&self, q: &CallEventQuery) -> StoreResult<Vec<StoredCallEvent>> {
        if nul(&[
            &q.tenant_id,
            q.user_id.as_deref().unwrap_or(""),
            q.join_web_url.as_deref().unwrap_or(""),
            q.policy_name.as_deref().unwrap_or(""),
        ]) {
            return Ok(Vec::new());
        }
        let mut b: QueryBuilder<Postgres> = QueryBuilder::new(
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
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(call_event_from_row).collect()
    }

    async fn put_emergency_policy(
        &self,
        tenant_id: &str,
        policy: &EmergencyPolicyRow,
    ) -> StoreResult<bool> {
        // `xmax = 0` only on a freshly inserted row: new vs replaced in one atomic statement.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO emergency_policies (tenant_id, name, body) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET body = EXCLUDED.body RETURNING (xmax = 0)",
        )
        .bind(tenant_id)
        .bind(&policy.name)
        .bind(&policy.body)
        .fetch_one(&self.pool)
        .await?;
        Ok(inserted)
    }

    async fn emergency_policies(&self, tenant_id: &str) -> StoreResult<Vec<EmergencyPolicyRow>> {
        if nul(&[tenant_id]) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT name, body FROM emergency_policies WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
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
