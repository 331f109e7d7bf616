//! Counters of one collector process, rendered in Prometheus' text format on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub graph_requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
    pub records_fetched: AtomicU64,
    pub records_stored: AtomicU64,
    /// Fetched but not newer than what the store holds.
    pub records_unchanged: AtomicU64,
    pub records_gone: AtomicU64,
    pub fetch_failures: AtomicU64,
    pub notifications_received: AtomicU64,
    pub notifications_refused: AtomicU64,
    pub lifecycle_events: AtomicU64,
    pub sweeps: AtomicU64,
    pub report_rows: AtomicU64,
}

impl Metrics {
    /// The text exposition; `queue_depth` is read from the store by the caller.
    pub fn render(&self, queue_depth: i64) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 13] = [
            (
                "graph_requests_total",
                "HTTP requests sent to Graph",
                &self.graph_requests,
            ),
            (
                "graph_throttled_total",
                "429 answers from Graph",
                &self.throttled,
            ),
            (
                "graph_retries_total",
                "Requests repeated after 429, 5xx or a timeout",
                &self.retries,
            ),
            (
                "records_fetched_total",
                "Call records fetched completely",
                &self.records_fetched,
            ),
            (
                "records_stored_total",
                "Call records stored (new or a higher version)",
                &self.records_stored,
            ),
            (
                "records_unchanged_total",
                "Call records fetched whose version was already stored",
                &self.records_unchanged,
            ),
            (
                "records_gone_total",
                "Call records Graph answered 404 for",
                &self.records_gone,
            ),
            (
                "fetch_failures_total",
                "Fetch attempts that failed and were put back in the queue",
                &self.fetch_failures,
            ),
            (
                "notifications_received_total",
                "Change notifications queued",
                &self.notifications_received,
            ),
            (
                "notifications_refused_total",
                "Notifications refused (clientState, token, subscription, body)",
                &self.notifications_refused,
            ),
            (
                "lifecycle_events_total",
                "Lifecycle notifications handled",
                &self.lifecycle_events,
            ),
            (
                "sweeps_total",
                "Reconciliation sweeps completed",
                &self.sweeps,
            ),
            (
                "report_rows_total",
                "Report function rows stored",
                &self.report_rows,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP callhook_collector_{name} {help}");
            let _ = writeln!(out, "# TYPE callhook_collector_{name} counter");
            let _ = writeln!(
                out,
                "callhook_collector_{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP callhook_collector_queue_depth Call records waiting to be fetched"
        );
        let _ = writeln!(out, "# TYPE callhook_collector_queue_depth gauge");
        let _ = writeln!(out, "callhook_collector_queue_depth {queue_depth}");
        out
    }
}
