//! Estimating the time left: a small interface with the design's formula as the default.

use std::time::Duration;

/// Estimates the seconds left of an import from its elapsed time and overall percentage.
pub trait EtaEstimator: Send + Sync + 'static {
    fn estimate(&self, elapsed: Duration, progress: u8) -> Option<u64>;
}

/// The design's formula: total = elapsed / progress × 100; remaining = total − elapsed;
/// `None` at 0%.
pub struct LinearEta;

impl EtaEstimator for LinearEta {
    fn estimate(&self, elapsed: Duration, progress: u8) -> Option<u64> {
        if progress == 0 {
            return None;
        }
        let elapsed_ms = elapsed.as_millis() as f64;
        let total_ms = elapsed_ms / f64::from(progress) * 100.0;
        let remaining_ms = total_ms - elapsed_ms;
        Some(if remaining_ms > 0.0 {
            (remaining_ms / 1000.0).round() as u64
        } else {
            0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_design_formula() {
        let eta = LinearEta;
        assert_eq!(eta.estimate(Duration::from_secs(10), 0), None);
        assert_eq!(eta.estimate(Duration::from_secs(10), 25), Some(30));
        assert_eq!(eta.estimate(Duration::from_secs(30), 50), Some(30));
        assert_eq!(eta.estimate(Duration::from_millis(1_400), 70), Some(1));
        assert_eq!(eta.estimate(Duration::from_secs(5), 100), Some(0));
    }
}
