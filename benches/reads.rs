//! Read benchmarks (issue 11): `cargo bench --bench reads`.
//!
//! Builds a database once per run, in a fresh folder under the build's temporary folder (removed
//! at the end), importing seeded Tenable.io exports with the release `vulnimport` binary
//! (`vulnimport import --json`), as a user would:
//! 1. 1,000,000 rows scanned on 2026-01-05 (about 2.27M findings over 125k hosts);
//! 2. a partial scan on 2026-01-12 (`--scope hosts`): the first tenth of those rows less one in
//!    twenty, plus new hosts (rows of another seed, a fiftieth as many): findings added and resolved;
//! 3. a partial re-scan on 2026-01-19 (`--scope hosts`) of the first twentieth of the rows: some of
//!    the findings resolved by (2) reopened.
//!
//! Then it starts `vulnimport serve` on that database, with an admin's API token made by the CLI,
//! and measures over HTTP the reads of the web UI, each 20 times after 2 warm-ups (fewer, at least
//! 5, for a query whose runs pass 10 s in all), each run with a page size of its own (50, 49, …)
//! so that none is answered from the pages the server keeps: p50, p95 and max against the 100 ms
//! p95 target, for
//! - the first page of the list in every sort and order;
//! - every state and severity filter, alone and with four sorts;
//! - text searches (a word common in titles, a rare one, an IP address, a CVE id; all taken from
//!   the data) with every sort;
//! - the middle and last pages of the whole list and of one severity, in two sorts;
//! - the dashboard counts, the import history, and the change lists of imports (2) and (3).
//!
//! Then the downloads (issue 12): the findings export as CSV and JSON in the default order, as
//! CSV sorted by title and filtered to open critical findings, and the HTML and CSV reports of
//! import (2): the time to the response's headers, to the first finding (the second line), to
//! the end, the size, and the server's resident memory sampled every 500 ms.
//!
//! Then, unless `BENCH_QUICK=1`: the first export imported again through the server's API
//! (upload, then polling its status), alone, then once more while 16 readers loop over the reads
//! above: the readers' latency during the import (target p95 < 250 ms), the import's time with
//! readers against alone (target ≤ 1.10), and the server's resident memory sampled every 500 ms.
//!
//! `BENCH_READS_ROWS=100000` sets the first export's row count (default 1,000,000), for a quick
//! run together with `BENCH_QUICK=1`; `BENCH_DOWNLOADS_ONLY=1` measures the downloads alone.
//! With `BENCH_DATABASE_URL=postgres://USER@HOST:PORT/DATABASE` (a database to connect to while
//! creating and dropping the run's own), the database is PostgreSQL instead of SQLite.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use vulnimport::generate::{GenerateOptions, write_tenable_export};

#[path = "support/database.rs"]
mod database;
use database::BenchDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_vulnimport");
const WARM_UPS: usize = 2;
const RUNS: usize = 20;
const MIN_RUNS: usize = 5;
/// Past this much time in its runs, a query stops at `MIN_RUNS`.
const RUN_BUDGET: Duration = Duration::from_secs(10);
const TARGET_MS: f64 = 100.0;
const READERS: usize = 16;
const READERS_TARGET_MS: f64 = 250.0;
const SLOWDOWN_TARGET: f64 = 1.10;
const SORTS: [&str; 9] = [
    "severity",
    "vpr",
    "cvss",
    "host",
    "cve",
    "title",
    "firstSeen",
    "lastSeen",
    "state",
];
const FILTERS: [&str; 9] = [
    "state=open",
    "state=active",
    "state=resolved",
    "state=reopened",
    "severity=critical",
    "severity=high",
    "severity=medium",
    "severity=low",
    "severity=info",
];
const FILTERED_SORTS: [&str; 4] = ["severity", "cvss", "host", "title"];
const LIST: &str = "/api/vulnerabilities?perPage=50";

