//! The findings lists' index: the columns that lists filter, sort and search on, for every
//! finding, held in memory as small integers, so a page of any list is two passes over arrays
//! rather than a sort of the findings table.
//!
//! - Each sorted value is stored as its rank among the distinct values of its column (dates,
//!   scores, names, CVE ids, titles): comparing ranks orders findings exactly as comparing the
//!   values does, in byte order for text, as both backends sort.
//! - A page is found without sorting the list: a first pass counts the matching findings per
//!   sort key (the total, and where the page starts), a second collects the findings of the few
//!   keys the page spans, in id order, which breaks the ties.
//! - Text search looks at the distinct hosts, CVE ids and titles once, then keeps the findings
//!   that carry a matching one.
//! - An index is as of one committed state of the database, its [`DataVersion`]: only completed
//!   imports change findings, so it is the number of completed imports and the newest one's id.
//!   A read uses the index only when its own snapshot has the same version; otherwise it reads
//!   the database directly while [`ListIndexes`] loads a newer index in the background.
//!
//! No index on the findings table is needed, so an import pays nothing for the lists: an index
//! per sort order would cost every import more than it takes today (see
//! docs/import-semantics.md, "Lists of findings").

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::domain::Severity;
use crate::store::{FindingQuery, FindingSort, FindingView, StateFilter, StoreError};

/// How long a read waits for an index being loaded before it reads the database itself: more
/// than loading a few million findings takes on a busy machine. Reading the table sooner would
/// take as long for a sorted list, and slow the load and any import down meanwhile.
const LOAD_WAIT: Duration = Duration::from_secs(30);
/// How many answered pages an index keeps (a few KiB each at most); past that it starts over.
const ANSWERS_KEPT: usize = 1024;
/// The rank of a missing value.
const MISSING: u32 = u32::MAX;

/// The committed state an index reflects: the number of completed imports and the newest one's
/// id (only a completed import changes findings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DataVersion {
    pub completed: i64,
    pub newest: i64,
}

/// The statement that reads a snapshot's [`DataVersion`], the same on both backends.
pub(super) const DATA_VERSION_SQL: &str =
    "SELECT count(*), coalesce(max(id), 0) FROM imports WHERE outcome = 'completed'";

/// The findings an import changed in one way (see [`crate::store::Change`]), as a backend reads
/// them in the snapshot of a list.
pub(super) enum Changed {
    /// The ids of those it resolved or reopened.
    Ids(Vec<i64>),
    /// The first and last id of those it added, if it added any.
    Range(Option<(i64, i64)>),
}

/// The findings of a page, read by id in any order, put in the order of its `ids`.
pub(super) fn in_listed_order(
    ids: &[i64],
    found: Vec<FindingView>,
) -> Result<Vec<FindingView>, StoreError> {
    let mut found: HashMap<i64, FindingView> = found.into_iter().map(|f| (f.id, f)).collect();
    ids.iter()
        .map(|id| {
            found
                .remove(id)
                .ok_or_else(|| StoreError::Corrupt(format!("finding {id} is listed but missing")))
        })
        .collect()
}

/// One finding's listed columns, as a loader reads them (findings in ascending id order).
pub(super) struct ListedFinding<'a> {
    pub id: i64,
    pub severity: &'a str,
    pub state: &'a str,
    pub vpr: Option<f64>,
    pub cvss: Option<f64>,
    pub first_seen: &'a str,
    pub last_seen: &'a str,
    pub hostname: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub asset_id: Option<&'a str>,
    pub cve: Option<&'a str>,
    pub definition: &'a [u8],
}

/// A host as findings name it: hostname, IP and asset id.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Host {
    hostname: Option<Box<str>>,
    ip: Option<Box<str>>,
    asset_id: Option<Box<str>>,
}

impl Host {
    /// The name lists show and sort by: hostname, else IP, else asset id.
    fn shown(&self) -> Option<&str> {
        self.hostname
            .as_deref()
            .or(self.ip.as_deref())
            .or(self.asset_id.as_deref())
    }

    /// Its names as one text to search, each apart (see [`SearchedTexts`]).
    fn searched(&self) -> String {
        [&self.hostname, &self.ip, &self.asset_id]
            .into_iter()
            .flatten()
            .map(|name| &**name)
            .collect::<Vec<_>>()
            .join(SEPARATOR)
    }
}

