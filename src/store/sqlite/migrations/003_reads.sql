-- Version 3 of the SQLite schema: what the findings list reads without visiting every finding.

-- Findings per state and severity, rewritten by each import in its own transaction: the
-- dashboard's counts and the totals of lists filtered by state and severity.
CREATE TABLE finding_counts (
    state    TEXT    NOT NULL,
    severity TEXT    NOT NULL,
    findings INTEGER NOT NULL,
    PRIMARY KEY (state, severity)
) WITHOUT ROWID;
INSERT INTO finding_counts (state, severity, findings)
    SELECT state, severity, count(*) FROM findings GROUP BY state, severity;

-- The list's default order, most serious first, then by VPR, state and id: its pages are a walk
-- along this index (the finding id is last in every index), which holds the state so a list
-- filtered by state walks it without reading the findings. The expression is the one the
-- queries sort and filter by (`severity_rank!` in queries.rs).
CREATE INDEX findings_by_severity ON findings (
    (CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                   WHEN 'low' THEN 1 ELSE 0 END),
    vpr, state);
