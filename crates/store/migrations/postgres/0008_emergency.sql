-- Emergency call events are call events of an emergency policy's feed
-- (communications/calls/getEmergencyEventsByPolicy(policyName='…')).
ALTER TABLE call_events ADD COLUMN policy_name TEXT COLLATE "C";
CREATE INDEX call_events_by_policy ON call_events (tenant_id, policy_name, seq);

-- A tenant's emergency calling policies: name and the JSON as ingested (its dial strings).
CREATE TABLE emergency_policies (
    tenant_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
