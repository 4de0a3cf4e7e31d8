-- The files made for a delivery (the tagged or re-encoded audio, the waveform picture), as a
-- JSON array of paths: the job's record of them, for a restart and for retention.
ALTER TABLE jobs ADD COLUMN delivered_files TEXT NOT NULL DEFAULT '[]';
