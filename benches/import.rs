//! Import benchmarks: `cargo bench --bench import` (set `BENCH_QUICK=1` to skip the 1M-row run).
//!
//! Generates seeded Tenable.io exports (100,000 and 1,000,000 rows, ~710 bytes a row) once under
//! the build's temporary folder, then measures, each in a fresh SQLite database:
//! - end to end, as a user runs it (`vulnimport import --json`, file on disk → completed): wall
//!   time, rows/s and records/s, peak RSS, for a first import and a re-import of the same file;
//! - the 100,000-row file gzip-compressed, end to end, against the plain file;
//! - the 1,000,000-row file's peak RSS against the 100,000-row file's;
//! - the progress tracker's cost: time spent reporting within an import (real tracker, real
//!   throttle), and the same import with a no-op reporter for comparison.
//!
//! Each end-to-end run goes through a small measuring process of its own, so the peak RSS read
//! from `getrusage(RUSAGE_CHILDREN)` is that one import's.
//!
//! With `BENCH_DATABASE_URL=postgres://USER@HOST:PORT/DATABASE` (a database to connect to while
//! creating and dropping the runs' own), the 100,000-row runs go into fresh PostgreSQL databases
//! instead, followed by a bare `COPY` of the same file into one unindexed table: the floor an
//! import into that server is compared with. `BENCH_ROWS` sets the rows of those runs' file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vulnimport::domain::Scope;
use vulnimport::generate::{GenerateOptions, write_tenable_export};
use vulnimport::import::{ImportRequest, run_import};
use vulnimport::progress::{
    NoProgress, Phase, ProgressEvent, ProgressReporter, ProgressSink, ProgressTracker,
    TrackerSettings,
};
use vulnimport::store::{self};

#[path = "support/database.rs"]
mod database;
use database::BenchDatabase;

/// The same allocator as the `vulnimport` binary, so in-process runs compare with CLI runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 3;
const MEASURE_CHILD: &str = "measure-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(MEASURE_CHILD) {
        measure_child(&args[2..]);
        return;
    }
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&data).expect("bench data folder");
    if let Ok(server) = std::env::var("BENCH_DATABASE_URL") {
        let rows = std::env::var("BENCH_ROWS")
            .ok()
            .and_then(|rows| rows.parse().ok())
            .unwrap_or(100_000);
        postgres_benches(&server, rows, &export(&data, rows));
        return;
    }
    let small = export(&data, 100_000);

    println!("## End to end, 100,000 rows ({} MB)", megabytes(&small));
    let first = end_to_end(&small, false);
    let again = end_to_end(&small, true);
    report("first import", &first);
    report("re-import", &again);
    println!(
        "re-import / first import: {:.2}",
        again.seconds / first.seconds
    );

    let compressed = gzipped(&small);
    println!(
        "\n## End to end, the same rows gzip-compressed ({} MB)",
        megabytes(&compressed)
    );
    let gzip = end_to_end(&compressed, false);
    report("first import", &gzip);
    println!("gzip / plain: {:.2}", gzip.seconds / first.seconds);

    if std::env::var_os("BENCH_QUICK").is_none() {
        let large = export(&data, 1_000_000);
        println!("\n## End to end, 1,000,000 rows ({} MB)", megabytes(&large));
        let large_run = end_to_end(&large, false);
        report("first import", &large_run);
        println!(
            "peak RSS 1M / 100k: {:.2}",
            large_run.peak_rss_kb as f64 / first.peak_rss_kb as f64
        );
    }

    println!("\n## Progress tracking cost, 100,000 rows");
    progress_cost(&small);

    println!("\n## Finished sessions kept in memory");
    finished_session_memory(&data);
}

