-- Users, API tokens and the audit log, as SQLite's migration 6. A token's
-- secret is never stored, only its SHA-256. Every change a use case makes
-- writes one audit row in the same transaction as the change.
CREATE TABLE users (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    groups     TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT COLLATE "C",
    revoked_at  TEXT COLLATE "C"
);
CREATE INDEX tokens_by_user ON tokens (user_id, id);

CREATE TABLE audit (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TEXT COLLATE "C" NOT NULL,
    actor   TEXT COLLATE "C" NOT NULL,
    source  TEXT NOT NULL,
    action  TEXT COLLATE "C" NOT NULL,
    model   TEXT COLLATE "C",
    target  TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_by_model ON audit (model, seq);
CREATE INDEX audit_by_actor ON audit (actor, seq);

ALTER TABLE jobs ADD COLUMN created_by TEXT;
