//! The read side: pages of findings, dashboard counts, the import history and the trends.
//!
//! - The counts of findings per state and severity are kept in `finding_counts`, rewritten by
//!   each import in its transaction: the dashboard and the totals of lists filtered by state and
//!   severity read a few rows, not every finding.
//! - A page of such a list is one sorted read that stops at the page; a page past the middle is
//!   read from the end (in the reverse order), so the last page costs what the first does.
//! - A list filtered by text or by an import's changes is one statement that counts the matches
//!   and picks the page's ids, reading only the columns it filters and sorts on. The text search
//!   finds matching titles among the definitions once, rather than joining every finding to its
//!   definition.
//! - Rows are fetched with their definitions only for the page: a 50-row page looks up 50
//!   definitions, not one per match.
//! - A page and its total, and the import history's page and total, run in one read
//!   transaction, so they agree even while an import commits.
//! - SQL text is assembled from fixed fragments chosen by the query's enums; every value, the
//!   search text included, is a bound parameter.
//! - A list is answered from the lists' index in memory when it is as new as the snapshot
//!   (see `store::list_index`); the statements here answer it from the findings table until it
//!   is, and always for an import's change lists. No secondary index serves them: an index on
//!   `findings` costs every import far more than its share (see docs/import-semantics.md, "Lists
//!   of findings").

use std::sync::Arc;

use chrono::NaiveDate;
use rusqlite::types::{Type, Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, ToSql};

use super::{IMPORT_COLUMNS, RawImport};
use crate::domain::Severity;
use crate::store::list_index::{
    Changed, DATA_VERSION_SQL, DataVersion, ListIndex, ListedFinding, Loading, in_listed_order,
};
use crate::store::{
    Change, FindingQuery, FindingSort, FindingStats, FindingView, ImportRecord, Page,
    SeverityCounts, StateFilter, StoreError, TrendPoint,
};

const MAX_PER_PAGE: u32 = 500;

/// Severity as a number that orders by seriousness: info 0 … critical 4.
const SEVERITY_RANK: &str = "CASE f.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
    WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END";

const STATE_IS: &str = "f.state = :state";
const STATE_IS_OPEN: &str = "f.state IN ('active', 'reopened')";
const SEVERITY_IS: &str = "f.severity = :severity";
const TEXT_MATCHES: &str = "(f.hostname LIKE :text ESCAPE '\\'
    OR f.ip LIKE :text ESCAPE '\\'
    OR f.asset_id LIKE :text ESCAPE '\\'
    OR f.cve LIKE :text ESCAPE '\\'
    OR f.definition IN (SELECT hash FROM definitions WHERE title LIKE :text ESCAPE '\\'))";
/// The findings an import added are the id range recorded on it (none when it added nothing):
/// one import applies at a time, so no other finding lies in it, gaps or not.
const ADDED_BY: &str = "f.id BETWEEN (SELECT added_from_id FROM imports WHERE id = :import)
    AND (SELECT added_to_id FROM imports WHERE id = :import)";
const CHANGED_BY: &str = "f.id IN (SELECT finding_id FROM import_changes
    WHERE import_id = :import AND change = :change)";

const FINDING_COLUMNS: &str = "f.id, f.host, f.hostname, f.ip, f.asset_id, f.cve, f.plugin_id,
    d.title, d.family, f.severity, f.vpr, f.cvss, f.port, f.protocol, f.os, f.state,
    f.first_seen, f.last_seen, f.resolved_date";
/// The column after [`FINDING_COLUMNS`] in a page's rows: the number of matching findings.
const TOTAL_COLUMN: usize = 19;

/// A page of findings: from the lists' index when `index` has one at the snapshot's version,
/// otherwise from the findings table.
pub(super) fn list_findings(
    conn: &mut Connection,
    query: &FindingQuery,
    index: impl FnOnce(DataVersion) -> Option<Arc<ListIndex>>,
) -> Result<Page<FindingView>, StoreError> {
    let (page, per_page) = clamp_page(query.page, query.per_page);
    let filter = Filter::new(query);
    let offset = u64::from(page - 1) * u64::from(per_page);
    let (items, total) = in_one_snapshot(conn, |conn| {
        if let Some(index) = index(data_version(conn)?) {
            let changed = || {
                (query.changed_by)
                    .map(|(import, change)| changed_findings(conn, import, change))
                    .transpose()
            };
            let (ids, total) = index.page(query, changed, offset, per_page.into())?;
            Ok((findings_by_id(conn, &ids)?, total))
        } else if filter.is_counted() {
            let total = counted_total(conn, &filter)?;
            let items = counted_page(conn, query, &filter, offset, per_page.into(), total)?;
            Ok((items, total))
        } else {
            searched_page(conn, query, &filter, offset, per_page.into())
        }
    })?;
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

/// The committed state a snapshot sees (see [`DataVersion`]).
fn data_version(conn: &Connection) -> Result<DataVersion, StoreError> {
    Ok(conn
        .prepare_cached(DATA_VERSION_SQL)?
        .query_row([], |row| {
            Ok(DataVersion {
                completed: row.get(0)?,
                newest: row.get(1)?,
            })
        })?)
}

/// The findings an import changed in one way.
fn changed_findings(conn: &Connection, import: i64, change: Change) -> Result<Changed, StoreError> {
    let change = match change {
        Change::Added => {
            let range = conn
                .prepare_cached("SELECT added_from_id, added_to_id FROM imports WHERE id = ?1")?
                .query_row([import], |row| {
                    Ok(row.get::<_, Option<i64>>(0)?.zip(row.get(1)?))
                })
                .optional()?;
            return Ok(Changed::Range(range.flatten()));
        }
        Change::Resolved => "resolved",
        Change::Reopened => "reopened",
    };
    let mut statement = conn.prepare_cached(
        "SELECT finding_id FROM import_changes WHERE import_id = ?1 AND change = ?2",
    )?;
    let ids = statement
        .query_map(rusqlite::params![import, change], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Changed::Ids(ids))
}

/// The findings with these ids, in this order.
fn findings_by_id(conn: &Connection, ids: &[i64]) -> Result<Vec<FindingView>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let places = vec!["?"; ids.len()].join(", ");
    let mut statement = conn.prepare(&format!(
        "SELECT {FINDING_COLUMNS} FROM findings f
         LEFT JOIN definitions d ON d.hash = f.definition
         WHERE f.id IN ({places})"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    let mut found = Vec::with_capacity(ids.len());
    while let Some(row) = rows.next()? {
        found.push(finding_view(row)?);
    }
    in_listed_order(ids, found)
}

/// The lists' index of the database's committed state, read in one snapshot.
pub(super) fn load_list_index(conn: &mut Connection) -> Result<ListIndex, StoreError> {
    in_one_snapshot(conn, |conn| {
        let mut loading = Loading::new(data_version(conn)?);
        let mut definitions = conn.prepare("SELECT hash, title FROM definitions")?;
        let mut rows = definitions.query([])?;
        while let Some(row) = rows.next()? {
            loading.definition(blob_at(row, 0)?, text_at(row, 1)?);
        }
        let mut findings = conn.prepare(
            "SELECT id, severity, state, vpr, cvss, first_seen, last_seen, hostname, ip,
                    asset_id, cve, definition
             FROM findings ORDER BY id",
        )?;
        let mut rows = findings.query([])?;
        while let Some(row) = rows.next()? {
            let text = |index| {
                text_at(row, index)?.ok_or_else(|| StoreError::Corrupt("a missing value".into()))
            };
            let optional = |index| text_at(row, index);
            loading.finding(ListedFinding {
                id: row.get(0)?,
                severity: text(1)?,
                state: text(2)?,
                vpr: row.get(3)?,
                cvss: row.get(4)?,
                first_seen: text(5)?,
                last_seen: text(6)?,
                hostname: optional(7)?,
                ip: optional(8)?,
                asset_id: optional(9)?,
                cve: optional(10)?,
                definition: blob_at(row, 11)?,
            })?;
        }
        Ok(loading.finish())
    })
}

/// A text column's value, borrowed from its row.
fn text_at<'r>(row: &'r Row<'_>, index: usize) -> Result<Option<&'r str>, StoreError> {
    match row.get_ref(index)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => std::str::from_utf8(text)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("column {index}: text that is not UTF-8"))),
        _ => Err(StoreError::Corrupt(format!("column {index}: not text"))),
    }
}

