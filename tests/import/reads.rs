//! Every findings list checked against a reference (issue 11).
//!
//! One database is seeded once for the whole file: imports of generated exports a week apart
//! that drop some hosts and add others, a backfill and a failed import, with hand-written rows
//! for the edge cases, so findings are active, resolved and reopened. Each list that
//! [`Store::list_findings`] answers is compared with a reference written as plainly as possible:
//! one query of the findings joined to their definitions, filtered in Rust by the query's filters,
//! sorted in Rust by the documented order ([`FindingSort`]) and sliced into the page. The page's
//! ids, in order, and the total must be equal, both for lists answered by the index in memory
//! and for lists read from the findings table ([`store::Lists`]). [`Store::finding_stats`] is checked against plain
//! counts. Every list is compared on its first and last page, and by turns on other pages.
//!
//! A mismatch names the query, the first position that differs and the sort values there. The
//! database stays for a closer look: in the build's temporary directory (`reads/`), or as the
//! PostgreSQL database `vi_test_reads` when the tests run against PostgreSQL.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;
use vulnimport::domain::Severity;
use vulnimport::domain::{Outcome, Scope};
use vulnimport::generate::{GenerateOptions, write_tenable_export};
use vulnimport::import::run_import;
use vulnimport::store::{
    self, Change, FindingQuery, FindingSort, FindingStats, FindingView, Page, SeverityCounts,
    StateFilter, Store,
};

use crate::helpers::{Database, Recorder, request};

/// Odd, so that pages split runs of equal values.
const PER_PAGE: u32 = 7;

