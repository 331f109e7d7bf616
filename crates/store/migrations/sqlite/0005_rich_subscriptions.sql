-- Subscriptions to meetings' transcripts and recordings and to call events, and rich
-- (encrypted) notifications.
ALTER TABLE subscriptions ADD COLUMN scope TEXT;                 -- meeting, call, user, app id or join URL
ALTER TABLE subscriptions ADD COLUMN created_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN encryption_certificate TEXT;    -- base64 DER; NULL = basic notifications
ALTER TABLE subscriptions ADD COLUMN encryption_certificate_id TEXT;
ALTER TABLE subscriptions ADD COLUMN notification_url_app_id TEXT;
CREATE INDEX subscriptions_by_tenant_kind_scope ON subscriptions (tenant_id, resource_kind, scope);

-- What changed, for notifications other than call records' (JSON; see store::matching).
ALTER TABLE outbox ADD COLUMN subject TEXT;
