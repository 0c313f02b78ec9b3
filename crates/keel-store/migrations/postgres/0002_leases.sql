-- Leases and attempts, as SQLite's migration 5. A claim is the job's next
-- attempt (`attempt` counts claims and fences every write of the claim's
-- outcome) and holds the job until `lease_until`, which each heartbeat moves
-- on; a job whose lease ran out goes back to PENDING until `max_attempts`
-- attempts were lost. Every claim is a row of `job_attempts`.
ALTER TABLE jobs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN lease_until TEXT COLLATE "C";
UPDATE jobs SET attempt = 1 WHERE started_at IS NOT NULL;
UPDATE jobs SET lease_until = COALESCE(heartbeat_at, started_at, created_at)
WHERE status = 'IN_PROGRESS';
CREATE INDEX jobs_by_lease ON jobs (status, lease_until);

CREATE TABLE job_attempts (
    job_id     TEXT COLLATE "C" NOT NULL REFERENCES jobs(id),
    attempt    BIGINT NOT NULL,
    runner     TEXT NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL,
    ended_at   TEXT COLLATE "C",
    -- RUNNING, then COMPLETED, FAILED, STOPPED, LOST or HANDED_BACK.
    outcome    TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
