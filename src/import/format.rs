//! Recognising the columns of a scanner export.
//!
//! [`ColumnMap::from_headers`] matches the header row against the alias table of
//! `docs/import-semantics.md` §1 (names trimmed, compared case-insensitively) and keeps, for each
//! [`Field`], the columns that can supply it in alias priority order (§5: Tenable.io, Nessus,
//! Qualys, generic, names within a cell in order, a repeated name keeping its first position).
//! Which of those columns supplies a value is decided per row by [`ColumnMap::value`]: the first
//! one that is non-empty. It also guesses which scanner produced the file ([`Format`]), for display.

use std::net::IpAddr;

/// Which export the header looks like (a best guess, for display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Format {
    TenableIo,
    Nessus,
    Qualys,
    Generic,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::TenableIo => "tenableIo",
            Format::Nessus => "nessus",
            Format::Qualys => "qualys",
            Format::Generic => "generic",
        }
    }
}

/// A value a row can supply, whatever the column is called in a given export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    AssetId,
    Hostname,
    Ip,
    Cve,
    PluginId,
    Title,
    Description,
    Solution,
    Severity,
    Vpr,
    Cvss,
    Port,
    Protocol,
    Os,
    Family,
    Published,
}

const FIELD_COUNT: usize = Field::Published as usize + 1;

/// One line of the alias table: the names a field goes by in each export, in priority order.
struct Aliases {
    field: Field,
    tenable_io: &'static [&'static str],
    nessus: &'static [&'static str],
    qualys: &'static [&'static str],
    generic: &'static [&'static str],
}

impl Aliases {
    fn in_priority_order(&self) -> impl Iterator<Item = &'static str> {
        [self.tenable_io, self.nessus, self.qualys, self.generic]
            .into_iter()
            .flatten()
            .copied()
    }

    fn of_format(&self, format: Format) -> &'static [&'static str] {
        match format {
            Format::TenableIo => self.tenable_io,
            Format::Nessus => self.nessus,
            Format::Qualys => self.qualys,
            Format::Generic => self.generic,
        }
    }
}

/// The header name (Nessus `Host`, generic `host`) whose value is an IP address or a hostname
/// depending on what it holds.
const HOST_OR_IP: &str = "host";

/// The alias table of `docs/import-semantics.md` §1, as written there.
const ALIAS_TABLE: [Aliases; FIELD_COUNT] = [
    Aliases {
        field: Field::AssetId,
        tenable_io: &["asset.id"],
        nessus: &[],
        qualys: &[],
        generic: &["asset_id"],
    },
    Aliases {
        field: Field::Hostname,
        tenable_io: &["asset.name"],
        nessus: &["Host", "DNS Name"],
        qualys: &["DNS", "NetBIOS"],
        generic: &["hostname", "host"],
    },
    Aliases {
        field: Field::Ip,
        tenable_io: &["asset.display_ipv4_address", "asset.ipv4_addresses"],
        nessus: &["Host", "IP Address"],
        qualys: &["IP"],
        generic: &["ip_address", "ip"],
    },
    Aliases {
        field: Field::Cve,
        tenable_io: &["definition.cve"],
        nessus: &["CVE"],
        qualys: &["CVE ID"],
        generic: &["cve"],
    },
    Aliases {
        field: Field::PluginId,
        tenable_io: &["definition.id"],
        nessus: &["Plugin ID"],
        qualys: &["QID"],
        generic: &["plugin_id"],
    },
    Aliases {
        field: Field::Title,
        tenable_io: &["definition.name"],
        nessus: &["Name"],
        qualys: &["Title"],
        generic: &["plugin_name", "title"],
    },
    Aliases {
        field: Field::Description,
        tenable_io: &["definition.description"],
        nessus: &["Description", "Synopsis"],
        qualys: &["Threat"],
        generic: &["description"],
    },
    Aliases {
        field: Field::Solution,
        tenable_io: &["definition.solution"],
        nessus: &["Solution"],
        qualys: &["Solution"],
        generic: &["solution"],
    },
    Aliases {
        field: Field::Severity,
        tenable_io: &["severity"],
        nessus: &["Risk"],
        qualys: &["Severity"],
        generic: &["severity"],
    },
    Aliases {
        field: Field::Vpr,
        tenable_io: &["definition.vpr.score", "definition.vpr_v2.score"],
        nessus: &["VPR"],
        qualys: &[],
        generic: &["vpr_score", "vpr"],
    },
    Aliases {
        field: Field::Cvss,
        tenable_io: &["definition.cvss3.base_score", "definition.cvss_score"],
        nessus: &["CVSS v3.0 Base Score", "CVSS"],
        qualys: &["CVSS3.1 Base", "CVSS Base"],
        generic: &["cvss_score", "cvss"],
    },
    Aliases {
        field: Field::Port,
        tenable_io: &["port"],
        nessus: &["Port"],
        qualys: &["Port"],
        generic: &["port"],
    },
    Aliases {
        field: Field::Protocol,
        tenable_io: &["protocol"],
        nessus: &["Protocol"],
        qualys: &["Protocol"],
        generic: &["protocol"],
    },
    Aliases {
        field: Field::Os,
        tenable_io: &["asset.operating_systems"],
        nessus: &[],
        qualys: &["OS"],
        generic: &["os", "operating_system"],
    },
    Aliases {
        field: Field::Family,
        tenable_io: &["definition.family"],
        nessus: &["Plugin Family"],
        qualys: &["Vendor Reference"],
        generic: &["vendor"],
    },
    Aliases {
        field: Field::Published,
        tenable_io: &[
            "definition.plugin_published",
            "definition.vulnerability_published",
        ],
        nessus: &["Plugin Publication Date"],
        qualys: &["Published"],
        generic: &["published"],
    },
];

