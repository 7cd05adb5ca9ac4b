//! Findings written out for other tools: the findings export (CSV or JSON, from the API and
//! `vulnimport export`) and each import's report ([`report`]).
//!
//! Writers take findings one at a time and write them straight to their output, so an export
//! of millions of findings holds one finding in memory. CSV cells that a spreadsheet would take
//! for a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) are neutralised
//! with a leading `'`; JSON keeps every value as stored.

pub mod report;

use std::io::{self, Write};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::store::{FindingQuery, FindingView, Store, StoreError};

/// Why an export or a report stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output went away (a client that stopped reading) or could not be written.
    #[error("writing the output: {0}")]
    Output(#[from] io::Error),
}

/// Writes every finding that matches `query` (its filters and order; not its page) to `out` in
/// `format`, starting with the header, which is flushed before the first finding is read.
/// Returns how many were written.
pub fn export_findings(
    store: &dyn Store,
    query: &FindingQuery,
    format: ExportFormat,
    cancel: &CancellationToken,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let mut writer = FindingWriter::new(format, out)?;
    writer.flush()?;
    let mut written = 0;
    each_finding(store, query, cancel, |finding| {
        written += 1;
        writer.write(finding)
    })?;
    writer.finish()?;
    Ok(written)
}

/// Hands every finding that matches `query` to `each`, stopping at the first error.
fn each_finding(
    store: &dyn Store,
    query: &FindingQuery,
    cancel: &CancellationToken,
    mut each: impl FnMut(&FindingView) -> io::Result<()>,
) -> Result<(), ExportError> {
    let mut failed = None;
    store.export_findings(query, cancel, &mut |finding| match each(&finding) {
        Ok(()) => true,
        Err(error) => {
            failed = Some(error);
            false
        }
    })?;
    match failed {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    /// One JSON array, a finding per line.
    Json,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

/// A column of a CSV file of findings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column {
    Id,
    AssetId,
    Hostname,
    Ip,
    Cve,
    PluginId,
    Title,
    Family,
    Severity,
    Vpr,
    Cvss,
    Port,
    Protocol,
    Os,
    State,
    FirstSeen,
    LastSeen,
    ResolvedDate,
    /// The key's host: asset id, else IP, else hostname.
    Host,
}

impl Column {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::AssetId => "asset_id",
            Column::Hostname => "hostname",
            Column::Ip => "ip",
            Column::Cve => "cve",
            Column::PluginId => "plugin_id",
            Column::Title => "title",
            Column::Family => "family",
            Column::Severity => "severity",
            Column::Vpr => "vpr",
            Column::Cvss => "cvss",
            Column::Port => "port",
            Column::Protocol => "protocol",
            Column::Os => "os",
            Column::State => "state",
            Column::FirstSeen => "first_seen",
            Column::LastSeen => "last_seen",
            Column::ResolvedDate => "resolved_date",
            Column::Host => "host",
        }
    }

    /// The finding's value in this column, as a cell: text neutralised, a missing value empty.
    pub(crate) fn cell(self, finding: &FindingView) -> String {
        let text = |value: &Option<String>| value.as_deref().map_or(String::new(), neutralised);
        let shown = |value: Option<String>| value.unwrap_or_default();
        match self {
            Column::Id => finding.id.to_string(),
            Column::AssetId => text(&finding.asset_id),
            Column::Hostname => text(&finding.hostname),
            Column::Ip => text(&finding.ip),
            Column::Cve => text(&finding.cve),
            Column::PluginId => text(&finding.plugin_id),
            Column::Title => text(&finding.title),
            Column::Family => text(&finding.family),
            Column::Severity => finding.severity.as_str().to_owned(),
            Column::Vpr => shown(finding.vpr.map(|n| n.to_string())),
            Column::Cvss => shown(finding.cvss.map(|n| n.to_string())),
            Column::Port => shown(finding.port.map(|n| n.to_string())),
            Column::Protocol => text(&finding.protocol),
            Column::Os => text(&finding.os),
            Column::State => finding.state.clone(),
            Column::FirstSeen => finding.first_seen.to_string(),
            Column::LastSeen => finding.last_seen.to_string(),
            Column::ResolvedDate => shown(finding.resolved_date.map(|d| d.to_string())),
            Column::Host => neutralised(&finding.host),
        }
    }
}

/// The columns of a CSV export, in order; JSON items carry the same values under the API's names.
const CSV_COLUMNS: [Column; 19] = [
    Column::Id,
    Column::AssetId,
    Column::Hostname,
    Column::Ip,
    Column::Cve,
    Column::PluginId,
    Column::Title,
    Column::Family,
    Column::Severity,
    Column::Vpr,
    Column::Cvss,
    Column::Port,
    Column::Protocol,
    Column::Os,
    Column::State,
    Column::FirstSeen,
    Column::LastSeen,
    Column::ResolvedDate,
    Column::Host,
];

