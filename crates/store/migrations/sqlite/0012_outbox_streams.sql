-- A delivery round reads each subscription's stream (subscription, kind) from its head in seq
-- order, and skips from one subscription to the next; this index serves both, and every lookup
-- by subscription that outbox_by_subscription and outbox_waiting served. It must be the only
-- index that starts with (subscription_id, kind): with outbox_waiting beside it, PostgreSQL
-- statistics taken on an empty outbox made the planner read a whole stream through
-- outbox_waiting and sort it, on every round.
CREATE INDEX outbox_stream ON outbox (subscription_id, kind, seq);
DROP INDEX outbox_by_subscription;
DROP INDEX outbox_waiting;
-- Delivery attempts are purged by age.
CREATE INDEX delivery_attempts_by_time ON delivery_attempts (at_ns);