const HOST_FIELDS: [Field; 3] = [Field::AssetId, Field::Hostname, Field::Ip];
const VULNERABILITY_FIELDS: [Field; 3] = [Field::Cve, Field::PluginId, Field::Title];

/// How many header names an error message quotes before summarising the rest.
const HEADERS_QUOTED_AT_MOST: usize = 20;
/// How many characters of one value a message quotes before cutting it short.
const VALUE_QUOTED_AT_MOST: usize = 60;

/// A column that can supply a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The value of this column, as it is.
    Column(usize),
    /// A `Host` column: it supplies the IP when its value is an IP address, else the hostname.
    HostOrIp(usize),
}

/// Where each field of a row comes from, worked out once from the header row.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    sources: [Vec<Source>; FIELD_COUNT],
    format: Format,
    column_count: usize,
}

/// Why a header row cannot be imported: no row could ever be keyed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UnusableHeader {
    pub message: String,
    pub headers: Vec<String>,
}

impl ColumnMap {
    /// Recognises the columns of `headers` (the header row, decoded, untrimmed, without BOM).
    ///
    /// Fails when there is no host column (asset id, hostname or IP): rows could never be keyed.
    /// A file with a host column but no vulnerability column is accepted.
    pub fn from_headers(headers: &[&str]) -> Result<ColumnMap, UnusableHeader> {
        let names: Vec<String> = headers
            .iter()
            .map(|header| header.trim().to_lowercase())
            .collect();

        let sources = ALIAS_TABLE.each_ref().map(|aliases| {
            let mut seen: Vec<String> = Vec::new();
            let mut sources = Vec::new();
            for alias in aliases.in_priority_order() {
                let alias = alias.to_lowercase();
                if seen.contains(&alias) {
                    continue;
                }
                let takes_host_or_ip =
                    alias == HOST_OR_IP && matches!(aliases.field, Field::Hostname | Field::Ip);
                for (index, _) in names.iter().enumerate().filter(|(_, name)| **name == alias) {
                    sources.push(if takes_host_or_ip {
                        Source::HostOrIp(index)
                    } else {
                        Source::Column(index)
                    });
                }
                seen.push(alias);
            }
            sources
        });

        let has_any = |fields: &[Field]| fields.iter().any(|f| !sources[*f as usize].is_empty());
        if !has_any(&HOST_FIELDS) {
            let expected = if has_any(&VULNERABILITY_FIELDS) {
                format!(
                    "no host column found (expected one of: {})",
                    alias_list(&HOST_FIELDS)
                )
            } else {
                format!(
                    "no host column and no vulnerability column found (a host column is one of: \
                     {}; a vulnerability column is one of: {})",
                    alias_list(&HOST_FIELDS),
                    alias_list(&VULNERABILITY_FIELDS)
                )
            };
            return Err(UnusableHeader {
                message: format!("{expected}; headers found: {}", quote_headers(headers)),
                headers: headers.iter().map(|header| header.to_string()).collect(),
            });
        }

        Ok(ColumnMap {
            sources,
            format: guess_format(&names),
            column_count: headers.len(),
        })
    }

