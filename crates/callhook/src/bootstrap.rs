//! First start of a data directory, and opening it again later.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use callhook_crypto::{KeySet, PageTokenSealer, SigningKey};
use callhook_store::{App, PostgresStore, SqliteStore, Store, StoredSigningKey, Tenant};

/// What `DATA_DIR/credentials.json` holds: exactly these four keys. `Debug` hides the secret
/// and the ingest key.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub ingest_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("ingest_key", &"<redacted>")
            .finish()
    }
}

pub const CREDENTIALS_FILE: &str = "credentials.json";
const INGEST_KEY_SETTING: &str = "ingest_key_hash";
const PAGE_TOKEN_SETTING: &str = "page_token_secret";
/// The kid of the first signing key, claimed before the key is stored (see [`open_with`]).
const SIGNING_KEY_CLAIM_SETTING: &str = "first_signing_kid";

/// Everything the server needs from its store before it can answer.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keys: KeySet,
    pub sealer: PageTokenSealer,
    pub ingest_key_hash: String,
    /// Present when this start created the development tenant.
    pub created: Option<Credentials>,
}

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(())
}

/// Writes a file readable by its owner only (0600), replacing it atomically.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn read_credentials(data_dir: &Path) -> anyhow::Result<Credentials> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (has `callhook serve` run with this data directory?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid credentials file", path.display()))
}

/// Connections per node to PostgreSQL when `--db-pool-size` is not given.
pub const DEFAULT_DB_POOL_SIZE: u32 = 16;

/// Opens the store named by `database_url`, or SQLite in `data_dir` when there is none.
pub async fn open_store(
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(data_dir, database_url, DEFAULT_DB_POOL_SIZE).await
}

/// [`open_store`] with the PostgreSQL pool size (ignored by SQLite, which has its own pools).
pub async fn open_store_with(
    data_dir: &Path,
    database_url: Option<&str>,
    db_pool_size: u32,
) -> anyhow::Result<Arc<dyn Store>> {
    match database_url {
        None | Some("") => {
            let path = data_dir.join("callhook.db");
            // SQLite gives its -wal and -shm files the database file's mode: create it 0600 first.
            if !path.exists() {
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create(true).truncate(false);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                opts.open(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
            }
            let store = SqliteStore::open(&path)
                .await
                .context("cannot open the SQLite database")?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => Ok(Arc::new(
            SqliteStore::open_url(url)
                .await
                .context("cannot open the SQLite database")?,
        )),
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            let store = PostgresStore::connect(url, db_pool_size)
                .await
                .context("cannot open the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
        Some(_) => bail!("unsupported --database-url: expected sqlite:… or postgres://…"),
    }
}

/// Opens the installation in `data_dir`, creating on first start the signing key, the page-token
/// secret, and the development tenant with its app and ingest key (written to credentials.json).
pub async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Opened> {
    open_with(data_dir, database_url, DEFAULT_DB_POOL_SIZE).await
}

/// [`open`] with the PostgreSQL pool size.
///
/// Several nodes may start at once on one empty PostgreSQL database: each first-start step is
/// claimed through `setting_or_insert` (first writer wins), so there is one signing key that
/// every node loads, and one development tenant whose ingest key matches credentials.json.
pub async fn open_with(
    data_dir: &Path,
    database_url: Option<&str>,
    db_pool_size: u32,
) -> anyhow::Result<Opened> {
    ensure_data_dir(data_dir)?;
    let store = open_store_with(data_dir, database_url, db_pool_size).await?;

    let page_secret = callhook_crypto::random_secret(32)?;
    let page_secret = store
        .setting_or_insert(PAGE_TOKEN_SETTING, page_secret.as_bytes())
        .await?;
    let sealer = PageTokenSealer::new(&page_secret);

    let mut stored = store.signing_keys().await?;
    if stored.is_empty() {
        let key = SigningKey::generate(callhook_crypto::random_uuid()?)?;
        let winner = store
            .setting_or_insert(SIGNING_KEY_CLAIM_SETTING, key.kid().as_bytes())
            .await?;
        if winner == key.kid().as_bytes() {
            store
                .insert_signing_key(&StoredSigningKey {
                    kid: key.kid().to_string(),
                    created_at: Utc::now(),
                    pkcs8: key.pkcs8_der().to_vec(),
                })
                .await?;
        }
        // Another node won the claim: its key is stored a moment later.
        for _ in 0..100 {
            stored = store.signing_keys().await?;
            if !stored.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let keys = stored
        .iter()
        .map(|k| SigningKey::from_pkcs8(k.kid.clone(), &k.pkcs8))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = KeySet::new(keys).context("no signing key")?;

    let mut created = None;
    let cred_path = data_dir.join(CREDENTIALS_FILE);
    let first_start = if store.tenants().await?.is_empty() {
        let creds = Credentials {
            tenant_id: callhook_crypto::random_uuid()?,
            client_id: callhook_crypto::random_uuid()?,
            client_secret: callhook_crypto::random_secret(30)?,
            ingest_key: callhook_crypto::random_secret(32)?,
        };
        // The node whose ingest key lands first creates the development tenant; the others
        // (starting at the same moment on a shared database) leave it to that one.
        let hash = callhook_crypto::hash_secret(&creds.ingest_key)?;
        let winner = store
            .setting_or_insert(INGEST_KEY_SETTING, hash.as_bytes())
            .await?;
        (winner == hash.as_bytes()).then_some(creds)
    } else {
        None
    };
    if let Some(creds) = first_start {
        let now = Utc::now();
        store
            .insert_tenant(&Tenant {
                id: creds.tenant_id.clone(),
                display_name: "Development tenant".into(),
                created_at: now,
            })
            .await?;
        store
            .insert_app(&App {
                client_id: creds.client_id.clone(),
                tenant_id: creds.tenant_id.clone(),
                display_name: "callhook development app".into(),
                secret_hashes: vec![callhook_crypto::hash_secret(&creds.client_secret)?],
                roles: callhook_api::permissions::ALL
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                created_at: now,
            })
            .await?;
        write_private_file(&cred_path, serde_json::to_string_pretty(&creds)?.as_bytes())?;
        created = Some(creds);
    }
    let ingest_key_hash = store.setting_or_insert(INGEST_KEY_SETTING, b"").await?;
    let ingest_key_hash =
        String::from_utf8(ingest_key_hash).context("corrupt ingest key setting")?;
    Ok(Opened {
        store,
        keys,
        sealer,
        ingest_key_hash,
        created,
    })
}