/// Texts searched all at once: each in ASCII lower case, one after the other with a separator,
/// so that one pass of a vectorised substring search (`memchr::memmem`) over millions of them
/// finds those containing a needle.
struct SearchedTexts {
    text: Vec<u8>,
    /// Where each text ends in `text`.
    ends: Vec<usize>,
}

/// What separates two texts (and a host's names) in [`SearchedTexts`].
const SEPARATOR: &str = "\0";

impl SearchedTexts {
    /// A missing text is an empty one: it contains no needle.
    fn new<T: AsRef<str>>(texts: impl IntoIterator<Item = Option<T>>) -> Self {
        let mut searched = SearchedTexts {
            text: Vec::new(),
            ends: Vec::new(),
        };
        for text in texts {
            if !searched.ends.is_empty() {
                searched.text.extend_from_slice(SEPARATOR.as_bytes());
            }
            if let Some(text) = text {
                let text = text.as_ref().as_bytes();
                searched
                    .text
                    .extend(text.iter().map(u8::to_ascii_lowercase));
            }
            searched.ends.push(searched.text.len());
        }
        searched
    }

    /// For each text, whether it contains `needle` (not empty, in lower case), folding ASCII
    /// letters only.
    fn containing(&self, needle: &str) -> Vec<bool> {
        let mut found = vec![false; self.ends.len()];
        if needle.contains(SEPARATOR) {
            // Found across two texts, it would be in neither: each is searched alone.
            let mut start = 0;
            for (text, &end) in self.ends.iter().enumerate() {
                found[text] =
                    memchr::memmem::find(&self.text[start..end], needle.as_bytes()).is_some();
                start = end + SEPARATOR.len();
            }
            return found;
        }
        for at in memchr::memmem::find_iter(&self.text, needle.as_bytes()) {
            found[self.ends.partition_point(|&end| end <= at)] = true;
        }
        found
    }

    fn heap_bytes(&self) -> usize {
        self.text.len() + self.ends.len() * size_of::<usize>()
    }
}

/// Distinct values in the order they were first seen, ranked once all are in.
struct Dictionary<K> {
    positions: HashMap<K, u32>,
}

impl Dictionary<Box<str>> {
    fn text(&mut self, value: &str) -> u32 {
        match self.positions.get(value) {
            Some(&position) => position,
            None => self.position(value.into()),
        }
    }
}

impl<K: std::hash::Hash + Eq> Dictionary<K> {
    fn new() -> Self {
        Dictionary {
            positions: HashMap::new(),
        }
    }

    fn position(&mut self, value: K) -> u32 {
        let next = self.positions.len() as u32;
        *self.positions.entry(value).or_insert(next)
    }

    /// The distinct values, sorted, and the rank of each position.
    fn ranked(self) -> (Vec<K>, Vec<u32>)
    where
        K: Ord,
    {
        let values = self.values();
        let ranks = ranks(&values, Ord::cmp);
        let mut sorted: Vec<(u32, K)> = ranks.iter().copied().zip(values).collect();
        sorted.sort_unstable_by_key(|(rank, _)| *rank);
        (sorted.into_iter().map(|(_, value)| value).collect(), ranks)
    }

    /// The values by position.
    fn values(self) -> Vec<K> {
        let mut values: Vec<(u32, K)> = self.positions.into_iter().map(|(k, v)| (v, k)).collect();
        values.sort_unstable_by_key(|(position, _)| *position);
        values.into_iter().map(|(_, value)| value).collect()
    }
}

/// The rank of each value (by position) in `order`, equal values sharing a rank.
fn ranks<K>(values: &[K], order: impl Fn(&K, &K) -> std::cmp::Ordering) -> Vec<u32> {
    let mut sorted: Vec<u32> = (0..values.len() as u32).collect();
    sorted.sort_unstable_by(|&a, &b| order(&values[a as usize], &values[b as usize]));
    let mut ranks = vec![0; values.len()];
    let mut rank = 0;
    for (i, &position) in sorted.iter().enumerate() {
        if i > 0 && order(&values[sorted[i - 1] as usize], &values[position as usize]).is_ne() {
            rank += 1;
        }
        ranks[position as usize] = rank;
    }
    ranks
}

