//! callhook's HTTP surface, built with axum:
//!
//! - `graph/` — the Graph-compatible routes under `/v1.0` and `/beta` (call records, report
//!   functions, users), each module named after the Graph resource it serves;
//! - `ingest/` — callhook's own ingest API under `/ingest/v1` for calling platforms;
//! - `token` — the Entra-shaped token endpoint and its discovery documents;
//! - `error`, `context`, `auth` — Graph's error body, request ids and bearer-token checks, shared
//!   by every route.
//!
//! The crate owns no durable state: everything goes through [`callhook_store::Store`].

pub mod admin;
pub mod auth;
pub mod chaos;
pub mod console;
pub mod context;
mod controls;
pub mod error;
mod graph;
mod ingest;
mod keys;
mod limits;
pub mod permissions;
mod router;
pub mod throttle;
pub mod token;

use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

pub use callhook_notify::Clock;
pub use router::router;

use callhook_crypto::{KeySet, PageTokenSealer};
use callhook_store::Store;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Base URL used in links (`@odata.nextLink`, context URLs); derived from the request's
    /// `Host` when unset.
    pub public_base_url: Option<String>,
    /// Whether the listener is HTTPS (for links derived from `Host`).
    pub tls: bool,
    pub token_lifetime_secs: i64,
    /// The issuer and claim form of access tokens and validation tokens (`--token-form`).
    pub token_form: callhook_crypto::TokenForm,
    /// Records whose call started longer ago than this are gone (Graph keeps 30 days).
    pub retention_days: i64,
    /// Until this instant the deprecated `organizer`, `participants` and endpoint `identity`
    /// are emitted; afterwards they are `null`, as Graph announced.
    pub legacy_identity_until: DateTime<Utc>,
    pub max_body_bytes: usize,
    /// Largest call record ingest accepts, serialized (`--max-record-bytes`).
    pub max_record_bytes: usize,
    /// Time a request's body has, from the end of its headers, to arrive in full
    /// (`--body-read-timeout`); past it the answer is Graph's 408.
    pub body_read_timeout: Option<std::time::Duration>,
    /// Whether `POST /_callhook/clock/advance` may move the server's clock (`--clock manual`).
    pub manual_clock: bool,
    /// Graph's call-records throttling limits.
    pub throttle: throttle::ThrottleConfig,
    /// Injected faults and latency (`--chaos-*`).
    pub chaos: chaos::ChaosConfig,
    /// `GET /` redirects to the console (on a loopback listener).
    pub console_at_root: bool,
    /// How the console starts `callhook simulate`; `None` where there is no such binary.
    pub simulator: Option<console::SimulatorCommand>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_base_url: None,
            tls: false,
            token_lifetime_secs: 3599,
            token_form: callhook_crypto::TokenForm::default(),
            retention_days: 30,
            legacy_identity_until: DateTime::parse_from_rfc3339("2026-06-30T00:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            max_body_bytes: 8 * 1024 * 1024,
            // Graph's largest records (a 70-session, 140-participant meeting) weigh ~0.55 MB
            // as the simulator writes them; 4 MiB leaves a wide margin for richer ones.
            max_record_bytes: 4 * 1024 * 1024,
            body_read_timeout: Some(std::time::Duration::from_secs(60)),
            manual_clock: false,
            throttle: throttle::ThrottleConfig::default(),
            chaos: chaos::ChaosConfig::default(),
            console_at_root: false,
            simulator: None,
        }
    }
}

/// What the HTTP layer needs of the notification engine.
#[derive(Clone)]
pub struct NotifyHandle {
    pub config: Arc<callhook_notify::NotifyConfig>,
    /// The webhook client (validation requests).
    pub client: reqwest::Client,
    /// Wakes the delivery engine when notifications were queued.
    pub wake: Arc<tokio::sync::Notify>,
    pub metrics: Arc<callhook_notify::delivery::DeliveryMetrics>,
    /// Pauses and resumes delivery (`/_callhook/delivery/pause`, `…/resume`).
    pub paused: Arc<std::sync::atomic::AtomicBool>,
    /// This process as the holder of delivery leases (`delivery_leases.node_id`), so an
    /// operator can tell which node delivers a subscription.
    pub node_id: Arc<str>,
}

