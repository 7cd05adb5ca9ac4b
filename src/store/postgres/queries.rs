//! The read side on PostgreSQL: pages of findings, dashboard counts, the import history and the
//! trends, with the SQLite backend's results and orders.
//!
//! - A page and its total, and the import history's page and total, run in one repeatable-read
//!   snapshot, so they agree even while an import commits.
//! - A list is answered from the lists' index in memory when it is as new as the snapshot
//!   (see `store::list_index`); the statements here answer it from the findings table until it
//!   is, and always for an import's change lists.
//! - Lists filtered by state and severity only take their totals from `finding_counts`.
//! - Missing values sort as SQLite's do: after the others where the order says so, otherwise
//!   below every value (PostgreSQL's own default puts them above).
//! - An export reads through a portal, a batch of rows at a time, so memory stays flat; the
//!   lists' index loads with a binary `COPY`.
//! - SQL text is assembled from fixed fragments chosen by the query's enums; every value, the
//!   search text included, is a bound parameter.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use postgres::binary_copy::BinaryCopyOutIter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, Row, Transaction};
use tokio_util::sync::CancellationToken;

use super::{IMPORT_COLUMNS, import_record};
use crate::domain::Severity;
use crate::store::list_index::{
    Changed, DATA_VERSION_SQL, DataVersion, ListIndex, ListedFinding, Loading, in_listed_order,
};
use crate::store::{
    Change, FindingQuery, FindingSort, FindingStats, FindingView, ImportRecord, Page,
    SeverityCounts, StateFilter, StoreError, TrendPoint,
};

const MAX_PER_PAGE: u32 = 500;
/// Rows an export fetches from its portal at a time.
const EXPORT_BATCH: i32 = 1_000;
/// The types of the columns the lists' index loads, in their order.
const LOADED_TYPES: [Type; 12] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::DATE,
    Type::DATE,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
];

/// Severity as a number that orders by seriousness: info 0 … critical 4.
const SEVERITY_RANK: &str = "CASE f.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
    WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END";

const FINDING_COLUMNS: &str = "f.id, f.host, f.hostname, f.ip, f.asset_id, f.cve, f.plugin_id,
    d.title, d.family, f.severity, f.vpr, f.cvss, f.port, f.protocol, f.os, f.state,
    f.first_seen, f.last_seen, f.resolved_date";

/// A page of findings: from the lists' index when `index` has one at the snapshot's version,
/// otherwise from the findings table.
pub(super) fn list_findings(
    conn: &mut Client,
    query: &FindingQuery,
    index: impl FnOnce(DataVersion) -> Option<Arc<ListIndex>>,
) -> Result<Page<FindingView>, StoreError> {
    let (page, per_page) = clamp_page(query.page, query.per_page);
    let filter = Filter::new(query);
    let offset = i64::from(page - 1) * i64::from(per_page);
    let mut tx = snapshot(conn)?;
    if let Some(index) = index(data_version(&mut tx)?) {
        let changed = || {
            (query.changed_by)
                .map(|(import, change)| changed_findings(&mut tx, import, change))
                .transpose()
        };
        let (ids, total) = index.page(query, changed, offset as u64, per_page.into())?;
        let items = findings_by_id(&mut tx, &ids)?;
        tx.commit()?;
        return Ok(Page {
            items,
            total,
            page,
            per_page,
        });
    }
    let total: i64 = if filter.counted {
        tx.query_one(
            &format!(
                "SELECT coalesce(sum(findings), 0)::bigint FROM finding_counts AS f {}",
                filter.where_clause()
            ),
            &filter.params(),
        )?
        .get(0)
    } else {
        tx.query_one(
            &format!("SELECT count(*) FROM findings f {}", filter.where_clause()),
            &filter.params(),
        )?
        .get(0)
    };
    let items = if offset >= total {
        Vec::new()
    } else {
        let (limit, skip) = (filter.next(), filter.next() + 1);
        let sql = format!(
            "{} LIMIT ${limit} OFFSET ${skip}",
            listed_sql(query, &filter)
        );
        let mut params = filter.params();
        let per_page = i64::from(per_page);
        params.push(&per_page);
        params.push(&offset);
        tx.query(&sql, &params)?
            .iter()
            .map(finding_view)
            .collect::<Result<_, _>>()?
    };
    tx.commit()?;
    Ok(Page {
        items,
        total: total as u64,
        page,
        per_page,
    })
}

