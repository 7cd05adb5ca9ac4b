//! An import's report, for any import in the history: HTML (one self-contained, printable
//! page) or CSV (one row per change).
//!
//! The HTML page holds the import's summary, its impact per severity (new, reopened and resolved
//! findings), its most serious new findings, every change it made, and the rows it rejected
//! and the values it dropped, with their lines. Changes are read from the store as they are
//! written, so a report of 100,000 changes never holds them in memory. A finding is shown as it
//! stands now (a later import may have changed its state or scores); what the import did to it is
//! what the report lists it under.

use std::fmt::Write as _;
use std::io::{self, Write};

use html_escape::encode_text;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{Column, ExportError, csv_writer, each_finding, io_error};
use crate::domain::Outcome;
use crate::domain::RowProblem;
use crate::domain::Severity;
use crate::progress::grouped;
use crate::store::{Change, FindingQuery, FindingSort, FindingView, ImportRecord, Store};

/// The report's file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Html,
    Csv,
}

impl ReportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The changes in the order the report lists them (headings: [`change_heading`]).
const CHANGES: [Change; 3] = [Change::Added, Change::Reopened, Change::Resolved];
/// How many of the most serious new findings the report names, per severity.
const TOP_NEW: u32 = 10;

/// Writes the report of `record`'s import in `format` to `out`.
pub fn write_report(
    store: &dyn Store,
    record: &ImportRecord,
    format: ReportFormat,
    cancel: &CancellationToken,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    match format {
        ReportFormat::Html => write_html(store, record, cancel, out),
        ReportFormat::Csv => write_csv(store, record, cancel, out),
    }
}

/// The findings an import changed in one way, most serious first.
fn changed(record: &ImportRecord, change: Change) -> FindingQuery {
    FindingQuery {
        changed_by: Some((record.id, change)),
        sort: FindingSort::Severity,
        descending: true,
        ..FindingQuery::default()
    }
}

/// Every change, in the report's order, handed to `each` with what it was.
fn each_change(
    store: &dyn Store,
    record: &ImportRecord,
    cancel: &CancellationToken,
    mut each: impl FnMut(Change, &FindingView) -> io::Result<()>,
) -> Result<(), ExportError> {
    for change in CHANGES {
        each_finding(store, &changed(record, change), cancel, |finding| {
            each(change, finding)
        })?;
    }
    Ok(())
}

/// The columns of a report's CSV, after the change.
const CSV_COLUMNS: [Column; 14] = [
    Column::Host,
    Column::Hostname,
    Column::Ip,
    Column::Cve,
    Column::PluginId,
    Column::Title,
    Column::Severity,
    Column::Vpr,
    Column::Cvss,
    Column::Port,
    Column::State,
    Column::FirstSeen,
    Column::LastSeen,
    Column::ResolvedDate,
];

fn write_csv(
    store: &dyn Store,
    record: &ImportRecord,
    cancel: &CancellationToken,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let mut csv = csv_writer(out);
    let header = std::iter::once("change").chain(CSV_COLUMNS.map(Column::name));
    csv.write_record(header).map_err(io_error)?;
    each_change(store, record, cancel, |change, finding| {
        let change = change_id(change).to_owned();
        let cells = CSV_COLUMNS.map(|column| column.cell(finding));
        csv.write_record(std::iter::once(change).chain(cells))
            .map_err(io_error)
    })?;
    csv.flush()?;
    Ok(())
}

