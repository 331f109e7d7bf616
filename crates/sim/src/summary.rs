//! What a simulation run produced and sent.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::generator::{CallKind, SimPlan};
use callhook_quality::Quality;

use crate::quality::classify_record;

/// Call records by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordCounts {
    pub total: usize,
    pub peer_to_peer: usize,
    pub group: usize,
    pub meeting: usize,
    pub pstn: usize,
    pub direct_routing: usize,
    /// PSTN and direct-routing calls to an emergency number (counted in those two as well),
    /// each with its `emergencyCallEvent`.
    pub emergency: usize,
}

/// Rows per report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportCounts {
    pub pstn_calls: usize,
    pub direct_routing_calls: usize,
    pub sms_log: usize,
    pub pstn_blocked_users: usize,
    pub dialout_usage: usize,
}

/// Outcome of [`crate::run`] (or of a plan alone, with zero timings, via [`SimSummary::of_plan`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSummary {
    /// The seed the plan was generated from: `--seed` with it repeats the run's data.
    pub seed: u64,
    pub tenant_id: String,
    pub users: usize,
    pub records: RecordCounts,
    /// Late corrections (whole-record replacements).
    pub updates: usize,
    pub report_rows: ReportCounts,
    /// Media streams in the latest version of every record.
    pub streams: usize,
    pub poor_streams: usize,
    pub unclassified_streams: usize,
    /// Poor streams among the classified ones (0..=1).
    pub poor_share: f64,
    /// HTTP requests that succeeded, and retries it took.
    pub requests: usize,
    pub retries: usize,
    /// Wall time of the whole run (checking the server, generating, sending).
    pub elapsed_seconds: f64,
    /// The part of it spent generating the plan.
    pub generate_seconds: f64,
    /// Version-1 records stored per second of elapsed time.
    pub records_per_second: f64,
    /// Request bodies the server accepted (records are 10–100 KB of JSON each, a meeting's
    /// the largest), and their rate over the elapsed time (10⁶ bytes per second).
    pub bytes_sent: usize,
    pub megabytes_per_second: f64,
}

impl SimSummary {
    /// Counts of a plan, before (or without) sending it.
    pub fn of_plan(plan: &SimPlan) -> Self {
        let mut records = RecordCounts {
            total: plan.call_records.len(),
            emergency: plan.emergency_call_events.len(),
            ..RecordCounts::default()
        };
        for kind in &plan.record_kinds {
            match kind {
                CallKind::PeerToPeer => records.peer_to_peer += 1,
                CallKind::Group => records.group += 1,
                CallKind::Meeting => records.meeting += 1,
                CallKind::Pstn => records.pstn += 1,
                CallKind::DirectRouting => records.direct_routing += 1,
            }
        }
        // Updates are in send order, so the last one per id is the latest version.
        let mut latest: HashMap<&str, &Value> = HashMap::new();
        for r in plan.call_records.iter().chain(plan.updates.iter()) {
            if let Some(id) = r.get("id").and_then(Value::as_str) {
                latest.insert(id, r);
            }
        }
        let (mut streams, mut poor, mut unclassified) = (0, 0, 0);
        for r in latest.values() {
            for q in classify_record(r) {
                streams += 1;
                match q {
                    Quality::Poor => poor += 1,
                    Quality::Unclassified => unclassified += 1,
                    Quality::Good => {}
                }
            }
        }
        let classified = streams - unclassified;
        Self {
            seed: 0,
            tenant_id: String::new(),
            users: plan.users.len(),
            records,
            updates: plan.updates.len(),
            report_rows: ReportCounts {
                pstn_calls: plan.pstn_calls.len(),
                direct_routing_calls: plan.direct_routing_calls.len(),
                sms_log: plan.sms_log.len(),
                pstn_blocked_users: plan.pstn_blocked_users.len(),
                dialout_usage: plan.dialout_usage.len(),
            },
            streams,
            poor_streams: poor,
            unclassified_streams: unclassified,
            poor_share: if classified == 0 {
                0.0
            } else {
                poor as f64 / classified as f64
            },
            requests: 0,
            retries: 0,
            elapsed_seconds: 0.0,
            generate_seconds: 0.0,
            records_per_second: 0.0,
            bytes_sent: 0,
            megabytes_per_second: 0.0,
        }
    }
}

impl SimSummary {
    /// Adds the counts of another part of the same run (directory users are the same in every
    /// part, so they are not added).
    pub fn add_part(&mut self, part: &SimSummary) {
        let (r, o) = (&mut self.records, &part.records);
        r.total += o.total;
        r.peer_to_peer += o.peer_to_peer;
        r.group += o.group;
        r.meeting += o.meeting;
        r.pstn += o.pstn;
        r.direct_routing += o.direct_routing;
        r.emergency += o.emergency;
        self.updates += part.updates;
        let (r, o) = (&mut self.report_rows, &part.report_rows);
        r.pstn_calls += o.pstn_calls;
        r.direct_routing_calls += o.direct_routing_calls;
        r.sms_log += o.sms_log;
        r.pstn_blocked_users += o.pstn_blocked_users;
        r.dialout_usage += o.dialout_usage;
        self.streams += part.streams;
        self.poor_streams += part.poor_streams;
        self.unclassified_streams += part.unclassified_streams;
        let classified = self.streams - self.unclassified_streams;
        self.poor_share = if classified == 0 {
            0.0
        } else {
            self.poor_streams as f64 / classified as f64
        };
    }
}

impl fmt::Display for SimSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.records;
        writeln!(
            f,
            "{} call records ({} peer-to-peer, {} group, {} meetings, {} PSTN, {} direct routing; {} emergency calls), {} users",
            r.total, r.peer_to_peer, r.group, r.meeting, r.pstn, r.direct_routing, r.emergency, self.users
        )?;
        let rows = &self.report_rows;
        writeln!(
            f,
            "{} late corrections; report rows: {} PSTN, {} direct routing, {} SMS, {} blocked users, {} dial-out",
            self.updates,
            rows.pstn_calls,
            rows.direct_routing_calls,
            rows.sms_log,
            rows.pstn_blocked_users,
            rows.dialout_usage
        )?;
        writeln!(
            f,
            "{} streams, {:.1} % poor ({} unclassified)",
            self.streams,
            self.poor_share * 100.0,
            self.unclassified_streams
        )?;
        writeln!(
            f,
            "{:.2} s in all ({:.2} s generating), {:.0} records/s, {:.1} MB/s, {} requests, {} retries",
            self.elapsed_seconds,
            self.generate_seconds,
            self.records_per_second,
            self.megabytes_per_second,
            self.requests,
            self.retries
        )?;
        write!(
            f,
            "tenant {}, seed {} (--seed {} repeats this data)",
            self.tenant_id, self.seed, self.seed
        )
    }
}