    /// Which export the header looks like.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The number of header fields; every data row has this many.
    pub fn column_count(&self) -> usize {
        self.column_count
    }

    /// The trimmed value of `field` in `row`, from the first of its columns that is non-empty in
    /// this row; `None` when all are empty or there is no such column.
    ///
    /// A `Host` column counts for [`Field::Ip`] only when it holds an IP address, and for
    /// [`Field::Hostname`] only when it does not. For [`Field::Ip`] the value is the first entry
    /// of a comma-separated list.
    pub(super) fn value<'row>(&self, field: Field, row: &[&'row str]) -> Option<&'row str> {
        self.sources[field as usize]
            .iter()
            .find_map(|source| match *source {
                Source::Column(index) => {
                    let value = row[index].trim();
                    let value = if field == Field::Ip {
                        first_list_entry(value)
                    } else {
                        value
                    };
                    Some(value).filter(|value| !value.is_empty())
                }
                Source::HostOrIp(index) => {
                    let value = row[index].trim();
                    let as_ip = first_list_entry(value);
                    let is_ip = as_ip.parse::<IpAddr>().is_ok();
                    match field {
                        Field::Ip => Some(as_ip).filter(|_| is_ip),
                        _ => Some(value).filter(|value| !is_ip && !value.is_empty()),
                    }
                }
            })
    }
}

/// The names the columns of `fields` go by, in priority order, each once (compared ignoring case).
fn alias_list(fields: &[Field]) -> String {
    fields
        .iter()
        .flat_map(|field| ALIAS_TABLE[*field as usize].in_priority_order())
        .fold(Vec::<&str>::new(), |mut distinct, alias| {
            if !distinct.iter().any(|d| d.eq_ignore_ascii_case(alias)) {
                distinct.push(alias);
            }
            distinct
        })
        .join(", ")
}

/// The first non-empty entry of a comma-separated list, trimmed ("" when there is none).
fn first_list_entry(list: &str) -> &str {
    list.split(',')
        .map(str::trim)
        .find(|entry| !entry.is_empty())
        .unwrap_or("")
}

/// The format most of the recognised header names belong to; `Generic` unless a scanner's own
/// names are strictly more numerous than the generic ones.
fn guess_format(names: &[String]) -> Format {
    let recognised = |format: Format| {
        names
            .iter()
            .filter(|name| {
                ALIAS_TABLE.iter().any(|aliases| {
                    aliases
                        .of_format(format)
                        .iter()
                        .any(|alias| alias.eq_ignore_ascii_case(name))
                })
            })
            .count()
    };
    let generic = recognised(Format::Generic);
    [Format::TenableIo, Format::Nessus, Format::Qualys]
        .into_iter()
        .map(|format| (format, recognised(format)))
        .fold((Format::Generic, generic), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        })
        .0
}

