//! Tenants, apps, secrets, permissions, delegated tokens and resource-specific consent, through
//! the admin API and the `callhook tenant|app|user` commands; tokens of deleted apps, of other
//! tenants, not yet valid or for another audience; delegated tokens on application-only routes.

mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::*;

const MEETING: &str = "MSoxMjM0KjAqKjE5Om1lZXRpbmdfcnNjQHRocmVhZC52Mg";
const OTHER_MEETING: &str = "MSo1Njc4KjAqKjE5Om1lZXRpbmdfb3RoZXJAdGhyZWFkLnYy";
const ORGANIZER: &str = "3f1d2c3b-0000-4000-8000-00000000aa01";

/// Sends an admin request with the ingest key.
async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut req = s
        .http
        .request(method, format!("{}/_callhook/admin{path}", s.base()))
        .bearer_auth(&s.creds.ingest_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Answer::from(req.send().await.expect("admin request")).await
}

/// Creates an app in `tenant` with `roles` through the admin API: (appId, secret).
async fn new_app(s: &TestServer, tenant: &str, roles: &[&str]) -> (String, String) {
    let a = admin(
        s,
        Method::POST,
        &format!("/tenants/{tenant}/applications"),
        Some(json!({"displayName": "test app", "roles": roles})),
    )
    .await;
    a.expect_status(201);
    (
        a.json["appId"].as_str().unwrap().to_string(),
        a.json["secretText"].as_str().unwrap().to_string(),
    )
}

async fn password_token(
    s: &TestServer,
    tenant: &str,
    app: &(String, String),
    user: &str,
    password: &str,
    scope: &str,
) -> Answer {
    s.token_request(
        tenant,
        &[
            ("grant_type", "password"),
            ("client_id", &app.0),
            ("client_secret", &app.1),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ],
    )
    .await
}

#[tokio::test]
async fn admin_api_registers_tenants_and_apps_whose_secrets_are_shown_once() {
    let s = start().await;
    // The admin API needs the ingest key.
    let resp = s
        .http
        .get(format!("{}/_callhook/admin/tenants", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let t = admin(
        &s,
        Method::POST,
        "/tenants",
        Some(json!({"id": "fabrikam", "displayName": "Fabrikam"})),
    )
    .await;
    t.expect_status(201);
    assert_eq!(t.json["id"], "fabrikam");
    let again = admin(
        &s,
        Method::POST,
        "/tenants",
        Some(json!({"id": "fabrikam"})),
    )
    .await;
    assert_graph_error(&again, 409, "Conflict");
    let list = admin(&s, Method::GET, "/tenants", None).await;
    let ids: Vec<_> = list
        .values()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"fabrikam".to_string()) && ids.contains(&s.tenant().to_string()));

    let app = new_app(&s, "fabrikam", &["CallRecords.Read.All"]).await;
    let listed = admin(&s, Method::GET, "/tenants/fabrikam/applications", None).await;
    assert_eq!(listed.values().len(), 1);
    assert_eq!(listed.values()[0]["roles"], json!(["CallRecords.Read.All"]));
    assert!(!listed.text.contains(&app.1), "a secret is shown once only");
    assert!(!listed.text.contains("secretText"));

    // A second secret: both work.
    let second = admin(
        &s,
        Method::POST,
        &format!("/tenants/fabrikam/applications/{}/secrets", app.0),
        None,
    )
    .await;
    second.expect_status(201);
    let secret2 = second.json["secretText"].as_str().unwrap().to_string();
    let token1 = s.token_for("fabrikam", &app.0, &app.1).await;
    let token2 = s.token_for("fabrikam", &app.0, &secret2).await;
    s.get("/v1.0/communications/callRecords", &token1)
        .await
        .expect_status(200);
    s.get("/v1.0/communications/callRecords", &token2)
        .await
        .expect_status(200);

    // Unknown permission names are refused (typos do not silently grant nothing).
    let bad = admin(
        &s,
        Method::PUT,
        &format!(
            "/tenants/fabrikam/applications/{}/roles/CallRecords.ReadAll",
            app.0
        ),
        None,
    )
    .await;
    assert_graph_error(&bad, 400, "BadRequest");
    // Apps of another tenant are not found there.
    let other = admin(
        &s,
        Method::GET,
        &format!("/tenants/{}/applications/{}", s.tenant(), app.0),
        None,
    )
    .await;
    assert_graph_error(&other, 404, "NotFound");
    s.stop().await;
}

