-- Monitors, as SQLite's migration 7: job definitions, schedules, and one
-- execution per schedule and tick.
CREATE TABLE monitor_definitions (
    name       TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE monitor_schedules (
    name        TEXT COLLATE "C" PRIMARY KEY,
    definition  TEXT COLLATE "C" NOT NULL REFERENCES monitor_definitions(name),
    expression  TEXT NOT NULL,
    time_zone   TEXT,
    status      TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    created_by  TEXT NOT NULL,
    -- The newest tick that has an execution.
    last_tick   TEXT COLLATE "C"
);

CREATE TABLE monitor_executions (
    id             TEXT COLLATE "C" PRIMARY KEY,
    schedule       TEXT COLLATE "C" NOT NULL,
    scheduled_time TEXT COLLATE "C" NOT NULL,
    status         TEXT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    finished_at   TEXT COLLATE "C",
    failure_reason TEXT,
    -- Ticks not run one by one because the scheduler was down.
    skipped        BIGINT NOT NULL,
    UNIQUE (schedule, scheduled_time)
);
CREATE INDEX monitor_executions_by_schedule ON monitor_executions (schedule, scheduled_time);
