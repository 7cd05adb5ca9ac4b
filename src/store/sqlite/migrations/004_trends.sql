-- Version 4 of the SQLite schema: the dashboard's trends.

-- The open findings (active or reopened) by severity right after each completed import, written
-- in the import's own transaction from `finding_counts`, which the import has just rewritten.
CREATE TABLE import_trends (
    import_id INTEGER PRIMARY KEY REFERENCES imports (id),
    critical  INTEGER NOT NULL,
    high      INTEGER NOT NULL,
    medium    INTEGER NOT NULL,
    low       INTEGER NOT NULL,
    info      INTEGER NOT NULL
);

-- An upgraded database starts with one point: its newest completed import, whose counts are the
-- current ones.
INSERT INTO import_trends (import_id, critical, high, medium, low, info)
    SELECT newest.id, open.critical, open.high, open.medium, open.low, open.info
    FROM (SELECT max(id) AS id FROM imports WHERE outcome = 'completed') AS newest,
         (SELECT coalesce(sum(findings) FILTER (WHERE severity = 'critical'), 0) AS critical,
                 coalesce(sum(findings) FILTER (WHERE severity = 'high'), 0) AS high,
                 coalesce(sum(findings) FILTER (WHERE severity = 'medium'), 0) AS medium,
                 coalesce(sum(findings) FILTER (WHERE severity = 'low'), 0) AS low,
                 coalesce(sum(findings) FILTER (WHERE severity = 'info'), 0) AS info
          FROM finding_counts WHERE state <> 'resolved') AS open
    WHERE newest.id IS NOT NULL;
