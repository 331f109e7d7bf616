//! Shared helpers of the behavioural tests: an in-process server in a temporary data directory,
//! tokens from the real token endpoint, ingest calls, and a builder of valid call records.
//! Every request goes to 127.0.0.1.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use callhook::server::{self, RunningServer, ServeOptions};
use callhook::Credentials;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A server started in-process on 127.0.0.1 with its own data directory.
pub struct TestServer {
    pub server: RunningServer,
    pub dir: TempDir,
    pub creds: Credentials,
    pub http: reqwest::Client,
}

/// The answer of one request: status, headers and the body parsed as JSON (`Null` if empty or
/// not JSON; `text` keeps the raw body).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Answer {
    pub async fn from(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.message` of a Graph error body.
    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub fn next_link(&self) -> Option<String> {
        self.json["@odata.nextLink"].as_str().map(str::to_string)
    }

    pub fn values(&self) -> Vec<Value> {
        self.json["value"].as_array().cloned().unwrap_or_default()
    }

    /// Panics with the body when the status is not `expected`.
    #[track_caller]
    pub fn expect_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}

/// Asserts that `a` is a Graph OData error body with the given status and code, carrying the
/// request's ids in `innerError`.
#[track_caller]
pub fn assert_graph_error(a: &Answer, status: u16, code: &str) {
    a.expect_status(status);
    let err = &a.json["error"];
    assert_eq!(err["code"], code, "body: {}", a.text);
    assert!(err["message"].is_string(), "message missing: {}", a.text);
    let inner = &err["innerError"];
    for key in ["date", "request-id", "client-request-id"] {
        assert!(
            inner[key].is_string(),
            "innerError.{key} missing: {}",
            a.text
        );
    }
    assert_eq!(
        inner["request-id"].as_str(),
        a.header("request-id"),
        "innerError.request-id must equal the request-id header"
    );
}

pub async fn start() -> TestServer {
    start_in(tempfile::tempdir().expect("tempdir")).await
}

/// Starts a server on `dir` (first start creates credentials.json; later starts reuse it).
pub async fn start_in(dir: TempDir) -> TestServer {
    let server = server::start(serve_options(dir.path()).await)
        .await
        .expect("server starts");
    let creds = read_credentials(dir.path());
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    TestServer {
        server,
        dir,
        creds,
        http,
    }
}

/// Options of a test server on `dir` listening on a free port: SQLite in `dir`, or with
/// `CALLHOOK_TEST_DATABASE=postgres` a PostgreSQL database of its own (see [`test_database_url`]).
pub async fn serve_options(dir: &Path) -> ServeOptions {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut opts = ServeOptions::new(listen, dir.to_path_buf());
    if let Some(url) = test_database_url(dir).await {
        opts.database_url = Some(url);
        opts.db_pool_size = 4;
    }
    opts
}

/// With `CALLHOOK_TEST_DATABASE=postgres`, the URL of a PostgreSQL database created for the data
/// directory `dir` (the same one when a test restarts a server on `dir`). The server at
/// `CALLHOOK_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) must be
/// reachable: asking for PostgreSQL and not finding it fails the test.
pub async fn test_database_url(dir: &Path) -> Option<String> {
    if std::env::var("CALLHOOK_TEST_DATABASE").ok().as_deref() != Some("postgres") {
        return None;
    }
    let marker = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return Some(url);
    }
    let url = new_postgres_database()
        .await
        .unwrap_or_else(|e| panic!("CALLHOOK_TEST_DATABASE=postgres but {e}"));
    std::fs::write(&marker, &url).expect("write database marker");
    Some(url)
}

