//! The ground truth of a scenario run: what was staged, when, which calls, rows, events and
//! streams it touched, and the aggregates a correct consumer computes from what the run stored
//! (CQD poor-stream rates per dimension by `callhook-quality`, direct-routing failures per
//! trunk, emergency calls, each streak user's longest run of poor calls).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use callhook_model::{CallRecord, Endpoint};
use callhook_quality::{streams, tally_into, Dimension, Modality, Quality, Tally, Thresholds};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::generator::{SimPlan, StagedItem};
use crate::scenario::{Staged, Staging};

/// Failures of one direct-routing trunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrunkCounts {
    pub attempts: u64,
    pub failed: u64,
    /// Failed attempts per `finalSipCode`.
    pub final_sip_codes: BTreeMap<String, u64>,
}

/// One incident as staged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentTruth {
    #[serde(flatten)]
    pub incident: Staged,
    pub touched: Vec<StagedItem>,
}

/// A user's calls in time order, each poor or not (a poor streak's user).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreakTruth {
    pub calls: u64,
    pub poor_calls: u64,
    /// The most poor calls in a row.
    pub longest_poor_run: u64,
}

/// The aggregates.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregates {
    /// Per dimension, per value, per modality: streams of the latest record versions.
    pub poor_streams: BTreeMap<Dimension, Tally>,
    pub direct_routing_by_trunk: BTreeMap<String, TrunkCounts>,
    pub emergency_calls: u64,
    pub emergency_call_event_ids: Vec<String>,
    /// Per user id of a poor streak.
    pub poor_call_streaks: BTreeMap<String, StreakTruth>,
}

/// The truth file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Truth {
    pub scenario: Option<String>,
    pub seed: u64,
    pub tenant_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// The CQD rule the aggregates use.
    pub thresholds: Thresholds,
    /// The CQD building file written alongside (when the scenario names buildings).
    pub building_file: Option<PathBuf>,
    pub incidents: Vec<IncidentTruth>,
    pub aggregates: Aggregates,
    /// Per streak user: (start, poor) of each of their calls.
    #[serde(skip)]
    user_calls: HashMap<String, Vec<(DateTime<Utc>, bool)>>,
    #[serde(skip)]
    staging: Staging,
}

impl Truth {
    pub fn new(
        staging: &Staging,
        seed: u64,
        tenant_id: &str,
        (window_start, window_end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Self {
        Self {
            scenario: staging.name.clone(),
            seed,
            tenant_id: tenant_id.to_string(),
            window_start,
            window_end,
            thresholds: Thresholds::default(),
            building_file: None,
            incidents: staging
                .incidents
                .iter()
                .map(|i| IncidentTruth {
                    incident: i.clone(),
                    touched: Vec::new(),
                })
                .collect(),
            aggregates: Aggregates::default(),
            user_calls: HashMap::new(),
            staging: staging.clone(),
        }
    }

    /// Adds one part of the run.
    pub fn add_part(&mut self, plan: &SimPlan) {
        for item in &plan.staged {
            if let Some(inc) = self.incidents.get_mut(item.incident) {
                inc.touched.push(item.clone());
            }
            if let Some(u) = &item.user_id {
                self.user_calls.entry(u.clone()).or_default();
            }
        }
        // Updates are in send order: the last one per id is what the API serves.
        let mut latest: HashMap<&str, &Value> = HashMap::new();
        for r in plan.call_records.iter().chain(plan.updates.iter()) {
            if let Some(id) = r.get("id").and_then(Value::as_str) {
                latest.insert(id, r);
            }
        }
        let buildings = self.staging.buildings.as_ref();
        for r in latest.values() {
            let Ok(rec) = callhook_model::from_value::<CallRecord>((*r).clone()) else {
                continue;
            };
            let views = streams(&rec, &self.thresholds);
            for d in Dimension::ALL {
                let t = self.aggregates.poor_streams.entry(d).or_default();
                tally_into(t, &views, d, buildings);
            }
            for (user, calls) in self.user_calls.iter_mut() {
                if let Some(poor) = user_poor(&views, user) {
                    calls.push((rec.start_date_time, poor));
                }
            }
        }
        for row in &plan.direct_routing_calls {
            let trunk = row
                .get("trunkFullyQualifiedDomainName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let c = self
                .aggregates
                .direct_routing_by_trunk
                .entry(trunk.to_string())
                .or_default();
            c.attempts += 1;
            if row.get("successfulCall").and_then(Value::as_bool) == Some(false) {
                c.failed += 1;
                let code = row
                    .get("finalSipCode")
                    .map(Value::to_string)
                    .unwrap_or_default();
                *c.final_sip_codes.entry(code).or_default() += 1;
            }
        }
        for e in &plan.emergency_call_events {
            self.aggregates.emergency_calls += 1;
            if let Some(id) = e.get("id").and_then(Value::as_str) {
                self.aggregates
                    .emergency_call_event_ids
                    .push(id.to_string());
            }
        }
    }

    /// Completes the streak aggregates and writes the truth (and the building file, when the
    /// scenario names buildings, as `<truth stem>.buildings.csv`).
    pub fn write(mut self, path: &Path) -> anyhow::Result<Truth> {
        for (user, calls) in &mut self.user_calls {
            calls.sort();
            let mut s = StreakTruth::default();
            let mut run = 0;
            for (_, poor) in calls.iter() {
                s.calls += 1;
                if *poor {
                    s.poor_calls += 1;
                    run += 1;
                    s.longest_poor_run = s.longest_poor_run.max(run);
                } else {
                    run = 0;
                }
            }
            self.aggregates.poor_call_streaks.insert(user.clone(), s);
        }
        self.aggregates.emergency_call_event_ids.sort();
        if let Some(b) = &self.staging.buildings {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "truth".into());
            let file = path.with_file_name(format!("{stem}.buildings.csv"));
            std::fs::write(&file, b.to_csv())
                .with_context(|| format!("writing {}", file.display()))?;
            self.building_file = Some(file);
        }
        let json = serde_json::to_vec_pretty(&self)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        Ok(self)
    }
}

/// Whether a user's call was poor: `Some(true)` when an audio stream of a media line the
/// user's endpoint is on is Poor, `None` when the user is on none of the record's lines.
pub fn user_poor(views: &[callhook_quality::StreamView<'_>], user: &str) -> Option<bool> {
    let is_user = |e: Option<&Endpoint>| match e {
        Some(Endpoint::Participant(p)) => {
            p.associated_identity.as_ref().and_then(|i| i.id.as_deref()) == Some(user)
        }
        _ => false,
    };
    let mine: Vec<_> = views
        .iter()
        .filter(|v| is_user(v.caller.endpoint) || is_user(v.callee.endpoint))
        .collect();
    if mine.is_empty() {
        return None;
    }
    Some(
        mine.iter()
            .any(|v| v.modality == Some(Modality::Audio) && v.verdict.quality == Quality::Poor),
    )
}
