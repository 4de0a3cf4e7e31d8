-- Audio retention: when a job's audio file was deleted (audio_path stays, to say which file).
-- The partial index finds the files still kept, oldest delivery first, without a table scan.
ALTER TABLE jobs ADD COLUMN audio_pruned_at REAL;
CREATE INDEX jobs_audio_kept ON jobs (delivered_at)
    WHERE audio_path IS NOT NULL AND audio_pruned_at IS NULL;
-- Row retention deletes finished rows by age.
CREATE INDEX jobs_by_updated ON jobs (updated_at);