/// The PostgreSQL server tests use (`CALLHOOK_TEST_POSTGRES_URL`, a role that may create
/// databases).
pub fn postgres_admin_url() -> String {
    std::env::var("CALLHOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for a test that needs PostgreSQL whatever `CALLHOOK_TEST_DATABASE` says
/// (several nodes on one database). `None`, with a notice on stderr, when PostgreSQL is not
/// reachable, unless `CALLHOOK_REQUIRE_POSTGRES=1`, which makes that a failure.
pub async fn postgres_database_or_skip(test: &str) -> Option<String> {
    match new_postgres_database().await {
        Ok(url) => Some(url),
        Err(e) if std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but {e}")
        }
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {e}; set CALLHOOK_REQUIRE_POSTGRES=1 to fail instead"
            );
            None
        }
    }
}

/// Creates `callhook_test_<unix seconds>_<random>` and returns its URL. Each test process drops
/// such databases older than fifteen minutes (no test runs that long; a test server has no async
/// drop to remove its own) and `.ci/run`
/// drops them all.
async fn new_postgres_database() -> Result<String, String> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let admin = postgres_admin_url();
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .map_err(|e| format!("bad CALLHOOK_TEST_POSTGRES_URL: {e}"))?;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL at {admin} is not reachable ({e})"))?;
    let now = Utc::now().timestamp();
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'callhook\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        for name in old {
            let secs = name
                .split('_')
                .nth(2)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(now);
            if now - secs > 15 * 60 {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
    let name = format!("callhook_test_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot create a test database: {e}"))?;
    let _ = conn.close().await;
    Ok(options.database(&name).to_url_lossy().to_string())
}

