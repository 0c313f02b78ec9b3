-- Where a version's files came from when Keel fetched them itself (a git
-- repository's URL, reference, commit and subdirectory), as a versioned
-- document. Versions registered from a directory, by training, or before
-- this migration have none.
ALTER TABLE versions ADD COLUMN origin TEXT;
