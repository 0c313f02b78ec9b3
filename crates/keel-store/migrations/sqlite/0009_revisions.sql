-- Late labels: each execution remembers the digest of the ground truth it
-- read, and its revision (0 for the first run). When the ground truth of a
-- window already evaluated changes, the execution runs again as the next
-- revision, so the history converges on the truth.
ALTER TABLE monitor_executions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE monitor_executions ADD COLUMN truth_digest TEXT;
