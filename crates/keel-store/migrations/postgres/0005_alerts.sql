-- Alerts, as SQLite's migration 8: one unresolved alert per schedule and
-- metric at a time.
CREATE TABLE alerts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    schedule         TEXT COLLATE "C" NOT NULL,
    metric           TEXT COLLATE "C" NOT NULL,
    status           TEXT NOT NULL,
    opened_at        TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL,
    resolved_at      TEXT COLLATE "C",
    last_execution   TEXT COLLATE "C" NOT NULL,
    last_description TEXT NOT NULL,
    occurrences      BIGINT NOT NULL,
    acknowledged_by  TEXT,
    resolved_by      TEXT
);
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (schedule, metric) WHERE status <> 'RESOLVED';
CREATE INDEX alerts_by_schedule ON alerts (schedule, opened_at);