pub fn read_credentials(dir: &Path) -> Credentials {
    let text = std::fs::read_to_string(dir.join("credentials.json")).expect("credentials.json");
    serde_json::from_str(&text).expect("credentials.json parses")
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form-encoded body from key/value pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl TestServer {
    pub fn base(&self) -> &str {
        &self.server.base_url
    }

    pub fn tenant(&self) -> &str {
        &self.creds.tenant_id
    }

    /// Stops the server and hands back its data directory for a restart.
    pub async fn stop(self) -> TempDir {
        self.server.shutdown().await.expect("clean shutdown");
        self.dir
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.base())
    }

    /// POSTs a form body to the token endpoint of `tenant`.
    pub async fn token_request(&self, tenant: &str, pairs: &[(&str, &str)]) -> Answer {
        let resp = self
            .http
            .post(self.token_url(tenant))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .expect("token request");
        Answer::from(resp).await
    }

    /// A token for the development app, from the real token endpoint.
    pub async fn token(&self) -> String {
        self.token_for(
            &self.creds.tenant_id,
            &self.creds.client_id,
            &self.creds.client_secret,
        )
        .await
    }

    pub async fn token_for(&self, tenant: &str, client_id: &str, secret: &str) -> String {
        let a = self
            .token_request(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        a.expect_status(200);
        a.json["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Absolute URL for a path (or the URL itself when already absolute).
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base())
        }
    }

    /// GET with a bearer token and extra headers.
    pub async fn get_with(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.http.get(self.url(path)).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Answer::from(req.send().await.expect("GET")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.get_with(path, token, &[]).await
    }

    /// Follows `@odata.nextLink` from `first` and returns every item of every page, with the
    /// number of pages.
    pub async fn collect_pages(
        &self,
        first: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut next = Some(first.to_string());
        while let Some(url) = next {
            let a = self.get_with(&url, token, headers).await;
            a.expect_status(200);
            pages += 1;
            items.extend(a.values());
            next = a.next_link();
            assert!(pages < 10_000, "nextLinks do not end");
        }
        (items, pages)
    }

    pub fn ingest_url(&self, rest: &str) -> String {
        format!(
            "{}/ingest/v1/tenants/{}/{rest}",
            self.base(),
            self.creds.tenant_id
        )
    }

    /// Sends a raw ingest request with the installation's ingest key.
    pub async fn ingest_raw(&self, method: reqwest::Method, url: &str, body: Vec<u8>) -> Answer {
        self.ingest_typed(method, url, "application/json", body)
            .await
    }

    /// Sends an ingest request of any content type (WebVTT, MP4, JSON) with the ingest key.
    pub async fn ingest_typed(
        &self,
        method: reqwest::Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let resp = self
            .http
            .request(method, url)
            .bearer_auth(&self.creds.ingest_key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("ingest request");
        Answer::from(resp).await
    }

    /// `PUT …/callRecords/{id}` with `record`.
    pub async fn put_record(&self, id: &str, record: &Value) -> Answer {
        self.ingest_raw(
            reqwest::Method::PUT,
            &self.ingest_url(&format!("callRecords/{id}")),
            serde_json::to_vec(record).expect("json"),
        )
        .await
    }

    /// `PUT`s each record and asserts it was stored.
    pub async fn put_records(&self, records: &[Value]) {
        for r in records {
            let id = r["id"].as_str().expect("record id");
            let a = self.put_record(id, r).await;
            assert!(a.status.is_success(), "PUT {id}: {}", a.text);
        }
    }

    /// `POST …/callRecords` with `{"value": records}`.
    pub async fn post_records(&self, records: &[Value]) -> Answer {
        self.ingest_raw(
            reqwest::Method::POST,
            &self.ingest_url("callRecords"),
            serde_json::to_vec(&json!({ "value": records })).expect("json"),
        )
        .await
    }

    /// `POST …/reports/{report}` with `{"value": rows}`, asserting success.
    pub async fn post_rows(&self, report: &str, rows: &[Value]) -> Answer {
        let a = self
            .ingest_raw(
                reqwest::Method::POST,
                &self.ingest_url(&format!("reports/{report}")),
                serde_json::to_vec(&json!({ "value": rows })).expect("json"),
            )
            .await;
        a.expect_status(200);
        a
    }

    pub async fn post_users(&self, users: &[Value]) -> Answer {
        self.ingest_raw(
            reqwest::Method::POST,
            &self.ingest_url("users"),
            serde_json::to_vec(&json!({ "value": users })).expect("json"),
        )
        .await
    }

    /// Adds a second tenant with an app holding every role, straight into the store (there is no
    /// admin API yet). Returns (tenant id, client id, secret).
    pub async fn add_tenant(&self, n: u32) -> (String, String, String) {
        let tenant = uuid_like(0x7e7a_0000 + n, 1);
        let client = uuid_like(0x7e7a_0000 + n, 2);
        let secret = format!("second-tenant-secret-{n}");
        let now = Utc::now();
        let store = &self.server.state.store;
        store
            .insert_tenant(&callhook_store::Tenant {
                id: tenant.clone(),
                display_name: format!("Tenant {n}"),
                created_at: now,
            })
            .await
            .expect("insert tenant");
        store
            .insert_app(&callhook_store::App {
                client_id: client.clone(),
                tenant_id: tenant.clone(),
                display_name: format!("App {n}"),
                secret_hashes: vec![callhook_crypto::hash_secret(&secret).expect("hash")],
                roles: callhook_api::permissions::ALL
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                created_at: now,
            })
            .await
            .expect("insert app");
        (tenant, client, secret)
    }
}

/// A GUID-shaped id built from two numbers, so tests can name records predictably.
pub fn uuid_like(a: u32, b: u64) -> String {
    format!(
        "{a:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (b >> 48) & 0xffff,
        (b >> 36) & 0xfff,
        (b >> 24) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Graph's timestamp format (7 fractional digits are fine; we use milliseconds).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A moment `minutes` ago.
pub fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(minutes)
}

/// Builds valid call records: `sessions` sessions (one segment each, with one media stream) and
/// `participants` entries in `participants_v2`.
pub struct RecordBuilder {
    pub id: String,
    pub start: DateTime<Utc>,
    pub sessions: usize,
    pub participants: usize,
    pub participant_ids: Vec<String>,
}

impl RecordBuilder {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            start: ago(120),
            sessions: 1,
            participants: 2,
            participant_ids: Vec::new(),
        }
    }

    pub fn start(mut self, at: DateTime<Utc>) -> Self {
        self.start = at;
        self
    }

    pub fn sessions(mut self, n: usize) -> Self {
        self.sessions = n;
        self
    }

    pub fn participants(mut self, n: usize) -> Self {
        self.participants = n;
        self
    }

    /// Uses these ids for the first participants.
    pub fn participant_ids(mut self, ids: &[&str]) -> Self {
        self.participant_ids = ids.iter().map(|s| s.to_string()).collect();
        self.participants = self.participants.max(ids.len());
        self
    }

    pub fn participant_id(&self, i: usize) -> String {
        self.participant_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| uuid_like(0x0a11_0000, i as u64))
    }

    pub fn build(&self) -> Value {
        let end = self.start + Duration::minutes(10);
        let user = |id: &str, name: &str| json!({ "user": { "id": id, "displayName": name, "tenantId": "dc368399-474c-4d40-900c-6265431fd81f" } });
        let participants: Vec<Value> = (0..self.participants)
            .map(|i| {
                let id = self.participant_id(i);
                json!({ "id": id, "identity": user(&id, &format!("Participant {i}")) })
            })
            .collect();
        let organizer = self.participant_id(0);
        let sessions: Vec<Value> = (0..self.sessions)
            .map(|i| {
                let s_start = self.start + Duration::seconds(i as i64);
                let s_end = s_start + Duration::seconds(30);
                let sid = uuid_like(0x5e55_0000, i as u64);
                json!({
                    "id": sid,
                    "modalities": ["audio"],
                    "startDateTime": ts(s_start),
                    "endDateTime": ts(s_end),
                    "isTest": false,
                    "caller": {
                        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                        "name": format!("caller-{i}"),
                        "userAgent": {
                            "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
                            "platform": "windows",
                            "productFamily": "teams"
                        }
                    },
                    "callee": {
                        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                        "name": format!("callee-{i}")
                    },
                    "segments": [{
                        "id": uuid_like(0x5e6e_0000, i as u64),
                        "startDateTime": ts(s_start),
                        "endDateTime": ts(s_end),
                        "media": [{
                            "label": "main-audio",
                            "streams": [
                                { "streamId": format!("{i}"), "streamDirection": "callerToCallee", "averageJitter": "PT0.016S" }
                            ]
                        }]
                    }]
                })
            })
            .collect();
        json!({
            "id": self.id,
            "type": "groupCall",
            "modalities": ["audio"],
            "startDateTime": ts(self.start),
            "endDateTime": ts(end),
            "joinWebUrl": null,
            "organizer_v2": { "id": organizer, "identity": user(&organizer, "Organizer") },
            "participants_v2": participants,
            "sessions": sessions
        })
    }
}

