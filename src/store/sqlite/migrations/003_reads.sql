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