const SORTS: [FindingSort; 9] = [
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

const STATES: [Option<StateFilter>; 5] = [
    None,
    Some(StateFilter::Open),
    Some(StateFilter::Active),
    Some(StateFilter::Resolved),
    Some(StateFilter::Reopened),
];

const SEVERITIES: [Option<Severity>; 6] = [
    None,
    Some(Severity::Critical),
    Some(Severity::High),
    Some(Severity::Medium),
    Some(Severity::Low),
    Some(Severity::Info),
];

// ---------------------------------------------------------------------------------------------
// The seeded database

/// The columns of a generated (Tenable.io) export, which the hand-written rows follow.
const HEADER: &str = "asset.id,asset.name,asset.display_ipv4_address,asset.ipv4_addresses,\
asset.operating_systems,definition.cve,definition.id,definition.name,definition.description,\
definition.solution,definition.family,definition.vpr.score,definition.cvss3.base_score,\
definition.plugin_published,port,protocol,severity,state,first_found,last_found\n";

/// A hand-written row: the values an edge case needs, the other cells blank.
struct Hand {
    asset_id: &'static str,
    hostname: &'static str,
    ip: &'static str,
    cve: &'static str,
    plugin_id: &'static str,
    title: &'static str,
    severity: &'static str,
    vpr: &'static str,
    cvss: &'static str,
}

const BLANK: Hand = Hand {
    asset_id: "",
    hostname: "",
    ip: "",
    cve: "",
    plugin_id: "",
    title: "",
    severity: "",
    vpr: "",
    cvss: "",
};

/// The edge cases.
const HAND_ROWS: [Hand; 7] = [
    // 0: an info finding without VPR, CVSS or CVE.
    Hand {
        hostname: "edge01.lab.example",
        ip: "10.99.0.1",
        plugin_id: "990001",
        title: "Banner Grab (informational)",
        severity: "info",
        ..BLANK
    },
    // 1: no hostname (the list shows the IP), `%`, `_` and `\` in the title, no VPR.
    Hand {
        ip: "10.99.0.2",
        cve: "CVE-2025-10001",
        plugin_id: "990002",
        title: r"Disk usage 100% on D:\var_log",
        severity: "medium",
        cvss: "5.0",
        ..BLANK
    },
    // 2: neither hostname nor IP (the list shows the asset id), a backslash in the title.
    Hand {
        asset_id: "0f0e0d0c-0000-4000-8000-00000000hand",
        cve: "CVE-2025-10002",
        plugin_id: "990003",
        title: r"Share \\srv\c$ writable",
        severity: "high",
        vpr: "7.4",
        cvss: "8.1",
        ..BLANK
    },
    // 3: non-ASCII hostname and title.
    Hand {
        hostname: "serveur-été.lab.example",
        ip: "10.99.0.4",
        cve: "CVE-2025-10003",
        plugin_id: "990004",
        title: "Überprüfung der Zertifikatskette fehlgeschlagen (ÉCHEC)",
        severity: "low",
        vpr: "2.1",
        cvss: "3.1",
        ..BLANK
    },
    // 4: a critical finding without VPR; `_` in the hostname.
    Hand {
        hostname: "db_01.lab.example",
        ip: "10.99.0.5",
        cve: "CVE-2025-10004",
        plugin_id: "990005",
        title: "Remote code execution in widget_handler",
        severity: "critical",
        cvss: "9.8",
        ..BLANK
    },
    // 5: neither CVE nor plugin id (keyed on the title), no CVSS.
    Hand {
        hostname: "dbx01.lab.example",
        ip: "10.99.0.6",
        title: "Default credentials accepted",
        severity: "high",
        vpr: "8.0",
        ..BLANK
    },
    // 6: no title (its definition has none), no CVE, no VPR.
    Hand {
        ip: "10.99.0.6",
        plugin_id: "990007",
        severity: "low",
        cvss: "2.0",
        ..BLANK
    },
];

/// What one import reads, and how it ends.
struct Export {
    scan_date: &'static str,
    /// Generated rows: (count, seed). Fewer rows of a seed are the start of more rows of it.
    generated: &'static [(u64, u64)],
    /// Hand-written rows, by their index in [`HAND_ROWS`].
    hand: &'static [usize],
    outcome: Outcome,
}

/// The imports, in order. The first three are a week apart: the second drops the last third of
/// the first's hosts (resolved) and adds hosts of another seed; the third brings half of the
/// dropped hosts back (reopened) and drops half of the added ones. The hand-written rows come
/// and go likewise. Then a backfill, dated before them all, widens the first seen date of some
/// findings and adds hosts of a third seed; and an import of a header without rows fails.
const IMPORTS: [Export; 5] = [
    Export {
        scan_date: "2026-01-05",
        generated: &[(3_000, 7)],
        hand: &[0, 1, 2, 3, 4, 5, 6],
        outcome: Outcome::Completed,
    },
    Export {
        scan_date: "2026-01-12",
        generated: &[(2_000, 7), (600, 8)],
        hand: &[0, 2, 4],
        outcome: Outcome::Completed,
    },
    Export {
        scan_date: "2026-01-19",
        generated: &[(2_500, 7), (300, 8)],
        hand: &[0, 1, 2, 3],
        outcome: Outcome::Completed,
    },
    Export {
        scan_date: "2025-12-29",
        generated: &[(200, 7), (100, 9)],
        hand: &[],
        outcome: Outcome::Completed,
    },
    Export {
        scan_date: "2026-01-19",
        generated: &[],
        hand: &[],
        outcome: Outcome::Failed,
    },
];

/// The seeded database, its imports and its findings.
struct Seeded {
    database: Database,
    /// Lists from the index in memory (the default).
    store: Arc<dyn Store>,
    /// Lists from the findings table alone: what a read answers while the index loads.
    from_database: Arc<dyn Store>,
    imports: Vec<Import>,
    /// Every finding as the reference reads it, by id (to describe a mismatch).
    all: HashMap<i64, Row>,
}

/// An import and what it changed, as seen in the findings' states before and after it.
struct Import {
    id: i64,
    added: HashSet<i64>,
    resolved: HashSet<i64>,
    reopened: HashSet<i64>,
}

impl Import {
    fn changed(&self, change: Change) -> &HashSet<i64> {
        match change {
            Change::Added => &self.added,
            Change::Resolved => &self.resolved,
            Change::Reopened => &self.reopened,
        }
    }
}

fn seeded() -> &'static Seeded {
    static SEEDED: OnceLock<Seeded> = OnceLock::new();
    SEEDED.get_or_init(Seeded::build)
}

