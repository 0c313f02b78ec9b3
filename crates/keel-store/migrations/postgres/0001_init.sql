-- Keel's metadata schema for PostgreSQL: the same tables and columns as the
-- SQLite schema after its migration 4, so that one set of queries serves
-- both. Ids (UUIDv7), names and timestamps (RFC 3339 in UTC with
-- microseconds and a fixed width) are text in the "C" collation, so that text
-- order is creation order, byte order and time order whatever the database's
-- own collation is. Documents are versioned JSON kept as text, exactly as
-- Keel wrote them.

CREATE TABLE models (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at     TEXT COLLATE "C" NOT NULL,
    -- The highest version number handed out; bumped in the same transaction
    -- that inserts the version, so numbers are dense and never reused.
    latest_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    id           TEXT COLLATE "C" PRIMARY KEY,
    model_id     TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    number       BIGINT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    content_hash TEXT NOT NULL,
    definition   TEXT NOT NULL,
    files        TEXT NOT NULL,
    source_job   TEXT COLLATE "C",
    -- Where Keel fetched the files from (a git repository), as a document.
    origin       TEXT,
    UNIQUE (model_id, number)
);
CREATE INDEX versions_by_hash ON versions (model_id, content_hash);

CREATE TABLE aliases (
    model_id   TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    alias      TEXT COLLATE "C" NOT NULL,
    version_id TEXT COLLATE "C" NOT NULL REFERENCES versions(id),
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, alias)
);

CREATE TABLE alias_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id     TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    alias        TEXT COLLATE "C" NOT NULL,
    from_version BIGINT,
    to_version   BIGINT,
    at           TEXT COLLATE "C" NOT NULL
);
CREATE INDEX alias_events_by_model ON alias_events (model_id, seq);

CREATE TABLE jobs (
    id               TEXT COLLATE "C" PRIMARY KEY,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    model_id         TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    model_name       TEXT COLLATE "C" NOT NULL,
    version_id       TEXT COLLATE "C" NOT NULL REFERENCES versions(id),
    version_number   BIGINT NOT NULL,
    spec             TEXT NOT NULL,
    records_read     BIGINT NOT NULL DEFAULT 0,
    records_written  BIGINT NOT NULL DEFAULT 0,
    records_rejected BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT COLLATE "C" NOT NULL,
    started_at       TEXT COLLATE "C",
    finished_at      TEXT COLLATE "C",
    heartbeat_at     TEXT COLLATE "C",
    runner           TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    error            TEXT,
    result           TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_model ON jobs (model_id, id);

CREATE TABLE uploads (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

-- Champion/challenger comparisons: two metrics jobs and, once both finished,
-- the verdict. Jobs are referenced, not owned: deleting is not supported.
CREATE TABLE comparisons (
    id             TEXT COLLATE "C" PRIMARY KEY,
    status         TEXT NOT NULL,
    champion_job   TEXT COLLATE "C" NOT NULL REFERENCES jobs(id),
    challenger_job TEXT COLLATE "C" NOT NULL REFERENCES jobs(id),
    policy         TEXT NOT NULL,
    verdict        TEXT,
    result         TEXT,
    error          TEXT,
    created_at     TEXT COLLATE "C" NOT NULL,
    finished_at    TEXT COLLATE "C"
);
