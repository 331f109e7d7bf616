//! `callhook-sim`: realistic, deterministic Microsoft Teams call traffic for callhook.
//!
//! - [`generate`] turns a [`SimConfig`] into a [`SimPlan`]: directory users, version-1 call
//!   records (peer-to-peer, group calls, meetings, PSTN and direct-routing calls), later
//!   corrections of some records, and the PSTN / direct-routing / SMS / blocked-users /
//!   dial-out report rows, all as JSON bodies of callhook's ingest API. Same config, same bytes.
//! - [`quality`] classifies media streams Good / Poor / Unclassified by the CQD thresholds.
//! - [`run`] checks the server (`connect`), generates a plan and sends it over HTTP through
//!   the ingest API's batch routes, the way a calling platform would, showing progress
//!   (`progress`), and returns a [`SimSummary`].

pub mod artifacts;
mod connect;
mod driver;
mod generator;
mod progress;
pub mod quality;
pub mod scenario;
mod summary;
pub mod truth;

pub use driver::{
    arrivals, profile_factor, random_seed, run, Delay, LiveOptions, SimulateOptions, PART_CALLS,
};
pub use generator::{
    generate, generate_live, generate_part, generate_staged, CallKind, SimArtifact, SimConfig,
    SimPlan, StagedItem, StreamRef, EMERGENCY_POLICY_NAME,
};
pub use progress::{ProgressMode, LINE_EVERY};
pub use summary::{RecordCounts, ReportCounts, SimSummary};