/// Builds a [`ListIndex`] from the rows a backend reads: the definitions, then the findings.
pub(super) struct Loading {
    version: DataVersion,
    definitions: HashMap<Box<[u8]>, u32>,
    titles: Vec<Option<Box<str>>>,
    hosts: Dictionary<Host>,
    cves: Dictionary<Box<str>>,
    dates: Dictionary<Box<str>>,
    scores: Dictionary<u64>,
    findings: Findings,
    /// The previous finding's host and its position: a host's findings are mostly together.
    last_host: Option<(Host, u32)>,
}

impl Loading {
    pub(super) fn new(version: DataVersion) -> Self {
        Loading {
            version,
            definitions: HashMap::new(),
            titles: Vec::new(),
            hosts: Dictionary::new(),
            cves: Dictionary::new(),
            dates: Dictionary::new(),
            scores: Dictionary::new(),
            findings: Findings::default(),
            last_host: None,
        }
    }

    pub(super) fn definition(&mut self, hash: &[u8], title: Option<&str>) {
        let position = self.titles.len() as u32;
        self.definitions.insert(hash.into(), position);
        self.titles.push(title.map(Box::from));
    }

    pub(super) fn finding(&mut self, finding: ListedFinding<'_>) -> Result<(), StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("finding {}: {what}", finding.id));
        let id =
            u32::try_from(finding.id).map_err(|_| corrupt("an id past the lists' index range"))?;
        let severity = Severity::parse(finding.severity).ok_or_else(|| corrupt("severity"))?;
        let state = match finding.state {
            "active" => 0,
            "reopened" => 1,
            "resolved" => 2,
            _ => return Err(corrupt("state")),
        };
        let definition = *self
            .definitions
            .get(finding.definition)
            .ok_or_else(|| corrupt("definition"))?;
        let host = match &self.last_host {
            Some((last, position))
                if last.hostname.as_deref() == finding.hostname
                    && last.ip.as_deref() == finding.ip
                    && last.asset_id.as_deref() == finding.asset_id =>
            {
                *position
            }
            _ => {
                let host = Host {
                    hostname: finding.hostname.map(Box::from),
                    ip: finding.ip.map(Box::from),
                    asset_id: finding.asset_id.map(Box::from),
                };
                let position = self.hosts.position(host.clone());
                self.last_host = Some((host, position));
                position
            }
        };
        let mut score = |value: Option<f64>| match value {
            // `+ 0.0` makes -0 and 0 one value, as the databases compare them.
            Some(value) => self.scores.position((value + 0.0).to_bits()),
            None => MISSING,
        };
        let (vpr, cvss) = (score(finding.vpr), score(finding.cvss));
        let first_seen = self.dates.text(finding.first_seen);
        let last_seen = self.dates.text(finding.last_seen);
        let cve = finding.cve.map_or(MISSING, |cve| self.cves.text(cve));
        let findings = &mut self.findings;
        findings.ids.push(id);
        findings.severity.push(severity_rank(severity));
        findings.state.push(state);
        findings.vpr.push(vpr);
        findings.cvss.push(cvss);
        findings.first_seen.push(first_seen);
        findings.last_seen.push(last_seen);
        findings.host.push(host);
        findings.cve.push(cve);
        findings.definition.push(definition);
        Ok(())
    }

    /// The index, its values replaced by their ranks.
    pub(super) fn finish(self) -> ListIndex {
        let Loading {
            version,
            titles,
            hosts,
            cves,
            dates,
            scores,
            mut findings,
            ..
        } = self;
        let scores: Vec<f64> = scores.values().into_iter().map(f64::from_bits).collect();
        let score_ranks = ranks(&scores, |a, b| a.total_cmp(b));
        for column in [&mut findings.vpr, &mut findings.cvss] {
            remap(column, &score_ranks);
        }
        let (dates, date_ranks) = dates.ranked();
        for column in [&mut findings.first_seen, &mut findings.last_seen] {
            remap(column, &date_ranks);
        }
        let (cves, cve_ranks) = cves.ranked();
        remap(&mut findings.cve, &cve_ranks);
        let hosts = hosts.values();
        let host_ranks = ranks(&hosts, |a, b| a.shown().cmp(&b.shown()));
        let host_ranks = missing_where(host_ranks, hosts.iter().map(|h| h.shown().is_none()));
        let title_ranks = ranks(&titles, Ord::cmp);
        let title_ranks = missing_where(title_ranks, titles.iter().map(Option::is_none));
        ListIndex {
            version,
            answered: Mutex::default(),
            values: Values {
                scores: distinct(&score_ranks),
                dates: dates.len() as u64,
                hosts: distinct(&host_ranks),
                cves: cves.len() as u64,
                titles: distinct(&title_ranks),
            },
            findings,
            hosts: SearchedTexts::new(hosts.iter().map(|host| Some(host.searched()))),
            host_ranks,
            cves: SearchedTexts::new(cves.iter().map(Some)),
            titles: SearchedTexts::new(titles.iter().map(Option::as_deref)),
            title_ranks,
        }
    }
}

