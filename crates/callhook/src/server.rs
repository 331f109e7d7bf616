//! Running the server: listener, TLS, background jobs, shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use callhook_api::{ApiConfig, AppState, Clock};

use crate::bootstrap::{self, Credentials};

#[derive(Debug, Clone)]
pub enum TlsMode {
    Off,
    /// A certificate generated into `DATA_DIR/tls/` on first start.
    SelfSigned,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Connections to PostgreSQL (each node); SQLite ignores it.
    pub db_pool_size: u32,
    pub tls: TlsMode,
    pub public_url: Option<String>,
    pub api: ApiConfig,
    pub notify: callhook_notify::NotifyConfig,
    pub connections: crate::listener::ConnectionLimits,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            database_url: None,
            db_pool_size: bootstrap::DEFAULT_DB_POOL_SIZE,
            tls: TlsMode::Off,
            public_url: None,
            api: ApiConfig::default(),
            notify: callhook_notify::NotifyConfig::default(),
            connections: Default::default(),
        }
    }
}

/// A started server. Dropping it does not stop it: call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    pub base_url: String,
    /// The credentials written on this start, if it was the first.
    pub created: Option<Credentials>,
    /// PEM path of the certificate clients must trust, when serving HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub state: AppState,
    shutdown: crate::listener::Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    purge: tokio::task::JoinHandle<()>,
    delivery: tokio::task::JoinHandle<()>,
    /// The engine's lease holder id, released on shutdown so other nodes take over at once.
    node_id: std::sync::Arc<str>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish (up to 10 s), closes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.graceful(Duration::from_secs(10));
        self.purge.abort();
        // Deliveries in flight are simply redone after a restart (the outbox keeps them).
        self.delivery.abort();
        if let Err(e) = self.state.store.release_leases(&self.node_id).await {
            tracing::warn!(error = %e, "releasing delivery leases failed; other nodes wait them out");
        }
        self.task.await.context("server task failed")??;
        Ok(())
    }

    /// Waits until the server stops on its own (it only does on error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("server task failed")??;
        Ok(())
    }
}

fn self_signed_files(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if !cert.exists() || !key.exists() {
        bootstrap::ensure_data_dir(&dir)?;
        let generated = callhook_crypto::generate_self_signed(&[])?;
        bootstrap::write_private_file(&key, generated.key_pem.as_bytes())?;
        bootstrap::write_private_file(&cert, generated.cert_pem.as_bytes())?;
    }
    Ok((cert, key))
}

/// Opens (or creates) the installation and starts serving.
pub async fn start(opts: ServeOptions) -> anyhow::Result<RunningServer> {
    // Both rustls providers are linked in (reqwest brings ring); pick aws-lc-rs explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let opened = bootstrap::open_with(
        &opts.data_dir,
        opts.database_url.as_deref(),
        opts.db_pool_size,
    )
    .await?;
    let tls = match &opts.tls {
        TlsMode::Off => None,
        TlsMode::SelfSigned => Some(self_signed_files(&opts.data_dir)?),
        TlsMode::Files { cert, key } => Some((cert.clone(), key.clone())),
    };
    let mut api = opts.api.clone();
    api.tls = tls.is_some();
    api.public_base_url = opts.public_url.clone().or(api.public_base_url);
    let clock = Clock::system();
    // `/` leads to the console only where the listener is this machine's own.
    api.console_at_root = opts.listen.ip().is_loopback();
    // The console's session secret, shared by every node on the database.
    let fresh = callhook_crypto::random_secret(32)?;
    let console_secret = opened
        .store
        .setting_or_insert("console_session_secret", fresh.as_bytes())
        .await?;
    let state = AppState::new(
        opened.store.clone(),
        opened.keys,
        opened.sealer,
        opened.ingest_key_hash,
        api.clone(),
        clock.clone(),
        callhook_api::NotifyHandle::new(opts.notify.clone())?,
    )
    .with_console_secret(&console_secret)?;
    let app = callhook_api::router(state.clone());

    let listener = std::net::TcpListener::bind(opts.listen)
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let acceptor = match &tls {
        None => None,
        Some((cert, key)) => Some(crate::listener::tls_acceptor(cert, key).with_context(|| {
            format!(
                "cannot load TLS certificate {} / key {}",
                cert.display(),
                key.display()
            )
        })?),
    };
    let (shutdown, stop) = crate::listener::shutdown_pair();
    let task = tokio::spawn(crate::listener::serve(
        listener,
        acceptor,
        app,
        opts.connections,
        stop,
    ));

    let purge = {
        let store = opened.store.clone();
        let retention = api.retention_days;
        let attempt_retention = opts.notify.attempt_retention;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let now = clock.now();
                let cutoff = now - chrono::Duration::days(retention);
                match store.purge_call_records(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "removed call records past retention"),
                    Err(e) => tracing::warn!(error = %e, "retention purge failed"),
                }
                match store.purge_delivery_attempts(now - attempt_retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "removed delivery attempts past retention"),
                    Err(e) => tracing::warn!(error = %e, "purging delivery attempts failed"),
                }
                // The POSTs' copies share the attempts' window.
                if let Err(e) = store.purge_webhook_posts(now - attempt_retention).await {
                    tracing::warn!(error = %e, "purging webhook POSTs failed");
                }
            }
        })
    };

    let scheme = if tls.is_some() { "https" } else { "http" };
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let base_url = api
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{host}:{}", addr.port()));

    // Rich notifications carry validation tokens signed with the server's current key, in the
    // issuer form of `--token-form`.
    let minter: callhook_notify::delivery::TokenMinter = {
        let (state, base_url) = (state.clone(), base_url.clone());
        Arc::new(
            move |tenant: &str, audience: &str, now: chrono::DateTime<chrono::Utc>| {
                let keys = state.keys();
                callhook_crypto::mint_validation_token(
                    keys.current(),
                    state.config.token_form,
                    &base_url,
                    tenant,
                    audience,
                    now.timestamp(),
                )
                .map_err(anyhow::Error::from)
            },
        )
    };
    let engine = state
        .notify
        .engine(opened.store.clone(), state.clock.clone())
        .with_rich(callhook_notify::delivery::RichContext {
            base_url: base_url.clone(),
            mint: minter,
        });
    let node_id = engine.node_id();
    let delivery = tokio::spawn(engine.run());
    Ok(RunningServer {
        addr,
        base_url,
        created: opened.created,
        tls_cert: tls.map(|(c, _)| c),
        state,
        shutdown,
        task,
        purge,
        delivery,
        node_id,
    })
}
