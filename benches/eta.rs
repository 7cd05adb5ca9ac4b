//! ETA accuracy: `cargo bench --bench eta` (set `BENCH_ETA_1M=1` to add a 1,000,000-row file).
//!
//! Runs a set of imports in process, each recording every progress report with the ETA it
//! carried, then compares each ETA with the time the import really had left. Per import:
//! - the first import of a file into an empty database, and its re-import a week later, for
//!   10,000, 100,000 and 300,000 rows (and 1,000,000 with `BENCH_ETA_1M`);
//! - a hosts-scope import of 10,000 rows of other hosts into the 300,000-row database.
//!
//! The real time left is rounded up to whole seconds, as the ETA is, so a perfect estimate
//! scores 0. Printed per import: its duration; the median absolute error relative to the
//! time left over the events after 10% of the import's time; the worst factor (estimate over
//! real or real over estimate) after 25%; the events without an estimate after 10%; and the
//! longest time without any report. `BENCH_ETA_TRACE=1` also prints every event (time since
//! the start, ETA, real time left, message).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vulnimport::domain::Scope;
use vulnimport::generate::{GenerateOptions, write_tenable_export};
use vulnimport::import::{ImportRequest, run_import};
use vulnimport::progress::{Phase, ProgressReporter};
use vulnimport::store::{self, Store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&data).expect("bench data folder");
    let mut sizes = vec![10_000, 100_000, 300_000];
    if std::env::var_os("BENCH_ETA_1M").is_some() {
        sizes.push(1_000_000);
    }
    println!(
        "{:<34} {:>8} {:>7} {:>12} {:>12} {:>9} {:>10}",
        "import", "seconds", "events", "median err", "worst after", "no ETA", "longest"
    );
    println!(
        "{:<34} {:>8} {:>7} {:>12} {:>12} {:>9} {:>10}",
        "", "", "", "after 10%", "25% (×)", "after 10%", "silence"
    );
    let mut all = Vec::new();
    for &rows in &sizes {
        let file = export(&data, rows, 1);
        let dir = tempfile::tempdir().expect("temp dir");
        let db =
            store::open(dir.path().join("eta.db").to_str().expect("utf-8 path")).expect("database");
        let label = |what: &str| format!("{what}, {} rows", thousands(rows));
        all.push(measure(
            &*db,
            &file,
            "2026-01-05",
            Scope::Full,
            &label("first import"),
        ));
        all.push(measure(
            &*db,
            &file,
            "2026-01-12",
            Scope::Full,
            &label("re-import"),
        ));
        if rows == 300_000 {
            let hosts = export(&data, 10_000, 2);
            all.push(measure(
                &*db,
                &hosts,
                "2026-01-19",
                Scope::Hosts,
                "scope hosts, 10,000 into 300,000",
            ));
        }
    }
    let mut errors: Vec<f64> = all.iter().flat_map(|run| run.errors.clone()).collect();
    let worst = all.iter().map(|run| run.worst).fold(1.0, f64::max);
    println!(
        "\nall imports: median error after 10% {:.0}% (target ≤ 20%), worst after 25% {:.2}× \
         (target ≤ 2×)",
        median(&mut errors) * 100.0,
        worst
    );
}

/// One report: when, its phase, its ETA and its message.
struct Event {
    at: Instant,
    phase: Phase,
    eta: Option<u64>,
    message: String,
}

/// Every report of one import.
#[derive(Default)]
struct Recording {
    events: Mutex<Vec<Event>>,
}

impl ProgressReporter for Recording {
    fn report(&self, phase: Phase, _: u8, message: String, eta: Option<u64>, _: Option<Value>) {
        self.events.lock().expect("events").push(Event {
            at: Instant::now(),
            phase,
            eta,
            message,
        });
    }

    fn cancelled(&self) {}
}

struct Accuracy {
    /// Relative errors of the events after 10% of the time.
    errors: Vec<f64>,
    worst: f64,
}

fn measure(db: &dyn Store, file: &Path, scan_date: &str, scope: Scope, label: &str) -> Accuracy {
    let request = ImportRequest {
        path: file.to_owned(),
        file_name: "bench.csv".into(),
        session_id: Uuid::new_v4(),
        scan_date: scan_date.parse().expect("date"),
        scope,
        started_by: "bench".into(),
        canceller: Default::default(),
        max_rejected_share: ImportRequest::DEFAULT_MAX_REJECTED_SHARE,
        max_field_bytes: ImportRequest::DEFAULT_MAX_FIELD_BYTES,
        retry_of: None,
    };
    let recording = Recording::default();
    let started = Instant::now();
    let summary = run_import(db, &request, &recording, &CancellationToken::new());
    let ended = Instant::now();
    assert_eq!(summary.error, None);
    let total = ended - started;
    let events = recording.events.into_inner().expect("events");
    let (mut errors, mut worst, mut missing) = (Vec::new(), 1.0f64, 0);
    let mut silence = Duration::ZERO;
    let mut previous = started;
    let trace = std::env::var_os("BENCH_ETA_TRACE").is_some();
    for event in &events {
        let (at, phase, eta, message) = (event.at, event.phase, event.eta, &event.message);
        if trace {
            println!(
                "  {:>7.2} s eta {:>4} real {:>6.2} s {message}",
                (at - started).as_secs_f64(),
                eta.map_or("-".into(), |eta| eta.to_string()),
                (ended - at).as_secs_f64()
            );
        }
        silence = silence.max(at - previous);
        previous = at;
        let done = (at - started).as_secs_f64() / total.as_secs_f64();
        if phase.is_terminal() || done < 0.10 {
            continue;
        }
        let Some(eta) = eta else {
            missing += 1;
            continue;
        };
        let real = (ended - at).as_secs_f64().ceil().max(1.0);
        let eta = eta as f64;
        errors.push((eta - real).abs() / real);
        if done >= 0.25 {
            worst = worst.max((eta.max(1.0) / real).max(real / eta.max(1.0)));
        }
    }
    let mut sorted = errors.clone();
    println!(
        "{label:<34} {:>8.2} {:>7} {:>11.0}% {:>11.2}× {:>9} {:>8.2} s",
        total.as_secs_f64(),
        events.len(),
        if sorted.is_empty() {
            0.0
        } else {
            median(&mut sorted) * 100.0
        },
        worst,
        missing,
        silence.as_secs_f64(),
    );
    Accuracy { errors, worst }
}

fn export(data: &Path, rows: u64, seed: u64) -> PathBuf {
    let path = data.join(format!("tenable-{rows}-seed{seed}.csv"));
    if !path.exists() {
        let partial = path.with_extension("partial");
        let file = std::fs::File::create(&partial).expect("export file");
        write_tenable_export(file, &GenerateOptions::new(rows, seed)).expect("generate");
        std::fs::rename(&partial, &path).expect("rename export");
    }
    path
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