/// `ranks` with [`MISSING`] where `missing` says so (a missing value ranks first among values).
fn missing_where(ranks: Vec<u32>, missing: impl Iterator<Item = bool>) -> Vec<u32> {
    ranks
        .into_iter()
        .zip(missing)
        .map(|(rank, missing)| if missing { MISSING } else { rank })
        .collect()
}

/// How many ranks `ranks` spans (the missing value aside).
fn distinct(ranks: &[u32]) -> u64 {
    ranks
        .iter()
        .filter(|&&rank| rank != MISSING)
        .max()
        .map_or(0, |&max| u64::from(max) + 1)
}

/// Replaces each position in `column` by its rank; a missing value stays missing.
fn remap(column: &mut [u32], ranks: &[u32]) {
    for value in column {
        if *value != MISSING {
            *value = ranks[*value as usize];
        }
    }
}

fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// The listed columns, one entry per finding, in ascending id order.
#[derive(Default)]
struct Findings {
    ids: Vec<u32>,
    /// Info 0 … critical 4.
    severity: Vec<u8>,
    /// Active 0, reopened 1, resolved 2 (their names' order).
    state: Vec<u8>,
    vpr: Vec<u32>,
    cvss: Vec<u32>,
    first_seen: Vec<u32>,
    last_seen: Vec<u32>,
    /// A position in [`ListIndex::hosts`].
    host: Vec<u32>,
    cve: Vec<u32>,
    /// A position in [`ListIndex::titles`].
    definition: Vec<u32>,
}

/// How many distinct values the sorted columns take (the missing value aside).
struct Values {
    /// VPR and CVSS, which share their ranks.
    scores: u64,
    /// First and last seen, which share their ranks.
    dates: u64,
    hosts: u64,
    cves: u64,
    titles: u64,
}

/// Every finding's listed columns as of one [`DataVersion`].
pub(super) struct ListIndex {
    version: DataVersion,
    /// Pages answered already: until the database changes, the same question has the same
    /// answer, so a list many people open (the default one, after an import) is worked out once.
    answered: Mutex<HashMap<String, (Vec<i64>, u64)>>,
    values: Values,
    findings: Findings,
    /// Each host's names, by position.
    hosts: SearchedTexts,
    /// The rank of each host's shown name.
    host_ranks: Vec<u32>,
    /// The distinct CVE ids, sorted (a finding's CVE rank is its place here).
    cves: SearchedTexts,
    /// Each definition's title, by position.
    titles: SearchedTexts,
    title_ranks: Vec<u32>,
}

/// One sorted value of a list: its rank per finding and how many ranks there are (the missing
/// value aside).
struct SortColumn<'a> {
    ranks: Ranked<'a>,
    values: u64,
    /// Missing values come after the others in either direction; otherwise they rank lowest.
    missing_last: bool,
}

enum Ranked<'a> {
    Direct(&'a [u32]),
    Small(&'a [u8]),
    /// Through a position: `ranks[positions[finding]]`.
    Via(&'a [u32], &'a [u32]),
}

impl Ranked<'_> {
    fn at(&self, finding: usize) -> u32 {
        match self {
            Ranked::Direct(ranks) => ranks[finding],
            Ranked::Small(ranks) => u32::from(ranks[finding]),
            Ranked::Via(positions, ranks) => ranks[positions[finding] as usize],
        }
    }
}