/// A blob column's value, borrowed from its row.
fn blob_at<'r>(row: &'r Row<'_>, index: usize) -> Result<&'r [u8], StoreError> {
    match row.get_ref(index)? {
        ValueRef::Blob(blob) => Ok(blob),
        _ => Err(StoreError::Corrupt(format!("column {index}: not a blob"))),
    }
}

/// The number of findings in the states and severities the filter keeps, from the counts each
/// import maintains.
fn counted_total(conn: &Connection, filter: &Filter) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT coalesce(sum(findings), 0) FROM finding_counts AS f {}",
        filter.where_clause()
    );
    let total: i64 = conn
        .prepare_cached(&sql)?
        .query_row(&*filter.params(&[]), |row| row.get(0))?;
    Ok(total as u64)
}

/// A page of a list whose total is known: a sorted read that stops at the page. A page in the
/// second half of the list is read from its end (in the reverse order), so the sort never keeps
/// more than half the list and the last page costs what the first does.
fn counted_page(
    conn: &Connection,
    query: &FindingQuery,
    filter: &Filter,
    offset: u64,
    per_page: u64,
    total: u64,
) -> Result<Vec<FindingView>, StoreError> {
    if offset >= total {
        return Ok(Vec::new());
    }
    let rows = per_page.min(total - offset);
    let from_end = offset + rows / 2 > total / 2;
    let skip = if from_end {
        total - offset - rows
    } else {
        offset
    };
    let keys = sort_keys(query.sort);
    let walk = if from_end {
        reversed(query.descending)
    } else {
        forward(query.descending)
    };
    let sql = format!(
        "SELECT {FINDING_COLUMNS}
         FROM (SELECT f.id AS id{key_columns} FROM findings f {where_clause}
               ORDER BY {walk_order} LIMIT :limit OFFSET :offset) AS page
         JOIN findings f ON f.id = page.id
         LEFT JOIN definitions d ON d.hash = f.definition
         ORDER BY {page_order}",
        key_columns = key_columns(keys),
        where_clause = filter.where_clause(),
        walk_order = order_by(keys, "", walk),
        page_order = order_by(keys, "page.", forward(query.descending)),
    );
    let (limit, skip) = (Value::Integer(rows as i64), Value::Integer(skip as i64));
    let mut statement = conn.prepare_cached(&sql)?;
    let mut found = statement.query(&*filter.params(&[(":limit", &limit), (":offset", &skip)]))?;
    let mut items = Vec::with_capacity(rows as usize);
    while let Some(row) = found.next()? {
        items.push(finding_view(row)?);
    }
    Ok(items)
}

/// A page of a list filtered by text or by an import's changes, with its total: one statement
/// (see [`searched_sql`]).
fn searched_page(
    conn: &Connection,
    query: &FindingQuery,
    filter: &Filter,
    offset: u64,
    per_page: u64,
) -> Result<(Vec<FindingView>, u64), StoreError> {
    let sql = searched_sql(query, filter);
    let limit = Value::Integer(per_page as i64);
    let offset = Value::Integer(offset as i64);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(&*filter.params(&[(":limit", &limit), (":offset", &offset)]))?;
    let mut total = 0;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        total = row.get::<_, i64>(TOTAL_COLUMN)? as u64;
        if row.get_ref(0)?.data_type() != Type::Null {
            items.push(finding_view(row)?);
        }
    }
    Ok((items, total))
}

/// One statement that answers a page: a row per finding of the page, with the number of matching
/// findings after its columns. A page past the end is one row with the total and no finding.
///
/// `matching` holds the id and sort keys of every finding that passes the filters. It is
/// materialized (computed once, then counted and sorted) when the text search is on: that
/// predicate is the one expensive enough for a second evaluation to cost more than storing its
/// matches. Otherwise it is inlined into the count and the page, two cheap scans (the count
/// without filters reads the smallest index).
fn searched_sql(query: &FindingQuery, filter: &Filter) -> String {
    let materialized = if filter.searches_text() {
        "MATERIALIZED"
    } else {
        "NOT MATERIALIZED"
    };
    let keys = sort_keys(query.sort);
    let key_columns = key_columns(keys);
    let where_clause = filter.where_clause();
    let page_order = order_by(keys, "", forward(query.descending));
    let outer_order = order_by(keys, "page.", forward(query.descending));
    format!(
        "WITH matching AS {materialized} (
             SELECT f.id AS id{key_columns} FROM findings f {where_clause}
         )
         SELECT {FINDING_COLUMNS}, total.matching
         FROM (SELECT count(*) AS matching FROM matching) AS total
         LEFT JOIN (SELECT * FROM matching ORDER BY {page_order} LIMIT :limit OFFSET :offset)
             AS page ON true
         LEFT JOIN findings f ON f.id = page.id
         LEFT JOIN definitions d ON d.hash = f.definition
         ORDER BY {outer_order}"
    )
}

