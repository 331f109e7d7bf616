-- PostgreSQL only (numbered apart from the versions mirrored from migrations/sqlite): large
-- values are compressed with lz4 instead of pglz. A call record's sessions are ~10 KB of JSON;
-- pglz on every insert cost a quarter of batched ingest throughput. Servers without lz4 (built
-- without it, or before 14) keep their default: the statements run dynamically so that their
-- failure can be caught.
DO $$
DECLARE
    col TEXT;
BEGIN
    FOREACH col IN ARRAY ARRAY[
        'call_records.body', 'call_records.sessions', 'call_records.participants',
        'online_meetings.body', 'call_events.body',
        'transcripts.body', 'transcripts.content', 'transcripts.metadata_content',
        'recordings.body', 'recordings.content'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION lz4',
                       split_part(col, '.', 1), split_part(col, '.', 2));
    END LOOP;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 compression is not available (%); keeping the default', SQLERRM;
END $$;
