-- When callhook learned of a transcript or recording (its metadata arrived): a live platform
-- reports a transcript when transcription starts, so this is the start Graph's rule compares.
ALTER TABLE transcripts ADD COLUMN received_ns INTEGER;
ALTER TABLE recordings ADD COLUMN received_ns INTEGER;
