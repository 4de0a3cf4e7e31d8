-- What polling actually saw of each generation, so the schedule learns from intervals
-- (bot/jobs/learning.py) instead of from the moment completion happened to be noticed.
-- `seconds` stays the upper bound: completion had been seen by then (seconds after
-- submission). Rows written before this migration have NULL bounds and count as one time.
-- PostgreSQL's dialect of bot/store/sqlite/migrations/0005_generation_intervals.sql.
ALTER TABLE generation_times ADD COLUMN submitted_at DOUBLE PRECISION;   -- unix seconds
ALTER TABLE generation_times ADD COLUMN lower_seconds DOUBLE PRECISION;  -- still in progress then
ALTER TABLE generation_times ADD COLUMN started_after DOUBLE PRECISION;  -- still `queued` then
ALTER TABLE generation_times ADD COLUMN started_by DOUBLE PRECISION;     -- `generating` by then