/// Resident memory of finished sessions (each holding its final event with the import summary),
/// from the growth of this process's RSS over many of them.
fn finished_session_memory(data: &Path) {
    const SESSIONS: usize = 20_000;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let sample = data.join("memory-sample.csv");
    std::fs::write(
        &sample,
        "hostname,cve,severity\nweb01,CVE-2024-0001,high\nweb02,CVE-2024-0002,low\n",
    )
    .expect("sample");
    let sink = Arc::new(CountingSink::default());
    let tracker = ProgressTracker::new(sink, TrackerSettings::default());
    let summary = {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store::open(dir.path().join("m.db").to_str().expect("path")).expect("db");
        let mut request = request_for(&sample, Uuid::new_v4());
        request.file_name = "weekly-scan-export.csv".into();
        let summary = run_import(&*store, &request, &NoProgress, &CancellationToken::new());
        serde_json::to_value(summary).expect("summary serialises")
    };
    let before = resident_kib();
    for _ in 0..SESSIONS {
        let id = Uuid::new_v4();
        tracker.create_session(id).expect("session");
        tracker.emit_progress(
            id,
            Phase::Complete,
            100,
            "Import complete: 2 new, 0 updated, 0 reopened, 0 resolved".into(),
            Some(0),
            Some(summary.clone()),
        );
    }
    let after = resident_kib();
    println!(
        "{:.0} bytes per finished session ({SESSIONS} sessions: RSS {:.1} → {:.1} MiB)",
        (after - before) as f64 * 1024.0 / SESSIONS as f64,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The medians of several runs of one kind.
struct Figures {
    seconds: f64,
    rows: u64,
    records: u64,
    peak_rss_kb: u64,
}

fn report(label: &str, figures: &Figures) {
    println!(
        "{label:>14}: {:.2} s, {:.0} rows/s, {:.0} records/s, peak RSS {:.1} MB",
        figures.seconds,
        figures.rows as f64 / figures.seconds,
        figures.records as f64 / figures.seconds,
        figures.peak_rss_kb as f64 / 1024.0
    );
}

/// An import end to end into PostgreSQL, first and again, and a bare `COPY` of the file into one
/// unindexed table.
fn postgres_benches(server: &str, rows: u64, file: &Path) {
    println!(
        "## PostgreSQL, end to end, {rows} rows ({} MB)",
        megabytes(file)
    );
    let fresh = || BenchDatabase::postgres(server);
    let first = end_to_end_in(file, false, &fresh);
    let again = end_to_end_in(file, true, &fresh);
    report("first import", &first);
    report("re-import", &again);
    println!(
        "re-import / first import: {:.2}",
        again.seconds / first.seconds
    );
    let mut copies: Vec<f64> = (0..RUNS).map(|_| bare_copy(server, file)).collect();
    let copy = median(&mut copies);
    println!("\n## PostgreSQL, a bare COPY of the same file into one unindexed table");
    println!("{:>14}: {copy:.2} s", "COPY");
    println!("first import / COPY: {:.2}", first.seconds / copy);
    println!("re-import / COPY: {:.2}", again.seconds / copy);
}

/// Seconds to `COPY` a CSV file, as it is, into a fresh table of text columns without an index.
fn bare_copy(server: &str, file: &Path) -> f64 {
    use std::io::{BufRead, Write};

    let database = BenchDatabase::postgres(server);
    let mut client = postgres::Client::connect(&database.url(), postgres::NoTls).expect("connect");
    let mut reader = std::io::BufReader::new(std::fs::File::open(file).expect("export"));
    let mut header = String::new();
    reader.read_line(&mut header).expect("header");
    let columns: Vec<String> = (0..header.split(',').count())
        .map(|i| format!("c{i} text"))
        .collect();
    client
        .batch_execute(&format!("CREATE TABLE copied ({})", columns.join(", ")))
        .expect("table");
    let started = Instant::now();
    let mut sink = client
        .copy_in("COPY copied FROM STDIN (FORMAT csv)")
        .expect("copy");
    std::io::copy(&mut reader, &mut sink).expect("copy rows");
    sink.flush().expect("flush");
    sink.finish().expect("finish");
    started.elapsed().as_secs_f64()
}
/// Imports `file` into fresh SQLite databases through the CLI (see [`end_to_end_in`]).
fn end_to_end(file: &Path, again: bool) -> Figures {
    end_to_end_in(file, again, &|| {
        BenchDatabase::sqlite_in(&std::env::temp_dir())
    })
}

/// Imports `file` into fresh databases through the CLI; with `again`, each database has the
/// file imported once before the measured run.
fn end_to_end_in(file: &Path, again: bool, fresh: &dyn Fn() -> BenchDatabase) -> Figures {
    let mut seconds = Vec::new();
    let mut rss = Vec::new();
    let mut counts = (0, 0);
    for _ in 0..RUNS {
        let database = fresh();
        let url = database.url();
        if again {
            run_cli(file, &url, "2026-01-05");
        }
        let (elapsed, peak_kb, summary) = run_cli(file, &url, "2026-01-12");
        seconds.push(elapsed.as_secs_f64());
        rss.push(peak_kb);
        counts = (
            summary["rows"].as_u64().unwrap_or(0),
            summary["records"].as_u64().unwrap_or(0),
        );
    }
    Figures {
        seconds: median(&mut seconds),
        rows: counts.0,
        records: counts.1,
        peak_rss_kb: median(&mut rss),
    }
}

/// Runs one CLI import through a measuring process; returns wall time, peak RSS and summary.
fn run_cli(file: &Path, url: &str, scan_date: &str) -> (Duration, u64, Value) {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args([
            MEASURE_CHILD,
            env!("CARGO_BIN_EXE_vulnimport"),
            "import",
            "--json",
        ])
        .args(["--scan-date", scan_date, "--database", url])
        .arg(file)
        .output()
        .expect("measuring process");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let summary: Value = serde_json::from_str(lines.next().unwrap_or("")).expect("summary");
    assert_eq!(summary["outcome"], "completed", "{summary}");
    let measured: Vec<u64> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    (Duration::from_micros(measured[0]), measured[1], summary)
}

/// Runs the command in `args`, forwards its standard output, then prints
/// `<wall microseconds> <peak RSS KiB>`.
fn measure_child(args: &[String]) {
    let started = Instant::now();
    let output = Command::new(&args[0])
        .args(&args[1..])
        .output()
        .expect("import process");
    let elapsed = started.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    print!("{}", String::from_utf8_lossy(&output.stdout).trim_end());
    println!("\n{} {}", elapsed.as_micros(), usage.max_rss());
}

/// Times the same import with the real tracker and with a no-op reporter, alternating runs.
fn progress_cost(file: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let mut tracked = Vec::new();
    let mut untracked = Vec::new();
    let mut reporting = Vec::new();
    let mut delivered = 0;
    for _ in 0..RUNS {
        let sink = Arc::new(CountingSink::default());
        let tracker = ProgressTracker::new(sink.clone(), TrackerSettings::default());
        let session = Uuid::new_v4();
        let cancel = tracker.create_session(session).expect("session");
        let reporter = TimedReporter {
            inner: tracker.reporter(session),
            nanos: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        };
        tracked.push(import_in_process(file, session, &reporter, &cancel));
        reporting.push((
            reporter.nanos.load(Ordering::Relaxed),
            reporter.calls.load(Ordering::Relaxed),
        ));
        delivered = sink.delivered.load(Ordering::Relaxed);
        untracked.push(import_in_process(
            file,
            Uuid::new_v4(),
            &NoProgress,
            &CancellationToken::new(),
        ));
    }
    let with_tracker = median(&mut tracked);
    let without = median(&mut untracked);
    let (nanos, calls) = reporting[reporting.len() / 2];
    println!(
        "with tracker: {with_tracker:.3} s; no-op reporter: {without:.3} s (difference {:+.1}%, within run-to-run noise)",
        (with_tracker / without - 1.0) * 100.0
    );
    println!(
        "time inside the tracker: {:.2} ms over {calls} reports, {:.3}% of the import; {delivered} events delivered",
        nanos as f64 / 1e6,
        nanos as f64 / 1e9 / with_tracker * 100.0
    );
}

fn import_in_process(
    file: &Path,
    session_id: Uuid,
    reporter: &dyn ProgressReporter,
    cancel: &CancellationToken,
) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        store::open(dir.path().join("bench.db").to_str().expect("utf-8 path")).expect("database");
    let request = ImportRequest {
        path: file.to_owned(),
        file_name: "bench.csv".into(),
        session_id,
        scan_date: "2026-01-05".parse().expect("date"),
        scope: Scope::Full,
        started_by: "bench".into(),
        canceller: Default::default(),
        max_rejected_share: ImportRequest::DEFAULT_MAX_REJECTED_SHARE,
        max_field_bytes: ImportRequest::DEFAULT_MAX_FIELD_BYTES,
        retry_of: None,
    };
    let started = Instant::now();
    let summary = run_import(&*store, &request, reporter, cancel);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(summary.error, None);
    elapsed
}

fn request_for(file: &Path, session_id: Uuid) -> ImportRequest {
    ImportRequest {
        path: file.to_owned(),
        file_name: "bench.csv".into(),
        session_id,
        scan_date: "2026-01-05".parse().expect("date"),
        scope: Scope::Full,
        started_by: "bench".into(),
        canceller: Default::default(),
        max_rejected_share: ImportRequest::DEFAULT_MAX_REJECTED_SHARE,
        max_field_bytes: ImportRequest::DEFAULT_MAX_FIELD_BYTES,
        retry_of: None,
    }
}

/// Measures the time an import spends handing reports to the tracker.
struct TimedReporter<R> {
    inner: R,
    nanos: AtomicU64,
    calls: AtomicU64,
}

impl<R: ProgressReporter> ProgressReporter for TimedReporter<R> {
    fn report(
        &self,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    ) {
        let started = Instant::now();
        self.inner.report(phase, progress, message, eta, data);
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn cancelled(&self) {
        self.inner.cancelled();
    }
}

/// A sink that serialises each event, as the Socket.IO sink does, and counts them.
#[derive(Default)]
struct CountingSink {
    delivered: AtomicU64,
}

impl ProgressSink for CountingSink {
    fn deliver(&self, event: &ProgressEvent) {
        let json = serde_json::to_string(event).expect("event serialises");
        std::hint::black_box(json);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    fn cancelled(&self, _: Uuid) {}
}

/// The seeded export of `rows` rows, generated once.
fn export(data: &Path, rows: u64) -> PathBuf {
    let path = data.join(format!("tenable-{rows}-seed1.csv"));
    if !path.exists() {
        let partial = path.with_extension("partial");
        let file = std::fs::File::create(&partial).expect("export file");
        let stats = write_tenable_export(file, &GenerateOptions::new(rows, 1)).expect("generate");
        std::fs::rename(&partial, &path).expect("rename export");
        println!(
            "generated {} rows, {} CVE ids, {} duplicate rows",
            stats.rows, stats.cve_ids, stats.duplicate_rows
        );
    }
    path
}

/// `plain` gzip-compressed, written once next to it.
fn gzipped(plain: &Path) -> PathBuf {
    let path = plain.with_extension("csv.gz");
    if !path.exists() {
        let partial = path.with_extension("partial");
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&partial).expect("compressed file"),
            flate2::Compression::default(),
        );
        std::io::copy(
            &mut std::fs::File::open(plain).expect("export"),
            &mut encoder,
        )
        .expect("compress");
        encoder.finish().expect("compress");
        std::fs::rename(&partial, &path).expect("rename compressed export");
    }
    path
}

fn megabytes(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) / 1_000_000
}

fn median<T: PartialOrd + Copy>(values: &mut [T]) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    values[values.len() / 2]
}
