//! [`crate::Store`] written once for both stores (see the module docs of `shared`).

/// `impl Store for $store { … }`: the methods both stores share, plus the ones the store
/// implements its own way, given in the braces.
macro_rules! store_impl {
    ($store:ty { $($own:tt)* }) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};

            use $crate::shared::*;
            use $crate::*;

            type Db = <$store as Backend>::Db;

            type DbRow = <Db as sqlx::Database>::Row;

            impl $store {
                /// The row `sql` finds in `pool` with `keys` bound as `$1`, `$2`, …, decoded;
                /// none when a key cannot be stored (see [`Backend::unstorable`]).
                pub(crate) async fn find<T>(
                    pool: &sqlx::Pool<Db>,
                    sql: &str,
                    keys: &[&str],
                    decode: impl Fn(&DbRow) -> StoreResult<T>,
                ) -> StoreResult<Option<T>> {
                    if Self::unstorable(keys) {
                        return Ok(None);
                    }
                    let mut query = sqlx::query(sql);
                    for key in keys {
                        query = query.bind(*key);
                    }
                    query.fetch_optional(pool).await?.as_ref().map(decode).transpose()
                }

                /// Every row `sql` finds (as [`Self::find`]), in its order.
                pub(crate) async fn find_all<T>(
                    pool: &sqlx::Pool<Db>,
                    sql: &str,
                    keys: &[&str],
                    decode: impl Fn(&DbRow) -> StoreResult<T>,
                ) -> StoreResult<Vec<T>> {
                    if Self::unstorable(keys) {
                        return Ok(Vec::new());
                    }
                    let mut query = sqlx::query(sql);
                    for key in keys {
                        query = query.bind(*key);
                    }
                    query.fetch_all(pool).await?.iter().map(decode).collect()
                }
            }

            /// Live call-record subscriptions of the tenant (read inside the writing transaction).
            async fn live_call_record_subscriptions(
                conn: &mut <Db as sqlx::Database>::Connection,
                tenant_id: &str,
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<Watcher>> {
                let rows = sqlx::query(
                    "SELECT id, notify_created, notify_updated, participant_filter FROM subscriptions \
                     WHERE tenant_id = $1 AND resource_kind = 'callRecords' AND expiration_ns > $2",
                )
                .bind(tenant_id)
                .bind(to_ns(now))
                .fetch_all(&mut *conn)
                .await?;
                rows.iter().map(Watcher::from_row).collect()
            }

            #[async_trait::async_trait]
            impl Store for $store {
                $($own)*

                async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
                    // A concurrent insert of the same name makes this one wait for it, then do
                    // nothing; the SELECT (a new snapshot) then sees whichever value committed
                    // first.
                    sqlx::query(
                        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .bind(value)
                    .execute(self.writer())
                    .await?;
                    let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
                        .bind(name)
                        .fetch_one(self.writer())
                        .await?;
                    Ok(row.try_get("value")?)
                }

                async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
                    let rows = sqlx::query(
                        "SELECT kid, created_at, pkcs8 FROM signing_keys ORDER BY created_at DESC, kid",
                    )
                    .fetch_all(self.writer())
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(StoredSigningKey {
                                kid: r.text("kid")?,
                                created_at: r.time("created_at")?,
                                pkcs8: r.try_get("pkcs8")?,
                            })
                        })
                        .collect()
                }

                async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
                    sqlx::query("INSERT INTO signing_keys (kid, created_at, pkcs8) VALUES ($1, $2, $3)")
                        .bind(&key.kid)
                        .bind(fmt_time(key.created_at))
                        .bind(&key.pkcs8)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
                    sqlx::query("INSERT INTO tenants (id, display_name, created_at) VALUES ($1, $2, $3)")
                        .bind(&tenant.id)
                        .bind(&tenant.display_name)
                        .bind(fmt_time(tenant.created_at))
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
                    Self::find(
                        self.reader(),
                        "SELECT id, display_name, created_at FROM tenants WHERE id = $1",
                        &[id],
                        tenant_from_row,
                    )
                    .await
                }

                async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
                    Self::find_all(
                        self.reader(),
                        "SELECT id, display_name, created_at FROM tenants ORDER BY created_at, id",
                        &[],
                        tenant_from_row,
                    )
                    .await
                }

                async fn insert_app(&self, app: &App) -> StoreResult<()> {
                    sqlx::query(&format!(
                        "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                    ))
                    .bind(&app.client_id)
                    .bind(&app.tenant_id)
                    .bind(&app.display_name)
                    .bind(json_list(&app.secret_hashes))
                    .bind(json_list(&app.roles))
                    .bind(fmt_time(app.created_at))
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn app(&self, client_id: &str) -> StoreResult<Option<App>> {
                    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1");
                    Self::find(self.reader(), &sql, &[client_id], app_from_row).await
                }

                async fn put_call_records(
                    &self,
                    tenant_id: &str,
                    records: &[CallRecordWrite],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<CallRecordWritten>> {
                    let mut tx = self.begin_write().await?;
                    let watchers = live_call_record_subscriptions(&mut tx, tenant_id, now).await?;
                    // Commit order must equal seq order within the tenant, so a reader paging by
                    // seq never skips a row that commits late: serialized from here to commit.
                    Self::serialize(&mut tx, &format!("call_records/{tenant_id}")).await?;
                    let modified = fmt_time(now);
                    let mut out = Vec::with_capacity(records.len());
                    let mut notes = Notifications::default();
                    // One statement per table per chunk rather than several per record. A chunk
                    // never holds the same id twice (each upsert must see the previous one's
                    // version).
                    for chunk in distinct_id_chunks(records) {
                        let written =
                            Self::upsert_call_records(&mut tx, tenant_id, chunk, &modified).await?;
                        let replaced: Vec<i64> = written
                            .values()
                            .filter(|(_, v)| *v > 1)
                            .map(|(seq, _)| *seq)
                            .collect();
                        if !replaced.is_empty() {
                            Self::unlink_participants(&mut tx, &replaced).await?;
                        }
                        let mut links: Vec<(&str, i64)> = Vec::new();
                        let mut versions = Vec::with_capacity(chunk.len());
                        for rec in chunk {
                            let (seq, version) = *written.get(&rec.id).ok_or_else(|| {
                                StoreError::Database(format!("upsert returned no row for {}", rec.id))
                            })?;
                            links.extend(rec.participant_ids.iter().map(|p| (p.as_str(), seq)));
                            versions.push(version);
                        }
                        if !links.is_empty() {
                            Self::link_participants(&mut tx, tenant_id, &links).await?;
                        }
                        for (rec, version) in chunk.iter().zip(versions) {
                            for w in &watchers {
                                if let Some(change) = w.change_for(version, &rec.participant_ids) {
                                    notes.push(
                                        &w.id,
                                        NotificationKind::Change,
                                        change,
                                        Some(rec.id.as_str()),
                                        None,
                                    );
                                }
                            }
                            out.push(CallRecordWritten {
                                id: rec.id.clone(),
                                version,
                                last_modified: now,
                                created: version == 1,
                            });
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
                    Ok(out)
                }

                async fn call_record(
                    &self,
                    tenant_id: &str,
                    id: &str,
                ) -> StoreResult<Option<StoredCallRecord>> {
                    Self::find(
                        self.reader(),
                        "SELECT seq, id, version, start_ns, last_modified, body, sessions, participants \
                         FROM call_records WHERE tenant_id = $1 AND id = $2",
                        &[tenant_id, id],
                        |r| record_from_row(r, true),
                    )
                    .await
                }

                async fn list_call_records(
                    &self,
                    q: &CallRecordQuery,
                ) -> StoreResult<Vec<StoredCallRecord>> {
                    let participants: Vec<&str> = q.participant_ids.iter().map(String::as_str).collect();
                    if Self::unstorable(&[&q.tenant_id]) || Self::unstorable(&participants) {
                        return Ok(Vec::new());
                    }
                    let mut b: QueryBuilder<Db> = QueryBuilder::new(
                        "SELECT seq, id, version, start_ns, last_modified, body FROM call_records cr \
                         WHERE tenant_id = ",
                    );
                    b.push_bind(&q.tenant_id);
                    if let Some(after) = q.after_seq {
                        b.push(" AND seq > ").push_bind(after);
                    }
                    for (cmp, at) in &q.start {
                        b.push(" AND start_ns ")
                            .push(cmp.sql())
                            .push(" ")
                            .push_bind(to_ns(*at));
                    }
                    for pid in &q.participant_ids {
                        b.push(
                            " AND EXISTS (SELECT 1 FROM call_record_participants p \
                             WHERE p.tenant_id = cr.tenant_id AND p.seq = cr.seq AND p.participant_id = ",
                        )
                        .push_bind(pid)
                        .push(")");
                    }
                    b.push(" ORDER BY seq LIMIT ").push_bind(i64::from(q.limit));
                    let rows = b.build().fetch_all(self.reader()).await?;
                    rows.iter().map(|r| record_from_row(r, false)).collect()
                }

                async fn purge_call_records(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let cutoff = to_ns(cutoff);
                    sqlx::query(
                        "DELETE FROM call_record_participants WHERE seq IN \
                         (SELECT seq FROM call_records WHERE start_ns < $1)",
                    )
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                    let done = sqlx::query("DELETE FROM call_records WHERE start_ns < $1")
                        .bind(cutoff)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }

                async fn put_report_rows(
                    &self,
                    tenant_id: &str,
                    report: ReportKind,
                    rows: &[ReportRowWrite],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    // Row by row: a later row of the batch with the same id replaces an earlier
                    // one (one multi-row upsert may not touch a row twice).
                    for row in rows {
                        sqlx::query(
                            "INSERT INTO report_rows (tenant_id, report, id, time_ns, body) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, report, id) \
                             DO UPDATE SET time_ns = excluded.time_ns, body = excluded.body",
                        )
                        .bind(tenant_id)
                        .bind(report.as_str())
                        .bind(&row.id)
                        .bind(to_ns(row.time))
                        .bind(&row.body)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_report_rows(&self, q: &ReportQuery) -> StoreResult<Vec<String>> {
                    if Self::unstorable(&[&q.tenant_id]) {
                        return Ok(Vec::new());
                    }
                    let upper = if q.to_inclusive { "<=" } else { "<" };
                    let sql = format!(
                        "SELECT body FROM report_rows WHERE tenant_id = $1 AND report = $2 \
                         AND time_ns >= $3 AND time_ns {upper} $4 ORDER BY time_ns, id LIMIT $5 OFFSET $6"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(&q.tenant_id)
                        .bind(q.report.as_str())
                        .bind(to_ns(q.from))
                        .bind(to_ns(q.to))
                        .bind(i64::from(q.limit))
                        .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(|r| r.text("body")).collect()
                }

                async fn create_subscription(
                    &self,
                    row: &SubscriptionRow,
                    quotas: &[QuotaRule],
                ) -> StoreResult<Result<(), SubscriptionRefusal>> {
                    let mut tx = self.begin_write().await?;
                    // Writers creating subscriptions of one tenant take turns here, so the
                    // counts below cannot both pass and overshoot a quota.
                    Self::serialize(&mut tx, &format!("subscriptions/{}", row.tenant_id)).await?;
                    for (i, rule) in quotas.iter().enumerate() {
                        // No kinds: nothing counts against the rule.
                        let count: i64 = if rule.kinds.is_empty() {
                            0
                        } else {
                            let mut b: QueryBuilder<Db> =
                                QueryBuilder::new("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = ");
                            b.push_bind(&row.tenant_id);
                            b.push(" AND resource_kind IN (");
                            let mut list = b.separated(", ");
                            for k in &rule.kinds {
                                list.push_bind(k);
                            }
                            b.push(")");
                            if rule.same_app {
                                b.push(" AND app_id = ").push_bind(&row.app_id);
                            }
                            if rule.same_scope {
                                b.push(" AND scope IS NOT DISTINCT FROM ").push_bind(&row.scope);
                            }
                            b.build_query_scalar().fetch_one(&mut *tx).await?
                        };
                        if count >= i64::from(rule.limit) {
                            return Ok(Err(SubscriptionRefusal::Quota {
                                rule: i,
                                limit: rule.limit,
                            }));
                        }
                    }
                    let existing: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM subscriptions WHERE tenant_id = $1 AND app_id = $2 \
                         AND resource = $3 AND change_type = $4 ORDER BY id LIMIT 1",
                    )
                    .bind(&row.tenant_id)
                    .bind(&row.app_id)
                    .bind(&row.resource)
                    .bind(&row.change_type)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(existing_id) = existing {
                        return Ok(Err(SubscriptionRefusal::Duplicate { existing_id }));
                    }
                    sqlx::query(&format!(
                        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, \
                         $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
                    ))
                    .bind(&row.id)
                    .bind(&row.tenant_id)
                    .bind(&row.app_id)
                    .bind(&row.resource_kind)
                    .bind(&row.resource)
                    .bind(&row.change_type)
                    .bind(row.notify_created)
                    .bind(row.notify_updated)
                    .bind(json_list(&row.participant_filter))
                    .bind(&row.notification_url)
                    .bind(&row.lifecycle_url)
                    .bind(&row.client_state)
                    .bind(to_ns(row.expiration))
                    .bind(to_ns(row.authorized_until))
                    .bind(&row.scope)
                    .bind(to_ns(row.created))
                    .bind(row.encryption.as_ref().map(|e| e.certificate.as_str()))
                    .bind(row.encryption.as_ref().map(|e| e.certificate_id.as_str()))
                    .bind(&row.notification_url_app_id)
                    .bind(&row.body)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Ok(()))
                }

                async fn subscription(
                    &self,
                    tenant_id: &str,
                    id: &str,
                ) -> StoreResult<Option<SubscriptionRow>> {
                    let sql = format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2"
                    );
                    Self::find(self.writer(), &sql, &[tenant_id, id], subscription_from_row).await
                }

                async fn subscription_by_id(&self, id: &str) -> StoreResult<Option<SubscriptionRow>> {
                    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1");
                    Self::find(self.reader(), &sql, &[id], subscription_from_row).await
                }

                async fn list_subscriptions(
                    &self,
                    tenant_id: &str,
                    app_id: Option<&str>,
                    after_id: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<SubscriptionRow>> {
                    if Self::unstorable(&[tenant_id, app_id.unwrap_or(""), after_id.unwrap_or("")]) {
                        return Ok(Vec::new());
                    }
                    let mut b: QueryBuilder<Db> = QueryBuilder::new(format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = "
                    ));
                    b.push_bind(tenant_id);
                    if let Some(app) = app_id {
                        b.push(" AND app_id = ").push_bind(app);
                    }
                    b.push(" AND id > ").push_bind(after_id.unwrap_or(""));
                    b.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
                    let rows = b.build().fetch_all(self.writer()).await?;
                    rows.iter().map(subscription_from_row).collect()
                }

                async fn update_subscription(&self, row: &SubscriptionRow) -> StoreResult<bool> {
                    if Self::unstorable(&[&row.tenant_id, &row.id]) {
                        return Ok(false);
                    }
                    let done = sqlx::query(
                        "UPDATE subscriptions SET notification_url = $1, lifecycle_url = $2, \
                         client_state = $3, expiration_ns = $4, authorized_until_ns = $5, body = $6, \
                         encryption_certificate = $7, encryption_certificate_id = $8, \
                         notification_url_app_id = $9 WHERE tenant_id = $10 AND id = $11",
                    )
                    .bind(&row.notification_url)
                    .bind(&row.lifecycle_url)
                    .bind(&row.client_state)
                    .bind(to_ns(row.expiration))
                    .bind(to_ns(row.authorized_until))
                    .bind(&row.body)
                    .bind(row.encryption.as_ref().map(|e| e.certificate.as_str()))
                    .bind(row.encryption.as_ref().map(|e| e.certificate_id.as_str()))
                    .bind(&row.notification_url_app_id)
                    .bind(&row.tenant_id)
                    .bind(&row.id)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_subscription(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
                    if Self::unstorable(&[tenant_id, id]) {
                        return Ok(false);
                    }
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    Self::forget_subscriptions(&mut tx, &[id]).await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn lifecycle_subscriptions(&self) -> StoreResult<Vec<SubscriptionRow>> {
                    let sql = format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                         WHERE lifecycle_url IS NOT NULL ORDER BY id"
                    );
                    Self::find_all(self.reader(), &sql, &[], subscription_from_row).await
                }

                async fn purge_expired_subscriptions(
                    &self,
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<SubscriptionRow>> {
                    let mut tx = self.begin_write().await?;
                    // Several nodes purge on their own schedules: DELETE … RETURNING hands each
                    // expired subscription to exactly one of them.
                    let rows = sqlx::query(&format!(
                        "DELETE FROM subscriptions WHERE expiration_ns <= $1 RETURNING {SUBSCRIPTION_COLUMNS}"
                    ))
                    .bind(to_ns(now))
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut expired = rows
                        .iter()
                        .map(subscription_from_row)
                        .collect::<StoreResult<Vec<_>>>()?;
                    expired.sort_by(|a, b| a.id.cmp(&b.id));
                    let ids: Vec<&str> = expired.iter().map(|s| s.id.as_str()).collect();
                    if !ids.is_empty() {
                        Self::forget_subscriptions(&mut tx, &ids).await?;
                    }
                    tx.commit().await?;
                    Ok(expired)
                }

                async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
                    let next: Option<i64> = sqlx::query_scalar("SELECT MIN(due_ns) FROM outbox")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(next.map(from_ns))
                }

                async fn release_held(&self, subscription_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
                    if Self::unstorable(&[subscription_id]) {
                        return Ok(());
                    }
                    let done = sqlx::query(
                        "UPDATE outbox SET due_ns = $1 \
                         WHERE subscription_id = $2 AND kind = 'change' AND due_ns > $1",
                    )
                    .bind(to_ns(now))
                    .bind(subscription_id)
                    .execute(self.writer())
                    .await?;
                    // Another node may hold the subscription's lease: it hears of the rows.
                    if done.rows_affected() > 0 {
                        self.announce_outbox().await;
                    }
                    Ok(())
                }

                async fn remove_notifications(&self, seqs: &[i64]) -> StoreResult<()> {
                    if seqs.is_empty() {
                        return Ok(());
                    }
                    let mut conn = self.writer().acquire().await?;
                    Self::delete_notifications(&mut conn, seqs).await
                }

                async fn reschedule_notifications(
                    &self,
                    seqs: &[i64],
                    due: DateTime<Utc>,
                    attempted_at: DateTime<Utc>,
                ) -> StoreResult<()> {
                    if seqs.is_empty() {
                        return Ok(());
                    }
                    let mut conn = self.writer().acquire().await?;
                    Self::reschedule(&mut conn, seqs, to_ns(due), to_ns(attempted_at)).await
                }

                async fn enqueue_lifecycle(
                    &self,
                    tenant_id: &str,
                    subscription_id: &str,
                    event: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut note = Notifications::default();
                    note.push(subscription_id, NotificationKind::Lifecycle, event, None, None);
                    let mut conn = self.writer().acquire().await?;
                    Self::insert_notifications(&mut conn, tenant_id, now, &note.0).await?;
                    drop(conn);
                    self.announce_outbox().await;
                    Ok(())
                }

                async fn record_attempts(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()> {
                    if attempts.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    Self::insert_attempts(&mut tx, attempts).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn settle_delivered(
                    &self,
                    seqs: &[i64],
                    attempts: &[DeliveryAttempt],
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    if !seqs.is_empty() {
                        Self::delete_notifications(&mut tx, seqs).await?;
                    }
                    if !attempts.is_empty() {
                        Self::insert_attempts(&mut tx, attempts).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn delivery_attempts_page(
                    &self,
                    subscription_id: &str,
                    before: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Vec<(i64, DeliveryAttempt)>> {
                    if Self::unstorable(&[subscription_id]) {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(
                        "SELECT seq, subscription_id, notification_ids, url, at_ns, status, latency_ms, \
                         outcome, error FROM delivery_attempts WHERE subscription_id = $1 AND seq < $2 \
                         ORDER BY seq DESC LIMIT $3",
                    )
                    .bind(subscription_id)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                    rows.iter().map(attempt_from_row).collect()
                }

                async fn purge_delivery_attempts(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                    // In slices, so no write holds the database (or many row locks) for long.
                    let mut total = 0;
                    loop {
                        let n = sqlx::query(
                            "DELETE FROM delivery_attempts WHERE seq IN (SELECT seq FROM delivery_attempts \
                             WHERE at_ns < $1 LIMIT 10000)",
                        )
                        .bind(to_ns(cutoff))
                        .execute(self.writer())
                        .await?
                        .rows_affected();
                        total += n;
                        if n < 10_000 {
                            return Ok(total);
                        }
                    }
                }

                async fn outbox_len(&self) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn put_users(&self, tenant_id: &str, users: &[UserWrite]) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    for u in users {
                        sqlx::query(
                            "INSERT INTO users (tenant_id, id, body) VALUES ($1, $2, $3) \
                             ON CONFLICT (tenant_id, id) DO UPDATE SET body = excluded.body",
                        )
                        .bind(tenant_id)
                        .bind(&u.id)
                        .bind(&u.body)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn user(&self, tenant_id: &str, id: &str) -> StoreResult<Option<String>> {
                    Self::find(
                        self.reader(),
                        "SELECT body FROM users WHERE tenant_id = $1 AND id = $2",
                        &[tenant_id, id],
                        |r| r.text("body"),
                    )
                    .await
                }

                async fn list_users(
                    &self,
                    tenant_id: &str,
                    after_id: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<(String, String)>> {
                    if Self::unstorable(&[tenant_id, after_id.unwrap_or("")]) {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(
                        "SELECT id, body FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .bind(tenant_id)
                    .bind(after_id.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                    rows.iter().map(|r| Ok((r.text("id")?, r.text("body")?))).collect()
                }
            }
        };
    };
}

pub(crate) use store_impl;
