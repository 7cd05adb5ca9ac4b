//! Estimating the time left of an import from the work each phase has to do.
//!
//! Each phase has its own unit of work: bytes of the file for parsing and loading, records for
//! processing and finalizing. [`Rates`] give milliseconds per unit; they are learned from the
//! recent completed imports of the same database ([`Rates::learned`]). With no such history the
//! rates are derived from the live loading rate once a tenth of the file is loaded
//! ([`Rates::from_loading`], with conservative default ratios between the phases); until then
//! there is no basis and the estimate is `None` ("Estimating…").
//!
//! The time left is the rest of the current phase plus the whole of each phase still to come.
//! The current phase's rest blends the learned expectation with the phase's own live rate,
//! trusting the live rate more as the phase advances; a phase that runs over its expectation is
//! extrapolated from the live rate, so the estimate never sticks at a second.

use std::time::{Duration, Instant};

use super::Phase;

/// The phases that take time, in order.
const PHASES: [Phase; 4] = [
    Phase::Parsing,
    Phase::Loading,
    Phase::Processing,
    Phase::Finalizing,
];
/// The share of the file loaded before a first import's live rate is trusted.
const BOOTSTRAP_SHARE: f64 = 0.10;
/// A first import's processing time per record against its loading time per record, for an
/// import of [`RATIO_RECORDS`] records. Measured ratios are 1.0–1.5 there.
const PROCESSING_PER_LOADING: f64 = 1.3;
/// The same for finalizing (writing the record, committing, folding the log back).
const FINALIZING_PER_LOADING: f64 = 0.2;
/// Both ratios grow with the import as its tables outgrow the page cache: by the size ratio to
/// this power (measured: 1.3 at 230,000 records, 2.8 at 2,300,000).
const RATIO_RECORDS: f64 = 230_000.0;
const RATIO_GROWTH: f64 = 0.35;
/// A phase's live rate is only used once this share of it is done.
const LIVE_MINIMUM: f64 = 0.02;

/// One past import's size and how long its phases took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastImport {
    pub file_size: u64,
    pub records: u64,
    pub elapsed_ms: [u64; 4],
}

/// Milliseconds per unit of work of each phase, and records per byte of file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub per_unit: [f64; 4],
    pub records_per_byte: f64,
}

impl Rates {
    /// The pooled rates of past imports; `None` without a usable one.
    pub fn learned(past: &[PastImport]) -> Option<Rates> {
        let usable: Vec<&PastImport> = past
            .iter()
            .filter(|past| past.file_size > 0 && past.records > 0)
            .collect();
        if usable.is_empty() {
            return None;
        }
        let bytes: u64 = usable.iter().map(|past| past.file_size).sum();
        let records: u64 = usable.iter().map(|past| past.records).sum();
        let total = |phase: usize| {
            usable
                .iter()
                .map(|past| past.elapsed_ms[phase])
                .sum::<u64>()
        };
        let (bytes, records) = (bytes as f64, records as f64);
        let loading_per_record = total(1) as f64 / records;
        Some(Rates {
            per_unit: [
                total(0) as f64 / bytes,
                total(1) as f64 / bytes,
                total(2) as f64 / records,
                // Finalizing's commit is not part of the recorded timings: derived from loading.
                (total(3) as f64 / records).max(loading_per_record * FINALIZING_PER_LOADING),
            ],
            records_per_byte: records / bytes,
        })
    }

    /// Rates for an import of a `file_size` file with no history, from its own loading so far.
    pub fn from_loading(
        loading_ms: f64,
        bytes: u64,
        records: u64,
        file_size: u64,
    ) -> Option<Rates> {
        if bytes == 0 || records == 0 {
            return None;
        }
        let per_record = loading_ms / records as f64;
        let records_per_byte = records as f64 / bytes as f64;
        let expected = records_per_byte * file_size.max(bytes) as f64;
        let growth = (expected / RATIO_RECORDS).powf(RATIO_GROWTH).max(1.0);
        Some(Rates {
            per_unit: [
                0.0,
                loading_ms / bytes as f64,
                per_record * PROCESSING_PER_LOADING * growth,
                per_record * FINALIZING_PER_LOADING * growth,
            ],
            records_per_byte,
        })
    }
}

/// The estimator of one import.
#[derive(Debug)]
pub struct Eta {
    learned: Option<Rates>,
    file_size: u64,
    phase: Phase,
    phase_started: Instant,
    /// Bytes loaded and records staged so far.
    loaded: (u64, u64),
    /// All records, once loading has finished.
    records: Option<u64>,
    /// Rates from this import's own loading, when there are no learned ones.
    bootstrap: Option<Rates>,
}

