-- Leases and attempts. A claim is the job's next attempt (`attempt` counts
-- claims and fences every write of the claim's outcome) and holds the job
-- until `lease_until`, which each heartbeat moves on; a job whose lease ran
-- out goes back to PENDING until `max_attempts` attempts were lost. Every
-- claim is a row of `job_attempts` saying how it ended.
ALTER TABLE jobs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
-- Jobs claimed before this migration were their first attempt; a running one
-- holds its lease until its last sign of life.
UPDATE jobs SET attempt = 1 WHERE started_at IS NOT NULL;
UPDATE jobs SET lease_until = COALESCE(heartbeat_at, started_at, created_at)
WHERE status = 'IN_PROGRESS';
CREATE INDEX jobs_by_lease ON jobs (status, lease_until);

CREATE TABLE job_attempts (
    job_id     TEXT NOT NULL REFERENCES jobs(id),
    attempt    BIGINT NOT NULL,
    runner     TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    -- RUNNING, then COMPLETED, FAILED, STOPPED, LOST (its lease ran out) or
    -- HANDED_BACK (its runner shut down and gave the job back).
    outcome    TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