impl NotifyHandle {
    pub fn new(config: callhook_notify::NotifyConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: callhook_notify::http::webhook_client(&config)?,
            config: Arc::new(config),
            wake: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::default(),
            paused: Arc::default(),
            node_id: uuid::Uuid::new_v4().to_string().into(),
        })
    }

    /// The delivery engine for `store`, sharing this handle's client, wake-up and metrics.
    pub fn engine(&self, store: Arc<dyn Store>, clock: Clock) -> callhook_notify::delivery::Engine {
        callhook_notify::delivery::Engine::new(
            store,
            self.client.clone(),
            self.config.clone(),
            clock,
            self.wake.clone(),
            self.metrics.clone(),
        )
        .with_pause(self.paused.clone())
        .with_node_id(self.node_id.clone())
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    keys: Arc<RwLock<Arc<KeySet>>>,
    pub sealer: PageTokenSealer,
    /// Hash of the installation's ingest key.
    pub ingest_key_hash: Arc<str>,
    pub config: Arc<ApiConfig>,
    pub clock: Clock,
    pub notify: NotifyHandle,
    /// The throttling buckets.
    pub throttle: Arc<throttle::Throttle>,
    /// The browser console's site and sessions.
    console: Arc<console::Console>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        keys: KeySet,
        sealer: PageTokenSealer,
        ingest_key_hash: String,
        config: ApiConfig,
        clock: Clock,
        notify: NotifyHandle,
    ) -> Self {
        // A per-process session secret until the server hands over the stored one
        // ([`AppState::with_console_secret`]); the console never runs without a secret.
        let secret =
            callhook_crypto::random_secret(32).unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
        let console = console::Console::new(secret.as_bytes(), config.tls)
            .expect("the console's templates are part of the binary and parse");
        Self {
            console: Arc::new(console),
            store,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            sealer,
            ingest_key_hash: ingest_key_hash.into(),
            throttle: Arc::new(throttle::Throttle::new(&config.throttle)),
            config: Arc::new(config),
            clock,
            notify,
        }
    }

    /// Keys the console's session cookies with `secret` (the installation's, from the
    /// database, so nodes accept each other's sessions and a restart keeps them).
    pub fn with_console_secret(mut self, secret: &[u8]) -> anyhow::Result<Self> {
        self.console = Arc::new(console::Console::new(secret, self.config.tls)?);
        Ok(self)
    }

    /// Makes a new signing key current, keeping every older key in the JWKS so tokens signed
    /// before (access tokens, validation tokens) still verify. Returns the new key id.
    pub async fn rotate_signing_key(&self) -> anyhow::Result<String> {
        let key = callhook_crypto::SigningKey::generate(callhook_crypto::random_uuid()?)?;
        self.store
            .insert_signing_key(&callhook_store::StoredSigningKey {
                kid: key.kid().to_string(),
                created_at: chrono::Utc::now(),
                pkcs8: key.pkcs8_der().to_vec(),
            })
            .await?;
        let kid = key.kid().to_string();
        let mut keys = vec![key];
        for k in self.store.signing_keys().await? {
            if k.kid != kid {
                keys.push(callhook_crypto::SigningKey::from_pkcs8(
                    k.kid.clone(),
                    &k.pkcs8,
                )?);
            }
        }
        let set = KeySet::new(keys).ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(kid)
    }

    /// The current signing and verification keys.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The base URL clients reach this server at, for links in responses: `--public-url`, or
    /// the scheme of the listener with the host and port the client asked for (`Host`; for
    /// HTTP/2 the `:authority`, which [`authority_as_host`] copies into `Host`).
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.config.public_base_url {
            return base.trim_end_matches('/').to_string();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
            })
            .unwrap_or("localhost");
        let scheme = if self.config.tls { "https" } else { "http" };
        format!("{scheme}://{host}")
    }
}

/// HTTP/2 carries the host a client asked for in the `:authority` pseudo-header (the request
/// URI's authority), not in `Host` (RFC 9113 §8.3.1); so does an HTTP/1.1 request in absolute
/// form, whose authority overrides `Host` (RFC 9112 §3.2.2). This layer puts the URI's authority,
/// when there is one, into `Host`, so [`AppState::base_url`] sees the host and port of every
/// HTTP version in one place.
pub async fn authority_as_host(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let authority = req
        .uri()
        .authority()
        .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok());
    if let Some(host) = authority {
        req.headers_mut().insert(axum::http::header::HOST, host);
    }
    next.run(req).await
}