fn main() {
    let rows: u64 = std::env::var("BENCH_READS_ROWS")
        .ok()
        .map(|rows| rows.parse().expect("BENCH_READS_ROWS is a number of rows"))
        .unwrap_or(1_000_000);
    let dir = tempfile::Builder::new()
        .prefix("reads-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("bench folder");
    let bench_database = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) => BenchDatabase::postgres(&server),
        Err(_) => BenchDatabase::sqlite_in(dir.path()),
    };
    let database = bench_database.url();

    println!("## Building the database ({rows} rows)");
    let built = build(dir.path(), &database, rows);
    let token = admin_token(&database);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = Server::start(dir.path(), &database);
        let api = Api {
            http: reqwest::Client::new(),
            base: server.url.clone(),
            token,
        };
        let downloads_only = std::env::var_os("BENCH_DOWNLOADS_ONLY").is_some();
        let queries = read_queries(&api, &built).await;
        if !downloads_only {
            println!("\n## Reads ({} queries)\n", queries.len());
            measure_reads(&api, &queries).await;
        }
        println!("\n## Downloads\n");
        measure_downloads(&api, &server, &built).await;
        if downloads_only {
            return;
        }
        if std::env::var_os("BENCH_QUICK").is_none() {
            println!("\n## An import of {rows} rows through the server, alone and with {READERS} readers\n");
            under_import(&api, &server, &built.export, &queries).await;
        }
    });
}

/// What the build left: the first export, and the session ids of the two later imports.
struct Built {
    export: PathBuf,
    partial: String,
    rescan: String,
}

fn build(dir: &Path, database: &str, rows: u64) -> Built {
    let started = Instant::now();
    let export = dir.join("scan-2026-01-05.csv");
    generate(&export, rows, 1);
    let partial = dir.join("scan-2026-01-12.csv");
    let new_hosts = dir.join("new-hosts.csv");
    generate(&new_hosts, (rows / 50).max(1), 2);
    {
        let mut out = BufWriter::new(File::create(&partial).expect("partial scan"));
        copy_records(&export, &mut out, true, rows / 10, |row| row % 20 != 7);
        copy_records(&new_hosts, &mut out, false, u64::MAX, |_| true);
        out.flush().expect("partial scan");
    }
    let rescan = dir.join("scan-2026-01-19.csv");
    {
        let mut out = BufWriter::new(File::create(&rescan).expect("re-scan"));
        copy_records(&export, &mut out, true, rows / 20, |_| true);
        out.flush().expect("re-scan");
    }
    println!(
        "generated the exports in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    cli_import(database, &export, "2026-01-05", "full");
    let partial = cli_import(database, &partial, "2026-01-12", "hosts");
    let rescan = cli_import(database, &rescan, "2026-01-19", "hosts");
    println!("built in {:.1} s", started.elapsed().as_secs_f64());
    Built {
        export,
        partial,
        rescan,
    }
}

fn generate(path: &Path, rows: u64, seed: u64) {
    let file = File::create(path).expect("export file");
    write_tenable_export(file, &GenerateOptions::new(rows, seed)).expect("generate");
}

/// Copies to `out` the records of the CSV file `from` among its first `limit` that `keep` accepts
/// (given their index from 0), after its header line when `header` is set. A record ends at the
/// first line end outside quotes.
fn copy_records(
    from: &Path,
    out: &mut impl Write,
    header: bool,
    limit: u64,
    keep: impl Fn(u64) -> bool,
) {
    let mut reader = BufReader::new(File::open(from).expect("export"));
    let mut record = Vec::new();
    let mut line = Vec::new();
    for index in 0..=limit {
        record.clear();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).expect("read export") == 0 {
                break;
            }
            record.extend_from_slice(&line);
            if record.iter().filter(|&&byte| byte == b'"').count() % 2 == 0 {
                break;
            }
        }
        if record.is_empty() {
            break;
        }
        // Index 0 is the header line.
        let keep = if index == 0 { header } else { keep(index - 1) };
        if keep {
            out.write_all(&record).expect("write export");
        }
    }
}