impl Seeded {
    fn build() -> Seeded {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reads");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let database = Database::named(&dir, "vi_test_reads");
        let store = store::open(&database.url()).unwrap();

        let mut imports = Vec::new();
        let mut before = states(&database);
        for (number, export) in IMPORTS.iter().enumerate() {
            let mut csv = HEADER.as_bytes().to_vec();
            for &(rows, seed) in export.generated {
                csv.extend(generated_rows(rows, seed));
            }
            for &row in export.hand {
                csv.extend(hand_row(&HAND_ROWS[row]).into_bytes());
            }
            let file = dir.join(format!("import-{}.csv", number + 1));
            std::fs::write(&file, csv).unwrap();

            let id = import(&*store, &file, export.scan_date, export.outcome);
            let after = states(&database);
            let mut import = Import {
                id,
                added: HashSet::new(),
                resolved: HashSet::new(),
                reopened: HashSet::new(),
            };
            for (&finding, now) in &after {
                match (before.get(&finding).map(String::as_str), now.as_str()) {
                    (None, _) => import.added.insert(finding),
                    (Some("resolved"), "resolved") => false,
                    (Some("resolved"), _) => import.reopened.insert(finding),
                    (Some(_), "resolved") => import.resolved.insert(finding),
                    (Some(_), _) => false,
                };
            }
            imports.push(import);
            before = after;
        }

        let all = reference_rows(&database)
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        let from_database = store::open_with(&database.url(), store::Lists::FromDatabase).unwrap();
        let seeded = Seeded {
            database,
            store,
            from_database,
            imports,
            all,
        };
        seeded.assert_realistic();
        seeded
    }

    /// The seed has what the checks need: every state, changes of every kind, the edge cases.
    fn assert_realistic(&self) {
        let states: HashSet<&str> = self.all.values().map(|row| row.state.as_str()).collect();
        assert_eq!(states.len(), 3, "{states:?}");
        let [first, second, third, backfill, failed] = &self.imports[..] else {
            panic!("five imports")
        };
        assert!(first.added.len() > 5_000, "{}", first.added.len());
        assert!(!second.added.is_empty() && !second.resolved.is_empty());
        assert!(!third.reopened.is_empty() && !third.resolved.is_empty());
        assert!(!backfill.added.is_empty() && backfill.resolved.is_empty());
        assert!(failed.added.is_empty());
        let on_one_host: Vec<&Row> = (self.all.values())
            .filter(|row| row.ip.as_deref() == Some("10.99.0.6"))
            .collect();
        assert_eq!(on_one_host.len(), 2);
        assert!(on_one_host.iter().any(|row| row.title.is_none()));
        assert!(
            self.all
                .values()
                .any(|row| row.host_name().is_some() && row.hostname.is_none() && row.ip.is_none())
        );
    }
}

/// The data rows of a generated export (its header dropped).
fn generated_rows(rows: u64, seed: u64) -> Vec<u8> {
    let mut csv = Vec::new();
    write_tenable_export(&mut csv, &GenerateOptions::new(rows, seed)).unwrap();
    assert!(csv.starts_with(HEADER.as_bytes()), "the generated columns");
    csv.split_off(HEADER.len())
}

/// A hand-written row in the generated export's columns.
fn hand_row(row: &Hand) -> String {
    let cells = [
        row.asset_id,
        row.hostname,
        row.ip,
        "",
        "",
        row.cve,
        row.plugin_id,
        row.title,
        "",
        "",
        "",
        row.vpr,
        row.cvss,
        "",
        "",
        "",
        row.severity,
        "Open",
        "",
        "",
    ];
    assert!(cells.iter().all(|cell| !cell.contains([',', '"', '\n'])));
    cells.join(",") + "\n"
}

/// Imports a file (scope `full`) and returns the import's id.
fn import(store: &dyn Store, file: &Path, scan_date: &str, outcome: Outcome) -> i64 {
    let request = request(file, scan_date, Scope::Full);
    let recorder = Recorder::default();
    let summary = run_import(store, &request, &recorder, &recorder.cancel);
    assert_eq!(summary.outcome, outcome, "{:?}", summary.error);
    assert_eq!(summary.counts.rejected, 0);
    store
        .import_by_session(summary.session_id)
        .unwrap()
        .unwrap()
        .id
}

