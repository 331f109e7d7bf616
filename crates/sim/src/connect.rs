//! Where a run sends its traffic and as whom: the server's URL, the tenant, the ingest key, the
//! certificate to trust; and a first look at the server, so that a wrong URL, an untrusted
//! certificate or an unknown tenant fail at once with a message that says what to do.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::driver::SimulateOptions;

/// The fields of the server's `credentials.json` the simulator reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    tenant_id: String,
    ingest_key: String,
}

/// A server ready to take a run's traffic.
pub(crate) struct Endpoint {
    pub http: reqwest::Client,
    /// The server's base URL, without a trailing slash.
    pub url: String,
    pub tenant_id: String,
    pub ingest_key: String,
}

impl Endpoint {
    /// `…/ingest/v1/tenants/{tenant}`.
    pub fn ingest_base(&self) -> String {
        format!("{}/ingest/v1/tenants/{}", self.url, self.tenant_id)
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.ingest_key)
    }
}

fn read_credentials(data_dir: &Path) -> anyhow::Result<Credentials> {
    let path = data_dir.join("credentials.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (pass the server's --data-dir, or --tenant and --ingest-key)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The certificate `callhook serve --tls` generates into its data directory.
pub(crate) fn data_dir_certificate(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("cert.pem")
}

/// Resolves the options into an endpoint and checks that the server answers, speaks the
/// scheme of the URL, accepts the ingest key and knows the tenant (creating it when asked).
pub(crate) async fn connect(opts: &SimulateOptions) -> anyhow::Result<Endpoint> {
    let url = opts.url.trim_end_matches('/').to_string();
    // The data directory is needed only for what the flags leave open.
    let creds = match (&opts.tenant, &opts.ingest_key) {
        (Some(t), Some(k)) => Credentials {
            tenant_id: t.clone(),
            ingest_key: k.clone(),
        },
        _ => {
            let c = read_credentials(&opts.data_dir)?;
            Credentials {
                tenant_id: opts.tenant.clone().unwrap_or(c.tenant_id),
                ingest_key: opts.ingest_key.clone().unwrap_or(c.ingest_key),
            }
        }
    };
    let https = url.starts_with("https://");
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(64);
    let ca = match &opts.ca_cert {
        Some(p) => Some(p.clone()),
        None if https => {
            let p = data_dir_certificate(&opts.data_dir);
            p.is_file().then(|| {
                tracing::info!(certificate = %p.display(), "trusting the server's own certificate");
                p
            })
        }
        None => None,
    };
    if let Some(path) = &ca {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("parsing the certificate in {}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    let http = builder.build().context("building the HTTP client")?;
    let endpoint = Endpoint {
        http,
        url,
        tenant_id: creds.tenant_id,
        ingest_key: creds.ingest_key,
    };
    check_reachable(&endpoint, ca.is_some()).await?;
    check_tenant(&endpoint, opts.create_tenant).await?;
    Ok(endpoint)
}

/// The error and its sources in one line, for matching on what went wrong.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `GET /healthz`, with a message for each way it can fail.
async fn check_reachable(ep: &Endpoint, custom_ca: bool) -> anyhow::Result<()> {
    let health = format!("{}/healthz", ep.url);
    let err = match ep.http.get(&health).send().await {
        Ok(resp) if resp.status().is_success() => return Ok(()),
        Ok(resp) => bail!(
            "{} answered GET /healthz with HTTP {}: is it a callhook server (`callhook serve`)?",
            ep.url,
            resp.status()
        ),
        Err(e) => e,
    };
    let text = chain(&err);
    if ep.url.starts_with("https://") && text.to_ascii_lowercase().contains("certificate") {
        let hint = if custom_ca {
            "the certificate given does not match it: pass the server's own with --ca-cert, or its --data-dir"
        } else {
            "pass --ca-cert with its certificate, or the server's --data-dir (its tls/cert.pem is then trusted)"
        };
        bail!(
            "the server at {} uses TLS with a certificate this machine does not trust: {hint} ({text})",
            ep.url
        );
    }
    if let Some(rest) = ep.url.strip_prefix("http://") {
        if speaks_tls(rest).await {
            bail!(
                "the server at {} uses TLS: use --url https://{rest} (and pass --ca-cert or --data-dir)",
                ep.url
            );
        }
    }
    if err.is_connect() || err.is_timeout() {
        bail!(
            "cannot connect to {}: is `callhook serve` running at {}? ({text})",
            ep.url,
            ep.url
        );
    }
    Err(anyhow!(err).context(format!("GET {health}")))
}

/// Whether `host:port…` completes a TLS handshake (any certificate accepted: this only tells
/// a plain-HTTP URL that points at an HTTPS server apart from a dead one).
async fn speaks_tls(rest: &str) -> bool {
    let Ok(probe) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    probe
        .get(format!("https://{}/healthz", rest.trim_end_matches('/')))
        .send()
        .await
        .is_ok()
}

/// The admin API's view of the tenant: it must exist (or be created with `create`) and the
/// ingest key must be this server's.
async fn check_tenant(ep: &Endpoint, create: bool) -> anyhow::Result<()> {
    let admin = format!("{}/_callhook/admin/tenants", ep.url);
    let resp = ep
        .http
        .get(format!("{admin}/{}", ep.tenant_id))
        .header(AUTHORIZATION, ep.auth())
        .send()
        .await
        .with_context(|| format!("GET {admin}/{}", ep.tenant_id))?;
    match resp.status() {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => bail!(
            "the server at {} refused the ingest key: pass that server's --data-dir, or its key with --ingest-key",
            ep.url
        ),
        StatusCode::NOT_FOUND if create => {
            let resp = ep
                .http
                .post(&admin)
                .header(AUTHORIZATION, ep.auth())
                .json(&json!({ "id": ep.tenant_id }))
                .send()
                .await
                .with_context(|| format!("POST {admin}"))?;
            let status = resp.status();
            if status.is_success() || status == StatusCode::CONFLICT {
                Ok(())
            } else {
                let body = resp.text().await.unwrap_or_default();
                bail!("creating tenant {}: HTTP {status}: {body}", ep.tenant_id)
            }
        }
        StatusCode::NOT_FOUND => bail!(
            "tenant {0} does not exist on {1}: create it with `callhook tenant create --id {0}` or pass --create-tenant",
            ep.tenant_id,
            ep.url
        ),
        status => {
            let body = resp.text().await.unwrap_or_default();
            bail!("GET {admin}/{}: HTTP {status}: {body}", ep.tenant_id)
        }
    }
}
