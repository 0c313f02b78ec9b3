-- Late labels, as SQLite's migration 9: the ground truth's digest and the
-- revision of each execution.
ALTER TABLE monitor_executions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE monitor_executions ADD COLUMN truth_digest TEXT;