/// Imports `file` with the CLI; returns the import's session id.
fn cli_import(database: &str, file: &Path, scan_date: &str, scope: &str) -> String {
    let started = Instant::now();
    let output = Command::new(BIN)
        .args([
            "import",
            "--json",
            "--scan-date",
            scan_date,
            "--scope",
            scope,
        ])
        .args(["--database", database])
        .arg(file)
        .output()
        .expect("vulnimport import");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "import summary: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(summary["outcome"], "completed", "{summary}");
    println!(
        "imported {scan_date} ({scope}): {} rows, {} findings: {} new, {} updated, {} reopened, {} resolved, in {:.1} s",
        summary["rows"],
        summary["records"],
        summary["new"],
        summary["updated"],
        summary["reopened"],
        summary["resolved"],
        started.elapsed().as_secs_f64()
    );
    summary["sessionId"]
        .as_str()
        .expect("session id")
        .to_owned()
}

/// Creates an admin account and an API token for it; returns the token.
fn admin_token(database: &str) -> String {
    let mut add = Command::new(BIN)
        .args([
            "user",
            "add",
            "bench",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .args(["--database", database])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("vulnimport user add");
    let mut stdin = add.stdin.take().expect("stdin");
    writeln!(stdin, "a long password for the read benchmark").expect("password");
    drop(stdin);
    assert!(add.wait().expect("user add").success(), "user add failed");
    let output = Command::new(BIN)
        .args(["token", "create", "--user", "bench", "--name", "reads"])
        .args(["--database", database])
        .output()
        .expect("vulnimport token create");
    assert!(output.status.success(), "token create failed");
    let text = String::from_utf8(output.stdout).expect("token");
    text.lines().last().expect("token line").trim().to_owned()
}

/// `vulnimport serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path, database: &str) -> Server {
        let uploads = dir.join("uploads");
        std::fs::create_dir_all(&uploads).expect("upload folder");
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--host", "127.0.0.1"])
            .args(["--database", database])
            .arg("--upload-dir")
            .arg(&uploads)
            // Warnings, and the lists' index loads with their times.
            .env("RUST_LOG", "warn,vulnimport::store::list_index=info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("vulnimport serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server said where it listens")
                .expect("server output");
            if let Some(url) = line.strip_prefix("vulnimport listening on ") {
                break url.to_owned();
            }
        };
        // Keeps reading, so the server never waits on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url }
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server status");
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// `GET path`, answered up to its headers.
    async fn send(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    /// `GET path`: the JSON answer and the time until its last byte.
    async fn get(&self, path: &str) -> (Value, Duration) {
        let started = Instant::now();
        let response = self.send(path).await;
        let status = response.status();
        let body = response.bytes().await.expect("answer");
        let elapsed = started.elapsed();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        (serde_json::from_slice(&body).expect("JSON answer"), elapsed)
    }

    async fn total(&self, path: &str) -> u64 {
        self.get(path).await.0["total"].as_u64().expect("total")
    }
}

/// The reads measured, in the order they are reported.
async fn read_queries(api: &Api, built: &Built) -> Vec<String> {
    let mut queries = Vec::new();
    for sort in SORTS {
        for order in ["asc", "desc"] {
            queries.push(format!("{LIST}&sort={sort}&order={order}"));
        }
    }
    for filter in FILTERS {
        queries.push(format!("{LIST}&{filter}"));
    }
    for filter in FILTERS {
        for sort in FILTERED_SORTS {
            queries.push(format!("{LIST}&{filter}&sort={sort}"));
        }
    }
    for term in search_terms(api).await {
        for sort in SORTS {
            queries.push(format!("{LIST}&q={term}&sort={sort}"));
        }
    }
    for filter in ["", "&severity=high"] {
        for sort in ["", "&sort=host"] {
            let list = format!("{LIST}{filter}{sort}");
            let last = api.total(&list).await.div_ceil(50).max(1);
            queries.push(format!("{list}&page={}", last.div_ceil(2)));
            queries.push(format!("{list}&page={last}"));
        }
    }
    queries.push("/api/stats".into());
    queries.push("/api/imports".into());
    for (session, change) in [
        (&built.partial, "added"),
        (&built.partial, "resolved"),
        (&built.rescan, "reopened"),
    ] {
        let list = format!("/api/imports/{session}/findings?perPage=50&change={change}");
        let last = api.total(&list).await.div_ceil(50).max(1);
        queries.push(list.clone());
        queries.push(format!("{list}&page={last}"));
    }
    queries
}

/// Search texts taken from the data: the word of titles most common in a sample of findings, a
/// word seen in one title of the sample that matches few findings, an IP address and a CVE id.
async fn search_terms(api: &Api) -> [String; 4] {
    let (sample, _) = api
        .get("/api/vulnerabilities?perPage=500&sort=host&order=asc")
        .await;
    let items = sample["items"].as_array().expect("items");
    let text = |field: &str| {
        items
            .iter()
            .find_map(|item| item[field].as_str())
            .unwrap_or_else(|| panic!("a finding with a {field}"))
            .to_owned()
    };
    let (ip, cve) = (text("ip"), text("cve"));
    let mut titles_with: HashMap<String, usize> = HashMap::new();
    for item in items {
        let title = item["title"].as_str().unwrap_or_default().to_lowercase();
        let words: BTreeSet<&str> = title
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|word| word.len() >= 5)
            .collect();
        for word in words {
            *titles_with.entry(word.to_owned()).or_default() += 1;
        }
    }
    let mut words: Vec<(&String, &usize)> = titles_with.iter().collect();
    words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let common = words[0].0.clone();
    let mut rare: Option<(u64, String)> = None;
    for (word, _) in words.iter().rev().take(10) {
        let total = api.total(&format!("{LIST}&q={word}")).await;
        if total > 0 && rare.as_ref().is_none_or(|(fewest, _)| total < *fewest) {
            rare = Some((total, (*word).clone()));
        }
    }
    let rare = rare.expect("a rare word").1;
    let terms = [common, rare, ip, cve];
    for term in &terms {
        assert!(
            term.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{term} needs no encoding in a URL"
        );
    }
    terms
}

async fn measure_reads(api: &Api, queries: &[String]) {
    println!("| query | runs | p50 ms | p95 ms | max ms | matches | p95 < {TARGET_MS} ms |");
    println!("|---|---:|---:|---:|---:|---:|:---:|");
    let mut met = 0;
    for query in queries {
        // A page size of its own for each run: the server keeps the pages it answered (until
        // the database changes), and a run answered from there would measure nothing.
        let mut asked = 0;
        let mut next = || {
            asked += 1;
            query.replace("perPage=50", &format!("perPage={}", 51 - asked))
        };
        for _ in 0..WARM_UPS {
            api.get(&next()).await;
        }
        let mut times = Vec::new();
        let mut spent = Duration::ZERO;
        let mut answer = Value::Null;
        while times.len() < RUNS && (times.len() < MIN_RUNS || spent < RUN_BUDGET) {
            let (json, elapsed) = api.get(&next()).await;
            spent += elapsed;
            times.push(millis(elapsed));
            answer = json;
        }
        let latency = Latency::of(times);
        let ok = latency.p95 < TARGET_MS;
        met += usize::from(ok);
        let matches = answer["total"]
            .as_u64()
            .map_or("–".to_owned(), |total| total.to_string());
        println!(
            "| `{}` | {} | {:.1} | {:.1} | {:.1} | {matches} | {} |",
            label(query),
            latency.count,
            latency.p50,
            latency.p95,
            latency.max,
            if ok { "✓" } else { "✗" }
        );
    }
    println!(
        "\n{met} of {} queries meet the target (p95 < {TARGET_MS} ms)",
        queries.len()
    );
}

/// A query as the table shows it: without the page size every list has.
fn label(query: &str) -> String {
    query
        .replace("?perPage=50&", "?")
        .replace("?perPage=50", "")
}

/// Imports `export` through the server's API, alone and then with readers, sampling the server's
/// memory.
async fn under_import(api: &Api, server: &Server, export: &Path, queries: &[String]) {
    let (alone, rss) = sampling_rss(server, server_import(api, export, "2026-01-26")).await;
    println!(
        "import alone: {:.1} s until completed ({:.1} s in the server); server RSS {rss}",
        alone.0.as_secs_f64(),
        alone.1.as_secs_f64()
    );

    // The import reloads the lists' index once it has completed; a list answers once that is
    // done, so the second import starts, as the first did, with the index loaded.
    let (_, reloaded) = api.get(&queries[0]).await;
    println!("first list after the import: {:.0} ms", millis(reloaded));

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            let (api, queries, stop) = (api.clone(), queries.to_vec(), stop.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut next = reader * queries.len() / READERS;
                while !stop.load(Ordering::Relaxed) {
                    let query = next % queries.len();
                    times.push((query, millis(api.get(&queries[query]).await.1)));
                    next += 1;
                }
                times
            })
        })
        .collect();
    let (with_readers, rss) = sampling_rss(server, server_import(api, export, "2026-02-02")).await;
    stop.store(true, Ordering::Relaxed);
    let mut times: Vec<(usize, f64)> = Vec::new();
    for reader in readers {
        times.extend(reader.await.expect("reader"));
    }

    let ratio = with_readers.0.as_secs_f64() / alone.0.as_secs_f64();
    println!(
        "import with {READERS} readers: {:.1} s until completed ({:.1} s in the server); server RSS {rss}",
        with_readers.0.as_secs_f64(),
        with_readers.1.as_secs_f64()
    );
    println!(
        "with readers / alone: {ratio:.2} (server time {:.2}) {}",
        with_readers.1.as_secs_f64() / alone.1.as_secs_f64(),
        mark(ratio <= SLOWDOWN_TARGET, &format!("≤ {SLOWDOWN_TARGET:.2}"))
    );
    let all = Latency::of(times.iter().map(|(_, ms)| *ms).collect());
    println!(
        "reads during the import: {} reads, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms {}",
        all.count,
        all.p50,
        all.p95,
        all.max,
        mark(
            all.p95 < READERS_TARGET_MS,
            &format!("p95 < {READERS_TARGET_MS} ms")
        )
    );
    let mut by_query: Vec<(usize, Latency)> = (0..queries.len())
        .filter_map(|query| {
            let ms: Vec<f64> = times
                .iter()
                .filter(|(q, _)| *q == query)
                .map(|(_, ms)| *ms)
                .collect();
            (!ms.is_empty()).then(|| (query, Latency::of(ms)))
        })
        .collect();
    by_query.sort_by(|a, b| b.1.p95.total_cmp(&a.1.p95));
    println!("slowest reads during the import (by p95):");
    for (query, latency) in by_query.iter().take(5) {
        println!(
            "  `{}`: {} reads, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            label(&queries[*query]),
            latency.count,
            latency.p50,
            latency.p95,
            latency.max
        );
    }
}

