//! Wiring of the callhook crates into a server: first-start bootstrap of the data directory
//! (development tenant, app, ingest key, signing key), the listener (HTTP or HTTPS), background
//! jobs (retention purge) and clean shutdown. `main.rs` maps command-line flags onto this.

pub mod admin;
pub mod bench;
pub mod bench_alerts;
pub mod bootstrap;
pub mod collect;
pub mod limits;
pub mod listener;
pub mod memory;
pub mod report;
pub mod server;

pub use bootstrap::Credentials;
pub use server::{RunningServer, ServeOptions};
