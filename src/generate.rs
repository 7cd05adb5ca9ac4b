//! Synthetic Tenable.io-style vulnerability exports for tests, benchmarks and demos.
//!
//! [`write_tenable_export`] writes a CSV file shaped like a Tenable.io "vulnerabilities" export:
//! one header line, then one row per detection of a vulnerability definition (plugin) on an asset.
//!
//! - A catalogue of definitions is generated first. Its size follows the row count (one definition per
//!   20 rows, at least 400, at most 5,000), so memory stays bounded whatever the file size. Definitions
//!   carry realistic names, long descriptions and solutions (some with quotes, commas and line breaks),
//!   0–6 CVE ids (about 2 per row on average), a CVSS v3 score with the matching severity, and a VPR.
//! - Hosts are generated one at a time and never stored: each has a random asset id, a name like
//!   `web-042.site-b.example`, an IPv4 address and an operating system. A host gets 1–15 findings
//!   (about 8 on average), distinct definitions chosen with a skew towards popular ones, some from its
//!   platform (Windows, Linux, network device) and some that apply to any host. So apart from the
//!   deliberate duplicates, every row has its own (`asset.id`, `definition.id`) pair.
//! - About 1% of rows are exact copies of a recent earlier row, taken from a small ring buffer.
//!
//! The output depends only on [`GenerateOptions`]: the same options give byte-identical files.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use chrono::{Datelike, Days, NaiveDate};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Data rows to write (the header is not counted).
    pub rows: u64,
    /// Seed of the random generator: the same options give byte-identical output.
    pub seed: u64,
    /// Date of the scan, used for the date columns only.
    pub scan_date: NaiveDate,
}

impl GenerateOptions {
    /// Options for `rows` rows from `seed`, scanned on a fixed date (2026-01-05).
    pub fn new(rows: u64, seed: u64) -> Self {
        Self {
            rows,
            seed,
            scan_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("2026-01-05 is a valid date"),
        }
    }
}

/// What [`write_tenable_export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateStats {
    /// Data rows written, duplicates included.
    pub rows: u64,
    /// Bytes written, header included.
    pub bytes: u64,
    /// CVE ids written over all rows, duplicates included.
    pub cve_ids: u64,
    /// Rows that repeat an earlier row exactly.
    pub duplicate_rows: u64,
}

/// Writes a Tenable.io-style CSV export (header + `options.rows` data rows) to `out`.
///
/// The output is buffered here, so `out` can be an unbuffered `File`. Rows are streamed: memory use
/// does not depend on the number of rows.
pub fn write_tenable_export<W: Write>(
    out: W,
    options: &GenerateOptions,
) -> io::Result<GenerateStats> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let catalogue = Catalogue::generate(&mut rng, catalogue_size(options.rows), options.scan_date);
    let mut export = ExportWriter::new(out);
    export.write_header()?;

    let mut host = Host::default();
    let mut role_counters = [0u32; ROLES.len()];
    let mut chosen_definitions = Vec::with_capacity(MAX_FINDINGS_PER_HOST as usize);
    let mut row = Vec::with_capacity(4096);
    while export.stats.rows < options.rows {
        host.generate(&mut rng, &mut role_counters);
        catalogue.choose_findings(&mut rng, host.platform, &mut chosen_definitions);
        for &definition_index in &chosen_definitions {
            if export.stats.rows == options.rows {
                break;
            }
            if rng.f64() < DUPLICATE_SHARE && export.write_recent_duplicate(&mut rng)? {
                continue;
            }
            let definition = &catalogue.definitions[definition_index];
            compose_row(&mut row, &mut rng, &host, definition, options.scan_date);
            export.write_finding(&row, definition.cve_count)?;
        }
    }
    export.finish()
}

/// The columns written, in order.
const COLUMNS: [&str; 20] = [
    "asset.id",
    "asset.name",
    "asset.display_ipv4_address",
    "asset.ipv4_addresses",
    "asset.operating_systems",
    "definition.cve",
    "definition.id",
    "definition.name",
    "definition.description",
    "definition.solution",
    "definition.family",
    "definition.vpr.score",
    "definition.cvss3.base_score",
    "definition.plugin_published",
    "port",
    "protocol",
    "severity",
    "state",
    "first_found",
    "last_found",
];

const ROWS_PER_DEFINITION: u64 = 20;
const MIN_DEFINITIONS: u64 = 400;
const MAX_DEFINITIONS: u64 = 5_000;
/// Findings per host are uniform in 1..=this, so about 8 on average.
const MAX_FINDINGS_PER_HOST: u32 = 15;
/// Share of a host's findings taken from its own platform's definitions; the rest apply to any host.
const OWN_PLATFORM_SHARE: f64 = 0.65;
/// A definition is picked at position `pool_len * u^exponent` of a pool (u uniform in 0..1), so the
/// first definitions of a pool are common. Scan information (first in the pool of definitions for
/// any host) is found on many hosts: the most common definition on about a third of them.
const PLATFORM_POPULARITY_EXPONENT: f64 = 2.0;
const ANY_HOST_POPULARITY_EXPONENT: f64 = 4.0;
const DUPLICATE_SHARE: f64 = 0.01;
/// Share of findings in state `Reopened`; the others are `Open`.
const REOPENED_SHARE: f64 = 0.1;
/// How many recent rows a duplicate may copy.
const RECENT_ROWS: usize = 64;
/// First detections go back at most this many days before the scan.
const MAX_FINDING_AGE_DAYS: u64 = 730;
const OUTPUT_BUFFER_BYTES: usize = 1 << 20;

fn catalogue_size(rows: u64) -> usize {
    let size = (rows / ROWS_PER_DEFINITION).clamp(MIN_DEFINITIONS, MAX_DEFINITIONS);
    usize::try_from(size).expect("the catalogue size is at most 5,000")
}

/// Streams rows to the output, keeps the statistics and the recent rows that duplicates copy.
struct ExportWriter<W: Write> {
    out: BufWriter<W>,
    stats: GenerateStats,
    recent_rows: RecentRows,
}

impl<W: Write> ExportWriter<W> {
    fn new(out: W) -> Self {
        Self {
            out: BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, out),
            stats: GenerateStats {
                rows: 0,
                bytes: 0,
                cve_ids: 0,
                duplicate_rows: 0,
            },
            recent_rows: RecentRows::default(),
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        let header = format!("{}\n", COLUMNS.join(","));
        self.out.write_all(header.as_bytes())?;
        self.stats.bytes += header.len() as u64;
        Ok(())
    }

    fn write_finding(&mut self, row: &[u8], cve_count: u64) -> io::Result<()> {
        self.out.write_all(row)?;
        self.count_row(row.len(), cve_count);
        self.recent_rows.remember(row, cve_count);
        Ok(())
    }

