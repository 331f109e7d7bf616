-- Tenants, their app registrations, and installation settings.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE apps (
    client_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    secret_hashes TEXT NOT NULL, -- JSON array of hash_secret() values
    roles TEXT NOT NULL,         -- JSON array of application permissions
    created_at TEXT NOT NULL
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    pkcs8 BLOB NOT NULL
);

-- One row per call record. `seq` is assigned on first insert and kept on replace, so keyset
-- paging by seq never skips or repeats a record while records arrive or change.
CREATE TABLE call_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    last_modified TEXT NOT NULL,
    -- The record's own properties and organizer_v2; its navigations are kept apart so that
    -- list pages never read them.
    body TEXT NOT NULL,
    sessions TEXT NOT NULL,
    participants TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX call_records_by_tenant_seq ON call_records (tenant_id, seq);
CREATE INDEX call_records_by_start ON call_records (start_ns);

CREATE TABLE call_record_participants (
    tenant_id TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, participant_id, seq)
) WITHOUT ROWID;
CREATE INDEX call_record_participants_by_seq ON call_record_participants (seq);

CREATE TABLE report_rows (
    tenant_id TEXT NOT NULL,
    report TEXT NOT NULL,
    id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, report, id)
);
CREATE INDEX report_rows_by_time ON report_rows (tenant_id, report, time_ns, id);

CREATE TABLE users (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
