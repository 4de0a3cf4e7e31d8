-- Job leases, so several processes can share one database's jobs: the process working on an
-- unfinished job (its owner id) and until when (unix seconds; renewed while it works). A free
-- (NULL) or expired lease may be claimed by any process; state changes stay guarded by state.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;
-- Finds unfinished jobs whose lease is free or expired (and an owner's) without a table scan.
CREATE INDEX jobs_unfinished_leases ON jobs (lease_expires_at)
    WHERE state IN ('queued', 'submitting', 'submitted', 'completed');
