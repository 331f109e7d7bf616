-- Identity beyond app registrations: delegated permissions an administrator consented to for
-- every user of the tenant, the users who can sign in for delegated tokens, and resource-specific
-- consent (an app installed into one meeting or chat).

CREATE TABLE delegated_grants (
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    PRIMARY KEY (client_id, scope)
);

CREATE TABLE sign_in_users (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,                   -- Entra object id (the token's oid)
    user_principal_name TEXT NOT NULL,  -- stored lower-case: sign-in names are case-insensitive
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,        -- hash_secret() value
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_principal_name)
);

CREATE TABLE rsc_grants (
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL,          -- online meeting id or chat thread id
    permission TEXT NOT NULL,           -- e.g. OnlineMeetingTranscript.Read.Chat
    created_at TEXT NOT NULL,
    PRIMARY KEY (client_id, resource_id, permission)
);
CREATE INDEX rsc_grants_by_resource ON rsc_grants (tenant_id, resource_id);