/// Every finding that passes the query's filters, in its order, from one snapshot: handed to
/// `each` one at a time, until it answers `false`. Returns how many it was handed.
///
/// Each statement sorts the ids and sort keys alone (the `LIMIT` keeps SQLite from folding the
/// sort into the outer query, which would sort whole rows), into a temporary table it then reads
/// in order, looking up each finding and its definition; SQLite spills a large sort to temporary
/// files, so memory stays bounded. A list in the default order is read one severity at a time,
/// most serious first: the first findings come after sorting the critical ones, not every
/// finding.
pub(super) fn export_findings(
    conn: &mut Connection,
    query: &FindingQuery,
    each: &mut dyn FnMut(FindingView) -> bool,
) -> Result<u64, StoreError> {
    let parts: Vec<FindingQuery> =
        if query.sort == FindingSort::Severity && query.severity.is_none() {
            let mut by_rank = Severity::MOST_SERIOUS_FIRST;
            if !query.descending {
                by_rank.reverse();
            }
            by_rank
                .into_iter()
                .map(|severity| FindingQuery {
                    severity: Some(severity),
                    ..query.clone()
                })
                .collect()
        } else {
            vec![query.clone()]
        };
    in_one_snapshot(conn, |conn| {
        let mut handed = 0;
        for part in &parts {
            let filter = Filter::new(part);
            let keys = sort_keys(part.sort);
            let sql = format!(
                "SELECT {FINDING_COLUMNS}
                 FROM (SELECT f.id AS id{key_columns} FROM findings f {where_clause}
                       ORDER BY {order} LIMIT -1) AS listed
                 JOIN findings f ON f.id = listed.id
                 LEFT JOIN definitions d ON d.hash = f.definition",
                key_columns = key_columns(keys),
                where_clause = filter.where_clause(),
                order = order_by(keys, "", forward(part.descending)),
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(&*filter.params(&[]))?;
            while let Some(row) = rows.next()? {
                handed += 1;
                if !each(finding_view(row)?) {
                    return Ok(handed);
                }
            }
        }
        Ok(handed)
    })
}

pub(super) fn finding_stats(conn: &Connection) -> Result<FindingStats, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT coalesce(sum(findings) FILTER (WHERE severity = 'critical' AND state <> 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE severity = 'high' AND state <> 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE severity = 'medium' AND state <> 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE severity = 'low' AND state <> 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE severity = 'info' AND state <> 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE state = 'active'), 0),
                coalesce(sum(findings) FILTER (WHERE state = 'resolved'), 0),
                coalesce(sum(findings) FILTER (WHERE state = 'reopened'), 0),
                coalesce(sum(findings), 0)
         FROM finding_counts",
    )?;
    let stats = statement.query_row([], |row| {
        let count = |i| row.get::<_, i64>(i).map(|count| count as u64);
        Ok(FindingStats {
            open_by_severity: SeverityCounts {
                critical: count(0)?,
                high: count(1)?,
                medium: count(2)?,
                low: count(3)?,
                info: count(4)?,
            },
            active: count(5)?,
            resolved: count(6)?,
            reopened: count(7)?,
            total: count(8)?,
        })
    })?;
    Ok(stats)
}

pub(super) fn list_imports(
    conn: &mut Connection,
    page: u32,
    per_page: u32,
) -> Result<Page<ImportRecord>, StoreError> {
    let (page, per_page) = clamp_page(page, per_page);
    in_one_snapshot(conn, |conn| {
        let total: i64 = conn
            .prepare_cached("SELECT count(*) FROM imports")?
            .query_row([], |row| row.get(0))?;
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {IMPORT_COLUMNS} FROM imports ORDER BY id DESC LIMIT ?1 OFFSET ?2"
        ))?;
        let items = statement
            .query_map(
                [
                    i64::from(per_page),
                    i64::from(page - 1) * i64::from(per_page),
                ],
                RawImport::from_row,
            )?
            .map(|raw| raw?.into_record())
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as u64,
            page,
            per_page,
        })
    })
}

pub(super) fn import_trends(conn: &Connection, limit: u32) -> Result<Vec<TrendPoint>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT * FROM (
             SELECT i.id, i.session_id, i.file_name, i.scan_date, i.backfill, t.critical, t.high,
                    t.medium, t.low, t.info, i.new, i.resolved, i.reopened
             FROM import_trends t JOIN imports i ON i.id = t.import_id
             ORDER BY t.import_id DESC LIMIT ?1)
         ORDER BY id",
    )?;
    let mut rows = statement.query([limit])?;
    let mut points = Vec::new();
    while let Some(row) = rows.next()? {
        points.push(trend_point(row)?);
    }
    Ok(points)
}

fn trend_point(row: &Row<'_>) -> Result<TrendPoint, StoreError> {
    let id: i64 = row.get(0)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("import {id}: {what}"));
    let count = |index: usize| row.get::<_, i64>(index).map(|count| count as u64);
    Ok(TrendPoint {
        session_id: row
            .get::<_, String>(1)?
            .parse()
            .map_err(|_| corrupt("session id"))?,
        file_name: row.get(2)?,
        scan_date: row
            .get::<_, String>(3)?
            .parse()
            .map_err(|_| corrupt("scan date"))?,
        backfill: row.get(4)?,
        open_by_severity: SeverityCounts {
            critical: count(5)?,
            high: count(6)?,
            medium: count(7)?,
            low: count(8)?,
            info: count(9)?,
        },
        new: count(10)?,
        resolved: count(11)?,
        reopened: count(12)?,
    })
}

/// A page number of at least 1 and a page size within 1..=500.
fn clamp_page(page: u32, per_page: u32) -> (u32, u32) {
    (page.max(1), per_page.clamp(1, MAX_PER_PAGE))
}