impl ListIndex {
    /// The ids of a page of `query`'s list, in order, and the number of findings it lists.
    /// A list of an import's changes needs the findings it changed: `changed` reads them, and
    /// is called only when the page is not among those answered already.
    pub(super) fn page(
        &self,
        query: &FindingQuery,
        changed: impl FnOnce() -> Result<Option<Changed>, StoreError>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<i64>, u64), StoreError> {
        let question = format!("{query:?} {offset} {limit}");
        if let Some(answer) = crate::lock(&self.answered).get(&question) {
            return Ok(answer.clone());
        }
        let answer = self.work_out(query, changed()?.as_ref(), offset, limit);
        let mut answered = crate::lock(&self.answered);
        if answered.len() >= ANSWERS_KEPT {
            answered.clear();
        }
        answered.insert(question, answer.clone());
        Ok(answer)
    }

    /// [`ListIndex::page`], worked out from the arrays.
    fn work_out(
        &self,
        query: &FindingQuery,
        changed: Option<&Changed>,
        offset: u64,
        limit: u64,
    ) -> (Vec<i64>, u64) {
        let keeps = self.filter(query, changed);
        let columns = self.sort_columns(query.sort);
        let descending = query.descending;
        let key_of = |finding: usize| sort_key(&columns, finding, descending);
        let key_count: u64 = columns.iter().map(|c| c.values + 1).product();

        let mut per_key = vec![0u32; key_count as usize];
        let mut total = 0u64;
        for finding in 0..self.findings.ids.len() {
            if keeps.keeps(finding) {
                per_key[key_of(finding) as usize] += 1;
                total += 1;
            }
        }
        if offset >= total {
            return (Vec::new(), total);
        }
        let wanted = limit.min(total - offset);
        // The keys the page spans: it starts `skip` findings into `first_key`.
        let (mut first_key, mut before) = (0usize, 0u64);
        while before + u64::from(per_key[first_key]) <= offset {
            before += u64::from(per_key[first_key]);
            first_key += 1;
        }
        let skip = offset - before;
        let (mut last_key, mut covered) = (first_key, u64::from(per_key[first_key]) - skip);
        while covered < wanted {
            last_key += 1;
            covered += u64::from(per_key[last_key]);
        }
        // Each key's findings in id order (the list's direction): of the first key, those past
        // `skip`; of the others, as many as the page can hold.
        let mut taken = vec![0u32; last_key - first_key + 1];
        let mut page: Vec<(u64, u32)> = Vec::with_capacity(wanted as usize);
        let mut visit = |finding: usize| {
            let key = key_of(finding) as usize;
            if key < first_key || key > last_key || !keeps.keeps(finding) {
                return;
            }
            let seen = &mut taken[key - first_key];
            *seen += 1;
            let (from, to) = if key == first_key {
                (skip, skip + wanted)
            } else {
                (0, wanted)
            };
            if u64::from(*seen) > from && u64::from(*seen) <= to {
                page.push((key as u64, self.findings.ids[finding]));
            }
        };
        if descending {
            (0..self.findings.ids.len()).rev().for_each(&mut visit);
        } else {
            (0..self.findings.ids.len()).for_each(&mut visit);
        }
        // Stable: within a key, the findings are already in the list's id order.
        page.sort_by_key(|(key, _)| *key);
        let ids = page
            .into_iter()
            .take(wanted as usize)
            .map(|(_, id)| i64::from(id))
            .collect();
        (ids, total)
    }

    /// About how much memory the index holds.
    fn heap_bytes(&self) -> usize {
        let f = &self.findings;
        // Eight columns of `u32` and two of `u8`.
        let per_finding = 8 * 4 + 2;
        let texts = [&self.hosts, &self.cves, &self.titles].map(SearchedTexts::heap_bytes);
        f.ids.len() * per_finding + texts.iter().sum::<usize>() + self.host_ranks.len() * 4
    }

