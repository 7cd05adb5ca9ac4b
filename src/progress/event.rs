//! The progress event, exactly as the design's schema, and the weighted phases.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

/// An import's phase; also the event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Parsing,
    Loading,
    Processing,
    Finalizing,
    Complete,
    Error,
}

impl Phase {
    /// The share of the overall percentage this phase covers: parsing 0–5, loading 5–70,
    /// processing 70–95, finalizing 95–100.
    pub fn span(self) -> (u8, u8) {
        match self {
            Phase::Parsing => (0, 5),
            Phase::Loading => (5, 70),
            Phase::Processing => (70, 95),
            Phase::Finalizing => (95, 100),
            Phase::Complete => (100, 100),
            Phase::Error => (0, 100),
        }
    }

    /// The overall percentage when `done` of `total` units of this phase's work are done.
    pub fn percent(self, done: u64, total: u64) -> u8 {
        let (start, end) = self.span();
        let fraction = if total == 0 {
            0.0
        } else {
            (done.min(total) as f64) / (total as f64)
        };
        start + ((end - start) as f64 * fraction).floor() as u8
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Complete | Phase::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Parsing => "parsing",
            Phase::Loading => "loading",
            Phase::Processing => "processing",
            Phase::Finalizing => "finalizing",
            Phase::Complete => "complete",
            Phase::Error => "error",
        }
    }
}

/// `{ sessionId, type, progress, message, timestamp, eta?, data? }`. Read back where instances
/// share an import's newest event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub session_id: Uuid,
    #[serde(rename = "type")]
    pub phase: Phase,
    /// Integer percentage 0–100.
    pub progress: u8,
    pub message: String,
    /// Unix milliseconds.
    pub timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<u64>,
    /// Kept serialised: a finished session holds its summary for minutes, and a JSON text is
    /// a fraction of the size of a parsed tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl ProgressEvent {
    pub fn new(
        session_id: Uuid,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    ) -> Self {
        ProgressEvent {
            session_id,
            phase,
            progress: progress.min(100),
            message,
            timestamp: chrono::Utc::now().timestamp_millis(),
            eta,
            data: data.and_then(|data| serde_json::value::to_raw_value(&data).ok()),
        }
    }

    /// The event's data, parsed.
    pub fn data(&self) -> Option<Value> {
        self.data
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_map_work_onto_their_share() {
        assert_eq!(Phase::Parsing.percent(0, 10), 0);
        assert_eq!(Phase::Parsing.percent(10, 10), 5);
        assert_eq!(Phase::Loading.percent(0, 100), 5);
        assert_eq!(Phase::Loading.percent(50, 100), 37);
        assert_eq!(Phase::Loading.percent(100, 100), 70);
        assert_eq!(Phase::Processing.percent(1, 2), 82);
        assert_eq!(Phase::Finalizing.percent(1, 1), 100);
        assert_eq!(Phase::Loading.percent(7, 0), 5);
        assert_eq!(Phase::Loading.percent(200, 100), 70);
    }

    #[test]
    fn event_serialises_as_the_design_schema() {
        let id = Uuid::nil();
        let mut event = ProgressEvent::new(id, Phase::Loading, 42, "Loading".into(), None, None);
        event.timestamp = 1_694_876_543_210;
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "sessionId": "00000000-0000-0000-0000-000000000000",
                "type": "loading",
                "progress": 42,
                "message": "Loading",
                "timestamp": 1_694_876_543_210i64,
            })
        );
        let mut event = ProgressEvent::new(
            id,
            Phase::Loading,
            42,
            "Loading".into(),
            Some(60),
            Some(serde_json::json!({ "rows": 5 })),
        );
        event.timestamp = 1;
        assert_eq!(event.data().unwrap()["rows"], 5);
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["eta"], 60);
        assert_eq!(value["data"]["rows"], 5);
    }
}
