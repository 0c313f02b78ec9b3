-- Users, API tokens and the audit log. A token's secret is never stored: only
-- its SHA-256, which a request's token is checked against. Auth is on once a
-- user exists. Every change a use case makes writes one audit row in the same
-- transaction as the change.
CREATE TABLE users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    -- A JSON list of group names.
    groups     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX tokens_by_user ON tokens (user_id, id);

CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    -- Where the change came from: a client's address, `cli` on a host, or
    -- the job that made it.
    source  TEXT NOT NULL,
    action  TEXT NOT NULL,
    model   TEXT,
    target  TEXT NOT NULL,
    -- A JSON object: what changed.
    details TEXT NOT NULL
);
CREATE INDEX audit_by_model ON audit (model, seq);
CREATE INDEX audit_by_actor ON audit (actor, seq);

-- Who queued each job; NULL for jobs queued before users existed in Keel.
ALTER TABLE jobs ADD COLUMN created_by TEXT;