fn mark(ok: bool, target: &str) -> String {
    format!("{} (target {target})", if ok { "✓" } else { "✗" })
}

/// Uploads `export` with `POST /api/imports` and polls its status until it has ended; returns
/// the time until then and the import's own duration from its record.
async fn server_import(api: &Api, export: &Path, scan_date: &str) -> (Duration, Duration) {
    let started = Instant::now();
    let file = tokio::fs::File::open(export).await.expect("export");
    let size = file.metadata().await.expect("export size").len();
    // In 64 KiB chunks, as a browser sends a file.
    let chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let body = reqwest::Body::wrap_stream(chunks);
    let form = Form::new().text("scanDate", scan_date.to_owned()).part(
        "file",
        Part::stream_with_length(body, size).file_name("scan.csv"),
    );
    let response = api
        .http
        .post(format!("{}/api/imports", api.base))
        .bearer_auth(&api.token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED, "upload");
    let answer: Value = response.json().await.expect("upload answer");
    let session = answer["sessionId"].as_str().expect("session id");
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, _) = api.get(&format!("/api/imports/{session}")).await;
        match status["outcome"].as_str() {
            Some("queued" | "running") => continue,
            Some("completed") => break,
            _ => panic!("the import did not complete: {status}"),
        }
    }
    let elapsed = started.elapsed();
    let (record, _) = api.get(&format!("/api/imports/{session}/record")).await;
    let own = record["durationMs"].as_u64().expect("durationMs");
    (elapsed, Duration::from_millis(own))
}

