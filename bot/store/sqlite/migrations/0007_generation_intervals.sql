-- What polling actually saw of each generation, so the schedule learns from intervals
-- (bot/jobs/learning.py) instead of from the moment completion happened to be noticed.
-- `seconds` stays the upper bound: completion had been seen by then (seconds after
-- submission). Rows written before this migration have NULL bounds and count as one time.
ALTER TABLE generation_times ADD COLUMN submitted_at REAL;   -- unix seconds: orders by recency
ALTER TABLE generation_times ADD COLUMN lower_seconds REAL;  -- still in progress then (0: none seen)
ALTER TABLE generation_times ADD COLUMN started_after REAL;  -- the provider still said `queued`
ALTER TABLE generation_times ADD COLUMN started_by REAL;     -- the provider first said `generating`
