//! `callhook-quality`: what Microsoft's Call Quality Dashboard (CQD) computes from call records,
//! over `callhook-model`'s types, for the simulator's ground truth and the collector's reports.
//!
//! - [`Thresholds::classify`]: a `mediaStream` is Good, Poor or Unclassified by CQD's rule for
//!   its [`Modality`] (audio, video, video-based screen sharing, RDP application sharing), with
//!   the "Poor Due To" reasons. [`Thresholds::default`] is CQD's current audio rule (round trip
//!   over 500 ms, packet loss over 0.1 or jitter over 30 ms, with more than 500 packets);
//!   [`Thresholds::legacy`] adds the older degradation and concealed-ratio conditions.
//! - [`streams`]: every stream of a record with its verdict and the endpoints, networks and
//!   devices of its media line; [`StreamView::values`] and [`tally_into`] count streams per
//!   [`Dimension`] (subnet, building, device, driver, network type, Wi-Fi band, VPN).
//! - [`BuildingFile`]: CQD's building file (parse and validate with errors by line, write, find
//!   the network of an IP address).

pub mod building;
mod classify;
mod record;

pub use building::{BuildingFile, BuildingFileError, BuildingFileErrors, Network};
pub use classify::{Modality, PoorReason, Quality, StreamMetrics, Thresholds, Verdict};
pub use record::{streams, tally_into, Counts, Dimension, Side, StreamView, Tally};
