-- Answers due_notifications' ordering guard from the few waiting rows of a subscription.
CREATE INDEX outbox_waiting ON outbox (subscription_id, kind, due_ns);