/// `value` in double quotes for a message, cut short when long.
pub(super) fn quote_for_message(value: &str) -> String {
    match value.char_indices().nth(VALUE_QUOTED_AT_MOST) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

fn quote_headers(headers: &[&str]) -> String {
    if headers.is_empty() {
        return "none".to_string();
    }
    let mut quoted: Vec<String> = headers
        .iter()
        .take(HEADERS_QUOTED_AT_MOST)
        .map(|header| quote_for_message(header))
        .collect();
    if headers.len() > HEADERS_QUOTED_AT_MOST {
        quoted.push(format!(
            "… and {} more",
            headers.len() - HEADERS_QUOTED_AT_MOST
        ));
    }
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<&str> {
        line.split(',').collect()
    }

    fn map(line: &str) -> ColumnMap {
        ColumnMap::from_headers(&split(line)).expect("usable header")
    }

    const TENABLE_IO: &str = "age_in_days,asset.id,asset.ipv4_addresses,asset.name,definition.cve,definition.description,definition.family,definition.id,definition.name,definition.plugin_updated,definition.vpr.score,definition.vpr_v2.drivers_cve_id,definition.vpr_v2.score,definition.vulnerability_published,id,port,protocol,resurfaced_date,severity,state,vuln_age,vuln_sla_date";
    const NESSUS: &str = "Plugin ID,CVE,CVSS v3.0 Base Score,Risk,Host,Protocol,Port,Name,Synopsis,Description,Solution,Plugin Publication Date";
    const QUALYS: &str = "IP,DNS,NetBIOS,OS,QID,Title,Severity,Port,Protocol,CVE ID,Vendor Reference,Threat,Solution,CVSS Base,CVSS3.1 Base,Published";
    const GENERIC: &str =
        "hostname,ip_address,severity,cve,description,plugin_name,port,first_seen,last_seen,vendor";

    #[test]
    fn recognises_tenable_io_export() {
        let columns = map(TENABLE_IO);
        assert_eq!(columns.format(), Format::TenableIo);
        assert_eq!(columns.column_count(), 22);
        let sources = |field: Field| columns.sources[field as usize].clone();
        assert_eq!(sources(Field::AssetId), [Source::Column(1)]);
        assert_eq!(sources(Field::Ip), [Source::Column(2)]);
        assert_eq!(sources(Field::Hostname), [Source::Column(3)]);
        assert_eq!(sources(Field::Cve), [Source::Column(4)]);
        assert_eq!(sources(Field::PluginId), [Source::Column(7)]);
        assert_eq!(sources(Field::Title), [Source::Column(8)]);
        assert_eq!(
            sources(Field::Vpr),
            [Source::Column(10), Source::Column(12)]
        );
        assert_eq!(sources(Field::Published), [Source::Column(13)]);
        assert_eq!(sources(Field::Severity), [Source::Column(18)]);
        assert_eq!(sources(Field::Cvss), []);
    }

    #[test]
    fn recognises_nessus_export() {
        let columns = map(NESSUS);
        assert_eq!(columns.format(), Format::Nessus);
        let sources = |field: Field| columns.sources[field as usize].clone();
        assert_eq!(sources(Field::Hostname), [Source::HostOrIp(4)]);
        assert_eq!(sources(Field::Ip), [Source::HostOrIp(4)]);
        assert_eq!(sources(Field::Severity), [Source::Column(3)]);
        assert_eq!(sources(Field::Cvss), [Source::Column(2)]);
        assert_eq!(
            sources(Field::Description),
            [Source::Column(9), Source::Column(8)]
        );
        assert_eq!(sources(Field::Published), [Source::Column(11)]);
    }

    #[test]
    fn recognises_qualys_export() {
        let columns = map(QUALYS);
        assert_eq!(columns.format(), Format::Qualys);
        let sources = |field: Field| columns.sources[field as usize].clone();
        assert_eq!(sources(Field::Ip), [Source::Column(0)]);
        assert_eq!(
            sources(Field::Hostname),
            [Source::Column(1), Source::Column(2)]
        );
        assert_eq!(sources(Field::PluginId), [Source::Column(4)]);
        assert_eq!(sources(Field::Cve), [Source::Column(9)]);
        assert_eq!(
            sources(Field::Cvss),
            [Source::Column(14), Source::Column(13)]
        );
        assert_eq!(sources(Field::Family), [Source::Column(10)]);
    }

    #[test]
    fn recognises_generic_export() {
        let columns = map(GENERIC);
        assert_eq!(columns.format(), Format::Generic);
        let sources = |field: Field| columns.sources[field as usize].clone();
        assert_eq!(sources(Field::Hostname), [Source::Column(0)]);
        assert_eq!(sources(Field::Ip), [Source::Column(1)]);
        assert_eq!(sources(Field::Title), [Source::Column(5)]);
        assert_eq!(sources(Field::Family), [Source::Column(9)]);
    }

    #[test]
    fn ambiguous_header_is_generic() {
        assert_eq!(map("host,cve").format(), Format::Generic);
    }

    #[test]
    fn header_names_compare_trimmed_and_case_insensitively() {
        let columns = map(" ASSET.NAME , Definition.CVE ");
        assert_eq!(
            columns.sources[Field::Hostname as usize],
            [Source::Column(0)]
        );
        assert_eq!(columns.sources[Field::Cve as usize], [Source::Column(1)]);
        assert_eq!(columns.format(), Format::TenableIo);
    }

    #[test]
    fn name_listed_twice_keeps_its_first_position() {
        // `Host` (Nessus) and `host` (generic) are one name: it ranks before `DNS Name`.
        let columns = map("dns name,HOST");
        assert_eq!(
            columns.sources[Field::Hostname as usize],
            [Source::HostOrIp(1), Source::Column(0)]
        );
        // `Severity` (Qualys) and `severity` are one name; `Risk` (Nessus) ranks after it.
        let columns = map("host,Risk,SEVERITY");
        assert_eq!(
            columns.sources[Field::Severity as usize],
            [Source::Column(2), Source::Column(1)]
        );
    }

    #[test]
    fn value_takes_first_non_empty_alias_per_row() {
        let columns = map("asset.ipv4_addresses,asset.display_ipv4_address,ip");
        assert_eq!(
            columns.value(Field::Ip, &["10.0.0.2", " 10.0.0.1 ", "10.0.0.3"]),
            Some("10.0.0.1")
        );
        assert_eq!(
            columns.value(Field::Ip, &["10.0.0.2, 10.0.0.9", "  ", "10.0.0.3"]),
            Some("10.0.0.2")
        );
        assert_eq!(
            columns.value(Field::Ip, &["", "", "10.0.0.3"]),
            Some("10.0.0.3")
        );
        assert_eq!(columns.value(Field::Ip, &["", " ", ""]), None);
        assert_eq!(columns.value(Field::Hostname, &["", "", ""]), None);
    }

    #[test]
    fn host_column_is_an_ip_or_a_hostname() {
        let columns = map("Host,DNS Name,IP Address");
        assert_eq!(
            columns.value(Field::Ip, &["192.0.2.7", "web01", "192.0.2.8"]),
            Some("192.0.2.7")
        );
        assert_eq!(
            columns.value(Field::Hostname, &["192.0.2.7", "web01", "192.0.2.8"]),
            Some("web01")
        );
        assert_eq!(
            columns.value(Field::Ip, &["Web01.Example", "", "192.0.2.8"]),
            Some("192.0.2.8")
        );
        assert_eq!(
            columns.value(Field::Hostname, &["Web01.Example", "web01", ""]),
            Some("Web01.Example")
        );
        assert_eq!(
            columns.value(Field::Ip, &["2001:db8::1", "", ""]),
            Some("2001:db8::1")
        );
        assert_eq!(
            columns.value(Field::Ip, &["192.0.2.7, 192.0.2.9", "", ""]),
            Some("192.0.2.7")
        );
    }

    #[test]
    fn header_without_host_column_is_refused_with_headers_listed() {
        let error = ColumnMap::from_headers(&["Plugin ID", " foo ", "bar"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no host column found (expected one of: asset.id, asset_id, asset.name, Host, \
             DNS Name, DNS, NetBIOS, hostname, asset.display_ipv4_address, \
             asset.ipv4_addresses, IP Address, IP, ip_address); \
             headers found: \"Plugin ID\", \" foo \", \"bar\""
        );
        assert_eq!(error.headers, ["Plugin ID", " foo ", "bar"]);
    }

    #[test]
    fn header_without_host_or_vulnerability_column_says_so() {
        let error = ColumnMap::from_headers(&["foo", "bar"]).unwrap_err();
        assert_eq!(
            error.message,
            "no host column and no vulnerability column found (a host column is one of: \
             asset.id, asset_id, asset.name, Host, DNS Name, DNS, NetBIOS, hostname, \
             asset.display_ipv4_address, asset.ipv4_addresses, IP Address, IP, ip_address; \
             a vulnerability column is one of: definition.cve, CVE, CVE ID, definition.id, \
             Plugin ID, QID, plugin_id, definition.name, Name, Title, plugin_name); \
             headers found: \"foo\", \"bar\""
        );
    }

    #[test]
    fn long_header_lists_are_cut_short_in_the_message() {
        let names: Vec<String> = (0..25).map(|n| format!("c{n}")).collect();
        let mut headers: Vec<&str> = names.iter().map(String::as_str).collect();
        let long = "x".repeat(100);
        headers[0] = &long;
        let error = ColumnMap::from_headers(&headers).unwrap_err();
        let expected_tail = format!(
            "headers found: \"{}\"…, \"c1\", \"c2\", \"c3\", \"c4\", \"c5\", \"c6\", \"c7\", \
             \"c8\", \"c9\", \"c10\", \"c11\", \"c12\", \"c13\", \"c14\", \"c15\", \"c16\", \
             \"c17\", \"c18\", \"c19\", … and 5 more",
            "x".repeat(60)
        );
        assert!(error.message.ends_with(&expected_tail), "{}", error.message);
        assert_eq!(error.headers.len(), 25);
    }

    #[test]
    fn host_column_without_vulnerability_column_is_accepted() {
        let columns = map("hostname,description");
        assert_eq!(columns.format(), Format::Generic);
        assert_eq!(columns.column_count(), 2);
    }

    #[test]
    fn format_serialises_in_camel_case() {
        assert_eq!(
            serde_json::to_string(&Format::TenableIo).unwrap(),
            "\"tenableIo\""
        );
    }
}