/// A valid record with one session and two participants, started two hours ago.
pub fn record(id: &str) -> Value {
    RecordBuilder::new(id).build()
}

/// `n` distinct valid records, ids `uuid_like(tag, 0..n)`, started `minutes_ago` ago.
pub fn records(tag: u32, n: usize, minutes_ago: i64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            RecordBuilder::new(uuid_like(tag, i as u64))
                .start(ago(minutes_ago) + Duration::milliseconds(i as i64))
                .build()
        })
        .collect()
}

/// Ids of a list of entities.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url, as JWTs use it.
pub fn b64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn b64url_decode(text: &str) -> Vec<u8> {
    let vals: Vec<u32> = text
        .trim_end_matches('=')
        .bytes()
        .map(|c| B64URL.iter().position(|x| *x == c).expect("base64url") as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The header and payload of a compact JWT.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])).expect("header json");
    let payload = serde_json::from_slice(&b64url_decode(parts[1])).expect("payload json");
    (header, payload)
}

/// Standard base64 (with padding), for `client_secret_basic`.
pub fn b64_std(bytes: &[u8]) -> String {
    let mut s = b64url_encode(bytes).replace('-', "+").replace('_', "/");
    let pad = (4 - s.len() % 4) % 4;
    s.push_str(&"=".repeat(pad));
    s
}