impl Eta {
    pub fn new(learned: Option<Rates>, file_size: u64, now: Instant) -> Self {
        Eta {
            learned,
            file_size,
            phase: Phase::Parsing,
            phase_started: now,
            loaded: (0, 0),
            records: None,
            bootstrap: None,
        }
    }

    /// Loading has read `bytes` of the file and staged `records`.
    pub fn loaded(&mut self, bytes: u64, records: u64) {
        self.loaded = (bytes, records);
    }

    /// Loading is over: the import has `records` records.
    pub fn records(&mut self, records: u64) {
        self.records = Some(records);
    }

    /// Whole seconds left when `done` of `total` units of `phase` are done at `now` (rounded
    /// up), or `None` while there is no basis.
    pub fn estimate(&mut self, now: Instant, phase: Phase, done: u64, total: u64) -> Option<u64> {
        let index = PHASES.iter().position(|p| *p == phase)?;
        if phase != self.phase {
            self.phase = phase;
            self.phase_started = now;
        }
        let elapsed = now.duration_since(self.phase_started);
        let rates = self.rates(elapsed)?;
        let fraction = if total == 0 {
            0.0
        } else {
            done.min(total) as f64 / total as f64
        };
        let expected = rates.per_unit[index] * self.units(index, &rates);
        let mut left = current_rest(expected, elapsed.as_secs_f64() * 1000.0, fraction);
        for later in index + 1..PHASES.len() {
            left += rates.per_unit[later] * self.units(later, &rates);
        }
        Some((left / 1000.0).ceil() as u64)
    }

    /// The learned rates, else the live ones of loading once a tenth of the file is loaded.
    fn rates(&mut self, elapsed: Duration) -> Option<Rates> {
        if self.learned.is_some() {
            return self.learned;
        }
        let (bytes, records) = self.loaded;
        if self.phase == Phase::Loading && bytes as f64 >= BOOTSTRAP_SHARE * self.file_size as f64 {
            self.bootstrap = Rates::from_loading(
                elapsed.as_secs_f64() * 1000.0,
                bytes,
                records,
                self.file_size,
            );
        }
        self.bootstrap
    }

    /// The units of work of a phase: bytes, or records (estimated while loading).
    fn units(&self, index: usize, rates: &Rates) -> f64 {
        if index < 2 {
            return self.file_size as f64;
        }
        match self.records {
            Some(records) => records as f64,
            None => rates.records_per_byte * self.file_size as f64,
        }
    }
}

