//! Turning one CSV row into finding records.
//!
//! [`ColumnMap::normalize`] reads a row's values through the column map, normalises them as
//! `docs/import-semantics.md` §1 and §5 describe (hostnames lower-cased, severities mapped, scores
//! checked, one record per CVE or `cisco-sa-` id in the CVE cell) and keys each record by the first
//! rule of §2 that applies. The descriptive text of the row becomes one [`Definition`], hashed
//! once and shared by all the row's records.

use std::fmt::Write as _;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_128;

use super::format::{ColumnMap, Field, quote_for_message};
use crate::domain::{Definition, KeyTier, Record, Severity};

/// Reads a scanner's severity: a word in any case (`Informational` and Nessus `None` are
/// info) or a Qualys level, 5 (critical) to 1 (info).
fn scanner_severity(text: &str) -> Option<Severity> {
    const NAMES: [(&str, Severity); 12] = [
        ("critical", Severity::Critical),
        ("high", Severity::High),
        ("medium", Severity::Medium),
        ("low", Severity::Low),
        ("info", Severity::Info),
        ("informational", Severity::Info),
        ("none", Severity::Info),
        ("5", Severity::Critical),
        ("4", Severity::High),
        ("3", Severity::Medium),
        ("2", Severity::Low),
        ("1", Severity::Info),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, severity)| *severity)
}

/// The severity a CVSS base score stands for; info without a score.
fn cvss_severity(cvss: Option<f64>) -> Severity {
    match cvss {
        Some(score) if score >= 9.0 => Severity::Critical,
        Some(score) if score >= 7.0 => Severity::High,
        Some(score) if score >= 4.0 => Severity::Medium,
        Some(score) if score >= 0.1 => Severity::Low,
        _ => Severity::Info,
    }
}

/// Why a row is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("no host (asset id, IP address or hostname)")]
    NoHost,
}

impl ColumnMap {
    /// Normalises one data row. `fields.len() == self.column_count()` is guaranteed by the caller.
    ///
    /// Appends this row's records to `out`: one per CVE id, one when there is none. Returns the
    /// row's warnings (human text without line number), or why the row is rejected; then nothing
    /// is appended.
    pub fn normalize(
        &self,
        fields: &[&str],
        out: &mut Vec<Record>,
    ) -> Result<Vec<String>, RejectReason> {
        debug_assert_eq!(fields.len(), self.column_count());
        let value = |field: Field| self.value(field, fields);

        let asset_id = value(Field::AssetId);
        let ip = value(Field::Ip);
        let hostname = value(Field::Hostname).map(str::to_lowercase);
        let Some(host) = asset_id.or(ip).or(hostname.as_deref()) else {
            return Err(RejectReason::NoHost);
        };

        let mut warnings = Vec::new();
        let vpr = score(value(Field::Vpr), "vpr", &mut warnings);
        let cvss = score(value(Field::Cvss), "cvss", &mut warnings);
        let severity = severity(value(Field::Severity), cvss, &mut warnings);
        let plugin_id = value(Field::PluginId);
        let title = value(Field::Title);
        let description = value(Field::Description);

        let row = RowValues {
            host,
            asset_id,
            hostname: hostname.as_deref(),
            ip,
            plugin_id,
            severity,
            vpr,
            cvss,
            port: value(Field::Port).and_then(|port| port.parse().ok()),
            protocol: value(Field::Protocol).map(str::to_lowercase),
            os: value(Field::Os),
            definition: Arc::new(Definition::new(
                plugin_id,
                title,
                description,
                value(Field::Solution),
                value(Field::Family),
                value(Field::Published),
            )),
        };

        let first_of_row = out.len();
        for id in vulnerability_ids(value(Field::Cve).unwrap_or("")) {
            let already_recorded = out[first_of_row..].iter().any(|record| {
                record
                    .cve
                    .as_deref()
                    .is_some_and(|cve| cve.eq_ignore_ascii_case(&id))
            });
            if !already_recorded {
                out.push(row.record_of_cve(id));
            }
        }
        if out.len() == first_of_row {
            let (key, tier) = match plugin_id {
                Some(plugin_id) => ([host, plugin_id].join("|"), KeyTier::HostPlugin),
                None => {
                    let text = title.or(description);
                    if text.is_none() {
                        warnings.push(
                            "no CVE, plugin id, title or description; keyed on the host alone"
                                .to_string(),
                        );
                    }
                    (text_key(host, text.unwrap_or("")), KeyTier::HostText)
                }
            };
            out.push(row.record_without_cve(key, tier));
        }
        Ok(warnings)
    }
}