/// Runs `read` in one read transaction, so all its statements see the same committed state.
fn in_one_snapshot<T>(
    conn: &mut Connection,
    read: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let transaction = conn.transaction()?;
    let value = read(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

/// The conditions of a findings query, with the values they bind by name.
struct Filter {
    conditions: Vec<&'static str>,
    values: Vec<(&'static str, Value)>,
}

impl Filter {
    fn new(query: &FindingQuery) -> Self {
        let mut filter = Filter {
            conditions: Vec::new(),
            values: Vec::new(),
        };
        match query.state {
            None => {}
            Some(StateFilter::Open) => filter.conditions.push(STATE_IS_OPEN),
            Some(StateFilter::Active) => filter.add(STATE_IS, ":state", "active"),
            Some(StateFilter::Resolved) => filter.add(STATE_IS, ":state", "resolved"),
            Some(StateFilter::Reopened) => filter.add(STATE_IS, ":state", "reopened"),
        }
        if let Some(severity) = query.severity {
            filter.add(SEVERITY_IS, ":severity", severity.as_str());
        }
        if let Some(text) = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            filter.add(TEXT_MATCHES, ":text", contains_pattern(text));
        }
        if let Some((import_id, change)) = query.changed_by {
            filter.values.push((":import", Value::Integer(import_id)));
            match change {
                Change::Added => filter.conditions.push(ADDED_BY),
                Change::Resolved => filter.add(CHANGED_BY, ":change", "resolved"),
                Change::Reopened => filter.add(CHANGED_BY, ":change", "reopened"),
            }
        }
        filter
    }

    fn add(&mut self, condition: &'static str, name: &'static str, value: impl Into<String>) {
        self.conditions.push(condition);
        self.values.push((name, Value::Text(value.into())));
    }

    fn searches_text(&self) -> bool {
        self.conditions.contains(&TEXT_MATCHES)
    }

    /// Whether it keeps findings by state and severity only, which `finding_counts` counts.
    fn is_counted(&self) -> bool {
        self.conditions
            .iter()
            .all(|condition| [STATE_IS, STATE_IS_OPEN, SEVERITY_IS].contains(condition))
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The filter's named values followed by `more`, ready to bind.
    fn params<'a>(&'a self, more: &[(&'a str, &'a dyn ToSql)]) -> Vec<(&'a str, &'a dyn ToSql)> {
        self.values
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .chain(more.iter().copied())
            .collect()
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching any text that contains `text` literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The direction a page is walked in: the list's own order, or its exact reverse.
#[derive(Clone, Copy)]
struct Walk {
    descending: bool,
    reversed: bool,
}

fn forward(descending: bool) -> Walk {
    Walk {
        descending,
        reversed: false,
    }
}

fn reversed(descending: bool) -> Walk {
    Walk {
        descending: !descending,
        reversed: true,
    }
}

/// A value a list is sorted by, and where findings without it go.
#[derive(Clone, Copy)]
struct SortKey {
    expression: &'static str,
    /// After the others in either direction; otherwise below every value (SQLite's own order).
    missing_last: bool,
}

const fn key(expression: &'static str) -> SortKey {
    SortKey {
        expression,
        missing_last: true,
    }
}

/// A value no finding lacks, or one whose missing values rank lowest.
const fn lowest_first(expression: &'static str) -> SortKey {
    SortKey {
        expression,
        missing_last: false,
    }
}

const RANK: SortKey = lowest_first(SEVERITY_RANK);
const VPR_BY_RANK: SortKey = lowest_first("f.vpr");
const STATE: SortKey = lowest_first("f.state");

/// `, <key> AS key0, …`: the sort keys as columns of a page's rows.
fn key_columns(keys: &[SortKey]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, key)| format!(", {} AS key{i}", key.expression))
        .collect()
}

/// An ORDER BY list over the columns of [`key_columns`] (prefixed by `table`), then the id.
fn order_by(keys: &[SortKey], table: &str, walk: Walk) -> String {
    let direction = if walk.descending { "DESC" } else { "ASC" };
    let nulls = match walk.reversed {
        false => " NULLS LAST",
        true => " NULLS FIRST",
    };
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let nulls = if key.missing_last { nulls } else { "" };
            format!("{table}key{i} {direction}{nulls}, ")
        })
        .chain([format!("{table}id {direction}")])
        .collect()
}

/// What a sort orders by, most significant first; the finding id breaks the remaining ties.
/// Missing values come last in either direction, except a missing VPR within a severity, which
/// ranks lowest (so one index on severity, VPR and state could serve the order both ways).
fn sort_keys(sort: FindingSort) -> &'static [SortKey] {
    match sort {
        FindingSort::Severity => &[RANK, VPR_BY_RANK, STATE],
        FindingSort::Vpr => const { &[key("f.vpr")] },
        FindingSort::Cvss => const { &[key("f.cvss")] },
        // The name people see: hostname, else IP, else asset id.
        FindingSort::Host => const { &[key("coalesce(f.hostname, f.ip, f.asset_id)")] },
        FindingSort::Cve => const { &[key("f.cve")] },
        FindingSort::Title => {
            const {
                &[key(
                    "(SELECT title FROM definitions WHERE hash = f.definition)",
                )]
            }
        }
        FindingSort::FirstSeen => const { &[key("f.first_seen")] },
        FindingSort::LastSeen => const { &[key("f.last_seen")] },
        FindingSort::State => &[STATE],
    }
}