fn write_html(
    store: &dyn Store,
    record: &ImportRecord,
    cancel: &CancellationToken,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let mut page = String::new();
    head(&mut page, record);
    summary(&mut page, record);
    if record.outcome == Outcome::Completed {
        impact(&mut page, store, record, cancel)?;
        top_new(&mut page, store, record, cancel)?;
    } else {
        page.push_str(
            "<section><h2>Changes</h2><p>Nothing was applied: an import changes the findings only \
             when it completes.</p></section>\n",
        );
    }
    out.write_all(page.as_bytes())?;
    out.flush()?;

    if record.outcome == Outcome::Completed {
        write!(
            out,
            "<section><h2>Every change</h2>\n<p class=\"note\">Each finding as it stands now; a \
             later import may have changed its state or scores.</p>\n"
        )?;
        let mut current = None;
        each_change(store, record, cancel, |change, finding| {
            if current != Some(change) {
                if current.is_some() {
                    out.write_all(b"</tbody></table>\n")?;
                }
                current = Some(change);
                let (heading, count) = change_heading(record, change);
                write!(
                    out,
                    "<h3 id=\"{id}\">{heading} ({count})</h3>\n<table class=\"changes\">\
                     <thead><tr><th>Severity</th><th>Host</th><th>CVE</th><th>Title</th>\
                     <th class=\"num\">VPR</th><th class=\"num\">CVSS</th><th>State</th>\
                     <th>First seen</th><th>Last seen</th></tr></thead><tbody>\n",
                    id = change_id(change),
                    count = grouped(count),
                )?;
            }
            out.write_all(finding_row(finding).as_bytes())
        })?;
        if current.is_some() {
            out.write_all(b"</tbody></table>\n")?;
        } else {
            out.write_all(b"<p>This import changed no finding's state.</p>\n")?;
        }
        out.write_all(b"</section>\n")?;
    }

    let mut page = String::new();
    problems(
        &mut page,
        "Rejected rows",
        "rejected",
        &record.problems.rejected_rows,
        record.counts.rejected,
    );
    problems(
        &mut page,
        "Warnings",
        "warnings",
        &record.problems.warnings,
        record.counts.warnings,
    );
    let _ = write!(
        page,
        "<footer>Report of import {session} written by vulnimport on {now}.</footer>\n\
         </body>\n</html>\n",
        session = record.session_id,
        now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    out.write_all(page.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// What the report lists an import's changes under, and how many the record counts.
fn change_heading(record: &ImportRecord, change: Change) -> (&'static str, u64) {
    let counts = &record.counts;
    match change {
        Change::Added => ("New", counts.new),
        Change::Reopened => ("Reopened", counts.reopened),
        Change::Resolved => ("Resolved", counts.resolved),
    }
}

fn change_id(change: Change) -> &'static str {
    match change {
        Change::Added => "new",
        Change::Reopened => "reopened",
        Change::Resolved => "resolved",
    }
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #212529;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #dee2e6; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
.subtitle, .note, footer { color: #5c636a; }
dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .5rem 1.5rem; }
dt { font-size: .8rem; color: #5c636a; }
dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #dee2e6; vertical-align: top; }
th { background: #f8f9fa; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.sev { font-weight: 600; }
.critical { color: #a4161a; } .high { color: #b35c00; } .medium { color: #8a6d00; }
.low { color: #146c43; } .info { color: #495057; }
.error { color: #a4161a; font-weight: 600; }
footer { margin-top: 2rem; font-size: .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
";

fn head(page: &mut String, record: &ImportRecord) {
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Import report: {file} (scan {scan})</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<header><h1>Import report: {file}</h1>\n\
         <p class=\"subtitle\">Scan of {scan} · {scope} scope · started by {by}</p></header>\n",
        file = encode_text(&record.file_name),
        scan = record.scan_date,
        scope = record.scope.as_str(),
        by = encode_text(&record.started_by),
    );
}

fn summary(page: &mut String, record: &ImportRecord) {
    let counts = &record.counts;
    let mut items: Vec<(&str, String)> = vec![
        ("Outcome", outcome_label(record.outcome).to_owned()),
        ("Started", timestamp(&record.started_at)),
        (
            "Finished",
            record.finished_at.as_deref().map_or("–".into(), timestamp),
        ),
        ("Duration", record.duration_ms.map_or("–".into(), duration)),
        ("File size", bytes(record.file_size)),
        (
            "Format",
            record.format.clone().unwrap_or_else(|| "–".into()),
        ),
        ("Rows", grouped(counts.rows)),
        ("Records", grouped(counts.records)),
        ("New", grouped(counts.new)),
        ("Updated", grouped(counts.updated)),
        ("Reopened", grouped(counts.reopened)),
        ("Resolved", grouped(counts.resolved)),
        ("Rejected rows", grouped(counts.rejected)),
        ("Duplicates", grouped(counts.duplicates)),
        ("Warnings", grouped(counts.warnings)),
    ];
    if let Some(by) = &record.cancelled_by {
        items.push(("Cancelled by", by.clone()));
    }
    page.push_str("<section><h2>Summary</h2>\n<dl>");
    for (label, value) in items {
        let _ = write!(
            page,
            "<div><dt>{label}</dt><dd>{}</dd></div>",
            encode_text(&value)
        );
    }
    page.push_str("</dl>\n");
    if let Some(error) = &record.error {
        let _ = writeln!(page, "<p class=\"error\">{}</p>", encode_text(error));
    }
    if record.backfill {
        page.push_str(
            "<p class=\"note\">A backfill: its scan is older than the newest one imported, so it \
             added history without resolving or updating the newer findings.</p>\n",
        );
    }
    if counts.records != counts.rows {
        let _ = writeln!(
            page,
            "<p class=\"note\">The {} rows read make {} records: a row listing several CVEs \
             becomes one record per CVE, and the counts are of records.</p>",
            grouped(counts.rows),
            grouped(counts.records)
        );
    }
    page.push_str("</section>\n");
}

/// New, reopened and resolved findings per severity, counted by the store.
fn impact(
    page: &mut String,
    store: &dyn Store,
    record: &ImportRecord,
    cancel: &CancellationToken,
) -> Result<(), ExportError> {
    page.push_str(
        "<section><h2>Impact by severity</h2>\n<table class=\"impact\"><thead><tr>\
         <th>Severity</th><th class=\"num\">New</th><th class=\"num\">Reopened</th>\
         <th class=\"num\">Resolved</th></tr></thead><tbody>\n",
    );
    let mut totals = [0; 3];
    for severity in Severity::MOST_SERIOUS_FIRST {
        let _ = write!(
            page,
            "<tr><td class=\"sev {name}\">{label}</td>",
            name = severity.as_str(),
            label = capitalised(severity.as_str())
        );
        for (index, change) in CHANGES.into_iter().enumerate() {
            let query = FindingQuery {
                severity: Some(severity),
                per_page: 1,
                ..changed(record, change)
            };
            let count = store.list_findings(&query, cancel)?.total;
            totals[index] += count;
            let _ = write!(page, "<td class=\"num\">{}</td>", grouped(count));
        }
        page.push_str("</tr>\n");
    }
    let _ = write!(
        page,
        "</tbody><tfoot><tr><th>All</th><th class=\"num\">{}</th><th class=\"num\">{}</th>\
         <th class=\"num\">{}</th></tr></tfoot></table>\n</section>\n",
        grouped(totals[0]),
        grouped(totals[1]),
        grouped(totals[2])
    );
    Ok(())
}

/// The most serious findings the import added: critical and high, by VPR.
fn top_new(
    page: &mut String,
    store: &dyn Store,
    record: &ImportRecord,
    cancel: &CancellationToken,
) -> Result<(), ExportError> {
    let mut findings = Vec::new();
    for severity in [Severity::Critical, Severity::High] {
        let query = FindingQuery {
            severity: Some(severity),
            per_page: TOP_NEW,
            ..changed(record, Change::Added)
        };
        findings.extend(store.list_findings(&query, cancel)?.items);
    }
    page.push_str("<section><h2>Top new critical and high findings</h2>\n");
    if findings.is_empty() {
        page.push_str("<p>This import added no critical or high finding.</p>\n</section>\n");
        return Ok(());
    }
    let _ = write!(
        page,
        "<p class=\"note\">Up to {TOP_NEW} of each, highest VPR first.</p>\n\
         <table class=\"top\"><thead><tr><th>Severity</th><th>Host</th><th>CVE</th><th>Title</th>\
         <th class=\"num\">VPR</th><th class=\"num\">CVSS</th><th>State</th><th>First seen</th>\
         <th>Last seen</th></tr></thead><tbody>\n"
    );
    for finding in &findings {
        page.push_str(&finding_row(finding));
    }
    page.push_str("</tbody></table>\n</section>\n");
    Ok(())
}

fn finding_row(finding: &FindingView) -> String {
    let text = |value: &Option<String>| encode_text(value.as_deref().unwrap_or("–")).into_owned();
    let score = |value: Option<f64>| value.map_or("–".into(), |n| format!("{n:.1}"));
    let host = match (&finding.hostname, &finding.ip) {
        (Some(name), Some(ip)) if name != ip => format!("{} ({})", encode_text(name), ip),
        _ => encode_text(&finding.host).into_owned(),
    };
    format!(
        "<tr><td class=\"sev {severity}\">{label}</td><td>{host}</td><td>{cve}</td>\
         <td>{title}</td><td class=\"num\">{vpr}</td><td class=\"num\">{cvss}</td>\
         <td>{state}</td><td>{first}</td><td>{last}</td></tr>\n",
        severity = finding.severity.as_str(),
        label = capitalised(finding.severity.as_str()),
        cve = finding.cve.as_deref().map_or_else(
            || text(&finding.plugin_id.as_ref().map(|id| format!("Plugin {id}"))),
            |cve| encode_text(cve).into_owned()
        ),
        title = text(&finding.title),
        vpr = score(finding.vpr),
        cvss = score(finding.cvss),
        state = encode_text(&finding.state),
        first = finding.first_seen,
        last = finding.last_seen,
    )
}

/// Rejected rows or warnings with their lines: the record keeps the first 100 of each.
fn problems(page: &mut String, heading: &str, id: &str, listed: &[RowProblem], count: u64) {
    let _ = writeln!(page, "<section><h2 id=\"{id}\">{heading}</h2>");
    if listed.is_empty() {
        let _ = writeln!(page, "<p>None.</p>");
    } else {
        if count > listed.len() as u64 {
            let _ = writeln!(
                page,
                "<p class=\"note\">The first {} of {}.</p>",
                grouped(listed.len() as u64),
                grouped(count)
            );
        }
        page.push_str(
            "<table><thead><tr><th class=\"num\">Line</th><th>Reason</th></tr></thead><tbody>\n",
        );
        for problem in listed {
            let _ = writeln!(
                page,
                "<tr><td class=\"num\">{}</td><td>{}</td></tr>",
                problem.line,
                encode_text(&problem.reason)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Queued => "Queued",
        Outcome::Running => "Running",
        Outcome::Completed => "Completed",
        Outcome::Failed => "Failed",
        Outcome::Cancelled => "Cancelled",
        Outcome::Interrupted => "Interrupted",
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A stored RFC 3339 time as `2026-01-05 14:03:07 UTC`.
fn timestamp(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_owned(),
        |time| {
            time.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        },
    )
}

/// Milliseconds as people read them: `840 ms`, `4.2 s`, `3 min 5 s`.
fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

fn bytes(size: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = size as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{size} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(duration(840), "840 ms");
        assert_eq!(duration(4_240), "4.2 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(capitalised("critical"), "Critical");
    }
}
