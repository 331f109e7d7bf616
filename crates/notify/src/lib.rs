//! Change notifications, as Microsoft Graph sends them:
//!
//! - `rules` — what `POST/PATCH /subscriptions` accept (resources, change types, expiry floor and
//!   maximum, lifecycle URL, clientState, URL schemes), as values with Graph's status, code and
//!   message ([`NotifyError`]);
//! - `handshake` — the validation request every notification URL must answer;
//! - `delivery` — the engine that drains the outbox: batches per URL, per-subscription order,
//!   retries with backoff for four hours, `missed` lifecycle events for what it gives up;
//! - `http` — the one outgoing HTTP client (redirects off, optional extra CA, URL policy).
//!
//! The outbox itself is written by the store, in the same transaction as the change.

pub mod clock;
pub mod delivery;
mod error;
pub mod handshake;
pub mod http;
pub mod payload;
pub mod rules;

pub use clock::Clock;
pub use error::{Cause, NotifyError};

use std::path::PathBuf;
use std::time::Duration;

/// Settings of subscriptions and delivery. Defaults are Graph's documented values.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Certificates (PEM) trusted for `https://` webhooks as CAs and pinned as they are.
    pub webhook_ca: Option<PathBuf>,
    /// Refuse `http://` notification URLs even for loopback hosts.
    pub strict_https: bool,
    /// Deliver to private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    pub allow_private_webhooks: bool,
    /// Refuse loopback webhooks (allowed by default for local use).
    pub deny_loopback_webhooks: bool,
    /// Most notifications in one POST.
    pub max_batch: usize,
    /// POSTs in flight per notification URL.
    pub max_in_flight_per_url: usize,
    /// A first delivery counts as delivered with a 2xx within this time.
    pub first_timeout: Duration,
    /// Timeout of retries.
    pub retry_timeout: Duration,
    /// How long a notification is retried before it is dropped.
    pub retry_window: chrono::Duration,
    /// Time the URL has to answer the validation request.
    pub validation_timeout: Duration,
    /// Lifetime of a subscription's access authorization (renewed by PATCH or reauthorize).
    pub authorization_lifetime: chrono::Duration,
    /// Call-record subscriptions per tenant.
    pub call_record_quota: u32,
    /// Window over which an endpoint's slow answers are counted (Graph: 10 minutes).
    pub throttle_window: chrono::Duration,
    /// Answers needed in a window before an endpoint can be judged slow or dropped.
    pub throttle_min_samples: u32,
    /// Longest the engine sleeps without being woken. It is woken whenever work is queued, on
    /// PostgreSQL by any node, so this is only the safety net for a lost wake-up.
    pub idle_poll: Duration,
    /// How long a node holds a subscription's delivery when several nodes share the database
    /// (renewed while it works on it): a dead node's subscriptions move on after this.
    pub delivery_lease: chrono::Duration,
    /// How long a delivery attempt is kept for `GET /_callhook/subscriptions/{id}/attempts`.
    pub attempt_retention: chrono::Duration,
    /// Each webhook POST's request and response bodies are kept up to this many bytes (for the
    /// console and `GET /_callhook/posts/…`); 0 keeps no POSTs at all.
    pub post_body_cap: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhook_ca: None,
            strict_https: false,
            allow_private_webhooks: false,
            deny_loopback_webhooks: false,
            max_batch: 100,
            max_in_flight_per_url: 4,
            first_timeout: Duration::from_secs(3),
            retry_timeout: Duration::from_secs(10),
            retry_window: chrono::Duration::hours(4),
            validation_timeout: Duration::from_secs(10),
            authorization_lifetime: chrono::Duration::hours(1),
            call_record_quota: 100,
            throttle_window: chrono::Duration::minutes(10),
            throttle_min_samples: 20,
            idle_poll: Duration::from_millis(500),
            delivery_lease: chrono::Duration::seconds(30),
            attempt_retention: chrono::Duration::days(7),
            post_body_cap: 64 * 1024,
        }
    }
}