    /// Writes a copy of a recent row; returns false (writing nothing) when there is none yet.
    fn write_recent_duplicate(&mut self, rng: &mut fastrand::Rng) -> io::Result<bool> {
        let Some(recent) = self.recent_rows.pick(rng) else {
            return Ok(false);
        };
        self.out.write_all(&recent.bytes)?;
        let (row_len, cve_count) = (recent.bytes.len(), recent.cve_count);
        self.count_row(row_len, cve_count);
        self.stats.duplicate_rows += 1;
        Ok(true)
    }

    fn count_row(&mut self, row_len: usize, cve_count: u64) {
        self.stats.rows += 1;
        self.stats.bytes += row_len as u64;
        self.stats.cve_ids += cve_count;
    }

    fn finish(mut self) -> io::Result<GenerateStats> {
        self.out.flush()?;
        Ok(self.stats)
    }
}

/// A ring buffer of the last [`RECENT_ROWS`] rows written, reusing its allocations.
#[derive(Default)]
struct RecentRows {
    rows: Vec<RecentRow>,
    next_slot: usize,
}

struct RecentRow {
    bytes: Vec<u8>,
    cve_count: u64,
}

impl RecentRows {
    fn remember(&mut self, row: &[u8], cve_count: u64) {
        if self.rows.len() < RECENT_ROWS {
            self.rows.push(RecentRow {
                bytes: row.to_vec(),
                cve_count,
            });
        } else {
            let slot = &mut self.rows[self.next_slot];
            slot.bytes.clear();
            slot.bytes.extend_from_slice(row);
            slot.cve_count = cve_count;
        }
        self.next_slot = (self.next_slot + 1) % RECENT_ROWS;
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> Option<&RecentRow> {
        if self.rows.is_empty() {
            None
        } else {
            Some(&self.rows[rng.usize(..self.rows.len())])
        }
    }
}

/// Builds one finding row: the host's cells, the definition's cells, then state and dates.
fn compose_row(
    row: &mut Vec<u8>,
    rng: &mut fastrand::Rng,
    host: &Host,
    definition: &Definition,
    scan_date: NaiveDate,
) {
    row.clear();
    row.extend_from_slice(&host.cells);
    row.push(b',');
    row.extend_from_slice(&definition.cells);
    row.extend_from_slice(if rng.f64() < REOPENED_SHARE {
        b",Reopened,"
    } else {
        b",Open,"
    });

    let days_since_published = (scan_date - definition.published).num_days().unsigned_abs();
    let age_days = rng.u64(..=days_since_published.min(MAX_FINDING_AGE_DAYS));
    let first_found = scan_date - Days::new(age_days);
    let first_found_second = if age_days == 0 {
        host.scan_second
    } else {
        rng.u32(..SECONDS_PER_DAY)
    };
    push_timestamp(row, first_found, first_found_second);
    row.push(b',');
    push_timestamp(row, scan_date, host.scan_second);
    row.push(b'\n');
}

const SECONDS_PER_DAY: u32 = 86_400;

/// Appends `2026-01-05T03:14:07.000Z`.
fn push_timestamp(buffer: &mut Vec<u8>, date: NaiveDate, second_of_day: u32) {
    write!(
        buffer,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        date.year(),
        date.month(),
        date.day(),
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
    .expect("writing to a Vec cannot fail");
}

/// Appends one CSV cell, quoted (with inner quotes doubled) when it holds a comma, quote or line break.
fn push_cell(buffer: &mut Vec<u8>, value: &str) {
    if value
        .bytes()
        .any(|byte| matches!(byte, b',' | b'"' | b'\n' | b'\r'))
    {
        buffer.push(b'"');
        for byte in value.bytes() {
            if byte == b'"' {
                buffer.push(b'"');
            }
            buffer.push(byte);
        }
        buffer.push(b'"');
    } else {
        buffer.extend_from_slice(value.as_bytes());
    }
}

/// Appends a score kept in tenths, e.g. 75 → `7.5`.
fn push_tenths(buffer: &mut Vec<u8>, tenths: u8) {
    write!(buffer, "{}.{}", tenths / 10, tenths % 10).expect("writing to a Vec cannot fail");
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Platform {
    #[default]
    Windows,
    Linux,
    Network,
    /// Definitions that apply to any host (services, certificates, scan information).
    Any,
}

const PLATFORMS: [Platform; 4] = [
    Platform::Windows,
    Platform::Linux,
    Platform::Network,
    Platform::Any,
];

impl Platform {
    fn index(self) -> usize {
        self as usize
    }
}

/// The host whose rows are being written; regenerated in place for every host.
#[derive(Default)]
struct Host {
    /// CSV cells `asset.id` … `asset.operating_systems`, comma-joined.
    cells: Vec<u8>,
    platform: Platform,
    /// Time of day the host was scanned, in seconds.
    scan_second: u32,
    /// How many hosts were generated before this one.
    sequence: u32,
    text: String,
}

impl Host {
    fn generate(&mut self, rng: &mut fastrand::Rng, role_counters: &mut [u32; ROLES.len()]) {
        let role_index = rng.usize(..ROLES.len());
        let (role, platform) = ROLES[role_index];
        role_counters[role_index] += 1;
        self.platform = platform;
        self.scan_second = rng.u32(3_600..7 * 3_600);
        self.cells.clear();
        let text = &mut self.text;

        text.clear();
        push_uuid(text, rng);
        push_cell(&mut self.cells, text);

        text.clear();
        let site = char::from(b'a' + rng.u8(..8));
        write!(
            text,
            "{role}-{:03}.site-{site}.example",
            role_counters[role_index]
        )
        .expect("writing to a String cannot fail");
        self.cells.push(b',');
        push_cell(&mut self.cells, text);

        text.clear();
        push_host_address(text, self.sequence);
        self.sequence = self.sequence.wrapping_add(1);
        self.cells.push(b',');
        push_cell(&mut self.cells, text);
        if rng.f64() < 0.15 {
            write!(text, ", 192.168.{}.{}", rng.u8(..), rng.u8(1..255))
                .expect("writing to a String cannot fail");
        }
        self.cells.push(b',');
        push_cell(&mut self.cells, text);

        self.cells.push(b',');
        let operating_systems = match platform {
            Platform::Windows if matches!(role, "ws" | "vdi") => WINDOWS_CLIENT_OS,
            Platform::Windows => WINDOWS_SERVER_OS,
            Platform::Linux => LINUX_OS,
            Platform::Network | Platform::Any => NETWORK_OS,
        };
        let operating_system = *pick(rng, operating_systems);
        push_cell(&mut self.cells, operating_system);
    }
}

/// Appends the IPv4 address of host number `sequence`: distinct in 10.0.0.0/8 for the first
/// 16.6 million hosts, scattered over the subnets.
fn push_host_address(text: &mut String, sequence: u32) {
    let subnet = (sequence / 254).wrapping_mul(40_503) & 0xffff;
    let host = sequence % 254 * 97 % 254 + 1;
    write!(text, "10.{}.{}.{host}", subnet >> 8, subnet & 0xff)
        .expect("writing to a String cannot fail");
}

/// Appends a random version-4 UUID.
fn push_uuid(text: &mut String, rng: &mut fastrand::Rng) {
    let high = (rng.u64(..) & 0xffff_ffff_ffff_0fff) | 0x4000;
    let low = (rng.u64(..) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    write!(
        text,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
    .expect("writing to a String cannot fail");
}

/// Host name prefixes and the platform of such hosts.
const ROLES: [(&str, Platform); 20] = [
    ("dc", Platform::Windows),
    ("file", Platform::Windows),
    ("app", Platform::Windows),
    ("sql", Platform::Windows),
    ("exch", Platform::Windows),
    ("rds", Platform::Windows),
    ("ws", Platform::Windows),
    ("vdi", Platform::Windows),
    ("web", Platform::Linux),
    ("api", Platform::Linux),
    ("db", Platform::Linux),
    ("k8s", Platform::Linux),
    ("log", Platform::Linux),
    ("proxy", Platform::Linux),
    ("build", Platform::Linux),
    ("fw", Platform::Network),
    ("sw", Platform::Network),
    ("rtr", Platform::Network),
    ("ap", Platform::Network),
    ("vpn", Platform::Network),
];

const WINDOWS_SERVER_OS: &[&str] = &[
    "Microsoft Windows Server 2016 Standard",
    "Microsoft Windows Server 2019 Standard",
    "Microsoft Windows Server 2019 Datacenter",
    "Microsoft Windows Server 2022 Standard",
    "Microsoft Windows Server 2022 Datacenter",
];
const WINDOWS_CLIENT_OS: &[&str] = &[
    "Microsoft Windows 10 Enterprise 22H2",
    "Microsoft Windows 11 Enterprise 23H2",
    "Microsoft Windows 11 Pro 22H2",
];
const LINUX_OS: &[&str] = &[
    "Ubuntu 20.04 LTS",
    "Ubuntu 22.04 LTS",
    "Red Hat Enterprise Linux 8.9",
    "Red Hat Enterprise Linux 9.3",
    "Debian 12 (bookworm)",
    "Rocky Linux 9.3",
    "Amazon Linux 2023",
];
const NETWORK_OS: &[&str] = &[
    "Cisco IOS XE 17.9.4",
    "Cisco Adaptive Security Appliance 9.18",
    "Palo Alto Networks PAN-OS 10.2.7",
    "Fortinet FortiOS 7.2.6",
    "Juniper Junos OS 21.4R3",
    "ArubaOS 8.10.0",
];

/// One vulnerability definition (plugin), pre-encoded for fast row writing.
struct Definition {
    /// CSV cells `definition.cve` … `severity`, comma-joined.
    cells: Vec<u8>,
    cve_count: u64,
    published: NaiveDate,
}

/// The definitions of one export, with the definitions of each platform in order of popularity.
struct Catalogue {
    definitions: Vec<Definition>,
    pools: [Vec<usize>; PLATFORMS.len()],
}

impl Catalogue {
    fn generate(rng: &mut fastrand::Rng, size: usize, scan_date: NaiveDate) -> Self {
        let mut builder = DefinitionBuilder::default();
        let mut definitions = Vec::with_capacity(size);
        let mut pools: [Vec<usize>; PLATFORMS.len()] = Default::default();
        let mut plugin_id = 10_000 + rng.u32(..500);
        for index in 0..size {
            let platform = PLATFORMS[index % PLATFORMS.len()];
            plugin_id += rng.u32(1..48);
            let pool = &mut pools[platform.index()];
            let kind = Kind::choose(rng, platform, pool.len());
            definitions.push(builder.build(rng, kind, platform, plugin_id, scan_date));
            pool.push(index);
        }
        Self { definitions, pools }
    }

    /// Fills `chosen` with the distinct definitions found on one host of `platform`.
    fn choose_findings(
        &self,
        rng: &mut fastrand::Rng,
        platform: Platform,
        chosen: &mut Vec<usize>,
    ) {
        chosen.clear();
        for _ in 0..rng.u32(1..=MAX_FINDINGS_PER_HOST) {
            let (pool, exponent) = if rng.f64() < OWN_PLATFORM_SHARE {
                (&self.pools[platform.index()], PLATFORM_POPULARITY_EXPONENT)
            } else {
                (
                    &self.pools[Platform::Any.index()],
                    ANY_HOST_POPULARITY_EXPONENT,
                )
            };
            // Every pool holds at least 100 definitions, more than a host's findings, so a free one exists.
            let mut position = ((pool.len() as f64) * rng.f64().powf(exponent)) as usize;
            while chosen.contains(&pool[position % pool.len()]) {
                position += 1;
            }
            chosen.push(pool[position % pool.len()]);
        }
    }
}

/// What kind of finding a definition reports.
enum Kind {
    /// Vulnerable software, with CVE ids.
    Software,
    /// A weak configuration or information from the scan, without CVE ids.
    Fixed(&'static FixedFinding),
}

impl Kind {
    /// The kind of the definition at `pool_position` (0 is the most popular) of `platform`'s pool.
    ///
    /// The most popular definitions that apply to any host report scan information, which tops
    /// real exports too.
    fn choose(rng: &mut fastrand::Rng, platform: Platform, pool_position: usize) -> Self {
        if platform == Platform::Any && pool_position < INFORMATION_FINDINGS.len() {
            return Kind::Fixed(&INFORMATION_FINDINGS[pool_position]);
        }
        let (software_share, configuration_share) = match platform {
            Platform::Any => (0.50, 0.25),
            _ => (0.88, 0.07),
        };
        let roll = rng.f64();
        if roll < software_share {
            Kind::Software
        } else if roll < software_share + configuration_share {
            Kind::Fixed(pick(rng, CONFIGURATION_FINDINGS))
        } else {
            Kind::Fixed(pick(rng, INFORMATION_FINDINGS))
        }
    }
}

/// Builds definitions, reusing its text buffers.
#[derive(Default)]
struct DefinitionBuilder {
    cve: String,
    name: String,
    description: String,
    solution: String,
}

impl DefinitionBuilder {
    fn build(
        &mut self,
        rng: &mut fastrand::Rng,
        kind: Kind,
        platform: Platform,
        plugin_id: u32,
        scan_date: NaiveDate,
    ) -> Definition {
        for text in [
            &mut self.cve,
            &mut self.name,
            &mut self.description,
            &mut self.solution,
        ] {
            text.clear();
        }

        let (family, port, protocol, cvss_tenths, cve_count, published_days_ago) = match kind {
            Kind::Software => {
                let cve_count = software_cve_count(rng);
                let subject = self.write_software_name(rng, platform, cve_count);
                self.write_software_description_and_solution(rng, &subject, platform, cve_count);
                self.write_cve_ids(rng, cve_count, scan_date);
                let cvss_tenths = match rng.u8(..100) {
                    0..15 => rng.u8(90..=100),
                    15..50 => rng.u8(70..90),
                    50..88 => rng.u8(40..70),
                    _ => rng.u8(20..40),
                };
                let published = rng.u64(14..2_500);
                (
                    subject.family,
                    subject.port,
                    subject.protocol,
                    cvss_tenths,
                    cve_count,
                    published,
                )
            }
            Kind::Fixed(finding) => {
                let published = match finding.cvss_tenths {
                    0 => rng.u64(2_000..7_000),
                    _ => rng.u64(400..4_000),
                };
                self.name.push_str(finding.name);
                self.description.push_str(finding.description);
                if rng.f64() < 0.3 {
                    self.description.push(' ');
                    let note = *pick(rng, GENERAL_NOTES);
                    self.description.push_str(note);
                }
                self.solution.push_str(finding.solution);
                (
                    finding.family,
                    finding.port,
                    finding.protocol,
                    finding.cvss_tenths,
                    0,
                    published,
                )
            }
        };
        let vpr_tenths = match cvss_tenths {
            0 => rng.u8(1..=10),
            _ => cvss_tenths.saturating_sub(rng.u8(..30)).clamp(1, 100),
        };
        let published = scan_date - Days::new(published_days_ago);

        let mut cells = Vec::with_capacity(1024);
        push_cell(&mut cells, &self.cve);
        write!(cells, ",{plugin_id},").expect("writing to a Vec cannot fail");
        push_cell(&mut cells, &self.name);
        cells.push(b',');
        push_cell(&mut cells, &self.description);
        cells.push(b',');
        push_cell(&mut cells, &self.solution);
        cells.push(b',');
        push_cell(&mut cells, family);
        cells.push(b',');
        push_tenths(&mut cells, vpr_tenths);
        cells.push(b',');
        push_tenths(&mut cells, cvss_tenths);
        cells.push(b',');
        push_timestamp(&mut cells, published, 0);
        write!(cells, ",{port},{protocol},{}", severity_word(cvss_tenths))
            .expect("writing to a Vec cannot fail");
        cells.shrink_to_fit();
        Definition {
            cells,
            cve_count,
            published,
        }
    }

    /// Writes the name of a software definition and returns what it is about.
    fn write_software_name(
        &mut self,
        rng: &mut fastrand::Rng,
        platform: Platform,
        cve_count: u64,
    ) -> SoftwareSubject {
        let year = rng.u16(2019..=2025);
        let fixed_version = format!("{}.{}.{}", rng.u8(1..20), rng.u8(..13), rng.u8(..41));
        let name = &mut self.name;
        if platform == Platform::Linux {
            let release = pick(rng, LINUX_RELEASES);
            let package = *pick(rng, LINUX_PACKAGES);
            let advisory = if release.dated_advisories {
                format!(
                    "{}-{year}:{}",
                    release.advisory_prefix,
                    rng.u16(1_000..9_000)
                )
            } else {
                format!(
                    "{}-{}-{}",
                    release.advisory_prefix,
                    rng.u16(4_000..7_000),
                    rng.u8(1..4)
                )
            };
            let plural = if cve_count > 1 { "ies" } else { "y" };
            write!(
                name,
                "{} : {package} vulnerabilit{plural} ({advisory})",
                release.name
            )
            .expect("writing to a String cannot fail");
            return SoftwareSubject {
                product: package,
                family: release.family,
                port: 0,
                protocol: "tcp",
                advisory,
                fixed_version,
            };
        }

        let product = pick(rng, software_products(platform));
        let advisory = if platform == Platform::Windows {
            format!("KB50{:05}", rng.u32(..100_000))
        } else {
            format!("{}-{year}-{:04}", product.advisory_prefix, rng.u16(1..400))
        };
        let headline = if cve_count > 1 {
            "Multiple Vulnerabilities".to_owned()
        } else {
            format!("{} Vulnerability", pick(rng, FLAWS).title)
        };
        let written = match rng.u8(..3) {
            0 if platform == Platform::Windows => write!(
                name,
                "{advisory}: {} {} {year} Security Update",
                product.name,
                pick(rng, MONTHS)
            ),
            0 | 1 => write!(name, "{} < {fixed_version} {headline}", product.name),
            _ => write!(name, "{} {headline} ({advisory})", product.name),
        };
        written.expect("writing to a String cannot fail");
        SoftwareSubject {
            product: product.name,
            family: product.family,
            port: product.port,
            protocol: product.protocol,
            advisory,
            fixed_version,
        }
    }

    fn write_software_description_and_solution(
        &mut self,
        rng: &mut fastrand::Rng,
        subject: &SoftwareSubject,
        platform: Platform,
        cve_count: u64,
    ) {
        let SoftwareSubject {
            product,
            advisory,
            fixed_version,
            ..
        } = subject;
        let description = &mut self.description;
        let affected_by = if cve_count > 1 {
            "multiple vulnerabilities"
        } else {
            "a vulnerability"
        };
        let written = if rng.f64() < 0.4 {
            write!(
                description,
                "The version of {product} installed on the remote host is prior to {fixed_version}. \
                 It is, therefore, affected by {affected_by} as referenced in the {advisory} \
                 advisory."
            )
        } else {
            write!(
                description,
                "{product} before {fixed_version} is affected by {affected_by}."
            )
        };
        written.expect("writing to a String cannot fail");
        let listed = rng.f64() < 0.2;
        let flaw_sentences = if cve_count > 1 && rng.f64() < 0.25 {
            2
        } else {
            1
        };
        for _ in 0..flaw_sentences {
            let flaw = pick(rng, FLAWS);
            let component = pick(rng, COMPONENTS);
            description.push_str(if listed { "\n\n  - " } else { " " });
            let written = if rng.f64() < 0.15 {
                write!(
                    description,
                    "{} exists in the \"{component}\" component",
                    flaw.text
                )
            } else {
                write!(description, "{} exists in the {component}", flaw.text)
            };
            written.expect("writing to a String cannot fail");
            if rng.bool() {
                write!(description, " due to {}", pick(rng, CAUSES))
                    .expect("writing to a String cannot fail");
            }
            write!(
                description,
                ". {} can exploit this to {}.",
                pick(rng, ATTACKERS),
                pick(rng, IMPACTS)
            )
            .expect("writing to a String cannot fail");
        }
        if rng.f64() < 0.05 {
            description.push_str(
                " Note that Nessus has not tested for these issues but has instead relied only on \
                 the application's self-reported version number.",
            );
        }

        let solution = &mut self.solution;
        let written = match platform {
            Platform::Linux => write!(solution, "Update the affected {product} packages."),
            Platform::Windows if rng.bool() => write!(
                solution,
                "Apply security update {advisory}, or the latest cumulative update, to {product}."
            ),
            _ if rng.bool() => write!(
                solution,
                "Upgrade {product} to version {fixed_version} or later."
            ),
            _ => write!(
                solution,
                "Apply the fix referenced in the vendor advisory {advisory}."
            ),
        };
        written.expect("writing to a String cannot fail");
        if rng.f64() < 0.25 {
            write!(
                solution,
                " Until the update can be applied, restrict network access to the {} to trusted \
                 hosts.",
                pick(rng, COMPONENTS)
            )
            .expect("writing to a String cannot fail");
        }
    }

    fn write_cve_ids(&mut self, rng: &mut fastrand::Rng, cve_count: u64, scan_date: NaiveDate) {
        let separator = if rng.f64() < 0.9 { ", " } else { "," };
        let newest_year = scan_date.year();
        let mut id = String::new();
        for index in 0..cve_count {
            // Ids within one cell are distinct, so each counts as one record.
            loop {
                id.clear();
                let year = rng.i32(newest_year - 8..=newest_year);
                write!(id, "CVE-{year}-{}", rng.u32(1_000..53_000))
                    .expect("writing to a String cannot fail");
                if !self.cve.contains(&id) {
                    break;
                }
            }
            if index > 0 {
                self.cve.push_str(separator);
            }
            self.cve.push_str(&id);
        }
    }
}

/// CVE ids of a software definition: 1–6, about 2.8 on average.
fn software_cve_count(rng: &mut fastrand::Rng) -> u64 {
    match rng.u8(..100) {
        0..12 => 1,
        12..43 => 2,
        43..75 => 3,
        75..91 => 4,
        91..96 => 5,
        _ => 6,
    }
}

/// Severity from a CVSS score in tenths (9.0+ Critical, 7.0+ High, 4.0+ Medium, 0.1+ Low).
fn severity_word(cvss_tenths: u8) -> &'static str {
    match cvss_tenths {
        90.. => "Critical",
        70..90 => "High",
        40..70 => "Medium",
        1..40 => "Low",
        0 => "Info",
    }
}

struct Product {
    name: &'static str,
    family: &'static str,
    port: u16,
    protocol: &'static str,
    advisory_prefix: &'static str,
}

const fn product(
    name: &'static str,
    family: &'static str,
    port: u16,
    advisory_prefix: &'static str,
) -> Product {
    Product {
        name,
        family,
        port,
        protocol: "tcp",
        advisory_prefix,
    }
}

fn software_products(platform: Platform) -> &'static [Product] {
    match platform {
        Platform::Windows => WINDOWS_PRODUCTS,
        Platform::Network => NETWORK_PRODUCTS,
        Platform::Linux | Platform::Any => SERVICE_PRODUCTS,
    }
}

const WINDOWS_PRODUCTS: &[Product] = &[
    product(
        "Windows Server 2019",
        "Windows : Microsoft Bulletins",
        445,
        "MS",
    ),
    product(
        "Windows Server 2022",
        "Windows : Microsoft Bulletins",
        445,
        "MS",
    ),
    product("Windows 11", "Windows : Microsoft Bulletins", 445, "MS"),
    product("Microsoft Edge (Chromium)", "Windows", 0, "MS"),
    product("Microsoft Office", "Windows : Microsoft Bulletins", 0, "MS"),
    product(
        "Microsoft .NET Framework",
        "Windows : Microsoft Bulletins",
        0,
        "MS",
    ),
    product("Microsoft Exchange Server", "Windows", 443, "MS"),
    product("Microsoft SQL Server", "Databases", 1433, "MS"),
    product("Google Chrome", "Windows", 0, "GCSA"),
    product("Mozilla Firefox", "Windows", 0, "MFSA"),
    product("Adobe Acrobat Reader", "Windows", 0, "APSB"),
    product("Oracle Java SE", "Windows", 0, "CPU"),
    product("7-Zip", "Windows", 0, "7Z"),
    product("VMware Tools", "Windows", 0, "VMSA"),
];

/// The facts a software definition's texts are built from.
struct SoftwareSubject {
    product: &'static str,
    family: &'static str,
    port: u16,
    protocol: &'static str,
    advisory: String,
    fixed_version: String,
}

const LINUX_PACKAGES: &[&str] = &[
    "openssl",
    "openssh",
    "linux",
    "glibc",
    "sudo",
    "curl",
    "apache2",
    "nginx",
    "postgresql",
    "samba",
    "bind9",
    "systemd",
    "python3",
    "libxml2",
    "expat",
    "zlib",
];

/// A Linux release checked by local security checks, with the style of its advisory ids.
struct LinuxRelease {
    name: &'static str,
    family: &'static str,
    advisory_prefix: &'static str,
    /// `RHSA-2024:1234` rather than `USN-6543-1`.
    dated_advisories: bool,
}

const LINUX_RELEASES: &[LinuxRelease] = &[
    LinuxRelease {
        name: "Ubuntu 20.04 LTS",
        family: "Ubuntu Local Security Checks",
        advisory_prefix: "USN",
        dated_advisories: false,
    },
    LinuxRelease {
        name: "Ubuntu 22.04 LTS",
        family: "Ubuntu Local Security Checks",
        advisory_prefix: "USN",
        dated_advisories: false,
    },
    LinuxRelease {
        name: "RHEL 8",
        family: "Red Hat Local Security Checks",
        advisory_prefix: "RHSA",
        dated_advisories: true,
    },
    LinuxRelease {
        name: "RHEL 9",
        family: "Red Hat Local Security Checks",
        advisory_prefix: "RHSA",
        dated_advisories: true,
    },
    LinuxRelease {
        name: "Debian 12",
        family: "Debian Local Security Checks",
        advisory_prefix: "DSA",
        dated_advisories: false,
    },
];

const NETWORK_PRODUCTS: &[Product] = &[
    product("Cisco IOS XE Software", "CISCO", 0, "cisco-sa-iosxe"),
    product("Cisco ASA Software", "CISCO", 443, "cisco-sa-asaftd"),
    product("Cisco NX-OS Software", "CISCO", 0, "cisco-sa-nxos"),
    product(
        "Palo Alto Networks PAN-OS",
        "Palo Alto Local Security Checks",
        443,
        "PAN-SA",
    ),
    product("Fortinet FortiOS", "Firewalls", 443, "FG-IR"),
    product("Juniper Junos OS", "Junos Local Security Checks", 0, "JSA"),
    product("F5 BIG-IP", "F5 Networks Local Security Checks", 443, "K"),
    product("Aruba ArubaOS", "Misc.", 4343, "ARUBA-PSA"),
];

const SERVICE_PRODUCTS: &[Product] = &[
    product("Apache Tomcat", "Web Servers", 8080, "TOMCAT"),
    product("Apache HTTP Server", "Web Servers", 443, "HTTPD"),
    product("nginx", "Web Servers", 80, "NGINX"),
    product("OpenSSH", "Misc.", 22, "OPENSSH"),
    product("OpenSSL", "Web Servers", 443, "OPENSSL"),
    product("VMware ESXi", "Misc.", 443, "VMSA"),
    product("jQuery", "CGI abuses : XSS", 443, "JQUERY"),
    product("PHP", "CGI abuses", 80, "PHP"),
    product("Jenkins", "CGI abuses", 8080, "JENKINS-SA"),
    product("Elasticsearch", "Databases", 9200, "ESA"),
    product("Oracle WebLogic Server", "Web Servers", 7001, "CPU"),
    product("Apache Log4j", "Misc.", 0, "LOG4J"),
];

struct Flaw {
    /// Starts a sentence: "A heap-based buffer overflow".
    text: &'static str,
    title: &'static str,
}

const FLAWS: &[Flaw] = &[
    Flaw {
        text: "A buffer overflow vulnerability",
        title: "Buffer Overflow",
    },
    Flaw {
        text: "A heap-based buffer overflow",
        title: "Heap Overflow",
    },
    Flaw {
        text: "A use-after-free vulnerability",
        title: "Use-After-Free",
    },
    Flaw {
        text: "An out-of-bounds read",
        title: "Out-of-Bounds Read",
    },
    Flaw {
        text: "An out-of-bounds write",
        title: "Out-of-Bounds Write",
    },
    Flaw {
        text: "An integer overflow",
        title: "Integer Overflow",
    },
    Flaw {
        text: "An SQL injection vulnerability",
        title: "SQL Injection",
    },
    Flaw {
        text: "A cross-site scripting (XSS) vulnerability",
        title: "Cross-Site Scripting",
    },
    Flaw {
        text: "A path traversal vulnerability",
        title: "Path Traversal",
    },
    Flaw {
        text: "A privilege escalation vulnerability",
        title: "Privilege Escalation",
    },
    Flaw {
        text: "A denial of service (DoS) vulnerability",
        title: "Denial of Service",
    },
    Flaw {
        text: "An information disclosure vulnerability",
        title: "Information Disclosure",
    },
    Flaw {
        text: "An authentication bypass vulnerability",
        title: "Authentication Bypass",
    },
    Flaw {
        text: "A remote code execution vulnerability",
        title: "Remote Code Execution",
    },
    Flaw {
        text: "A server-side request forgery (SSRF) vulnerability",
        title: "SSRF",
    },
    Flaw {
        text: "An XML external entity (XXE) vulnerability",
        title: "XXE Injection",
    },
    Flaw {
        text: "A race condition",
        title: "Race Condition",
    },
    Flaw {
        text: "A NULL pointer dereference",
        title: "NULL Pointer Dereference",
    },
];

const COMPONENTS: &[&str] = &[
    "HTTP/2 request handler",
    "TLS handshake implementation",
    "SMB server",
    "kernel networking stack",
    "print spooler service",
    "web management interface",
    "XML parser",
    "authentication module",
    "DNS resolver",
    "file upload handler",
    "SNMP subsystem",
    "SSL VPN portal",
    "session manager",
    "image decoding library",
    "JavaScript engine",
    "LDAP client",
];

const CAUSES: &[&str] = &[
    "improper bounds checking",
    "insufficient validation of user-supplied input",
    "a missing authorization check",
    "incorrect handling of specially crafted packets",
    "improper memory management",
    "an unchecked return value",
    "a logic error in session handling",
    "improper sanitization of HTTP headers",
];

const ATTACKERS: &[&str] = &[
    "An unauthenticated, remote attacker",
    "An authenticated, remote attacker",
    "A local attacker",
    "An attacker on an adjacent network",
];

const IMPACTS: &[&str] = &[
    "execute arbitrary code with elevated privileges",
    "cause a denial of service condition",
    "disclose sensitive information",
    "bypass authentication and gain administrative access",
    "escalate privileges to SYSTEM",
    "read arbitrary files on the affected system",
    "inject arbitrary script into a user's browser session",
    "modify data without authorization",
];

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const GENERAL_NOTES: &[&str] = &[
    "Note that this plugin only reports the issue once per host, even if it is detected on several \
     ports.",
    "This finding is based on the banner and the configuration reported by the remote service.",
    "Nessus did not attempt to exploit this issue; it relied on the information reported by the \
     remote service.",
];

/// A finding that is not tied to a software version: a weakness or information from the scan.
struct FixedFinding {
    name: &'static str,
    family: &'static str,
    port: u16,
    protocol: &'static str,
    cvss_tenths: u8,
    description: &'static str,
    solution: &'static str,
}

const CONFIGURATION_FINDINGS: &[FixedFinding] = &[
    FixedFinding {
        name: "SSL Certificate Cannot Be Trusted",
        family: "General",
        port: 443,
        protocol: "tcp",
        cvss_tenths: 65,
        description: "The server's X.509 certificate cannot be trusted. This situation can occur in \
                      three different ways, in which the chain of trust can be broken: the top of \
                      the certificate chain is not a recognized public certificate authority, a \
                      certificate in the chain has expired, or a signature does not match.",
        solution: "Purchase or generate a proper SSL certificate for this service.",
    },
    FixedFinding {
        name: "TLS Version 1.0 Protocol Detection",
        family: "Service detection",
        port: 443,
        protocol: "tcp",
        cvss_tenths: 65,
        description: "The remote service accepts connections encrypted using TLS 1.0. TLS 1.0 has a \
                      number of cryptographic design flaws. Modern implementations of TLS 1.0 \
                      mitigate these problems, but newer versions of TLS like 1.2 and 1.3 are \
                      designed against these flaws and should be used whenever possible.",
        solution: "Enable support for TLS 1.2 and 1.3, and disable support for TLS 1.0.",
    },
    FixedFinding {
        name: "SMB Signing not required",
        family: "Misc.",
        port: 445,
        protocol: "tcp",
        cvss_tenths: 53,
        description: "Signing is not required on the remote SMB server. An unauthenticated, remote \
                      attacker can exploit this to conduct man-in-the-middle attacks against the \
                      SMB server.",
        solution: "Enforce message signing in the host's configuration. On Windows, this is found \
                   in the policy setting \"Microsoft network server: Digitally sign communications \
                   (always)\".",
    },
    FixedFinding {
        name: "SSH Weak Key Exchange Algorithms Enabled",
        family: "Misc.",
        port: 22,
        protocol: "tcp",
        cvss_tenths: 37,
        description: "The remote SSH server is configured to allow key exchange algorithms which are \
                      considered weak. This is based on the IETF draft document Key Exchange (KEX) \
                      Method Updates and Recommendations for Secure Shell (SSH).",
        solution: "Contact the vendor or consult product documentation to disable the weak \
                   algorithms.",
    },
    FixedFinding {
        name: "SNMP Agent Default Community Name (public)",
        family: "SNMP",
        port: 161,
        protocol: "udp",
        cvss_tenths: 75,
        description: "It is possible to obtain the default community name of the remote SNMP server. \
                      An attacker may use this information to gain more knowledge about the remote \
                      host, or to change the configuration of the remote system, if the default \
                      community allows such modifications.",
        solution: "Disable the SNMP service on the remote host if you do not use it. Either filter \
                   incoming UDP packets going to this port, or change the default community string.",
    },
    FixedFinding {
        name: "HTTP TRACE / TRACK Methods Allowed",
        family: "Web Servers",
        port: 80,
        protocol: "tcp",
        cvss_tenths: 53,
        description: "The remote web server supports the TRACE and/or TRACK methods. TRACE and TRACK \
                      are HTTP methods that are used to debug web server connections.",
        solution: "Disable these HTTP methods. Refer to the plugin output for more information.",
    },
    FixedFinding {
        name: "Unencrypted Telnet Server",
        family: "Misc.",
        port: 23,
        protocol: "tcp",
        cvss_tenths: 65,
        description: "The remote host is running a Telnet server over an unencrypted channel. Using \
                      Telnet over an unencrypted channel is not recommended as logins, passwords, \
                      and commands are transferred in cleartext.",
        solution: "Disable the Telnet service and use SSH instead.",
    },
    FixedFinding {
        name: "Terminal Services Doesn't Use Network Level Authentication (NLA) Only",
        family: "Windows",
        port: 3389,
        protocol: "tcp",
        cvss_tenths: 40,
        description: "The remote Terminal Services is not configured to use Network Level \
                      Authentication (NLA) only. NLA uses the Credential Security Support Provider \
                      (CredSSP) protocol to perform strong server authentication either through \
                      TLS/SSL or Kerberos mechanisms, which protect against man-in-the-middle \
                      attacks.",
        solution: "Enable Network Level Authentication (NLA) on the remote RDP server. This is \
                   generally done on the 'Remote' tab of the 'System' settings on Windows.",
    },
    FixedFinding {
        name: "NTP ntpd Mode 6 Query Detection",
        family: "Misc.",
        port: 123,
        protocol: "udp",
        cvss_tenths: 53,
        description: "The remote NTP server responds to mode 6 queries. Devices that respond to these \
                      queries have the potential to be used in NTP amplification attacks. An \
                      unauthenticated, remote attacker could potentially exploit this, via a \
                      specially crafted mode 6 query, to cause a reflected denial of service \
                      condition.",
        solution: "Restrict NTP mode 6 queries.",
    },
];

/// In order of popularity: the first ones are found on nearly every host.
const INFORMATION_FINDINGS: &[FixedFinding] = &[
    FixedFinding {
        name: "Nessus Scan Information",
        family: "Settings",
        port: 0,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "This plugin displays, for each tested host, information about the scan itself: \
                      the version of the plugin set, the type of scanner, the port scanner used, \
                      the port range scanned, whether credentialed or third-party patch management \
                      checks are possible, the date of the scan, its duration and the number of \
                      hosts scanned in parallel.",
        solution: "n/a",
    },
    FixedFinding {
        name: "OS Identification",
        family: "General",
        port: 0,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "Using a combination of remote probes (e.g., TCP/IP, SMB, HTTP, NTP, SNMP, \
                      etc.), it is possible to guess the name of the remote operating system in \
                      use. It is also possible sometimes to guess the version of the operating \
                      system.",
        solution: "n/a",
    },
    FixedFinding {
        name: "Common Platform Enumeration (CPE)",
        family: "General",
        port: 0,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "By using information obtained from a Nessus scan, this plugin reports CPE \
                      (Common Platform Enumeration) matches for various hardware and software \
                      products found on a host. Note that if an official CPE is not available for \
                      the product, this plugin computes the best possible CPE based on the \
                      information available from the scan.",
        solution: "n/a",
    },
    FixedFinding {
        name: "Traceroute Information",
        family: "General",
        port: 0,
        protocol: "udp",
        cvss_tenths: 0,
        description: "Makes a traceroute to the remote host.",
        solution: "n/a",
    },
    FixedFinding {
        name: "Host Fully Qualified Domain Name (FQDN) Resolution",
        family: "General",
        port: 0,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "Nessus was able to resolve the fully qualified domain name (FQDN) of the \
                      remote host.",
        solution: "n/a",
    },
    FixedFinding {
        name: "Nessus SYN scanner",
        family: "Port scanners",
        port: 443,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "This plugin is a SYN 'half-open' port scanner. It shall be reasonably quick \
                      even against a firewalled target. Note that SYN scans are less intrusive \
                      than TCP (full connect) scans against broken services, but they might cause \
                      problems for less robust firewalls and also leave unclosed connections on \
                      the remote target, if the network is loaded.",
        solution: "n/a",
    },
    FixedFinding {
        name: "Service Detection",
        family: "Service detection",
        port: 443,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "Nessus was able to identify the remote service by its banner or by looking at \
                      the error message it sends when it receives an HTTP request.",
        solution: "n/a",
    },
    FixedFinding {
        name: "SSH Server Type and Version Information",
        family: "Service detection",
        port: 22,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "It is possible to obtain information about the remote SSH server by sending an \
                      empty authentication request.",
        solution: "n/a",
    },
    FixedFinding {
        name: "HTTP Server Type and Version",
        family: "Web Servers",
        port: 80,
        protocol: "tcp",
        cvss_tenths: 0,
        description: "This plugin attempts to determine the type and the version of the remote web \
                      server.",
        solution: "n/a",
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn generate(rows: u64, seed: u64) -> (Vec<u8>, GenerateStats) {
        let mut output = Vec::new();
        let stats = write_tenable_export(&mut output, &GenerateOptions::new(rows, seed))
            .expect("writing to a Vec cannot fail");
        (output, stats)
    }

    /// Splits CSV text into records of fields, following quotes (doubled quotes, line breaks).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut chars = text.chars().peekable();
        while let Some(character) = chars.next() {
            match (in_quotes, character) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => in_quotes = false,
                (true, _) => field.push(character),
                (false, '"') if field.is_empty() => in_quotes = true,
                (false, '"') => panic!("stray quote in an unquoted field: {field}"),
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, _) => field.push(character),
            }
        }
        assert!(!in_quotes, "a quote is never closed");
        assert!(
            field.is_empty() && record.is_empty(),
            "the last line has no line break"
        );
        records
    }

    fn column(name: &str) -> usize {
        COLUMNS
            .iter()
            .position(|column| *column == name)
            .expect("known column")
    }

    #[test]
    fn same_options_give_identical_output_and_seeds_differ() {
        let (first, first_stats) = generate(3_000, 7);
        let (second, second_stats) = generate(3_000, 7);
        let (other, _) = generate(3_000, 8);
        assert!(first == second, "same seed, different output");
        assert_eq!(first_stats, second_stats);
        assert!(first != other, "different seeds, same output");
    }

    #[test]
    fn writes_header_and_requested_rows_with_a_constant_field_count() {
        for rows in [0, 1, 17, 2_000] {
            let (output, stats) = generate(rows, 3);
            let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
            assert_eq!(records[0], COLUMNS);
            assert_eq!(records.len() as u64 - 1, rows);
            assert_eq!(stats.rows, rows);
            assert_eq!(stats.bytes, output.len() as u64);
            for (line, record) in records.iter().enumerate() {
                assert_eq!(record.len(), COLUMNS.len(), "record {line}: {record:?}");
            }
        }
    }

    #[test]
    fn quoted_cells_include_commas_quotes_and_line_breaks() {
        let (output, _) = generate(2_000, 11);
        let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
        let descriptions = records[1..]
            .iter()
            .map(|record| &record[column("definition.description")])
            .collect::<Vec<_>>();
        assert!(descriptions.iter().any(|text| text.contains('\n')));
        assert!(descriptions.iter().any(|text| text.contains('"')));
        assert!(descriptions.iter().any(|text| text.contains(',')));
    }

    #[test]
    fn average_row_size_is_about_700_bytes() {
        for seed in [1, 2, 3] {
            let (output, stats) = generate(2_000, seed);
            let header_len = COLUMNS.join(",").len() as u64 + 1;
            let average = (output.len() as u64 - header_len) / stats.rows;
            assert!(
                (600..=800).contains(&average),
                "seed {seed}: {average} bytes per row"
            );
        }
    }

    #[test]
    fn rows_carry_about_two_cve_ids_and_some_none() {
        for seed in [1, 2] {
            let (output, stats) = generate(20_000, seed);
            let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
            let mut counted_ids = 0;
            let mut rows_without_ids = 0;
            for record in &records[1..] {
                let cell = &record[column("definition.cve")];
                let ids = cell
                    .split(',')
                    .filter(|id| id.trim().starts_with("CVE-"))
                    .count();
                assert!(ids <= 6, "too many ids: {cell}");
                counted_ids += ids as u64;
                rows_without_ids += u64::from(ids == 0);
            }
            assert_eq!(counted_ids, stats.cve_ids);
            let average = counted_ids as f64 / stats.rows as f64;
            assert!(
                (1.6..=2.4).contains(&average),
                "seed {seed}: {average} CVE ids per row"
            );
            assert!(rows_without_ids > 0);
        }
    }

    #[test]
    fn about_one_percent_of_rows_duplicate_an_earlier_row_and_the_rest_have_distinct_keys() {
        let (output, stats) = generate(20_000, 5);
        let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
        let mut seen_rows = HashSet::new();
        let mut seen_keys = HashSet::new();
        let mut repeated_rows = 0;
        for record in &records[1..] {
            if seen_rows.insert(record.clone()) {
                let key = (
                    record[column("asset.id")].clone(),
                    record[column("definition.id")].clone(),
                );
                assert!(seen_keys.insert(key), "a new row repeats a key: {record:?}");
            } else {
                repeated_rows += 1;
            }
        }
        assert_eq!(repeated_rows, stats.duplicate_rows);
        assert!(
            (100..=300).contains(&repeated_rows),
            "{repeated_rows} duplicates in 20,000 rows"
        );
    }

    #[test]
    fn hosts_have_distinct_names_and_addresses_and_several_findings() {
        let (output, stats) = generate(8_000, 9);
        let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
        let hosts = records[1..]
            .iter()
            .map(|record| {
                (
                    &record[column("asset.id")],
                    &record[column("asset.name")],
                    &record[column("asset.display_ipv4_address")],
                )
            })
            .collect::<HashSet<_>>();
        let distinct = |index: usize| {
            records[1..]
                .iter()
                .map(|record| &record[index])
                .collect::<HashSet<_>>()
                .len()
        };
        assert_eq!(distinct(column("asset.id")), hosts.len());
        assert_eq!(distinct(column("asset.name")), hosts.len());
        assert_eq!(distinct(column("asset.display_ipv4_address")), hosts.len());
        let rows_per_host = stats.rows as f64 / hosts.len() as f64;
        assert!(
            (6.0..=10.0).contains(&rows_per_host),
            "{rows_per_host} rows per host"
        );
    }

    #[test]
    fn severity_matches_cvss_and_scores_are_in_range() {
        let (output, _) = generate(8_000, 9);
        let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
        for record in &records[1..] {
            let cvss: f64 = record[column("definition.cvss3.base_score")]
                .parse()
                .expect("cvss");
            let vpr: f64 = record[column("definition.vpr.score")].parse().expect("vpr");
            assert!((0.1..=10.0).contains(&vpr), "vpr {vpr}");
            let expected = match cvss {
                9.0.. => "Critical",
                7.0.. => "High",
                4.0.. => "Medium",
                0.1.. => "Low",
                _ => "Info",
            };
            assert_eq!(record[column("severity")], expected, "cvss {cvss}");
        }
    }

    #[test]
    fn dates_are_ordered_and_detections_end_on_the_scan_date() {
        let mut options = GenerateOptions::new(3_000, 4);
        options.scan_date = NaiveDate::from_ymd_opt(2025, 7, 14).expect("valid date");
        let mut output = Vec::new();
        write_tenable_export(&mut output, &options).expect("writing to a Vec cannot fail");
        let records = parse_csv(std::str::from_utf8(&output).expect("UTF-8 output"));
        for record in &records[1..] {
            let published = &record[column("definition.plugin_published")];
            let first_found = &record[column("first_found")];
            let last_found = &record[column("last_found")];
            assert!(last_found.starts_with("2025-07-14T"), "{last_found}");
            // Same-format ISO timestamps order as strings.
            assert!(
                published <= first_found && first_found <= last_found,
                "{record:?}"
            );
        }
    }
}