/// Every finding's state, by id.
fn states(database: &Database) -> HashMap<i64, String> {
    database
        .query("SELECT id, state FROM findings")
        .into_iter()
        .map(|row| {
            let [id, state] = &row[..] else {
                panic!("two columns")
            };
            (
                id.as_deref().unwrap().parse().unwrap(),
                state.clone().unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The reference

/// A finding with the values lists filter and sort on.
#[derive(Debug)]
struct Row {
    id: i64,
    severity: String,
    vpr: Option<f64>,
    cvss: Option<f64>,
    hostname: Option<String>,
    ip: Option<String>,
    asset_id: Option<String>,
    cve: Option<String>,
    title: Option<String>,
    first_seen: String,
    last_seen: String,
    state: String,
}

impl Row {
    /// The name a list shows: hostname, else IP, else asset id.
    fn host_name(&self) -> Option<&str> {
        (self.hostname.as_deref())
            .or(self.ip.as_deref())
            .or(self.asset_id.as_deref())
    }

    /// critical 4 … info 0.
    fn severity_rank(&self) -> u8 {
        match self.severity.as_str() {
            "critical" => 4,
            "high" => 3,
            "medium" => 2,
            "low" => 1,
            _ => 0,
        }
    }

    /// The value a sort other than `Severity` orders by.
    fn sort_value(&self, sort: FindingSort) -> Option<Value<'_>> {
        match sort {
            FindingSort::Severity => None,
            FindingSort::Vpr => self.vpr.map(Value::Number),
            FindingSort::Cvss => self.cvss.map(Value::Number),
            FindingSort::Host => self.host_name().map(Value::Text),
            FindingSort::Cve => self.cve.as_deref().map(Value::Text),
            FindingSort::Title => self.title.as_deref().map(Value::Text),
            FindingSort::FirstSeen => Some(Value::Text(&self.first_seen)),
            FindingSort::LastSeen => Some(Value::Text(&self.last_seen)),
            FindingSort::State => Some(Value::Text(&self.state)),
        }
    }

    /// The id and what the sort looks at, for a failure message.
    fn describe(&self, sort: FindingSort) -> String {
        match sort {
            FindingSort::Severity => format!(
                "id {} ({}, vpr {:?}, {})",
                self.id, self.severity, self.vpr, self.state
            ),
            _ => format!("id {} ({:?})", self.id, self.sort_value(sort)),
        }
    }
}

/// A sort value: one kind per sort, so the derived order only compares like with like.
#[derive(Debug, PartialEq, PartialOrd)]
enum Value<'a> {
    Number(f64),
    Text(&'a str),
}

/// The documented order of a list (see [`FindingSort`]).
fn reference_order(a: &Row, b: &Row, sort: FindingSort, descending: bool) -> Ordering {
    let directed = |order: Ordering| if descending { order.reverse() } else { order };
    match sort {
        // Rank, then VPR (a missing one lowest: `None` < `Some`), then state, then id; the whole
        // order reverses.
        FindingSort::Severity => directed(
            a.severity_rank()
                .cmp(&b.severity_rank())
                .then(a.vpr.partial_cmp(&b.vpr).unwrap())
                .then(a.state.cmp(&b.state))
                .then(a.id.cmp(&b.id)),
        ),
        // The value, missing values last in either direction, then id.
        _ => match (a.sort_value(sort), b.sort_value(sort)) {
            (Some(x), Some(y)) => directed(x.partial_cmp(&y).unwrap()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(directed(a.id.cmp(&b.id))),
    }
}

/// Every finding, joined to its definition.
fn reference_rows(database: &Database) -> Vec<Row> {
    let rows = database.query(
        "SELECT f.id, f.severity, f.vpr, f.cvss, f.hostname, f.ip, f.asset_id, f.cve, d.title,
                f.first_seen, f.last_seen, f.state
         FROM findings f LEFT JOIN definitions d ON d.hash = f.definition",
    );
    rows.into_iter()
        .map(|mut row| {
            let mut text = || row.remove(0);
            let score = |value: Option<String>| value.map(|score| score.parse().unwrap());
            Row {
                id: text().unwrap().parse().unwrap(),
                severity: text().unwrap(),
                vpr: score(text()),
                cvss: score(text()),
                hostname: text(),
                ip: text(),
                asset_id: text(),
                cve: text(),
                title: text(),
                first_seen: text().unwrap(),
                last_seen: text().unwrap(),
                state: text().unwrap(),
            }
        })
        .collect()
}

impl Seeded {
    /// The findings that pass the query's filters, in no order.
    fn reference_matches(&self, query: &FindingQuery) -> Vec<&Row> {
        let state_matches = |row: &Row| match query.state {
            None => true,
            Some(StateFilter::Open) => row.state == "active" || row.state == "reopened",
            Some(StateFilter::Active) => row.state == "active",
            Some(StateFilter::Resolved) => row.state == "resolved",
            Some(StateFilter::Reopened) => row.state == "reopened",
        };
        let severity_matches = |row: &Row| {
            query
                .severity
                .is_none_or(|severity| row.severity == severity.as_str())
        };
        // The search folds ASCII letters only.
        let needle = (query.text.as_deref())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase);
        let text_matches = |row: &Row| {
            let Some(needle) = &needle else {
                return true;
            };
            [&row.hostname, &row.ip, &row.asset_id, &row.cve, &row.title]
                .into_iter()
                .flatten()
                .any(|value| value.to_ascii_lowercase().contains(needle.as_str()))
        };
        // What an import changed, as the states before and after it showed.
        let changed = query.changed_by.map(|(import_id, change)| {
            self.imports
                .iter()
                .find(|import| import.id == import_id)
                .map(|import| import.changed(change))
        });
        let change_matches = |row: &Row| match changed {
            None => true,
            Some(changed) => changed.is_some_and(|ids| ids.contains(&row.id)),
        };
        self.all
            .values()
            .filter(|row| {
                state_matches(row)
                    && severity_matches(row)
                    && text_matches(row)
                    && change_matches(row)
            })
            .collect()
    }

    /// Compares pages of the list of `filters` (a query whose filters are set), in each sort
    /// and both directions, with the reference's (see [`pages`]; `turn` varies the sample from
    /// one list to the next). Returns the mismatches.
    fn check(&self, filters: &FindingQuery, sorts: &[FindingSort], turn: usize) -> Vec<String> {
        let matches = self.reference_matches(filters);
        let total = matches.len() as u64;
        let last_page = (total as u32).div_ceil(PER_PAGE).max(1);
        let mut mismatches = Vec::new();
        for (sort_number, &sort) in sorts.iter().enumerate() {
            for descending in [false, true] {
                let mut expected: Vec<&Row> = matches.clone();
                expected.sort_by(|a, b| reference_order(a, b, sort, descending));
                for page in pages(last_page, turn + sort_number + usize::from(descending)) {
                    let query = FindingQuery {
                        sort,
                        descending,
                        page,
                        per_page: PER_PAGE,
                        ..filters.clone()
                    };
                    let start = ((page - 1) * PER_PAGE) as usize;
                    let want: Vec<&Row> = expected
                        .iter()
                        .skip(start)
                        .take(PER_PAGE as usize)
                        .copied()
                        .collect();
                    for (lists, store) in [("index", &self.store), ("table", &self.from_database)] {
                        let got = store
                            .list_findings(&query, &CancellationToken::new())
                            .unwrap();
                        if let Some(mismatch) = self.compare(&query, want.clone(), total, &got) {
                            mismatches.push(format!("lists from the {lists}: {mismatch}"));
                        }
                    }
                }
            }
        }
        mismatches
    }

    /// A description of how a page differs from the reference's, if it does.
    fn compare(
        &self,
        query: &FindingQuery,
        want: Vec<&Row>,
        total: u64,
        got: &Page<FindingView>,
    ) -> Option<String> {
        let want_ids: Vec<i64> = want.iter().map(|row| row.id).collect();
        let got_ids: Vec<i64> = got.items.iter().map(|item| item.id).collect();
        if want_ids == got_ids && got.total == total {
            return None;
        }
        let mut message = format!("{query:?}\n  total: expected {total}, got {}", got.total);
        if let Some(at) =
            (0..want_ids.len().max(got_ids.len())).find(|&i| want_ids.get(i) != got_ids.get(i))
        {
            let describe = |id: Option<&i64>| match id.map(|id| (id, self.all.get(id))) {
                None => "nothing".to_owned(),
                Some((id, None)) => format!("id {id} (no such finding)"),
                Some((_, Some(row))) => row.describe(query.sort),
            };
            message += &format!(
                "\n  item {at} of the page: expected {}, got {}",
                describe(want_ids.get(at)),
                describe(got_ids.get(at)),
            );
            message += &format!("\n  expected ids {want_ids:?}\n  got ids      {got_ids:?}");
        }
        Some(message)
    }
}

/// Fails with the first mismatches, if any.
fn assert_none(mismatches: Vec<String>) {
    if !mismatches.is_empty() {
        let shown: Vec<&str> = mismatches.iter().take(10).map(String::as_str).collect();
        panic!(
            "{} pages differ from the reference (database kept at {}):\n{}",
            mismatches.len(),
            seeded().database.url(),
            shown.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// The pages of a list to compare: the first and the last, and by turns the two pages around the
/// middle (where a page starts to be walked to from the end rather than from the start) or the
/// page past the end.
fn pages(last_page: u32, turn: usize) -> Vec<u32> {
    let mut pages = vec![1, last_page];
    if turn.is_multiple_of(2) {
        pages.extend([last_page / 2, last_page / 2 + 1]);
    } else {
        pages.push(last_page + 1);
    }
    pages.retain(|&page| page >= 1);
    pages.sort();
    pages.dedup();
    pages
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn lists_by_state_and_severity_match_the_reference() {
    let seeded = seeded();
    let mut mismatches = Vec::new();
    for (state_number, state) in STATES.into_iter().enumerate() {
        for (severity_number, severity) in SEVERITIES.into_iter().enumerate() {
            let filters = FindingQuery {
                state,
                severity,
                ..FindingQuery::default()
            };
            let turn = state_number + severity_number;
            mismatches.extend(seeded.check(&filters, &SORTS, turn));
        }
    }
    assert_none(mismatches);
}

#[test]
fn text_searches_match_the_reference() {
    let seeded = seeded();
    let mut mismatches = Vec::new();
    for (turn, (text, finds_some)) in [
        // A common title word, a rare one, part of hostnames.
        ("vulnerabilities", true),
        ("7-zip", true),
        ("SITE-H", true),
        // An IP address that starts others (10.0.0.210 …).
        ("10.0.0.21", true),
        // A CVE id, in lower case.
        ("cve-2022-13241", true),
        // Taken literally: wildcards and the escape character.
        ("%", true),
        ("_", true),
        (r"d:\var_", true),
        // Case folds ASCII letters only: "ÉCHEC" is not found.
        ("échec", false),
        // Trimmed.
        ("  Default CREDENTIALS ", true),
        ("no such finding", false),
    ]
    .into_iter()
    .enumerate()
    {
        let filters = FindingQuery {
            text: Some(text.into()),
            ..FindingQuery::default()
        };
        let found = seeded.reference_matches(&filters).len();
        assert_eq!(found > 0, finds_some, "{text:?} finds {found}");
        mismatches.extend(seeded.check(&filters, &SORTS, turn));
    }
    // With a state or a severity filter.
    let states = STATES[1..].iter().map(|&state| (state, None));
    let severities = SEVERITIES[1..].iter().map(|&severity| (None, severity));
    for (turn, (state, severity)) in states.into_iter().chain(severities).enumerate() {
        let filters = FindingQuery {
            state,
            severity,
            text: Some("vulnerabilities".into()),
            ..FindingQuery::default()
        };
        mismatches.extend(seeded.check(&filters, &[FindingSort::Severity], turn));
    }
    // Blank text is no filter.
    let blank = FindingQuery {
        text: Some("   ".into()),
        ..FindingQuery::default()
    };
    mismatches.extend(seeded.check(&blank, &[FindingSort::Severity], 0));
    assert_none(mismatches);
}

#[test]
fn change_lists_match_the_reference() {
    let seeded = seeded();
    let mut mismatches = Vec::new();
    let sorts = [FindingSort::Severity, FindingSort::Host, FindingSort::Title];
    let no_import = seeded.imports.last().unwrap().id + 1;
    let imports = seeded.imports.iter().map(|import| import.id);
    for (turn, import_id) in imports.chain([no_import]).enumerate() {
        for change in [Change::Added, Change::Resolved, Change::Reopened] {
            let filters = FindingQuery {
                changed_by: Some((import_id, change)),
                ..FindingQuery::default()
            };
            mismatches.extend(seeded.check(&filters, &sorts, turn));
            // With a state filter too: a finding is listed as it is now.
            for state in [StateFilter::Open, StateFilter::Resolved] {
                let filters = FindingQuery {
                    state: Some(state),
                    ..filters.clone()
                };
                mismatches.extend(seeded.check(&filters, &[FindingSort::Severity], turn));
            }
        }
    }
    assert_none(mismatches);
}

#[test]
fn stats_match_plain_counts() {
    let seeded = seeded();
    let count = |state: &str, severity: &str| {
        seeded
            .all
            .values()
            .filter(|row| {
                (state == "open" && row.state != "resolved" || row.state == state)
                    && (severity.is_empty() || row.severity == severity)
            })
            .count() as u64
    };
    let expected = FindingStats {
        open_by_severity: SeverityCounts {
            critical: count("open", "critical"),
            high: count("open", "high"),
            medium: count("open", "medium"),
            low: count("open", "low"),
            info: count("open", "info"),
        },
        active: count("active", ""),
        resolved: count("resolved", ""),
        reopened: count("reopened", ""),
        total: seeded.all.len() as u64,
    };
    assert_eq!(seeded.store.finding_stats().unwrap(), expected);
}

#[test]
fn exports_match_the_reference_in_full() {
    let seeded = seeded();
    let mut filters = vec![
        FindingQuery::default(),
        FindingQuery {
            state: Some(StateFilter::Open),
            severity: Some(Severity::High),
            ..FindingQuery::default()
        },
        FindingQuery {
            text: Some("vulnerabilities".into()),
            ..FindingQuery::default()
        },
    ];
    for import in &seeded.imports {
        for change in [Change::Added, Change::Resolved, Change::Reopened] {
            filters.push(FindingQuery {
                changed_by: Some((import.id, change)),
                ..FindingQuery::default()
            });
        }
    }
    let mut mismatches = Vec::new();
    for filters in &filters {
        let matches = seeded.reference_matches(filters);
        for sort in SORTS {
            for descending in [false, true] {
                let query = FindingQuery {
                    sort,
                    descending,
                    // An export has no pages: these are ignored.
                    page: 3,
                    per_page: 5,
                    ..filters.clone()
                };
                let mut expected: Vec<&Row> = matches.clone();
                expected.sort_by(|a, b| reference_order(a, b, sort, descending));
                let mut exported = Vec::new();
                let handed = seeded
                    .store
                    .export_findings(&query, &CancellationToken::new(), &mut |finding| {
                        exported.push(finding);
                        true
                    })
                    .unwrap();
                assert_eq!(handed, exported.len() as u64);
                let page = Page {
                    total: exported.len() as u64,
                    items: exported,
                    page: 1,
                    per_page: 0,
                };
                if let Some(mismatch) =
                    seeded.compare(&query, expected, matches.len() as u64, &page)
                {
                    mismatches.push(mismatch);
                }
            }
        }
    }
    // The items are those the list shows, field by field.
    let first_page = seeded
        .store
        .list_findings(
            &FindingQuery {
                per_page: 500,
                ..FindingQuery::default()
            },
            &CancellationToken::new(),
        )
        .unwrap();
    let mut exported = Vec::new();
    seeded
        .store
        .export_findings(
            &FindingQuery::default(),
            &CancellationToken::new(),
            &mut |f| {
                exported.push(f);
                exported.len() < 500
            },
        )
        .unwrap();
    assert_eq!(exported, first_page.items);
    assert_none(mismatches);
}