/// The rest of the current phase: the expected duration's rest blended with the live rate's
/// extrapolation, whose weight grows with the square root of the share done (a quarter done
/// weighs half). Past its expectation, a phase's rest is at least the expected share not done.
fn current_rest(expected: f64, elapsed: f64, fraction: f64) -> f64 {
    let planned = (expected - elapsed).max(expected * (1.0 - fraction));
    if fraction < LIVE_MINIMUM {
        return planned;
    }
    let live = elapsed * (1.0 - fraction) / fraction;
    let weight = fraction.sqrt();
    planned * (1.0 - weight) + live * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    /// A history of 10 MB imports of 20,000 records: 100 ms parsing, 1 s loading, 2 s
    /// processing, 200 ms finalizing.
    fn history() -> Rates {
        let past = PastImport {
            file_size: 10 * MB,
            records: 20_000,
            elapsed_ms: [100, 1_000, 2_000, 200],
        };
        Rates::learned(&[past, past]).unwrap()
    }

    #[test]
    fn a_larger_first_import_expects_slower_processing_per_record() {
        let small = Rates::from_loading(1_000.0, MB, 2_000, 115 * MB).unwrap();
        assert_eq!(small.per_unit[2], 0.5 * PROCESSING_PER_LOADING);
        let large = Rates::from_loading(1_000.0, MB, 2_000, 1_150 * MB).unwrap();
        let growth = large.per_unit[2] / small.per_unit[2];
        assert!((growth - 10f64.powf(RATIO_GROWTH)).abs() < 1e-9);
        let tiny = Rates::from_loading(1_000.0, MB, 2_000, MB).unwrap();
        assert_eq!(tiny.per_unit[2], small.per_unit[2]);
    }

    #[test]
    fn learned_rates_pool_past_imports() {
        let rates = history();
        assert_eq!(rates.per_unit[1], 1e-4);
        assert_eq!(rates.per_unit[2], 0.1);
        assert_eq!(rates.records_per_byte, 0.002);
        assert_eq!(Rates::learned(&[]), None);
        let empty = PastImport {
            file_size: 0,
            records: 0,
            elapsed_ms: [0; 4],
        };
        assert_eq!(Rates::learned(&[empty]), None);
    }

    #[test]
    fn finalizing_without_a_recorded_commit_is_derived_from_loading() {
        let past = PastImport {
            file_size: MB,
            records: 1_000,
            elapsed_ms: [0, 1_000, 1_000, 0],
        };
        let rates = Rates::learned(&[past]).unwrap();
        assert_eq!(rates.per_unit[3], FINALIZING_PER_LOADING);
    }

    #[test]
    fn history_gives_an_estimate_from_the_start() {
        let start = Instant::now();
        let mut eta = Eta::new(Some(history()), 10 * MB, start);
        // 3.3 s of work expected for the same size.
        assert_eq!(eta.estimate(start, Phase::Parsing, 0, 1), Some(4));
        // A file twice the size: twice the time.
        let mut eta = Eta::new(Some(history()), 20 * MB, start);
        assert_eq!(eta.estimate(start, Phase::Parsing, 0, 1), Some(7));
    }

    #[test]
    fn a_first_import_estimates_once_a_tenth_is_loaded() {
        let start = Instant::now();
        let mut eta = Eta::new(None, 10 * MB, start);
        assert_eq!(eta.estimate(start, Phase::Parsing, 0, 1), None);
        assert_eq!(eta.estimate(at(start, 50), Phase::Loading, 0, 1), None);
        eta.loaded(MB / 2, 1_000);
        assert_eq!(
            eta.estimate(at(start, 100), Phase::Loading, MB / 2, 10 * MB),
            None
        );
        // 1 MB in 100 ms: 900 ms of loading left, 20,000 records to process at 1.3 × 0.05 ms
        // and to finalize at 0.2 × 0.05 ms: 0.9 + 1.3 + 0.2 = 2.4 s.
        eta.loaded(MB, 2_000);
        assert_eq!(
            eta.estimate(at(start, 150), Phase::Loading, MB, 10 * MB),
            Some(3)
        );
        // The rates learned in loading carry on into processing.
        eta.records(20_000);
        assert_eq!(
            eta.estimate(at(start, 1_050), Phase::Processing, 0, 1),
            Some(2)
        );
    }

    #[test]
    fn the_live_rate_takes_over_as_a_phase_advances() {
        let start = Instant::now();
        let mut eta = Eta::new(Some(history()), 10 * MB, start);
        eta.records(20_000);
        eta.estimate(start, Phase::Processing, 0, 100);
        // Expected 2 s; at half after 2 s this import runs at half the speed: its own rate
        // (2 s left, weight 0.71) outweighs the plan (1 s left): 1.71 s + finalizing 0.2 s.
        assert_eq!(
            eta.estimate(at(start, 2_000), Phase::Processing, 50, 100),
            Some(2)
        );
        // At 90% it is nearly all its own rate: 0.05 × 0.2 + 0.95 × 0.444 + 0.2 ≈ 0.63 s.
        assert_eq!(
            eta.estimate(at(start, 4_000), Phase::Processing, 90, 100),
            Some(1)
        );
    }

    #[test]
    fn an_overrunning_phase_does_not_stick_at_a_second() {
        let start = Instant::now();
        let mut eta = Eta::new(Some(history()), 10 * MB, start);
        eta.records(20_000);
        eta.estimate(start, Phase::Processing, 0, 100);
        // A step that stalls at 60% long past the expectation: the estimate grows with the
        // time it has taken.
        let early = eta.estimate(at(start, 3_000), Phase::Processing, 60, 100);
        let later = eta.estimate(at(start, 13_000), Phase::Processing, 60, 100);
        assert_eq!(early, Some(2));
        assert_eq!(later, Some(8));
    }

    #[test]
    fn the_rest_of_a_phase_never_drops_below_its_share_not_done() {
        assert_eq!(current_rest(1_000.0, 0.0, 0.0), 1_000.0);
        assert_eq!(current_rest(1_000.0, 2_000.0, 0.0), 1_000.0);
        assert_eq!(current_rest(1_000.0, 500.0, 0.5), 500.0);
        assert_eq!(current_rest(1_000.0, 1_000.0, 1.0), 0.0);
    }
}