/// The committed state a snapshot sees (see [`DataVersion`]).
fn data_version(tx: &mut Transaction<'_>) -> Result<DataVersion, StoreError> {
    let row = tx.query_one(DATA_VERSION_SQL, &[])?;
    Ok(DataVersion {
        completed: row.try_get(0)?,
        newest: row.try_get(1)?,
    })
}

/// The findings an import changed in one way.
fn changed_findings(
    tx: &mut Transaction<'_>,
    import: i64,
    change: Change,
) -> Result<Changed, StoreError> {
    let change = match change {
        Change::Added => {
            let range = tx.query_opt(
                "SELECT added_from_id, added_to_id FROM imports WHERE id = $1",
                &[&import],
            )?;
            let range = match range {
                Some(row) => row.try_get::<_, Option<i64>>(0)?.zip(row.try_get(1)?),
                None => None,
            };
            return Ok(Changed::Range(range));
        }
        Change::Resolved => "resolved",
        Change::Reopened => "reopened",
    };
    let ids = tx
        .query(
            "SELECT finding_id FROM import_changes WHERE import_id = $1 AND change = $2",
            &[&import, &change],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(Changed::Ids(ids))
}

/// The findings with these ids, in this order.
fn findings_by_id(tx: &mut Transaction<'_>, ids: &[i64]) -> Result<Vec<FindingView>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        &format!(
            "SELECT {FINDING_COLUMNS} FROM findings f
             LEFT JOIN definitions d ON d.hash = f.definition
             WHERE f.id = ANY($1)"
        ),
        &[&ids],
    )?;
    let found = rows.iter().map(finding_view).collect::<Result<_, _>>()?;
    in_listed_order(ids, found)
}

/// The lists' index of the database's committed state, read in one snapshot.
pub(super) fn load_list_index(conn: &mut Client) -> Result<ListIndex, StoreError> {
    let mut tx = snapshot(conn)?;
    let mut loading = Loading::new(data_version(&mut tx)?);
    for row in tx.query("SELECT hash, title FROM definitions", &[])? {
        loading.definition(row.try_get(0)?, row.try_get(1)?);
    }
    // Binary COPY streams the rows without a round trip per batch and decodes cheaply.
    let reader = tx.copy_out(
        "COPY (SELECT id, severity, state, vpr, cvss, first_seen, last_seen, hostname, ip,
                      asset_id, cve, definition
               FROM findings ORDER BY id)
         TO STDOUT (FORMAT binary)",
    )?;
    let mut rows = BinaryCopyOutIter::new(reader, &LOADED_TYPES);
    // Dates come as dates (formatting them in the statement costs more than the rest of it),
    // and are written as text once per distinct day.
    let mut days: HashMap<NaiveDate, Box<str>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let (first_seen, last_seen): (NaiveDate, NaiveDate) = (row.try_get(5)?, row.try_get(6)?);
        for day in [first_seen, last_seen] {
            days.entry(day)
                .or_insert_with(|| day.format("%Y-%m-%d").to_string().into());
        }
        loading.finding(ListedFinding {
            id: row.try_get(0)?,
            severity: row.try_get(1)?,
            state: row.try_get(2)?,
            vpr: row.try_get(3)?,
            cvss: row.try_get(4)?,
            first_seen: &days[&first_seen],
            last_seen: &days[&last_seen],
            hostname: row.try_get(7)?,
            ip: row.try_get(8)?,
            asset_id: row.try_get(9)?,
            cve: row.try_get(10)?,
            definition: row.try_get(11)?,
        })?;
    }
    drop(rows);
    tx.commit()?;
    Ok(loading.finish())
}

/// Every finding that passes the query's filters, in its order, from one snapshot: handed to
/// `each` one at a time, until it answers `false`. Returns how many it was handed.
pub(super) fn export_findings(
    conn: &mut Client,
    query: &FindingQuery,
    cancel: &CancellationToken,
    each: &mut dyn FnMut(FindingView) -> bool,
) -> Result<u64, StoreError> {
    let filter = Filter::new(query);
    let mut tx = snapshot(conn)?;
    let portal = tx.bind(&listed_sql(query, &filter), &filter.params())?;
    let mut handed = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        let rows = tx.query_portal(&portal, EXPORT_BATCH)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            handed += 1;
            if !each(finding_view(row)?) {
                return Ok(handed);
            }
        }
    }
    tx.commit()?;
    Ok(handed)
}

