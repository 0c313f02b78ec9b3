-- Keel's metadata schema for SQLite. Timestamps are RFC 3339 TEXT in UTC with
-- microseconds and a fixed width, so text order is time order. Ids are UUIDv7
-- text, so text order is creation order. JSON documents are TEXT.

CREATE TABLE models (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    -- The highest version number handed out; bumped in the same transaction
    -- that inserts the version, so numbers are dense and never reused.
    latest_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    id           TEXT PRIMARY KEY NOT NULL,
    model_id     TEXT NOT NULL REFERENCES models(id),
    number       BIGINT NOT NULL,
    created_at   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    definition   TEXT NOT NULL,
    files        TEXT NOT NULL,
    source_job   TEXT,
    UNIQUE (model_id, number)
);
CREATE INDEX versions_by_hash ON versions (model_id, content_hash);

CREATE TABLE aliases (
    model_id   TEXT NOT NULL REFERENCES models(id),
    alias      TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES versions(id),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (model_id, alias)
);

CREATE TABLE alias_events (
    seq          INTEGER PRIMARY KEY,
    model_id     TEXT NOT NULL REFERENCES models(id),
    alias        TEXT NOT NULL,
    from_version BIGINT,
    to_version   BIGINT,
    at           TEXT NOT NULL
);
CREATE INDEX alias_events_by_model ON alias_events (model_id, seq);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    model_id         TEXT NOT NULL REFERENCES models(id),
    model_name       TEXT NOT NULL,
    version_id       TEXT NOT NULL REFERENCES versions(id),
    version_number   BIGINT NOT NULL,
    spec             TEXT NOT NULL,
    records_read     BIGINT NOT NULL DEFAULT 0,
    records_written  BIGINT NOT NULL DEFAULT 0,
    records_rejected BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    heartbeat_at     TEXT,
    runner           TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    error            TEXT,
    result           TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_model ON jobs (model_id, id);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
