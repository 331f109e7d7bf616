-- due_notifications asks, for each due row, whether an earlier row of the same subscription and
-- kind is still waiting (due later). This index answers that from the few waiting rows instead
-- of walking every earlier row of the subscription.
CREATE INDEX outbox_waiting ON outbox (subscription_id, kind, due_ns);
