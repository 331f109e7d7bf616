-- Delegated grants, sign-in users and resource-specific consent (see migrations/sqlite/0006).
CREATE TABLE delegated_grants (
    tenant_id TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    scope TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (client_id, scope)
);

CREATE TABLE sign_in_users (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    id TEXT COLLATE "C" NOT NULL,
    user_principal_name TEXT COLLATE "C" NOT NULL,  -- stored lower-case
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_principal_name)
);

CREATE TABLE rsc_grants (
    tenant_id TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    resource_id TEXT COLLATE "C" NOT NULL,
    permission TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (client_id, resource_id, permission)
);
CREATE INDEX rsc_grants_by_resource ON rsc_grants (tenant_id, resource_id);