#[tokio::test]
async fn tokens_of_a_deleted_app_are_401_at_once() {
    let s = start().await;
    let app = new_app(&s, s.tenant(), &["CallRecords.Read.All"]).await;
    let token = s.token_for(s.tenant(), &app.0, &app.1).await;
    s.get("/v1.0/communications/callRecords", &token)
        .await
        .expect_status(200);
    let d = admin(
        &s,
        Method::DELETE,
        &format!("/tenants/{}/applications/{}", s.tenant(), app.0),
        None,
    )
    .await;
    d.expect_status(204);
    let a = s.get("/v1.0/communications/callRecords", &token).await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    // And no new token.
    let t = s
        .token_request(
            s.tenant(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.0),
                ("client_secret", &app.1),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    t.expect_status(400);
    assert_eq!(t.json["error"], "unauthorized_client");
    s.stop().await;
}

#[tokio::test]
async fn application_permissions_are_enforced_per_route_and_revocation_applies_to_new_tokens() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    let report = "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)";
    let pstn = new_app(&s, &tenant, &["CallRecord-PstnCalls.Read.All"]).await;
    let token = s.token_for(&tenant, &pstn.0, &pstn.1).await;
    s.get(report, &token).await.expect_status(200);
    for path in [
        "/v1.0/communications/callRecords",
        "/beta/communications/callRecords/8ae9eb4c-1d6d-4c4e-9fd5-0d5d0b4b8a11",
        "/v1.0/users",
    ] {
        let a = s.get(path, &token).await;
        assert_eq!(a.status, 403, "{path}: {}", a.text);
    }
    let a = s.get("/v1.0/communications/callRecords", &token).await;
    assert_graph_error(&a, 403, "Forbidden");
    assert_eq!(a.message(), "");

    // Grant, then revoke: a token carries the permissions it was issued with.
    let grant = admin(
        &s,
        Method::PUT,
        &format!(
            "/tenants/{tenant}/applications/{}/roles/CallRecords.Read.All",
            pstn.0
        ),
        None,
    )
    .await;
    grant.expect_status(200);
    assert_eq!(grant.json["changed"], true);
    let granted = s.token_for(&tenant, &pstn.0, &pstn.1).await;
    s.get("/v1.0/communications/callRecords", &granted)
        .await
        .expect_status(200);
    let revoke = admin(
        &s,
        Method::DELETE,
        &format!(
            "/tenants/{tenant}/applications/{}/roles/CallRecords.Read.All",
            pstn.0
        ),
        None,
    )
    .await;
    assert_eq!(
        revoke.json["roles"],
        json!(["CallRecord-PstnCalls.Read.All"])
    );
    let after = s.token_for(&tenant, &pstn.0, &pstn.1).await;
    assert_eq!(
        s.get("/v1.0/communications/callRecords", &after)
            .await
            .status,
        403
    );
    let roles = s
        .server
        .state
        .store
        .app_roles(&tenant, &pstn.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(roles, vec!["CallRecord-PstnCalls.Read.All".to_string()]);
    s.stop().await;
}

#[tokio::test]
async fn delegated_tokens_come_from_the_password_grant_and_never_pass_application_only_routes() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    let app = new_app(&s, &tenant, &[]).await;
    let u = admin(
        &s,
        Method::POST,
        &format!("/tenants/{tenant}/users"),
        Some(json!({"userPrincipalName": "Megan@Contoso.com", "id": ORGANIZER, "password": "correct horse"})),
    )
    .await;
    u.expect_status(201);
    assert_eq!(u.json["userPrincipalName"], "megan@contoso.com");

    // Not consented yet.
    let t = password_token(
        &s,
        &tenant,
        &app,
        "megan@contoso.com",
        "correct horse",
        "https://graph.microsoft.com/.default",
    )
    .await;
    t.expect_status(400);
    assert_eq!(t.json["error"], "invalid_grant");
    assert_eq!(t.json["error_codes"], json!([65001]));
    for p in ["OnlineMeetings.Read", "User.ReadBasic.All"] {
        admin(
            &s,
            Method::PUT,
            &format!(
                "/tenants/{tenant}/applications/{}/delegatedPermissions/{p}",
                app.0
            ),
            None,
        )
        .await
        .expect_status(200);
    }
    // CallRecords.Read.All does not exist as a delegated permission.
    let t = password_token(
        &s,
        &tenant,
        &app,
        "megan@contoso.com",
        "correct horse",
        "https://graph.microsoft.com/CallRecords.Read.All",
    )
    .await;
    assert_eq!(
        (t.status.as_u16(), t.json["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert_eq!(t.json["error_codes"], json!([650053]));
    // Wrong password.
    let t = password_token(
        &s,
        &tenant,
        &app,
        "megan@contoso.com",
        "wrong",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(t.json["error_codes"], json!([50126]));
    assert!(!t.text.contains("correct horse"));

    let t = password_token(
        &s,
        &tenant,
        &app,
        "MEGAN@contoso.com",
        "correct horse",
        "openid https://graph.microsoft.com/.default",
    )
    .await;
    t.expect_status(200);
    let token = t.json["access_token"].as_str().unwrap().to_string();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["scp"], "OnlineMeetings.Read User.ReadBasic.All");
    assert_eq!(claims["idtyp"], "user");
    assert_eq!(claims["oid"], ORGANIZER);
    assert!(claims.get("roles").is_none_or(|r| r == &json!([])));

    // Application-only routes: Graph's 403.
    for path in [
        "/v1.0/communications/callRecords",
        "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
        &format!("/v1.0/users/{ORGANIZER}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')"),
    ] {
        let a = s.get(path, &token).await;
        assert_graph_error(&a, 403, "Forbidden");
    }
    // Delegated routes work for the user's own data, not someone else's.
    s.get("/v1.0/users", &token).await.expect_status(200);
    let own = s
        .get(
            &format!("/v1.0/users/{ORGANIZER}/onlineMeetings/{MEETING}"),
            &token,
        )
        .await;
    assert_eq!(own.status, 404, "{}", own.text);
    let other = s
        .get(
            "/v1.0/users/00000000-0000-4000-8000-000000000bad/onlineMeetings/x",
            &token,
        )
        .await;
    assert_eq!(other.status, 403);
    // Revoking the consent does not reach the token, but does reach the next one.
    admin(
        &s,
        Method::DELETE,
        &format!(
            "/tenants/{tenant}/applications/{}/delegatedPermissions/User.ReadBasic.All",
            app.0
        ),
        None,
    )
    .await
    .expect_status(200);
    let t = password_token(
        &s,
        &tenant,
        &app,
        "megan@contoso.com",
        "correct horse",
        "User.ReadBasic.All",
    )
    .await;
    assert_eq!(t.json["error_codes"], json!([65001]));
    s.stop().await;
}

async fn put_json(s: &TestServer, rest: &str, body: &Value) -> Answer {
    s.ingest_raw(
        Method::PUT,
        &s.ingest_url(rest),
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn put_transcript(s: &TestServer, meeting: &str, join: &str) {
    put_json(
        s,
        &format!("onlineMeetings/{meeting}"),
        &json!({
            "subject": "RSC",
            "startDateTime": "2026-03-02T09:00:00Z",
            "endDateTime": "2026-03-02T10:00:00Z",
            "joinWebUrl": format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_{join}%40thread.v2/0"),
            "participants": {"organizer": {"identity": {"user": {"id": ORGANIZER, "displayName": "Megan"}}, "role": "presenter", "upn": "megan@contoso.com"}, "attendees": []}
        }),
    )
    .await
    .expect_status(201);
    put_json(
        s,
        &format!("onlineMeetings/{meeting}/transcripts/tr-1"),
        &json!({"callId": "af630fe0-04d3-4559-8cf9-91fe45e36296", "createdDateTime": "2026-03-02T10:01:00Z", "endDateTime": "2026-03-02T10:00:00Z"}),
    )
    .await
    .expect_status(201);
    let resp = s
        .http
        .put(s.ingest_url(&format!(
            "onlineMeetings/{meeting}/transcripts/tr-1/content"
        )))
        .bearer_auth(&s.creds.ingest_key)
        .header("content-type", "text/vtt")
        .body("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Megan>Hello.</v>\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn resource_specific_consent_opens_one_meetings_transcripts_only() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    put_transcript(&s, MEETING, "rsc").await;
    put_transcript(&s, OTHER_MEETING, "other").await;
    let app = new_app(&s, &tenant, &[]).await;
    let list = |m: &str| format!("/v1.0/users/{ORGANIZER}/onlineMeetings/{m}/transcripts");
    let token = s.token_for(&tenant, &app.0, &app.1).await;
    assert_eq!(s.get(&list(MEETING), &token).await.status, 403);

    let i = admin(
        &s,
        Method::PUT,
        &format!(
            "/tenants/{tenant}/applications/{}/installations/{MEETING}",
            app.0
        ),
        Some(json!({"permissions": ["OnlineMeetingTranscript.Read.Chat"]})),
    )
    .await;
    i.expect_status(200);
    // The same token: RSC is looked up per request.
    let a = s.get(&list(MEETING), &token).await;
    a.expect_status(200);
    assert_eq!(a.values().len(), 1);
    s.get(&format!("{}/tr-1/content", list(MEETING)), &token)
        .await
        .expect_status(200);
    assert_eq!(s.get(&list(OTHER_MEETING), &token).await.status, 403);
    // Transcript RSC is not recording RSC.
    assert_eq!(
        s.get(
            &format!("/v1.0/users/{ORGANIZER}/onlineMeetings/{MEETING}/recordings"),
            &token
        )
        .await
        .status,
        403
    );
    assert!(s
        .server
        .state
        .store
        .rsc_granted(
            &tenant,
            &app.0,
            MEETING,
            "OnlineMeetingTranscript.Read.Chat"
        )
        .await
        .unwrap());
    admin(
        &s,
        Method::DELETE,
        &format!(
            "/tenants/{tenant}/applications/{}/installations/{MEETING}",
            app.0
        ),
        None,
    )
    .await
    .expect_status(204);
    assert_eq!(s.get(&list(MEETING), &token).await.status, 403);
    s.stop().await;
}

/// Claims the server would issue for the development app, to forge variants with its own key.
fn claims(s: &TestServer, now: i64) -> callhook_api::auth::AccessClaims {
    callhook_api::auth::AccessClaims {
        aud: "https://graph.microsoft.com".into(),
        iss: format!("{}/{}/v2.0", s.base(), s.tenant()),
        iat: now,
        nbf: now,
        exp: now + 3600,
        tid: s.creds.tenant_id.clone(),
        appid: s.creds.client_id.clone(),
        azp: s.creds.client_id.clone(),
        app_displayname: None,
        idtyp: Some("app".into()),
        oid: s.creds.client_id.clone(),
        sub: s.creds.client_id.clone(),
        roles: vec!["CallRecords.Read.All".into()],
        scp: None,
        upn: None,
        name: None,
        uti: "forged".into(),
        ver: "2.0".into(),
    }
}

fn sign(s: &TestServer, c: &callhook_api::auth::AccessClaims) -> String {
    s.server.state.keys().current().sign(c).expect("sign")
}

#[tokio::test]
async fn not_yet_valid_wrong_audience_and_wrong_tenant_tokens_are_401() {
    let s = start().await;
    let (other_tenant, _, _) = s.add_tenant(1).await;
    let now = chrono::Utc::now().timestamp();
    let good = claims(&s, now);
    s.get("/v1.0/communications/callRecords", &sign(&s, &good))
        .await
        .expect_status(200);

    let mut future = good.clone();
    future.nbf = now + 600;
    future.iat = now + 600;
    let a = s
        .get("/v1.0/communications/callRecords", &sign(&s, &future))
        .await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    assert!(a.message().contains("not yet valid"), "{}", a.message());

    let mut audience = good.clone();
    audience.aud = "api://someone-else".into();
    let a = s
        .get("/v1.0/communications/callRecords", &sign(&s, &audience))
        .await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    assert!(a.message().contains("audience"), "{}", a.message());

    // The development app's id with another tenant's tid: the app is not registered there.
    let mut tenant = good.clone();
    tenant.tid = other_tenant;
    let a = s
        .get("/v1.0/communications/callRecords", &sign(&s, &tenant))
        .await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");

    // A user token for a user who does not exist.
    let mut ghost = good.clone();
    ghost.scp = Some("User.ReadBasic.All".into());
    ghost.oid = "00000000-0000-4000-8000-000000000000".into();
    let a = s.get("/v1.0/users", &sign(&s, &ghost)).await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    s.stop().await;
}

// Multi-threaded, and each command waited for with `block_in_place`: the in-process server
// must keep running while a command writes to its database. On a current-thread runtime a
// server task that had begun a write transaction could not commit while the test thread sat
// blocked in `output()`, and the command's write then failed "database is locked" after the
// busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_commands_work_on_the_data_directory_and_print_the_secret_once() {
    let s = start().await;
    let dir = s.dir.path().to_path_buf();
    let run = |args: &[&str]| {
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new(env!("CARGO_BIN_EXE_callhook"))
                .args(args)
                .arg("--data-dir")
                .arg(&dir)
                .env("CALLHOOK_LOG", "warn")
                .output()
        })
        .expect("run callhook");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON output")
    };
    let t = run(&[
        "tenant",
        "create",
        "--id",
        "northwind",
        "--name",
        "Northwind",
    ]);
    assert_eq!(t["id"], "northwind");
    let tenants = run(&["tenant", "list"]);
    assert_eq!(tenants.as_array().unwrap().len(), 2);
    let app = run(&[
        "app",
        "create",
        "--tenant",
        "northwind",
        "--name",
        "reader",
        "--role",
        "CallRecords.Read.All",
    ]);
    let (id, secret) = (
        app["appId"].as_str().unwrap(),
        app["secretText"].as_str().unwrap(),
    );
    let listed = run(&["app", "list", "--tenant", "northwind"]);
    assert!(!listed.to_string().contains(secret));
    run(&[
        "app",
        "grant",
        "--tenant",
        "northwind",
        "--app",
        id,
        "CallRecord-PstnCalls.Read.All",
    ]);
    let revoked = run(&[
        "app",
        "revoke",
        "--tenant",
        "northwind",
        "--app",
        id,
        "CallRecords.Read.All",
    ]);
    assert_eq!(revoked["roles"], json!(["CallRecord-PstnCalls.Read.All"]));
    // The running server sees the command's changes.
    let token = s.token_for("northwind", id, secret).await;
    assert_eq!(
        s.get("/v1.0/communications/callRecords", &token)
            .await
            .status,
        403
    );
    let added = run(&["app", "secret", "add", "--tenant", "northwind", "--app", id]);
    let token = s
        .token_for("northwind", id, added["secretText"].as_str().unwrap())
        .await;
    s.get(
        "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
        &token,
    )
    .await
    .expect_status(200);
    // Bad input is an error exit, not a panic.
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_callhook"))
            .args([
                "app",
                "grant",
                "--tenant",
                "northwind",
                "--app",
                id,
                "Mail.Read",
            ])
            .arg("--data-dir")
            .arg(&dir)
            .output()
    })
    .expect("run callhook");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mail.Read"));
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn data_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut opts =
        callhook::server::ServeOptions::new("127.0.0.1:0".parse().unwrap(), data.clone());
    opts.tls = callhook::server::TlsMode::SelfSigned;
    let server = callhook::server::start(opts).await.unwrap();
    // A write makes sure the WAL files exist.
    let creds = read_credentials(&data);
    server
        .state
        .store
        .insert_tenant(&callhook_store::Tenant {
            id: "modes".into(),
            display_name: "modes".into(),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for f in [
        "callhook.db",
        "callhook.db-wal",
        "callhook.db-shm",
        "credentials.json",
        "tls/key.pem",
    ] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f} is {:o}", mode(&p));
        } else {
            assert!(f.ends_with("-wal") || f.ends_with("-shm"), "{f} missing");
        }
    }
    assert!(!format!("{creds:?}").contains(&creds.client_secret));
    assert!(!format!("{creds:?}").contains(&creds.ingest_key));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscriptions_to_metadata_link_local_or_private_addresses_are_refused() {
    let s = start().await;
    let token = s.token().await;
    let expiry = (chrono::Utc::now() + chrono::Duration::minutes(50))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://100.100.100.200/",
        "https://10.0.0.8/hook",
        "https://[fe80::1]/hook",
    ] {
        let resp = s
            .http
            .post(s.url("/v1.0/subscriptions"))
            .bearer_auth(&token)
            .json(&json!({
                "changeType": "created",
                "notificationUrl": url,
                "resource": "/communications/callRecords",
                "expirationDateTime": expiry,
            }))
            .send()
            .await
            .unwrap();
        let a = Answer::from(resp).await;
        assert_graph_error(&a, 400, "InvalidRequest");
        assert_eq!(a.message(), format!("Invalid notification url='{url}'."));
    }
    s.stop().await;
}
