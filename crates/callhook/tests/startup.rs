//! First start and restart of a data directory: credentials.json, health, persistence.

mod common;

use common::*;

#[tokio::test]
async fn first_start_writes_credentials_with_exactly_four_keys_readable_by_owner_only() {
    let s = start().await;
    let created = s
        .server
        .created
        .clone()
        .expect("first start creates credentials");
    let path = s.dir.path().join("credentials.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let mut keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["clientId", "clientSecret", "ingestKey", "tenantId"]);
    for k in &keys {
        assert!(
            doc[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k} must be a non-empty string"
        );
    }
    assert_eq!(doc["tenantId"], created.tenant_id.as_str());
    assert_eq!(doc["ingestKey"], created.ingest_key.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "credentials.json mode is {mode:o}");
    }
    s.stop().await;
}

#[tokio::test]
async fn healthz_answers_200_without_authentication() {
    let s = start().await;
    let resp = s
        .http
        .get(format!("{}/healthz", s.base()))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("request-id").is_some());
    s.stop().await;
}

#[tokio::test]
async fn restart_on_the_same_data_dir_keeps_credentials_and_data() {
    let s = start().await;
    let first = s.creds.clone();
    let id = uuid_like(0x5747, 1);
    s.put_record(&id, &record(&id)).await.expect_status(201);
    let dir = s.stop().await;

    let s = start_in(dir).await;
    assert!(
        s.server.created.is_none(),
        "a restart must not create a new tenant"
    );
    assert_eq!(s.creds, first, "credentials.json changed on restart");
    // The old secret still gets a token, and the record is still there with its version.
    let token = s.token().await;
    let a = s
        .get(&format!("/v1.0/communications/callRecords/{id}"), &token)
        .await;
    a.expect_status(200);
    assert_eq!(a.json["version"], 1);
    // Re-ingesting the same id continues the version sequence.
    let a = s.put_record(&id, &record(&id)).await;
    a.expect_status(200);
    assert_eq!(a.json["version"], 2);
    s.stop().await;
}

/// Logs written to a pipe or a file carry no ANSI colour codes.
#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_callhook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("CALLHOOK_DATABASE_URL")
        .env("CALLHOOK_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn callhook");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    while let Some(line) = lines.next_line().await.expect("stdout") {
        if line.contains("listening on ") {
            break;
        }
    }
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().await.expect("exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
}

/// `/healthz` says whether the server can serve requests: with its database gone it answers
/// 503 (it used to answer 200 whatever happened).
#[tokio::test]
async fn healthz_is_unhealthy_when_the_database_is_gone() {
    let Some(url) =
        postgres_database_or_skip("healthz_is_unhealthy_when_the_database_is_gone").await
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = serve_options(dir.path()).await;
    opts.database_url = Some(url.clone());
    opts.db_pool_size = 2;
    let server = callhook::server::start(opts).await.expect("server starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = format!("{}/healthz", server.base_url);
    let ok = http.get(&health).send().await.unwrap();
    assert_eq!(ok.status(), 200);

    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url())
        .await
        .expect("admin connection");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the server's database");
    let resp = http.get(&health).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["failing"], serde_json::json!(["database"]));
    let _ = server.shutdown().await;
}
