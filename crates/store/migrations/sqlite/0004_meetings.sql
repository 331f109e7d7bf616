-- Online meetings, ad hoc calls, their transcripts and recordings, and call events.
-- As for call records, bodies are the Graph JSON the API validated; the columns are what the
-- routes look up and filter by.

CREATE TABLE online_meetings (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    organizer_id TEXT NOT NULL,          -- Entra object id of the organizer
    join_web_url TEXT,
    user_ids TEXT NOT NULL,              -- JSON array: organizer and attendees with a user id
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX online_meetings_by_join_url ON online_meetings (tenant_id, join_web_url);

CREATE TABLE adhoc_calls (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    organizer_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Transcripts and recordings share one shape. `parent_kind` is 'onlineMeeting' or 'adhocCall'
-- and `parent_id` that meeting's or call's id. An artifact is published (readable, and
-- notified as created) once both its metadata and its content are stored; `seq` is assigned at
-- that moment, so the getAll* functions page (and delta-sync) in order of publication.
CREATE TABLE transcripts (
    tenant_id TEXT NOT NULL,
    parent_kind TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    id TEXT NOT NULL,
    organizer_id TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    content_correlation_id TEXT,
    body TEXT NOT NULL,
    content BLOB,                        -- WebVTT
    metadata_content BLOB,               -- WebVTT with one JSON object per cue
    seq INTEGER UNIQUE,                  -- NULL until published
    PRIMARY KEY (tenant_id, parent_kind, parent_id, id)
);
CREATE INDEX transcripts_by_organizer ON transcripts (tenant_id, parent_kind, organizer_id, seq);
CREATE INDEX transcripts_by_parent ON transcripts (tenant_id, parent_kind, parent_id, seq);

CREATE TABLE recordings (
    tenant_id TEXT NOT NULL,
    parent_kind TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    id TEXT NOT NULL,
    organizer_id TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    content_correlation_id TEXT,
    body TEXT NOT NULL,
    content BLOB,                        -- MP4
    seq INTEGER UNIQUE,
    PRIMARY KEY (tenant_id, parent_kind, parent_id, id)
);
CREATE INDEX recordings_by_organizer ON recordings (tenant_id, parent_kind, organizer_id, seq);
CREATE INDEX recordings_by_parent ON recordings (tenant_id, parent_kind, parent_id, seq);

-- Call events, in arrival order. `user_id` places an event in a user's feed, `join_web_url`
-- in a meeting's feed.
CREATE TABLE call_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_ns INTEGER NOT NULL,
    user_id TEXT,
    join_web_url TEXT,
    call_id TEXT,
    body TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX call_events_by_user ON call_events (tenant_id, user_id, seq);
CREATE INDEX call_events_by_meeting ON call_events (tenant_id, join_web_url, seq);
