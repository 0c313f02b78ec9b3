-- Alerts: a monitor's metric out of its constraint. While one is open (or
-- acknowledged) for a schedule and metric, further violations add to it
-- instead of opening another; a later execution back within the constraint
-- resolves it.
CREATE TABLE alerts (
    id               TEXT PRIMARY KEY NOT NULL,
    schedule         TEXT NOT NULL,
    metric           TEXT NOT NULL,
    status           TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    resolved_at      TEXT,
    -- The execution that last found the violation, and its words.
    last_execution   TEXT NOT NULL,
    last_description TEXT NOT NULL,
    occurrences      BIGINT NOT NULL,
    acknowledged_by  TEXT,
    resolved_by      TEXT
);
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (schedule, metric) WHERE status <> 'RESOLVED';
CREATE INDEX alerts_by_schedule ON alerts (schedule, opened_at);
