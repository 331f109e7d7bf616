//! `callhook-sim`: realistic, deterministic Microsoft Teams call traffic for callhook.
//!
//! - [`generate`] turns a [`SimConfig`] into a [`SimPlan`]: directory users, version-1 call
//!   records (peer-to-peer, group calls, meetings, PSTN and direct-routing calls), later
//!   corrections of some records, and the PSTN / direct-routing / SMS / blocked-users /
//!   dial-out report rows, all as JSON bodies of callhook's ingest API. Same config, same bytes.
//! - [`quality`] classifies media streams Good / Poor / Unclassified by the CQD thresholds.
//! - [`run`] sends a plan to a callhook server over HTTP, the way a calling platform would,
//!   and returns a [`SimSummary`].

pub mod artifacts;
mod driver;
mod generator;
pub mod quality;
mod summary;

pub use driver::{run, SimulateOptions};
pub use generator::{generate, CallKind, SimArtifact, SimConfig, SimPlan, EMERGENCY_POLICY_NAME};
pub use summary::{RecordCounts, ReportCounts, SimSummary};