fn finding_view(row: &Row<'_>) -> Result<FindingView, StoreError> {
    let id: i64 = row.get(0)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("finding {id}: {what}"));
    let date = |index: usize, what: &str| -> Result<Option<NaiveDate>, StoreError> {
        row.get::<_, Option<String>>(index)?
            .map(|text| text.parse().map_err(|_| corrupt(what)))
            .transpose()
    };
    let severity: String = row.get(9)?;
    let port: Option<i64> = row.get(12)?;
    Ok(FindingView {
        id,
        host: row.get(1)?,
        hostname: row.get(2)?,
        ip: row.get(3)?,
        asset_id: row.get(4)?,
        cve: row.get(5)?,
        plugin_id: row.get(6)?,
        title: row.get(7)?,
        family: row.get(8)?,
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("severity"))?,
        vpr: row.get(10)?,
        cvss: row.get(11)?,
        port: port
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("port"))?,
        protocol: row.get(13)?,
        os: row.get(14)?,
        state: row.get(15)?,
        first_seen: date(16, "first seen")?.ok_or_else(|| corrupt("first seen"))?,
        last_seen: date(17, "last seen")?.ok_or_else(|| corrupt("last seen"))?,
        resolved_date: date(18, "resolved date")?,
    })
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use tempfile::TempDir;
    use tokio_util::sync::CancellationToken;
    use uuid::Uuid;

    use super::super::SqliteStore;
    use crate::domain::Severity;
    use crate::domain::{Outcome, Scope};
    use crate::import::{ImportRequest, ImportSummary, run_import};
    use crate::progress::NoProgress;
    use crate::store::{
        Change, FindingQuery, FindingSort, FindingStats, FindingView, Page, SeverityCounts,
        StateFilter, Store, StoreError,
    };

    const HEADER: &str =
        "asset_id,hostname,ip_address,cve,plugin_id,title,severity,vpr,cvss,port,protocol,vendor";
    const OPENSSL: &str = ",web01.example,10.0.0.1,CVE-2024-0001,1001,OpenSSL 100% Overflow,critical,9.1,9.8,443,tcp,Web";
    const APACHE: &str = ",web01.example,10.0.0.1,CVE-2024-0002,1002,Apache Path Traversal (1000 requests),high,7.5,8.1,80,tcp,Web";
    const POSTGRES: &str = ",db01.example,10.0.0.2,CVE-2024-0003,1003,PostgreSQL Privilege Escalation,critical,8.0,9.0,5432,tcp,Databases";
    const SSH: &str = r",db01.example,10.0.0.2,CVE-2024-0004,1004,SSH Weak Ciphers in C:\ssh,medium,,5.3,22,tcp,Misc";
    const SMTP: &str = ",mail_01.example,10.0.0.3,,1005,SMTP Open Relay,low,2.0,3.1,25,tcp,Mail";
    const TLS: &str =
        ",mailx01.example,10.0.0.5,CVE-2024-0006,1006,TLS Certificate Expired,info,,,,,Misc";
    const LOG4SHELL: &str = "ASSET-7F3A,app01.example,10.0.0.4,CVE-2024-0007,1007,Log4Shell,critical,9.1,10.0,8080,tcp,Web";
    const NGINX: &str = ",web02.example,10.0.0.6,CVE-2024-0008,1008,Nginx Request Smuggling,high,6.7,7.4,443,tcp,Web";
    const EXCHANGE: &str =
        ",mx01.example,10.0.0.7,CVE-2023-0009,1009,Exchange Server RCE,high,8.8,8.8,443,tcp,Mail";

    /// The titles of the findings above, as lists show them.
    const ALL_THREE_IMPORTS: [&str; 8] = [
        "OpenSSL 100% Overflow",
        "Apache Path Traversal (1000 requests)",
        "PostgreSQL Privilege Escalation",
        r"SSH Weak Ciphers in C:\ssh",
        "SMTP Open Relay",
        "TLS Certificate Expired",
        "Log4Shell",
        "Nginx Request Smuggling",
    ];

    struct Db {
        dir: TempDir,
        store: SqliteStore,
    }

    impl Db {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("vulnimport.db")).unwrap();
            Db { dir, store }
        }

        /// Imports a file of these rows (a full export) and returns its summary.
        fn import(&self, rows: &[&str], scan_date: &str) -> ImportSummary {
            let text = format!("{HEADER}\n{}\n", rows.join("\n"));
            self.import_file(&text, scan_date)
        }

        fn import_file(&self, text: &str, scan_date: &str) -> ImportSummary {
            let path = self.dir.path().join(format!("{}.csv", Uuid::new_v4()));
            std::fs::write(&path, text).unwrap();
            let request = ImportRequest {
                file_name: "export.csv".into(),
                path,
                session_id: Uuid::new_v4(),
                scan_date: scan_date.parse().unwrap(),
                scope: Scope::Full,
                started_by: "test".into(),
                canceller: Default::default(),
                max_rejected_share: ImportRequest::DEFAULT_MAX_REJECTED_SHARE,
                max_field_bytes: ImportRequest::DEFAULT_MAX_FIELD_BYTES,
                retry_of: None,
            };
            run_import(
                &self.store,
                &request,
                &NoProgress,
                &CancellationToken::new(),
            )
        }

        /// The id of the import a summary reports.
        fn import_id(&self, summary: &ImportSummary) -> i64 {
            assert_eq!(summary.outcome, Outcome::Completed, "{summary:?}");
            self.store
                .import_by_session(summary.session_id)
                .unwrap()
                .unwrap()
                .id
        }

        fn page(&self, query: &FindingQuery) -> Page<FindingView> {
            self.store
                .list_findings(query, &CancellationToken::new())
                .unwrap()
        }

        fn list(&self, query: FindingQuery) -> Vec<FindingView> {
            let page = self.page(&query);
            assert_eq!(page.total as usize, page.items.len(), "{query:?}");
            page.items
        }

        /// The titles of the findings a query lists, in its order.
        fn titles(&self, query: FindingQuery) -> Vec<String> {
            titles(&self.list(query))
        }

        /// The titles of the findings a query lists, sorted, and the total it reports.
        fn matches(&self, query: FindingQuery) -> (Vec<String>, u64) {
            let page = self.page(&query);
            let mut titles = titles(&page.items);
            titles.sort();
            (titles, page.total)
        }
    }

    /// The second import lacks SMTP and TLS (resolved); the third brings SMTP back (reopened)
    /// and adds Nginx. Returns the three imports' ids.
    fn three_imports() -> (Db, [i64; 3]) {
        let db = Db::new();
        let first = db.import(
            &[OPENSSL, APACHE, POSTGRES, SSH, SMTP, TLS, LOG4SHELL],
            "2024-01-01",
        );
        let second = db.import(&[OPENSSL, APACHE, POSTGRES, SSH, LOG4SHELL], "2024-02-01");
        let third = db.import(
            &[OPENSSL, APACHE, POSTGRES, SSH, SMTP, LOG4SHELL, NGINX],
            "2024-03-01",
        );
        let ids = [&first, &second, &third].map(|summary| db.import_id(summary));
        (db, ids)
    }

    fn titles(items: &[FindingView]) -> Vec<String> {
        items
            .iter()
            .map(|finding| finding.title.clone().unwrap())
            .collect()
    }

    fn sorted(titles: &[&str]) -> Vec<String> {
        let mut titles: Vec<String> = titles.iter().map(|title| title.to_string()).collect();
        titles.sort();
        titles
    }

    fn everything(sort: FindingSort, descending: bool) -> FindingQuery {
        FindingQuery {
            sort,
            descending,
            per_page: 500,
            ..FindingQuery::default()
        }
    }

    fn state(state: StateFilter) -> FindingQuery {
        FindingQuery {
            state: Some(state),
            ..FindingQuery::default()
        }
    }

    fn search(text: &str) -> FindingQuery {
        FindingQuery {
            text: Some(text.into()),
            ..FindingQuery::default()
        }
    }

    fn changed_by(import_id: i64, change: Change) -> FindingQuery {
        FindingQuery {
            changed_by: Some((import_id, change)),
            ..FindingQuery::default()
        }
    }

    #[test]
    fn default_order_is_most_serious_first_then_vpr_then_id() {
        let db = Db::new();
        db.import(
            &[OPENSSL, APACHE, POSTGRES, SSH, SMTP, TLS, LOG4SHELL],
            "2024-01-01",
        );
        let listed = db.list(FindingQuery::default());
        assert_eq!(
            titles(&listed),
            [
                "Log4Shell",
                "OpenSSL 100% Overflow",
                "PostgreSQL Privilege Escalation",
                "Apache Path Traversal (1000 requests)",
                r"SSH Weak Ciphers in C:\ssh",
                "SMTP Open Relay",
                "TLS Certificate Expired",
            ]
        );
        // Log4Shell and OpenSSL tie on severity and VPR: the later id comes first.
        assert!(listed[0].id > listed[1].id);
        assert_eq!(
            db.titles(everything(FindingSort::Severity, false)),
            [
                "TLS Certificate Expired",
                "SMTP Open Relay",
                r"SSH Weak Ciphers in C:\ssh",
                "Apache Path Traversal (1000 requests)",
                "PostgreSQL Privilege Escalation",
                "OpenSSL 100% Overflow",
                "Log4Shell",
            ]
        );
    }

    #[test]
    fn list_shows_each_findings_columns_and_definition() {
        let (db, _) = three_imports();
        let log4shell = db
            .list(search("log4shell"))
            .pop()
            .expect("Log4Shell is listed");
        assert_eq!(
            log4shell,
            FindingView {
                id: log4shell.id,
                host: "ASSET-7F3A".into(),
                hostname: Some("app01.example".into()),
                ip: Some("10.0.0.4".into()),
                asset_id: Some("ASSET-7F3A".into()),
                cve: Some("CVE-2024-0007".into()),
                plugin_id: Some("1007".into()),
                title: Some("Log4Shell".into()),
                family: Some("Web".into()),
                severity: Severity::Critical,
                vpr: Some(9.1),
                cvss: Some(10.0),
                port: Some(8080),
                protocol: Some("tcp".into()),
                os: None,
                state: "active".into(),
                first_seen: "2024-01-01".parse().unwrap(),
                last_seen: "2024-03-01".parse().unwrap(),
                resolved_date: None,
            }
        );
        let tls = db.list(search("TLS Certificate")).pop().unwrap();
        assert_eq!(tls.state, "resolved");
        assert_eq!(tls.resolved_date, Some("2024-02-01".parse().unwrap()));
        assert_eq!((tls.vpr, tls.cvss, tls.port), (None, None, None));
    }

    /// Checks that `items` are ordered by `key` in the direction asked, missing keys last and
    /// ties by id.
    fn assert_ordered<K: PartialOrd + Debug>(
        items: &[FindingView],
        descending: bool,
        what: &str,
        key: impl Fn(&FindingView) -> Option<K>,
    ) {
        for pair in items.windows(2) {
            let (a, b) = (key(&pair[0]), key(&pair[1]));
            let ids_in_order = (pair[0].id < pair[1].id) != descending;
            let in_order = match (&a, &b) {
                (Some(a), Some(b)) if a == b => ids_in_order,
                (Some(a), Some(b)) => (a < b) != descending,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => ids_in_order,
            };
            assert!(
                in_order,
                "{what} {}: {a:?} (id {}) before {b:?} (id {})",
                if descending {
                    "descending"
                } else {
                    "ascending"
                },
                pair[0].id,
                pair[1].id
            );
        }
    }

    #[test]
    fn every_sort_orders_both_ways_with_missing_values_last_and_ties_by_id() {
        let (db, _) = three_imports();
        // A backfill adds a finding with the highest id and the earliest first sighting.
        db.import(&[EXCHANGE], "2023-12-01");
        for descending in [false, true] {
            let list = |sort| {
                let listed = db.list(everything(sort, descending));
                assert_eq!(listed.len(), 9);
                listed
            };
            let items = list(FindingSort::Vpr);
            assert_ordered(&items, descending, "vpr", |f| f.vpr);
            let items = list(FindingSort::Cvss);
            assert_ordered(&items, descending, "cvss", |f| f.cvss);
            let items = list(FindingSort::Host);
            assert_ordered(&items, descending, "host", |f| {
                f.hostname.clone().or(f.ip.clone()).or(f.asset_id.clone())
            });
            let items = list(FindingSort::Cve);
            assert_ordered(&items, descending, "cve", |f| f.cve.clone());
            let items = list(FindingSort::Title);
            assert_ordered(&items, descending, "title", |f| f.title.clone());
            let items = list(FindingSort::FirstSeen);
            assert_ordered(&items, descending, "first seen", |f| Some(f.first_seen));
            let items = list(FindingSort::LastSeen);
            assert_ordered(&items, descending, "last seen", |f| Some(f.last_seen));
            let items = list(FindingSort::State);
            assert_ordered(&items, descending, "state", |f| Some(f.state.clone()));
            let items = list(FindingSort::Severity);
            assert_ordered(&items, descending, "severity", |f| {
                Some((f.severity, f.vpr.unwrap_or(f64::NEG_INFINITY)))
            });
        }
    }

    #[test]
    fn filters_by_state_and_severity() {
        let (db, _) = three_imports();
        let open = [
            "OpenSSL 100% Overflow",
            "Apache Path Traversal (1000 requests)",
            "PostgreSQL Privilege Escalation",
            r"SSH Weak Ciphers in C:\ssh",
            "SMTP Open Relay",
            "Log4Shell",
            "Nginx Request Smuggling",
        ];
        let active: Vec<&str> = open
            .into_iter()
            .filter(|title| *title != "SMTP Open Relay")
            .collect();
        assert_eq!(db.matches(state(StateFilter::Active)), (sorted(&active), 6));
        assert_eq!(db.matches(state(StateFilter::Open)), (sorted(&open), 7));
        assert_eq!(
            db.matches(state(StateFilter::Resolved)),
            (sorted(&["TLS Certificate Expired"]), 1)
        );
        assert_eq!(
            db.matches(state(StateFilter::Reopened)),
            (sorted(&["SMTP Open Relay"]), 1)
        );
        let severity = |severity, state| FindingQuery {
            severity: Some(severity),
            state,
            ..FindingQuery::default()
        };
        assert_eq!(
            db.matches(severity(Severity::Critical, None)),
            (
                sorted(&[
                    "OpenSSL 100% Overflow",
                    "PostgreSQL Privilege Escalation",
                    "Log4Shell"
                ]),
                3
            )
        );
        assert_eq!(
            db.matches(severity(Severity::High, Some(StateFilter::Active))),
            (
                sorted(&[
                    "Apache Path Traversal (1000 requests)",
                    "Nginx Request Smuggling"
                ]),
                2
            )
        );
        assert_eq!(
            db.matches(severity(Severity::Low, Some(StateFilter::Open))),
            (sorted(&["SMTP Open Relay"]), 1)
        );
        assert_eq!(
            db.matches(severity(Severity::Info, Some(StateFilter::Open))),
            (vec![], 0)
        );
        assert_eq!(
            db.matches(severity(Severity::Info, Some(StateFilter::Resolved))),
            (sorted(&["TLS Certificate Expired"]), 1)
        );
    }

    #[test]
    fn text_search_covers_host_ip_asset_cve_and_title_in_any_case() {
        let (db, _) = three_imports();
        let finds = |text: &str, titles: &[&str]| {
            assert_eq!(
                db.matches(search(text)).0,
                sorted(titles),
                "searching {text:?}"
            );
        };
        finds(
            "WEB01",
            &[
                "OpenSSL 100% Overflow",
                "Apache Path Traversal (1000 requests)",
            ],
        );
        finds(
            "10.0.0.2",
            &[
                "PostgreSQL Privilege Escalation",
                r"SSH Weak Ciphers in C:\ssh",
            ],
        );
        finds("7f3a", &["Log4Shell"]);
        finds("cve-2024-0003", &["PostgreSQL Privilege Escalation"]);
        finds("request smuggling", &["Nginx Request Smuggling"]);
        finds("  log4shell  ", &["Log4Shell"]);
        finds("no such thing", &[]);
        // Blank text is no filter.
        finds(" ", &ALL_THREE_IMPORTS);
        let combined = FindingQuery {
            state: Some(StateFilter::Resolved),
            ..search("mail")
        };
        assert_eq!(
            db.matches(combined),
            (sorted(&["TLS Certificate Expired"]), 1)
        );
    }

    #[test]
    fn text_search_takes_wildcards_and_quotes_literally() {
        let (db, _) = three_imports();
        let finds = |text: &str, titles: &[&str]| {
            assert_eq!(
                db.matches(search(text)).0,
                sorted(titles),
                "searching {text:?}"
            );
        };
        // Unescaped, `%` and `_` would match Apache's "1000" and the host `mailx01`.
        finds("100%", &["OpenSSL 100% Overflow"]);
        finds("%", &["OpenSSL 100% Overflow"]);
        finds("mail_01", &["SMTP Open Relay"]);
        finds(r"c:\ssh", &[r"SSH Weak Ciphers in C:\ssh"]);
        finds("' OR 1=1 --", &[]);
    }

    #[test]
    fn pages_split_the_list_and_totals_count_every_match() {
        let (db, _) = three_imports();
        let all_by_severity = db.list(everything(FindingSort::Severity, true));
        for query in [
            FindingQuery::default(),
            state(StateFilter::Open),
            search("example"),
        ] {
            let all = db.list(FindingQuery {
                per_page: 500,
                ..query.clone()
            });
            let mut paged = Vec::new();
            for page in 1..=4 {
                let got = db.page(&FindingQuery {
                    page,
                    per_page: 3,
                    ..query.clone()
                });
                assert_eq!(
                    (got.total, got.page, got.per_page),
                    (all.len() as u64, page, 3)
                );
                assert_eq!(
                    got.items.len(),
                    all.len().saturating_sub(3 * (page - 1) as usize).min(3)
                );
                paged.extend(got.items);
            }
            assert_eq!(paged, all, "{query:?}");
        }
        assert_eq!(db.list(search("example")), all_by_severity);

        let far = db.page(&FindingQuery {
            page: 1_000_000,
            ..search("web")
        });
        assert_eq!((far.items.len(), far.total), (0, 3));
        let none = db.page(&search("nothing"));
        assert_eq!((none.items.len(), none.total, none.page), (0, 0, 1));
    }

    #[test]
    fn the_index_lists_what_the_findings_table_lists() {
        let (db, imports) = three_imports();
        db.import(
            &[EXCHANGE, SMTP, "ASSET-9,,,,1010,,info,,,,,"],
            "2024-04-01",
        );
        let mut conn = super::super::connect(db.store.path()).unwrap();
        let index = super::load_list_index(&mut conn).unwrap();
        let sorts = [
            FindingSort::Severity,
            FindingSort::Vpr,
            FindingSort::Cvss,
            FindingSort::Host,
            FindingSort::Cve,
            FindingSort::Title,
            FindingSort::FirstSeen,
            FindingSort::LastSeen,
            FindingSort::State,
        ];
        let states = [None, Some(StateFilter::Open), Some(StateFilter::Resolved)];
        let severities = [None, Some(Severity::Critical), Some(Severity::Info)];
        let texts = [
            None,
            Some("example"),
            Some("CVE-2024"),
            Some("  10.0.0.1 "),
            Some("%"),
        ];
        for sort in sorts {
            for descending in [false, true] {
                for (state, severity, text) in every_combination(&states, &severities, &texts) {
                    for (page, per_page) in [(1, 3), (2, 3), (3, 3), (4, 3), (1, 50)] {
                        let query = FindingQuery {
                            state,
                            severity,
                            text: text.map(String::from),
                            sort,
                            descending,
                            page,
                            per_page,
                            changed_by: None,
                        };
                        let offset = u64::from((page - 1) * per_page);
                        let (ids, total) = index
                            .page(&query, || Ok(None), offset, per_page.into())
                            .unwrap();
                        let table = super::list_findings(&mut conn, &query, |_| None).unwrap();
                        let table_ids: Vec<i64> = table.items.iter().map(|f| f.id).collect();
                        assert_eq!((ids, total), (table_ids, table.total), "{query:?}");
                    }
                }
                for (import, change) in imports.iter().flat_map(|&import| {
                    [Change::Added, Change::Resolved, Change::Reopened].map(|c| (import, c))
                }) {
                    let query = FindingQuery {
                        sort,
                        descending,
                        changed_by: Some((import, change)),
                        ..FindingQuery::default()
                    };
                    let changed = super::changed_findings(&conn, import, change).unwrap();
                    let (ids, total) = index.page(&query, || Ok(Some(changed)), 0, 50).unwrap();
                    let table = super::list_findings(&mut conn, &query, |_| None).unwrap();
                    let table_ids: Vec<i64> = table.items.iter().map(|f| f.id).collect();
                    assert_eq!((ids, total), (table_ids, table.total), "{query:?}");
                }
            }
        }
    }

    /// Every combination of one value from each of three lists.
    fn every_combination<A: Copy, B: Copy, C: Copy>(a: &[A], b: &[B], c: &[C]) -> Vec<(A, B, C)> {
        let mut all = Vec::new();
        for &x in a {
            for &y in b {
                for &z in c {
                    all.push((x, y, z));
                }
            }
        }
        all
    }

    #[test]
    fn a_read_nobody_waits_for_stops() {
        let (db, _) = three_imports();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let search = FindingQuery {
            text: Some("example".into()),
            ..FindingQuery::default()
        };
        let stopped = db.store.list_findings(&search, &cancel);
        assert!(matches!(stopped, Err(StoreError::Cancelled)), "{stopped:?}");
        // The connection goes back to the pool without the cancel.
        for _ in 0..8 {
            assert_eq!(db.list(search.clone()).len(), 8);
        }
    }

    #[test]
    fn page_and_page_size_are_clamped() {
        let (db, _) = three_imports();
        let clamped = |page, per_page| {
            let got = db.page(&FindingQuery {
                page,
                per_page,
                ..FindingQuery::default()
            });
            (got.page, got.per_page, got.items.len(), got.total)
        };
        assert_eq!(clamped(0, 0), (1, 1, 1, 8));
        assert_eq!(clamped(1, 10_000), (1, 500, 8, 8));
        assert_eq!(clamped(2, 5), (2, 5, 3, 8));
    }

    #[test]
    fn changed_by_lists_what_each_import_added_resolved_and_reopened() {
        let (db, [first, second, third]) = three_imports();
        let changed = |import_id, change| db.matches(changed_by(import_id, change));
        let originals = &ALL_THREE_IMPORTS[..7];
        assert_eq!(changed(first, Change::Added), (sorted(originals), 7));
        assert_eq!(changed(first, Change::Resolved), (vec![], 0));
        assert_eq!(changed(second, Change::Added), (vec![], 0));
        assert_eq!(
            changed(second, Change::Resolved),
            (sorted(&["SMTP Open Relay", "TLS Certificate Expired"]), 2)
        );
        assert_eq!(changed(second, Change::Reopened), (vec![], 0));
        assert_eq!(
            changed(third, Change::Added),
            (sorted(&["Nginx Request Smuggling"]), 1)
        );
        assert_eq!(
            changed(third, Change::Reopened),
            (sorted(&["SMTP Open Relay"]), 1)
        );
        assert_eq!(changed(third, Change::Resolved), (vec![], 0));
        assert_eq!(changed(third + 1, Change::Added), (vec![], 0));
        // Filters narrow what an import changed: of the two it resolved, one is still resolved.
        let still_resolved = FindingQuery {
            state: Some(StateFilter::Resolved),
            ..changed_by(second, Change::Resolved)
        };
        assert_eq!(
            db.matches(still_resolved),
            (sorted(&["TLS Certificate Expired"]), 1)
        );
    }

    #[test]
    fn stats_count_open_findings_by_severity_and_all_by_state() {
        let db = Db::new();
        assert_eq!(db.store.finding_stats().unwrap(), FindingStats::default());
        let (db, _) = three_imports();
        assert_eq!(
            db.store.finding_stats().unwrap(),
            FindingStats {
                open_by_severity: SeverityCounts {
                    critical: 3,
                    high: 2,
                    medium: 1,
                    low: 1,
                    info: 0,
                },
                active: 6,
                resolved: 1,
                reopened: 1,
                total: 8,
            }
        );
    }

    #[test]
    fn import_history_is_newest_first_with_counts_timings_and_outcome() {
        let (db, [first, second, third]) = three_imports();
        let failed = db.import_file("name,value\nx,1\n", "2024-04-01");
        assert_eq!(failed.outcome, Outcome::Failed);

        let page_one = db.store.list_imports(1, 2).unwrap();
        let page_two = db.store.list_imports(2, 2).unwrap();
        assert_eq!(
            (page_one.total, page_one.page, page_one.per_page),
            (4, 1, 2)
        );
        assert_eq!(page_two.total, 4);
        let history: Vec<_> = page_one.items.iter().chain(&page_two.items).collect();
        let ids: Vec<i64> = history.iter().map(|import| import.id).collect();
        assert_eq!(ids, [third + 1, third, second, first]);

        for import in &history {
            let recorded = db
                .store
                .import_by_session(import.session_id)
                .unwrap()
                .unwrap();
            assert_eq!(**import, recorded);
            assert!(import.finished_at.is_some());
        }
        assert_eq!(history[0].session_id, failed.session_id);
        assert_eq!(history[0].outcome, Outcome::Failed);
        assert!(history[0].error.is_some());
        let completed = &history[1..];
        assert!(
            completed
                .iter()
                .all(|import| import.outcome == Outcome::Completed)
        );
        let counts: Vec<_> = completed
            .iter()
            .map(|import| {
                let c = import.counts;
                (c.records, c.new, c.updated, c.reopened, c.resolved)
            })
            .collect();
        assert_eq!(counts, [(7, 1, 5, 1, 0), (5, 0, 5, 0, 2), (7, 7, 0, 0, 0)]);
        assert_eq!(
            completed
                .iter()
                .map(|import| import.scan_date.to_string())
                .collect::<Vec<_>>(),
            ["2024-03-01", "2024-02-01", "2024-01-01"]
        );

        let past_end = db.store.list_imports(3, 2).unwrap();
        assert_eq!((past_end.items.len(), past_end.total), (0, 4));
        assert_eq!(db.store.list_imports(0, 0).unwrap().items.len(), 1);
    }
}
