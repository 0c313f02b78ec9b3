-- The verdict of a decided comparison, as its own column, so that lists show
-- it without parsing documents. Comparisons decided before this migration
-- carry their verdict inside the result document.
ALTER TABLE comparisons ADD COLUMN verdict TEXT;
UPDATE comparisons SET verdict = json_extract(result, '$.verdict')
WHERE result IS NOT NULL AND json_valid(result);