/// The findings a query lists, with their definitions, in its order.
fn listed_sql(query: &FindingQuery, filter: &Filter) -> String {
    format!(
        "SELECT {FINDING_COLUMNS} FROM findings f
         LEFT JOIN definitions d ON d.hash = f.definition
         {where_clause}
         ORDER BY {order}",
        where_clause = filter.where_clause(),
        order = order_by(sort_keys(query.sort), query.descending),
    )
}

pub(super) fn finding_stats(conn: &mut Client) -> Result<FindingStats, StoreError> {
    let row = conn.query_one(
        "SELECT coalesce(sum(findings) FILTER (WHERE severity = 'critical' AND state <> 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE severity = 'high' AND state <> 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE severity = 'medium' AND state <> 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE severity = 'low' AND state <> 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE severity = 'info' AND state <> 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE state = 'active'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE state = 'resolved'), 0)::bigint,
                coalesce(sum(findings) FILTER (WHERE state = 'reopened'), 0)::bigint,
                coalesce(sum(findings), 0)::bigint
         FROM finding_counts",
        &[],
    )?;
    let count = |i| row.get::<_, i64>(i) as u64;
    Ok(FindingStats {
        open_by_severity: SeverityCounts {
            critical: count(0),
            high: count(1),
            medium: count(2),
            low: count(3),
            info: count(4),
        },
        active: count(5),
        resolved: count(6),
        reopened: count(7),
        total: count(8),
    })
}

pub(super) fn list_imports(
    conn: &mut Client,
    page: u32,
    per_page: u32,
) -> Result<Page<ImportRecord>, StoreError> {
    let (page, per_page) = clamp_page(page, per_page);
    let mut tx = snapshot(conn)?;
    let total: i64 = tx.query_one("SELECT count(*) FROM imports", &[])?.get(0);
    let items = tx
        .query(
            &format!("SELECT {IMPORT_COLUMNS} FROM imports ORDER BY id DESC LIMIT $1 OFFSET $2"),
            &[
                &i64::from(per_page),
                &(i64::from(page - 1) * i64::from(per_page)),
            ],
        )?
        .iter()
        .map(import_record)
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(Page {
        items,
        total: total as u64,
        page,
        per_page,
    })
}

pub(super) fn import_trends(conn: &mut Client, limit: u32) -> Result<Vec<TrendPoint>, StoreError> {
    let rows = conn.query(
        "SELECT * FROM (
             SELECT i.id, i.session_id, i.file_name, i.scan_date, i.backfill, t.critical, t.high,
                    t.medium, t.low, t.info, i.new, i.resolved, i.reopened
             FROM import_trends t JOIN imports i ON i.id = t.import_id
             ORDER BY t.import_id DESC LIMIT $1) AS newest
         ORDER BY id",
        &[&i64::from(limit)],
    )?;
    rows.iter().map(trend_point).collect()
}