/// The values of one row shared by all its records.
struct RowValues<'row> {
    host: &'row str,
    asset_id: Option<&'row str>,
    hostname: Option<&'row str>,
    ip: Option<&'row str>,
    plugin_id: Option<&'row str>,
    severity: Severity,
    vpr: Option<f64>,
    cvss: Option<f64>,
    port: Option<u16>,
    protocol: Option<String>,
    os: Option<&'row str>,
    definition: Arc<Definition>,
}

impl RowValues<'_> {
    /// The record of vulnerability `cve`, keyed by rule 1 or 2.
    fn record_of_cve(&self, cve: String) -> Record {
        let (key, tier) = match (self.asset_id, self.plugin_id) {
            (Some(asset_id), Some(plugin_id)) => (
                [asset_id, plugin_id, &cve].join("|"),
                KeyTier::AssetPluginCve,
            ),
            _ => ([self.host, &cve].join("|"), KeyTier::HostCve),
        };
        Record {
            cve: Some(cve),
            ..self.record_without_cve(key, tier)
        }
    }

    fn record_without_cve(&self, key: String, tier: KeyTier) -> Record {
        Record {
            key,
            tier,
            host: self.host.to_owned(),
            asset_id: self.asset_id.map(str::to_owned),
            hostname: self.hostname.map(str::to_owned),
            ip: self.ip.map(str::to_owned),
            cve: None,
            plugin_id: self.plugin_id.map(str::to_owned),
            severity: self.severity,
            vpr: self.vpr,
            cvss: self.cvss,
            port: self.port,
            protocol: self.protocol.clone(),
            os: self.os.map(str::to_owned),
            definition: Arc::clone(&self.definition),
        }
    }
}

/// Rule 4: `host|` and the 32 lowercase hex digits of the xxh3-128 of `text` normalised
/// (trimmed, lower-cased, runs of white space collapsed to one space).
fn text_key(host: &str, text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !normalised.is_empty() {
            normalised.push(' ');
        }
        normalised.extend(word.chars().flat_map(char::to_lowercase));
    }
    let mut key = String::with_capacity(host.len() + 33);
    key.push_str(host);
    key.push('|');
    write!(key, "{:032x}", xxh3_128(normalised.as_bytes())).expect("writing to a String");
    key
}

/// The ids in a CVE cell, in order of appearance (repeats included): every `CVE-YYYY-NNNN+`,
/// upper-cased, and every `cisco-sa-…` id as written. Ids are separated by commas, semicolons or
/// white space; anything else in the cell (`N/A`, brackets, quotes) is ignored.
fn vulnerability_ids(cell: &str) -> impl Iterator<Item = String> + '_ {
    cell.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(|token| token.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter_map(|token| {
            if is_cve_id(token) {
                Some(token.to_ascii_uppercase())
            } else if is_cisco_advisory_id(token) {
                Some(token.to_owned())
            } else {
                None
            }
        })
}