    /// The sorted values of a list, most significant first (the id breaks the remaining ties).
    /// They match the orders of docs/import-semantics.md, "Lists of findings".
    fn sort_columns(&self, sort: FindingSort) -> Vec<SortColumn<'_>> {
        let f = &self.findings;
        let Values {
            scores,
            dates,
            hosts,
            cves,
            titles,
        } = self.values;
        let column = |ranks, values, missing_last| SortColumn {
            ranks,
            values,
            missing_last,
        };
        let state = column(Ranked::Small(&f.state), 3, false);
        match sort {
            FindingSort::Severity => vec![
                column(Ranked::Small(&f.severity), 5, false),
                column(Ranked::Direct(&f.vpr), scores, false),
                state,
            ],
            FindingSort::Vpr => vec![column(Ranked::Direct(&f.vpr), scores, true)],
            FindingSort::Cvss => vec![column(Ranked::Direct(&f.cvss), scores, true)],
            FindingSort::Host => vec![column(Ranked::Via(&f.host, &self.host_ranks), hosts, true)],
            FindingSort::Cve => vec![column(Ranked::Direct(&f.cve), cves, true)],
            FindingSort::Title => vec![column(
                Ranked::Via(&f.definition, &self.title_ranks),
                titles,
                true,
            )],
            FindingSort::FirstSeen => vec![column(Ranked::Direct(&f.first_seen), dates, true)],
            FindingSort::LastSeen => vec![column(Ranked::Direct(&f.last_seen), dates, true)],
            FindingSort::State => vec![state],
        }
    }

    fn filter(&self, query: &FindingQuery, changed: Option<&Changed>) -> Keeps<'_> {
        let states: &[u8] = match query.state {
            None => &[0, 1, 2],
            Some(StateFilter::Active) => &[0],
            Some(StateFilter::Reopened) => &[1],
            Some(StateFilter::Resolved) => &[2],
            Some(StateFilter::Open) => &[0, 1],
        };
        let mut state = [false; 3];
        for &kept in states {
            state[kept as usize] = true;
        }
        let text = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(|text| {
                let needle = text.to_ascii_lowercase();
                TextMatches {
                    hosts: self.hosts.containing(&needle),
                    cves: self.cves.containing(&needle),
                    titles: self.titles.containing(&needle),
                }
            });
        let ids = &self.findings.ids;
        let position = |id: i64| ids.partition_point(|&listed| i64::from(listed) < id);
        let changed = changed.map(|changed| {
            let mut kept = vec![false; ids.len()];
            match changed {
                Changed::Range(None) => {}
                Changed::Range(Some((first, last))) => {
                    kept[position(*first)..position(last + 1)].fill(true);
                }
                Changed::Ids(changed) => {
                    for &id in changed {
                        let at = position(id);
                        if ids.get(at).is_some_and(|&listed| i64::from(listed) == id) {
                            kept[at] = true;
                        }
                    }
                }
            }
            kept
        });
        Keeps {
            findings: &self.findings,
            state,
            severity: query.severity.map(severity_rank),
            text,
            changed,
        }
    }
}

/// A list's sort key for one finding: ascending keys follow the list's order. Each column takes
/// its values plus one place for the missing value.
fn sort_key(columns: &[SortColumn<'_>], finding: usize, descending: bool) -> u64 {
    columns.iter().fold(0, |key, column| {
        let places = column.values + 1;
        let rank = column.ranks.at(finding);
        let place = match (rank == MISSING, column.missing_last) {
            (true, true) => column.values,
            (true, false) if descending => column.values,
            (true, false) => 0,
            (false, true) if descending => column.values - 1 - u64::from(rank),
            (false, true) => u64::from(rank),
            (false, false) if descending => column.values - 1 - u64::from(rank),
            (false, false) => u64::from(rank) + 1,
        };
        key * places + place
    })
}

/// Which findings a list keeps.
struct Keeps<'a> {
    findings: &'a Findings,
    state: [bool; 3],
    severity: Option<u8>,
    text: Option<TextMatches>,
    /// By position: the findings an import changed.
    changed: Option<Vec<bool>>,
}

/// Which hosts, CVE ids and titles (by position) contain the searched text.
struct TextMatches {
    hosts: Vec<bool>,
    cves: Vec<bool>,
    titles: Vec<bool>,
}

impl Keeps<'_> {
    fn keeps(&self, finding: usize) -> bool {
        let f = self.findings;
        self.state[f.state[finding] as usize]
            && self.severity.is_none_or(|s| f.severity[finding] == s)
            && self.changed.as_ref().is_none_or(|changed| changed[finding])
            && self.text.as_ref().is_none_or(|text| {
                text.hosts[f.host[finding] as usize]
                    || (f.cve[finding] != MISSING && text.cves[f.cve[finding] as usize])
                    || text.titles[f.definition[finding] as usize]
            })
    }
}

/// A store's newest [`ListIndex`], loaded again in the background when the database moves on.
#[derive(Default)]
pub(super) struct ListIndexes {
    slot: Mutex<Slot>,
    loaded: Condvar,
}

