-- Subscriptions to meetings' transcripts and recordings and to call events, and rich
-- (encrypted) notifications (see migrations/sqlite/0005).
ALTER TABLE subscriptions ADD COLUMN scope TEXT COLLATE "C";
ALTER TABLE subscriptions ADD COLUMN created_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN encryption_certificate TEXT;
ALTER TABLE subscriptions ADD COLUMN encryption_certificate_id TEXT;
ALTER TABLE subscriptions ADD COLUMN notification_url_app_id TEXT;
CREATE INDEX subscriptions_by_tenant_kind_scope ON subscriptions (tenant_id, resource_kind, scope);

ALTER TABLE outbox ADD COLUMN subject TEXT;