/// `CVE-YYYY-NNNN`, with four or more digits at the end, in any case.
fn is_cve_id(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.len() >= 13
        && bytes[..4].eq_ignore_ascii_case(b"cve-")
        && bytes[4..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'-'
        && bytes[9..].iter().all(u8::is_ascii_digit)
}

/// `cisco-sa-` followed by the advisory's name, in any case.
fn is_cisco_advisory_id(token: &str) -> bool {
    const PREFIX: &[u8] = b"cisco-sa-";
    let bytes = token.as_bytes();
    bytes.len() > PREFIX.len() && bytes[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

/// A VPR or CVSS score: a number from 0 to 10. Anything else is missing, with a warning.
fn score(text: Option<&str>, name: &str, warnings: &mut Vec<String>) -> Option<f64> {
    let text = text?;
    let problem = match parse_decimal(text) {
        Some(score) if (0.0..=10.0).contains(&score) => return Some(score),
        Some(_) => "is outside 0–10",
        None => "is not a number",
    };
    warnings.push(format!(
        "{name} score {} {problem}; stored as missing",
        quote_for_message(text)
    ));
    None
}

/// A finite decimal number, with a decimal point or (as spreadsheets in many locales write it)
/// a single decimal comma.
fn parse_decimal(text: &str) -> Option<f64> {
    let parsed = text.parse::<f64>().ok().or_else(|| {
        let single_decimal_comma = text.matches(',').count() == 1 && !text.contains('.');
        single_decimal_comma
            .then(|| text.replacen(',', ".", 1).parse::<f64>().ok())
            .flatten()
    })?;
    parsed.is_finite().then_some(parsed)
}

/// The row's severity, or the one its CVSS score stands for when it has none or an unknown one
/// (with a warning).
fn severity(text: Option<&str>, cvss: Option<f64>, warnings: &mut Vec<String>) -> Severity {
    let Some(text) = text else {
        return cvss_severity(cvss);
    };
    scanner_severity(text).unwrap_or_else(|| {
        let derived = cvss_severity(cvss);
        warnings.push(match cvss {
            Some(_) => format!(
                "severity {} is not recognised; derived {:?} from the CVSS score",
                quote_for_message(text),
                derived.as_str()
            ),
            None => format!(
                "severity {} is not recognised and there is no CVSS score; stored as \"info\"",
                quote_for_message(text)
            ),
        });
        derived
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalises `row` (comma-separated, no quoting) under `header`.
    fn normalize(header: &str, row: &str) -> (Result<Vec<String>, RejectReason>, Vec<Record>) {
        let headers: Vec<&str> = header.split(',').collect();
        let columns = ColumnMap::from_headers(&headers).expect("usable header");
        normalize_fields(&columns, &row.split(',').collect::<Vec<_>>())
    }

    fn normalize_fields(
        columns: &ColumnMap,
        fields: &[&str],
    ) -> (Result<Vec<String>, RejectReason>, Vec<Record>) {
        let mut out = Vec::new();
        let result = columns.normalize(fields, &mut out);
        (result, out)
    }

    fn records(header: &str, row: &str) -> Vec<Record> {
        let (result, records) = normalize(header, row);
        assert_eq!(result, Ok(vec![]), "unexpected warnings or rejection");
        records
    }

    fn record(header: &str, row: &str) -> Record {
        let mut records = records(header, row);
        assert_eq!(records.len(), 1);
        records.remove(0)
    }

    fn cves(records: &[Record]) -> Vec<Option<&str>> {
        records.iter().map(|record| record.cve.as_deref()).collect()
    }

    fn hex(hash: u128) -> String {
        format!("{hash:032x}")
    }

    const TENABLE_IO: &str = "asset.display_ipv4_address,asset.id,asset.name,definition.cve,definition.family,definition.id,definition.name,severity,definition.vpr.score,definition.cvss_score,definition.plugin_published";

    #[test]
    fn tenable_io_row_from_sample() {
        let (result, records) = normalize(
            TENABLE_IO,
            "192.168.1.100,test-asset-001,Server01,CVE-2025-20155,CISCO,235488,Cisco IOS XE Software Bootstrap Program Command Injection Vulnerability,High,8.5,7.2,2024-08-01",
        );
        assert_eq!(result, Ok(vec![]));
        let definition = Arc::new(Definition::new(
            Some("235488"),
            Some("Cisco IOS XE Software Bootstrap Program Command Injection Vulnerability"),
            None,
            None,
            Some("CISCO"),
            Some("2024-08-01"),
        ));
        assert_eq!(
            records,
            [Record {
                key: "test-asset-001|235488|CVE-2025-20155".to_string(),
                tier: KeyTier::AssetPluginCve,
                host: "test-asset-001".to_string(),
                asset_id: Some("test-asset-001".to_string()),
                hostname: Some("server01".to_string()),
                ip: Some("192.168.1.100".to_string()),
                cve: Some("CVE-2025-20155".to_string()),
                plugin_id: Some("235488".to_string()),
                severity: Severity::High,
                vpr: Some(8.5),
                cvss: Some(7.2),
                port: None,
                protocol: None,
                os: None,
                definition,
            }]
        );
    }

    #[test]
    fn nessus_row() {
        let header = "Plugin ID,CVE,CVSS v3.0 Base Score,Risk,Host,Protocol,Port,Name,Synopsis,Description,Solution,Plugin Publication Date";
        let record = record(
            header,
            "19506,,,None,10.0.5.20,TCP,443,Nessus Scan Information,Info about the scan,,Upgrade,2005/08/26",
        );
        assert_eq!(record.key, "10.0.5.20|19506");
        assert_eq!(record.tier, KeyTier::HostPlugin);
        assert_eq!(record.ip.as_deref(), Some("10.0.5.20"));
        assert_eq!(record.hostname, None);
        assert_eq!(record.severity, Severity::Info);
        assert_eq!(record.port, Some(443));
        assert_eq!(record.protocol.as_deref(), Some("tcp"));
        assert_eq!(
            record.definition.description.as_deref(),
            Some("Info about the scan"),
            "Synopsis stands in for an empty Description"
        );
        assert_eq!(record.definition.solution.as_deref(), Some("Upgrade"));
        assert_eq!(record.definition.published.as_deref(), Some("2005/08/26"));
    }

    #[test]
    fn qualys_row() {
        let header = "IP,DNS,NetBIOS,OS,QID,Title,Severity,Port,Protocol,CVE ID,Vendor Reference,Threat,Solution,CVSS Base,CVSS3.1 Base,Published";
        let record = record(
            header,
            "10.20.0.4,,FILESRV02,Windows Server 2019,91234,Microsoft Windows Security Update,4,445,tcp,CVE-2024-21338,KB5034768,Elevation of privilege,Install the update,6.8,7.8,2024-02-13",
        );
        assert_eq!(record.key, "10.20.0.4|CVE-2024-21338");
        assert_eq!(record.tier, KeyTier::HostCve);
        assert_eq!(record.hostname.as_deref(), Some("filesrv02"));
        assert_eq!(record.plugin_id.as_deref(), Some("91234"));
        assert_eq!(record.severity, Severity::High);
        assert_eq!(
            record.cvss,
            Some(7.8),
            "CVSS3.1 Base ranks before CVSS Base"
        );
        assert_eq!(record.os.as_deref(), Some("Windows Server 2019"));
        assert_eq!(record.definition.family.as_deref(), Some("KB5034768"));
        assert_eq!(
            record.definition.description.as_deref(),
            Some("Elevation of privilege")
        );
    }

    #[test]
    fn generic_row_from_sample() {
        let header =
            "hostname,cve,plugin_name,severity,description,first_detected,last_seen,state,vendor";
        let record = record(
            header,
            " Device-Web-01.Company.LOCAL ,CVE-2024-9999,Critical Web Server Vulnerability,Critical,Remote code execution vulnerability in web server,2024-09-01T10:00:00Z,2024-09-09T10:00:00Z,ACTIVE,Apache",
        );
        assert_eq!(record.key, "device-web-01.company.local|CVE-2024-9999");
        assert_eq!(record.host, "device-web-01.company.local");
        assert_eq!(
            record.hostname.as_deref(),
            Some("device-web-01.company.local")
        );
        assert_eq!(record.severity, Severity::Critical);
        assert_eq!(record.definition.family.as_deref(), Some("Apache"));
    }

    #[test]
    fn aliases_fall_back_per_row() {
        let header = "definition.vpr.score,definition.vpr_v2.score,asset.name,DNS Name,hostname";
        let columns = ColumnMap::from_headers(&header.split(',').collect::<Vec<_>>()).unwrap();
        let (_, first) = normalize_fields(&columns, &["7.1", "3.0", "a", "b", "c"]);
        let (_, second) = normalize_fields(&columns, &["", "3.0", " ", "", "C"]);
        assert_eq!(first[0].vpr, Some(7.1));
        assert_eq!(first[0].hostname.as_deref(), Some("a"));
        assert_eq!(second[0].vpr, Some(3.0));
        assert_eq!(second[0].hostname.as_deref(), Some("c"));
    }

    #[test]
    fn first_non_empty_alias_wins_even_when_unusable() {
        let (result, records) = normalize(
            "hostname,definition.vpr.score,vpr,definition.cve,cve,plugin_id",
            "h,high,5.0,N/A,CVE-2024-0001,7",
        );
        assert_eq!(
            result,
            Ok(vec![
                "vpr score \"high\" is not a number; stored as missing".to_string()
            ])
        );
        assert_eq!(records[0].vpr, None);
        assert_eq!(cves(&records), [None]);
    }

    #[test]
    fn host_column_is_ip_or_hostname() {
        let by_ip = record("Host,Plugin ID", "192.0.2.10,1001");
        assert_eq!(by_ip.ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(by_ip.hostname, None);
        assert_eq!(by_ip.key, "192.0.2.10|1001");

        let by_name = record("Host,Plugin ID", "Mail.Example.COM,1001");
        assert_eq!(by_name.ip, None);
        assert_eq!(by_name.hostname.as_deref(), Some("mail.example.com"));
        assert_eq!(by_name.key, "mail.example.com|1001");

        let v6 = record("host,plugin_id", "2001:db8::5,1001");
        assert_eq!(v6.ip.as_deref(), Some("2001:db8::5"));
    }

    #[test]
    fn ip_column_takes_first_entry_of_a_list() {
        let columns = ColumnMap::from_headers(&["asset.ipv4_addresses", "definition.id"]).unwrap();
        let (_, records) = normalize_fields(&columns, &[" 10.1.1.5 , 10.1.1.6", "42"]);
        assert_eq!(records[0].ip.as_deref(), Some("10.1.1.5"));
        assert_eq!(records[0].key, "10.1.1.5|42");
    }

    #[test]
    fn host_prefers_asset_id_then_ip_then_hostname() {
        let header = "asset.id,asset.ipv4_addresses,asset.name,definition.id";
        assert_eq!(record(header, "A1,10.0.0.1,Web,7").host, "A1");
        assert_eq!(record(header, ",10.0.0.1,Web,7").host, "10.0.0.1");
        assert_eq!(record(header, ",,Web,7").host, "web");
    }

    #[test]
    fn row_without_host_is_rejected() {
        let header = "asset.id,asset.ipv4_addresses,asset.name,definition.cve";
        let (result, records) = normalize(header, " ,,  ,CVE-2024-0001");
        assert_eq!(result, Err(RejectReason::NoHost));
        assert!(records.is_empty());
        assert_eq!(
            RejectReason::NoHost.to_string(),
            "no host (asset id, IP address or hostname)"
        );
    }

    #[test]
    fn rejection_leaves_earlier_records_alone() {
        let columns = ColumnMap::from_headers(&["hostname", "cve"]).unwrap();
        let mut out = Vec::new();
        columns
            .normalize(&["a", "CVE-2024-0001"], &mut out)
            .unwrap();
        assert_eq!(
            columns.normalize(&["", "CVE-2024-0002"], &mut out),
            Err(RejectReason::NoHost)
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn cve_cell_splits_on_every_separator() {
        let columns = ColumnMap::from_headers(&["hostname", "cve"]).unwrap();
        let (result, records) = normalize_fields(
            &columns,
            &[
                "h",
                "CVE-2024-1111,CVE-2024-2222; cve-2024-3333  CVE-2024-44444\nCVE-2024-5555\r\n\tCVE-2024-6666;",
            ],
        );
        assert_eq!(result, Ok(vec![]));
        assert_eq!(
            cves(&records),
            [
                Some("CVE-2024-1111"),
                Some("CVE-2024-2222"),
                Some("CVE-2024-3333"),
                Some("CVE-2024-44444"),
                Some("CVE-2024-5555"),
                Some("CVE-2024-6666"),
            ]
        );
        let keys: Vec<&str> = records.iter().map(|record| record.key.as_str()).collect();
        assert_eq!(keys[2], "h|CVE-2024-3333");
        assert!(
            records
                .iter()
                .all(|record| Arc::ptr_eq(&record.definition, &records[0].definition)),
            "one definition per row"
        );
    }

    #[test]
    fn repeated_ids_give_one_record_in_first_appearance_order() {
        let columns = ColumnMap::from_headers(&["hostname", "cve"]).unwrap();
        let (_, records) = normalize_fields(
            &columns,
            &[
                "h",
                "CVE-2024-2222, cve-2024-1111, CVE-2024-2222, CVE-2024-1111",
            ],
        );
        assert_eq!(
            cves(&records),
            [Some("CVE-2024-2222"), Some("CVE-2024-1111")]
        );
    }

    #[test]
    fn cisco_advisory_ids_are_kept_as_written() {
        let columns = ColumnMap::from_headers(&["hostname", "cve"]).unwrap();
        let (_, records) = normalize_fields(
            &columns,
            &[
                "h",
                "cisco-sa-iosxe-webui-privesc-j22SaA4z, CVE-2023-20198 cisco-sa-iosxe-webui-privesc-j22SaA4z",
            ],
        );
        assert_eq!(
            cves(&records),
            [
                Some("cisco-sa-iosxe-webui-privesc-j22SaA4z"),
                Some("CVE-2023-20198")
            ]
        );
    }

    #[test]
    fn cve_cell_ignores_what_is_not_an_id() {
        let columns = ColumnMap::from_headers(&["hostname", "cve", "plugin_id"]).unwrap();
        let (_, records) = normalize_fields(
            &columns,
            &[
                "h",
                "[\"CVE-2024-1234\", CVE-24-1, CVE-2024-123, CVE-2024-1234x, cisco-sa-, N/A]",
                "9",
            ],
        );
        assert_eq!(cves(&records), [Some("CVE-2024-1234")]);

        let (_, records) = normalize_fields(&columns, &["h", "N/A", "9"]);
        assert_eq!(cves(&records), [None]);
        assert_eq!(records[0].key, "h|9");
        assert_eq!(records[0].tier, KeyTier::HostPlugin);
    }

    #[test]
    fn severity_words_numbers_and_none() {
        let cases = [
            ("CRITICAL", Severity::Critical),
            ("High", Severity::High),
            ("medium", Severity::Medium),
            ("Low", Severity::Low),
            ("Info", Severity::Info),
            ("Informational", Severity::Info),
            ("None", Severity::Info),
            ("5", Severity::Critical),
            ("4", Severity::High),
            ("3", Severity::Medium),
            ("2", Severity::Low),
            ("1", Severity::Info),
        ];
        for (text, expected) in cases {
            let row = format!("h,{text},9.8,t");
            assert_eq!(
                record("hostname,severity,cvss,title", &row).severity,
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn severity_without_a_value_comes_from_cvss() {
        let cases = [
            ("10", Severity::Critical),
            ("9.0", Severity::Critical),
            ("8.9", Severity::High),
            ("7.0", Severity::High),
            ("6.9", Severity::Medium),
            ("4.0", Severity::Medium),
            ("3.9", Severity::Low),
            ("0.1", Severity::Low),
            ("0.0", Severity::Info),
            ("", Severity::Info),
        ];
        for (cvss, expected) in cases {
            let row = format!("h, ,{cvss},t");
            assert_eq!(
                record("hostname,severity,cvss,title", &row).severity,
                expected,
                "{cvss}"
            );
        }
    }

    #[test]
    fn unknown_severity_comes_from_cvss_with_a_warning() {
        let (result, records) = normalize("hostname,severity,cvss,title", "h,urgent,7.5,t");
        assert_eq!(
            result,
            Ok(vec![
                "severity \"urgent\" is not recognised; derived \"high\" from the CVSS score"
                    .to_string()
            ])
        );
        assert_eq!(records[0].severity, Severity::High);

        let (result, records) = normalize("hostname,severity,title", "h,0,t");
        assert_eq!(
            result,
            Ok(vec![
                "severity \"0\" is not recognised and there is no CVSS score; stored as \"info\""
                    .to_string()
            ])
        );
        assert_eq!(records[0].severity, Severity::Info);
    }

    #[test]
    fn scores_out_of_range_or_unparsable_are_missing_with_warnings() {
        let (result, records) = normalize(
            "asset.name,definition.vpr.score,definition.cvss_score,severity,definition.name",
            "web-server-01,95.5,abc,critical,Apache HTTP Server Buffer Overflow",
        );
        assert_eq!(
            result,
            Ok(vec![
                "vpr score \"95.5\" is outside 0–10; stored as missing".to_string(),
                "cvss score \"abc\" is not a number; stored as missing".to_string(),
            ])
        );
        assert_eq!((records[0].vpr, records[0].cvss), (None, None));
        assert_eq!(records[0].severity, Severity::Critical);

        for bad in ["-0.5", "10.01", "NaN", "inf"] {
            let (result, records) = normalize("hostname,cvss,title", &format!("h,{bad},t"));
            assert_eq!(result.unwrap().len(), 1, "{bad}");
            assert_eq!(records[0].cvss, None, "{bad}");
        }
    }

    #[test]
    fn scores_at_the_bounds_and_with_a_decimal_comma_are_kept() {
        let columns = ColumnMap::from_headers(&["hostname", "vpr", "cvss", "title"]).unwrap();
        let (result, records) = normalize_fields(&columns, &["h", "0", " 10.0 ", "t"]);
        assert_eq!(result, Ok(vec![]));
        assert_eq!((records[0].vpr, records[0].cvss), (Some(0.0), Some(10.0)));
        let (result, records) = normalize_fields(&columns, &["h", "7,5", "1,2,3", "t"]);
        assert_eq!(records[0].vpr, Some(7.5));
        assert_eq!(
            result,
            Ok(vec![
                "cvss score \"1,2,3\" is not a number; stored as missing".to_string()
            ])
        );
    }

    #[test]
    fn port_is_a_number_or_missing() {
        let header = "hostname,port,protocol,title";
        assert_eq!(record(header, "h,65535,UDP,t").port, Some(65535));
        assert_eq!(record(header, "h,0,UDP,t").port, Some(0));
        assert_eq!(record(header, "h,65536,UDP,t").port, None);
        assert_eq!(record(header, "h,general,UDP,t").port, None);
        assert_eq!(record(header, "h,-1,UDP,t").port, None);
        assert_eq!(
            record(header, "h,22,UDP,t").protocol.as_deref(),
            Some("udp")
        );
    }

    #[test]
    fn tier_one_needs_asset_id_plugin_and_cve() {
        let header = "asset.id,asset.ipv4_addresses,definition.id,definition.cve";
        let full = record(header, "A1,10.0.0.1,500,cve-2024-0001");
        assert_eq!(full.key, "A1|500|CVE-2024-0001");
        assert_eq!(full.tier, KeyTier::AssetPluginCve);

        let without_plugin = record(header, "A1,10.0.0.1,,CVE-2024-0001");
        assert_eq!(without_plugin.key, "A1|CVE-2024-0001");
        assert_eq!(without_plugin.tier, KeyTier::HostCve);

        let without_asset = record(header, ",10.0.0.1,500,CVE-2024-0001");
        assert_eq!(without_asset.key, "10.0.0.1|CVE-2024-0001");
        assert_eq!(without_asset.tier, KeyTier::HostCve);

        let without_cve = record(header, "A1,10.0.0.1,500,");
        assert_eq!(without_cve.key, "A1|500");
        assert_eq!(without_cve.tier, KeyTier::HostPlugin);
    }

    #[test]
    fn tier_four_hashes_the_normalised_title() {
        let header = "hostname,title,description";
        let record = record(
            header,
            "Web01,  SSL   Certificate\tExpired ,Ignored description",
        );
        assert_eq!(record.tier, KeyTier::HostText);
        assert_eq!(
            record.key,
            format!("web01|{}", hex(xxh3_128(b"ssl certificate expired")))
        );
        assert_eq!(record.cve, None);
        assert_eq!(record.plugin_id, None);
    }

    #[test]
    fn tier_four_falls_back_to_the_description() {
        let record = record("ip,description", "10.9.9.9, Weak  Cipher SUITES ");
        assert_eq!(
            record.key,
            format!("10.9.9.9|{}", hex(xxh3_128(b"weak cipher suites")))
        );
        assert_eq!(record.tier, KeyTier::HostText);
    }

    #[test]
    fn row_with_only_a_host_is_kept_with_a_warning() {
        let (result, records) = normalize("hostname,description", "h,");
        assert_eq!(
            result,
            Ok(vec![
                "no CVE, plugin id, title or description; keyed on the host alone".to_string()
            ])
        );
        assert_eq!(records[0].key, format!("h|{}", hex(xxh3_128(b""))));
        assert_eq!(records[0].tier, KeyTier::HostText);
    }

    #[test]
    fn keys_and_hashes_are_deterministic() {
        let header = "asset.name,definition.name,definition.description,definition.solution";
        let row = "web,Title One,Some text,Patch it";
        let first = record(header, row);
        let second = record(header, row);
        assert_eq!(first, second);
        assert_eq!(
            first.key, "web|24c21066cc5e27ed88443f3d310b34fd",
            "rule 4 keys must not change between releases"
        );
        assert_eq!(first.key, format!("web|{}", hex(xxh3_128(b"title one"))));

        let mut encoded = Vec::new();
        encoded.push(0); // plugin id: missing
        for text in ["Title One", "Some text", "Patch it"] {
            encoded.push(1);
            encoded.extend_from_slice(&(text.len() as u64).to_le_bytes());
            encoded.extend_from_slice(text.as_bytes());
        }
        encoded.extend_from_slice(&[0, 0]); // family, published: missing
        assert_eq!(
            first.definition.hash,
            xxh3_128(&encoded).to_le_bytes(),
            "definition hashes must not change between releases"
        );
    }

    #[test]
    fn definition_hash_separates_fields() {
        let moved_text = Definition::new(Some("ab"), Some("c"), None, None, None, None);
        let original = Definition::new(Some("a"), Some("bc"), None, None, None, None);
        let shifted = Definition::new(None, Some("a"), Some("bc"), None, None, None);
        let empty_vs_missing = Definition::new(Some(""), None, None, None, None, None);
        let all_missing = Definition::new(None, None, None, None, None, None);
        assert_ne!(moved_text.hash, original.hash);
        assert_ne!(original.hash, shifted.hash);
        assert_ne!(empty_vs_missing.hash, all_missing.hash);
    }

    #[test]
    fn severity_stored_names_round_trip_and_order() {
        for severity in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
            assert_eq!(
                serde_json::to_string(&severity).unwrap(),
                format!("\"{}\"", severity.as_str())
            );
        }
        assert_eq!(Severity::parse("High"), None);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
    }
}