/// Writes findings in one format to `W`, one at a time.
pub enum FindingWriter<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Json { out: W, written: u64 },
}

impl<W: Write> FindingWriter<W> {
    /// Starts the output: the CSV header, or the JSON array's opening.
    pub fn new(format: ExportFormat, out: W) -> io::Result<Self> {
        match format {
            ExportFormat::Csv => {
                let mut csv = csv_writer(out);
                csv.write_record(CSV_COLUMNS.map(Column::name))
                    .map_err(io_error)?;
                Ok(FindingWriter::Csv(Box::new(csv)))
            }
            ExportFormat::Json => {
                let mut out = out;
                out.write_all(b"[")?;
                Ok(FindingWriter::Json { out, written: 0 })
            }
        }
    }

    pub fn write(&mut self, finding: &FindingView) -> io::Result<()> {
        match self {
            FindingWriter::Csv(csv) => csv
                .write_record(CSV_COLUMNS.map(|column| column.cell(finding)))
                .map_err(io_error),
            FindingWriter::Json { out, written } => {
                out.write_all(if *written == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, finding)?;
                *written += 1;
                Ok(())
            }
        }
    }

    /// Sends what is written so far on to the output.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            FindingWriter::Csv(csv) => csv.flush(),
            FindingWriter::Json { out, .. } => out.flush(),
        }
    }

    /// Ends the output (the JSON array's closing) and flushes it.
    pub fn finish(self) -> io::Result<W> {
        match self {
            FindingWriter::Csv(csv) => csv.into_inner().map_err(|error| error.into_error()),
            FindingWriter::Json { mut out, .. } => {
                out.write_all(b"\n]\n")?;
                out.flush()?;
                Ok(out)
            }
        }
    }
}

/// The I/O error under a CSV writer's error (writing text fields fails in no other way), so a
/// closed pipe still reads as one.
pub(crate) fn io_error(error: csv::Error) -> io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A CSV writer with the export's conventions: comma-separated, quoted where needed, `\n` lines.
pub(crate) fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// A cell as a spreadsheet may show it: text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return (which spreadsheets run as a formula) gets a leading `'`, which they display
/// as text. Other text is unchanged.
pub fn neutralised(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::Severity;

    fn finding(title: &str) -> FindingView {
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        FindingView {
            id: 7,
            host: "10.0.0.1".into(),
            hostname: Some("=HYPERLINK(\"http://x\")".into()),
            ip: Some("10.0.0.1".into()),
            asset_id: None,
            cve: Some("CVE-2024-0001".into()),
            plugin_id: Some("-1".into()),
            title: Some(title.into()),
            family: Some("@SUM(A1)".into()),
            severity: Severity::High,
            vpr: Some(7.5),
            cvss: None,
            port: Some(443),
            protocol: Some("\ttcp".into()),
            os: Some("\rLinux".into()),
            state: "active".into(),
            first_seen: day,
            last_seen: day,
            resolved_date: None,
        }
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for (cell, shown) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@A1", "'@A1"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("OpenSSL = 1", "OpenSSL = 1"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(neutralised(cell), shown, "{cell:?}");
        }
    }

    #[test]
    fn csv_rows_are_neutralised_and_quoted() {
        let mut writer = FindingWriter::new(ExportFormat::Csv, Vec::new()).unwrap();
        writer.write(&finding("Title, with \"quotes\"")).unwrap();
        let text = String::from_utf8(writer.finish().unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = CSV_COLUMNS.map(Column::name);
        assert_eq!(reader.headers().unwrap(), header.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()].to_owned();
        assert_eq!(cell("hostname"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(cell("plugin_id"), "'-1");
        assert_eq!(cell("family"), "'@SUM(A1)");
        assert_eq!(cell("protocol"), "'\ttcp");
        assert_eq!(cell("os"), "'\rLinux");
        assert_eq!(cell("title"), "Title, with \"quotes\"");
        assert_eq!(cell("vpr"), "7.5");
        assert_eq!(cell("cvss"), "");
        assert_eq!(cell("first_seen"), "2026-01-05");
    }

    #[test]
    fn json_is_one_array_of_findings_as_stored() {
        let empty = FindingWriter::new(ExportFormat::Json, Vec::new()).unwrap();
        let empty: serde_json::Value = serde_json::from_slice(&empty.finish().unwrap()).unwrap();
        assert_eq!(empty, serde_json::json!([]));

        let mut writer = FindingWriter::new(ExportFormat::Json, Vec::new()).unwrap();
        writer.write(&finding("one")).unwrap();
        writer.write(&finding("two")).unwrap();
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(&writer.finish().unwrap()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["title"], "two");
        assert_eq!(items[0]["hostname"], "=HYPERLINK(\"http://x\")");
    }
}