async fn measure_downloads(api: &Api, server: &Server, built: &Built) {
    println!("| download | lines | MB | headers ms | first finding ms | total s | server RSS |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let exports = "/api/vulnerabilities/export";
    let report = format!("/api/imports/{}/report", built.partial);
    for path in [
        format!("{exports}?format=csv"),
        format!("{exports}?format=json"),
        format!("{exports}?format=csv&sort=title&order=asc"),
        format!("{exports}?format=csv&state=open&severity=critical"),
        format!("{report}?format=html"),
        format!("{report}?format=csv"),
    ] {
        let (download, rss) = sampling_rss(server, api.download(&path)).await;
        println!(
            "| `{}` | {} | {:.1} | {:.0} | {:.0} | {:.2} | {rss} |",
            path.replace(&built.partial, "{partial}"),
            download.lines,
            download.bytes as f64 / 1e6,
            millis(download.headers),
            millis(download.second_line),
            download.total.as_secs_f64(),
        );
    }
}

/// How a download went: when its headers and its second line came, when it ended, its size.
struct Download {
    headers: Duration,
    second_line: Duration,
    total: Duration,
    bytes: u64,
    lines: u64,
}

impl Api {
    /// `GET path`, read to its end as it streams in.
    async fn download(&self, path: &str) -> Download {
        let started = Instant::now();
        let mut response = self.send(path).await;
        let headers = started.elapsed();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let (mut bytes, mut lines, mut second_line) = (0, 0, Duration::ZERO);
        while let Some(chunk) = response.chunk().await.expect("download") {
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&byte| byte == b'\n').count() as u64;
            if lines >= 2 && second_line.is_zero() {
                second_line = started.elapsed();
            }
        }
        Download {
            headers,
            second_line,
            total: started.elapsed(),
            bytes,
            lines,
        }
    }
}

/// The server's resident memory at the start, its highest and at the end of `work`, sampled every
/// 500 ms.
struct Rss {
    start: f64,
    max: f64,
    end: f64,
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "start {:.0} MiB, max {:.0} MiB, end {:.0} MiB",
            self.start, self.max, self.end
        )
    }
}

async fn sampling_rss<T>(server: &Server, work: impl Future<Output = T>) -> (T, Rss) {
    let start = server.rss_mib();
    let mut max = start;
    let mut every = tokio::time::interval(Duration::from_millis(500));
    let mut work = std::pin::pin!(work);
    let output = loop {
        tokio::select! {
            output = &mut work => break output,
            _ = every.tick() => max = max.max(server.rss_mib()),
        }
    };
    let end = server.rss_mib();
    let max = max.max(end);
    (output, Rss { start, max, end })
}

struct Latency {
    count: usize,
    p50: f64,
    p95: f64,
    max: f64,
}

impl Latency {
    fn of(mut millis: Vec<f64>) -> Latency {
        millis.sort_by(f64::total_cmp);
        // Nearest rank.
        let at = |p: f64| millis[((millis.len() as f64 * p).ceil() as usize).max(1) - 1];
        Latency {
            count: millis.len(),
            p50: at(0.50),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
