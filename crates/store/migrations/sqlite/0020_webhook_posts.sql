-- The webhook POSTs the delivery engine made, request and response, for the console and
-- `GET /_callhook/posts/…`. Bodies are kept up to a cap (`*_body_size` is the full size, so a
-- shorter stored body means it was truncated); rows go with the attempts' retention window.
CREATE TABLE webhook_posts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at_ns INTEGER NOT NULL,
    url TEXT NOT NULL,
    subscription_ids TEXT NOT NULL,       -- JSON array
    notification_ids TEXT NOT NULL,       -- JSON array
    latency_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,                -- delivered, retry
    request_headers TEXT NOT NULL,        -- JSON array of [name, value]
    request_body BLOB NOT NULL,
    request_body_size INTEGER NOT NULL,
    response_status INTEGER,              -- NULL when no answer came back
    response_headers TEXT NOT NULL,
    response_body BLOB NOT NULL,
    response_body_size INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX webhook_posts_by_time ON webhook_posts (at_ns);
-- Which subscriptions' notifications a POST carried (one POST may carry several).
CREATE TABLE webhook_post_subscriptions (
    subscription_id TEXT NOT NULL,
    post_seq INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, post_seq)
);
CREATE INDEX webhook_post_subscriptions_by_post ON webhook_post_subscriptions (post_seq);
