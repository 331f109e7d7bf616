-- Alerts raised by callhook-alerts (docs/alerts.md): one row per alert, never sent twice
-- (dedup_key is unique; a cooldown per rule and scope is checked in the same transaction).
CREATE TABLE alerts (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    late BOOLEAN NOT NULL,
    raised_at TIMESTAMPTZ NOT NULL,
    alert_json TEXT NOT NULL
);
CREATE UNIQUE INDEX alerts_dedup ON alerts (dedup_key);
CREATE INDEX alerts_scope ON alerts (tenant_id, rule, scope, raised_at);
CREATE INDEX alerts_raised ON alerts (raised_at);

-- The alert outbox: one row per alert and channel, written with the alert; delivered_at is set
-- once the channel accepted it. due_at doubles as the lease of an attempt in flight.
CREATE TABLE alert_deliveries (
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    last_error TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (due_at) WHERE delivered_at IS NULL;
