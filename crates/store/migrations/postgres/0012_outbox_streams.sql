-- A delivery round reads each subscription's stream (subscription, kind) from its head in seq
-- order, and skips from one subscription to the next; this index serves both, and also every
-- lookup by subscription that outbox_by_subscription served.
CREATE INDEX outbox_stream ON outbox (subscription_id, kind, seq);
DROP INDEX outbox_by_subscription;
-- Delivery attempts are purged by age.
CREATE INDEX delivery_attempts_by_time ON delivery_attempts (at_ns);