fn trend_point(row: &Row) -> Result<TrendPoint, StoreError> {
    let id: i64 = row.try_get(0)?;
    let count = |index: usize| row.try_get::<_, i64>(index).map(|count| count as u64);
    Ok(TrendPoint {
        session_id: row
            .try_get::<_, String>(1)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("import {id}: session id")))?,
        file_name: row.try_get(2)?,
        scan_date: row.try_get(3)?,
        backfill: row.try_get(4)?,
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

/// A read-only transaction whose statements all see the same committed state.
fn snapshot(conn: &mut Client) -> Result<Transaction<'_>, StoreError> {
    Ok(conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

/// The conditions of a findings query, with the values they bind as `$1`, `$2`, ….
struct Filter {
    conditions: Vec<String>,
    values: Vec<Box<dyn ToSql + Sync>>,
    /// Whether it keeps findings by state and severity only, which `finding_counts` counts.
    counted: bool,
}

impl Filter {
    fn new(query: &FindingQuery) -> Self {
        let mut filter = Filter {
            conditions: Vec::new(),
            values: Vec::new(),
            counted: true,
        };
        let state = match query.state {
            None => None,
            Some(StateFilter::Open) => {
                filter
                    .conditions
                    .push("f.state IN ('active', 'reopened')".into());
                None
            }
            Some(StateFilter::Active) => Some("active"),
            Some(StateFilter::Resolved) => Some("resolved"),
            Some(StateFilter::Reopened) => Some("reopened"),
        };
        if let Some(state) = state {
            let n = filter.bind(state.to_owned());
            filter.conditions.push(format!("f.state = ${n}"));
        }
        if let Some(severity) = query.severity {
            let n = filter.bind(severity.as_str().to_owned());
            filter.conditions.push(format!("f.severity = ${n}"));
        }
        if let Some(text) = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let n = filter.bind(contains_pattern(text));
            filter.counted = false;
            filter.conditions.push(format!(
                "(f.hostname ILIKE ${n} OR f.ip ILIKE ${n} OR f.asset_id ILIKE ${n}
                  OR f.cve ILIKE ${n}
                  OR f.definition IN (SELECT hash FROM definitions WHERE title ILIKE ${n}))"
            ));
        }
        if let Some((import_id, change)) = query.changed_by {
            filter.counted = false;
            let n = filter.bind(import_id);
            let condition = match change {
                // The findings an import added are the id range recorded on it.
                Change::Added => format!(
                    "f.id BETWEEN (SELECT added_from_id FROM imports WHERE id = ${n})
                     AND (SELECT added_to_id FROM imports WHERE id = ${n})"
                ),
                Change::Resolved | Change::Reopened => {
                    let change = if change == Change::Resolved {
                        "resolved"
                    } else {
                        "reopened"
                    };
                    let c = filter.bind(change.to_owned());
                    format!(
                        "f.id IN (SELECT finding_id FROM import_changes
                                  WHERE import_id = ${n} AND change = ${c})"
                    )
                }
            };
            filter.conditions.push(condition);
        }
        filter
    }

    /// Adds a value to bind; returns its parameter number.
    fn bind(&mut self, value: impl ToSql + Sync + 'static) -> usize {
        self.values.push(Box::new(value));
        self.values.len()
    }

    /// The number of the first parameter after the filter's.
    fn next(&self) -> usize {
        self.values.len() + 1
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values.iter().map(|value| &**value).collect()
    }
}

/// An `ILIKE` pattern (backslash escapes) matching any text that contains `text` literally.
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

/// An ORDER BY list over the keys, then the id.
fn order_by(keys: &[SortKey], descending: bool) -> String {
    let direction = if descending { "DESC" } else { "ASC" };
    keys.iter()
        .map(|key| {
            let nulls = match (key.missing_last, descending) {
                (true, _) | (false, true) => "NULLS LAST",
                (false, false) => "NULLS FIRST",
            };
            format!("{} {direction} {nulls}, ", key.expression)
        })
        .chain([format!("f.id {direction}")])
        .collect()
}

/// What a sort orders by, most significant first; the finding id breaks the remaining ties.
/// Missing values come last in either direction, except a missing VPR within a severity, which
/// ranks lowest.
fn sort_keys(sort: FindingSort) -> &'static [SortKey] {
    match sort {
        FindingSort::Severity => {
            const {
                &[
                    lowest_first(SEVERITY_RANK),
                    lowest_first("f.vpr"),
                    lowest_first("f.state"),
                ]
            }
        }
        FindingSort::Vpr => const { &[key("f.vpr")] },
        FindingSort::Cvss => const { &[key("f.cvss")] },
        // The name people see: hostname, else IP, else asset id.
        FindingSort::Host => const { &[key("coalesce(f.hostname, f.ip, f.asset_id)")] },
        FindingSort::Cve => const { &[key("f.cve")] },
        FindingSort::Title => const { &[key("d.title")] },
        FindingSort::FirstSeen => const { &[key("f.first_seen")] },
        FindingSort::LastSeen => const { &[key("f.last_seen")] },
        FindingSort::State => const { &[lowest_first("f.state")] },
    }
}

fn finding_view(row: &Row) -> Result<FindingView, StoreError> {
    let id: i64 = row.try_get(0)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("finding {id}: {what}"));
    let severity: String = row.try_get(9)?;
    let port: Option<i32> = row.try_get(12)?;
    Ok(FindingView {
        id,
        host: row.try_get(1)?,
        hostname: row.try_get(2)?,
        ip: row.try_get(3)?,
        asset_id: row.try_get(4)?,
        cve: row.try_get(5)?,
        plugin_id: row.try_get(6)?,
        title: row.try_get(7)?,
        family: row.try_get(8)?,
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("severity"))?,
        vpr: row.try_get(10)?,
        cvss: row.try_get(11)?,
        port: port
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("port"))?,
        protocol: row.try_get(13)?,
        os: row.try_get(14)?,
        state: row.try_get(15)?,
        first_seen: row.try_get(16)?,
        last_seen: row.try_get(17)?,
        resolved_date: row.try_get(18)?,
    })
}