/// Starts the real `callhook serve` binary on an ephemeral port in `dir` (environment settings
/// cleared), and returns the child and its base URL, parsed from its `listening on …` line.
pub async fn spawn_server(dir: &Path) -> (tokio::process::Child, String) {
    spawn_server_on(dir, None).await
}

/// [`spawn_server`] on the database `database_url` (SQLite in `dir` when `None`).
pub async fn spawn_server_on(
    dir: &Path,
    database_url: Option<&str>,
) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_callhook"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url, "--db-pool-size", "4"]);
    }
    let mut child = command
        .env_remove("CALLHOOK_DATABASE_URL")
        .env_remove("CALLHOOK_TLS")
        .env_remove("CALLHOOK_TLS_CERT")
        .env_remove("CALLHOOK_TLS_KEY")
        .env_remove("CALLHOOK_PUBLIC_URL")
        .env_remove("CALLHOOK_WEBHOOK_CA")
        .env_remove("CALLHOOK_STRICT_HTTPS")
        .env_remove("CALLHOOK_CLOCK")
        .env_remove("CALLHOOK_MAX_BATCH")
        .env_remove("CALLHOOK_AUTHORIZATION_MINUTES")
        .env("CALLHOOK_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn callhook");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let base = loop {
        let line = lines
            .next_line()
            .await
            .expect("read stdout")
            .expect("callhook exited before printing its address");
        if let Some((_, url)) = line.split_once("listening on ") {
            break url.trim().to_string();
        }
    };
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// A webhook receiver's key pair for rich notifications: the certificate (base64 DER) goes
/// into the subscription, the private key decrypts.
pub struct ReceiverKey {
    pub certificate: String,
    pub key: callhook_client::DecryptionKey,
    /// The private key as PKCS#8 PEM, as a receiver would paste it.
    pub pem: String,
}

/// A fresh 2,048-bit RSA receiver key with a self-signed certificate.
pub fn receiver_key() -> ReceiverKey {
    use base64::Engine as _;
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("RSA key");
    let cert = rcgen::CertificateParams::new(vec!["receiver.example".to_string()])
        .expect("params")
        .self_signed(&pair)
        .expect("certificate");
    ReceiverKey {
        certificate: base64::engine::general_purpose::STANDARD.encode(cert.der()),
        key: callhook_client::DecryptionKey::from_pkcs8(&pair.serialize_der())
            .expect("private key"),
        pem: pair.serialize_pem(),
    }
}

impl TestServer {
    /// `POST /{version}/subscriptions` with `body`.
    pub async fn post_subscription(&self, version: &str, token: &str, body: &Value) -> Answer {
        let resp = self
            .http
            .post(self.url(&format!("/{version}/subscriptions")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST subscriptions");
        Answer::from(resp).await
    }

    /// The validator a receiver builds from callhook's published keys: Entra's own checks
    /// (issuers of both versions), with keys from callhook's copy of Entra's common key path.
    pub async fn token_validator(&self) -> callhook_client::TokenValidator {
        let jwks = self
            .http
            .get(self.url("/common/discovery/keys"))
            .send()
            .await
            .expect("JWKS")
            .text()
            .await
            .expect("JWKS body");
        callhook_client::TokenValidator::for_entra(&jwks, &[self.creds.client_id.as_str()])
            .expect("validator")
    }

    /// An app of this tenant holding only `roles`; returns its client id and a token.
    pub async fn app_with_roles(&self, n: u32, roles: &[&str]) -> (String, String) {
        let client = uuid_like(0xa99_0000 + n, 7);
        let secret = format!("app-secret-{n}");
        self.server
            .state
            .store
            .insert_app(&callhook_store::App {
                client_id: client.clone(),
                tenant_id: self.tenant().to_string(),
                display_name: format!("App {n}"),
                secret_hashes: vec![callhook_crypto::hash_secret(&secret).expect("hash")],
                roles: roles.iter().map(|s| s.to_string()).collect(),
                created_at: Utc::now(),
            })
            .await
            .expect("insert app");
        let token = self.token_for(self.tenant(), &client, &secret).await;
        (client, token)
    }
}
