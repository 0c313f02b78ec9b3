-- Monitors in SageMaker Model Monitor's shape: job definitions (the request
-- that created each, kept as a versioned document), schedules over them, and
-- one execution per schedule and tick (the unique key makes a tick run once
-- however many servers look at it).
CREATE TABLE monitor_definitions (
    name       TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE monitor_schedules (
    name        TEXT PRIMARY KEY NOT NULL,
    definition  TEXT NOT NULL REFERENCES monitor_definitions(name),
    expression  TEXT NOT NULL,
    time_zone   TEXT,
    status      TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    -- The newest tick that has an execution.
    last_tick   TEXT
);

CREATE TABLE monitor_executions (
    id             TEXT PRIMARY KEY NOT NULL,
    schedule       TEXT NOT NULL,
    scheduled_time TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    finished_at    TEXT,
    failure_reason TEXT,
    -- Ticks not run one by one because the scheduler was down.
    skipped        BIGINT NOT NULL,
    UNIQUE (schedule, scheduled_time)
);
CREATE INDEX monitor_executions_by_schedule ON monitor_executions (schedule, scheduled_time);
