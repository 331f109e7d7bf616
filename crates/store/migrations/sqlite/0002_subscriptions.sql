-- Change-notification subscriptions. The columns are what matching and delivery need; `body`
-- holds the subscription as the API returns it.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    resource_kind TEXT NOT NULL,          -- 'callRecords'
    resource TEXT NOT NULL,               -- as the client sent it
    change_type TEXT NOT NULL,            -- as the client sent it, e.g. 'created,updated'
    notify_created INTEGER NOT NULL,
    notify_updated INTEGER NOT NULL,
    participant_filter TEXT NOT NULL,     -- JSON array of participant ids; [] = every record
    notification_url TEXT NOT NULL,
    lifecycle_url TEXT,
    client_state TEXT,
    expiration_ns INTEGER NOT NULL,
    authorized_until_ns INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX subscriptions_by_tenant_kind ON subscriptions (tenant_id, resource_kind);
CREATE INDEX subscriptions_by_expiration ON subscriptions (expiration_ns);

-- The outbox: one row per notification due to one subscription, written in the same
-- transaction as the change that causes it, deleted once delivered or given up.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,              -- the notification's stable id (receivers de-duplicate)
    tenant_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,                   -- 'change' or 'lifecycle'
    event TEXT NOT NULL,                  -- changeType or lifecycleEvent
    resource_id TEXT,                     -- the changed record's id (change notifications)
    created_ns INTEGER NOT NULL,
    due_ns INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_ns INTEGER
);
CREATE INDEX outbox_by_due ON outbox (due_ns, seq);
CREATE INDEX outbox_by_subscription ON outbox (subscription_id, seq);

-- What happened to each delivery attempt, for the emulator's controls.
CREATE TABLE delivery_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,
    notification_ids TEXT NOT NULL,       -- JSON array
    url TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    status INTEGER,                       -- HTTP status, NULL when none came back
    latency_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,                -- delivered, retry, dropped, ...
    error TEXT
);
CREATE INDEX delivery_attempts_by_subscription ON delivery_attempts (subscription_id, seq);
