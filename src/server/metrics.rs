//! Prometheus metrics for `GET /metrics`: connected sockets, active sessions, progress events
//! sent, socket messages dropped and sockets disconnected for overload, imports by outcome, rows
//! imported and import duration.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::import::ImportSummary;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub connected_sockets: Gauge,
    active_sessions: Gauge,
    pub progress_events: Counter,
    messages_dropped: Family<KindLabel, Counter>,
    sockets_overloaded: Family<ReasonLabel, Counter>,
    imports: Family<OutcomeLabel, Counter>,
    rows_imported: Counter,
    import_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vulnimport");
        let connected_sockets = Gauge::default();
        let active_sessions = Gauge::default();
        let progress_events = Counter::default();
        let messages_dropped = Family::<KindLabel, Counter>::default();
        let sockets_overloaded = Family::<ReasonLabel, Counter>::default();
        let imports = Family::<OutcomeLabel, Counter>::default();
        let rows_imported = Counter::default();
        let import_duration = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        registry.register(
            "connected_sockets",
            "Socket.IO connections open now",
            connected_sockets.clone(),
        );
        registry.register(
            "active_sessions",
            "Imports queued or running",
            active_sessions.clone(),
        );
        registry.register(
            "progress_events",
            "Progress events sent to Socket.IO rooms",
            progress_events.clone(),
        );
        registry.register(
            "socket_messages_dropped",
            "Socket.IO messages not delivered, by kind: incoming events refused, outgoing ones a \
             socket's buffer could not take",
            messages_dropped.clone(),
        );
        registry.register(
            "sockets_overloaded",
            "Sockets disconnected for sending too many events or reading too slowly, by reason",
            sockets_overloaded.clone(),
        );
        registry.register("imports", "Imports that ended, by outcome", imports.clone());
        registry.register(
            "rows_imported",
            "Data rows read by completed imports",
            rows_imported.clone(),
        );
        registry.register(
            "import_duration_seconds",
            "Duration of imports that ran, from start to end",
            import_duration.clone(),
        );
        Metrics {
            registry,
            connected_sockets,
            active_sessions,
            progress_events,
            messages_dropped,
            sockets_overloaded,
            imports,
            rows_imported,
            import_duration,
        }
    }

    pub fn message_dropped(&self, kind: &'static str) {
        self.messages_dropped
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    pub fn socket_overloaded(&self, reason: &'static str) {
        self.sockets_overloaded
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn import_ended(&self, summary: &ImportSummary) {
        self.imports
            .get_or_create(&OutcomeLabel {
                outcome: summary.outcome.as_str().to_owned(),
            })
            .inc();
        if summary.outcome == crate::domain::Outcome::Completed {
            self.rows_imported.inc_by(summary.counts.rows);
        }
        self.import_duration
            .observe(summary.duration_ms as f64 / 1000.0);
    }

    /// The text exposition format.
    pub fn render(&self, active_sessions: usize) -> String {
        self.active_sessions.set(active_sessions as i64);
        let mut text = String::new();
        // Writing to a String cannot fail.
        encode(&mut text, &self.registry).ok();
        text
    }
}
