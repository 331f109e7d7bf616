//! A loopback stand-in for the server, shared by the driver's tests.

use std::path::PathBuf;

use axum::Router;
use serde_json::json;

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const KEY: &str = "test-ingest-key";

/// Serves `app` on a free loopback port; the base URL.
pub async fn serve(app: Router) -> String {
    // The real server accepts bodies up to 8 MiB.
    let app = app.layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

/// A data directory whose `credentials.json` names [`TENANT`] and [`KEY`].
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callhook-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let creds = json!({"tenantId": TENANT, "clientId": "c", "clientSecret": "s", "ingestKey": KEY});
    std::fs::write(dir.join("credentials.json"), creds.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    dir
}