#[derive(Default)]
struct Slot {
    index: Option<Arc<ListIndex>>,
    loading: bool,
    /// A version whose load failed: not tried again until the database moves on.
    failed: Option<DataVersion>,
}

impl ListIndexes {
    /// The index at `version`, if there is one or one comes within [`LOAD_WAIT`]; otherwise
    /// `None`, and a load of the database's current state starts (unless one is under way).
    pub(super) fn at(
        self: &Arc<Self>,
        version: DataVersion,
        load: impl FnOnce() -> Result<ListIndex, StoreError> + Send + 'static,
    ) -> Option<Arc<ListIndex>> {
        let mut slot = crate::lock(&self.slot);
        let current = |slot: &Slot| {
            slot.index
                .as_ref()
                .filter(|index| index.version == version)
                .cloned()
        };
        if let Some(index) = current(&slot) {
            return Some(index);
        }
        if !slot.loading && slot.failed != Some(version) {
            // An index older than this read's snapshot serves no read to come: it goes now
            // rather than stay beside the new one while that loads.
            if slot
                .index
                .as_ref()
                .is_some_and(|index| index.version.completed < version.completed)
            {
                slot.index = None;
            }
            self.start_loading(&mut slot, Some(version), load);
        }
        let deadline = Instant::now() + LOAD_WAIT;
        while slot.loading {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            slot = self
                .loaded
                .wait_timeout(slot, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        current(&slot)
    }

    /// Loads the database's state again after an import changed it, when an index is held (a
    /// server's store; a command-line import never loads one) and no load is under way: the
    /// reads that follow find it ready sooner, rather than being the ones to start it.
    pub(super) fn reload(
        self: &Arc<Self>,
        load: impl FnOnce() -> Result<ListIndex, StoreError> + Send + 'static,
    ) {
        let mut slot = crate::lock(&self.slot);
        if slot.index.is_some() && !slot.loading {
            // The import made it out of date: it goes now rather than stay beside the new one.
            slot.index = None;
            self.start_loading(&mut slot, None, load);
        }
    }

    /// Starts loading on a thread of its own; `asked` is the version of the read that asked
    /// for it, if one did.
    fn start_loading(
        self: &Arc<Self>,
        slot: &mut Slot,
        asked: Option<DataVersion>,
        load: impl FnOnce() -> Result<ListIndex, StoreError> + Send + 'static,
    ) {
        let indexes = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("list index".into())
            .spawn(move || indexes.load(asked, load));
        match started {
            Ok(_) => slot.loading = true,
            Err(error) => tracing::warn!("the lists' index cannot load: {error}"),
        }
    }

    fn load(
        &self,
        asked: Option<DataVersion>,
        load: impl FnOnce() -> Result<ListIndex, StoreError>,
    ) {
        let started = Instant::now();
        let loaded = load();
        let mut slot = crate::lock(&self.slot);
        slot.loading = false;
        match loaded {
            Ok(index) => {
                tracing::info!(
                    findings = index.findings.ids.len(),
                    mib = index.heap_bytes() >> 20,
                    millis = started.elapsed().as_millis() as u64,
                    "lists' index loaded"
                );
                slot.failed = None;
                slot.index = Some(Arc::new(index));
            }
            Err(error) => {
                tracing::warn!("the lists' index cannot load, lists read the database: {error}");
                slot.failed = asked.or(slot.failed);
            }
        }
        self.loaded.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::SearchedTexts;

    #[test]
    fn a_text_is_found_in_the_texts_that_contain_it_and_never_across_two() {
        let texts = SearchedTexts::new([
            Some("CVE-2024-7206"),
            None,
            Some("Apache HTTP Server"),
            Some("ab"),
            Some("cd"),
            Some(""),
        ]);
        let containing = |needle: &str| texts.containing(needle);
        assert_eq!(
            containing("cve-2024"),
            [true, false, false, false, false, false]
        );
        assert_eq!(
            containing("http s"),
            [false, false, true, false, false, false]
        );
        assert_eq!(containing("a"), [false, false, true, true, false, false]);
        assert_eq!(containing("bc"), [false; 6]);
        assert_eq!(containing("b\0c"), [false; 6]);
        assert_eq!(containing("d"), [false, false, false, false, true, false]);
    }
}
