-- Champion/challenger comparisons: two metrics jobs and, once both finished,
-- the verdict. Jobs are referenced, not owned: deleting is not supported.
CREATE TABLE comparisons (
    id             TEXT PRIMARY KEY NOT NULL,
    status         TEXT NOT NULL,
    champion_job   TEXT NOT NULL REFERENCES jobs(id),
    challenger_job TEXT NOT NULL REFERENCES jobs(id),
    policy         TEXT NOT NULL,
    result         TEXT,
    error          TEXT,
    created_at     TEXT NOT NULL,
    finished_at    TEXT
);
