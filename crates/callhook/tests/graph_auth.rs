//! Bearer-token checks on the Graph routes, Graph's 401 body, and request ids.

mod common;

use callhook_api::auth::AccessClaims;
use common::*;
use serde_json::json;

const LIST: &str = "/v1.0/communications/callRecords";

/// Claims exactly like the server's own, for forging tokens.
fn claims_like(s: &TestServer, now: i64) -> AccessClaims {
    AccessClaims {
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

async fn assert_unauthenticated(s: &TestServer, token: Option<&str>) -> Answer {
    let mut req = s.http.get(s.url(LIST));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let a = Answer::from(req.send().await.expect("GET")).await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    assert!(!a.message().is_empty());
    a
}

#[tokio::test]
async fn missing_token_is_401_with_graph_error_body() {
    let s = start().await;
    let a = assert_unauthenticated(&s, None).await;
    assert!(a.header("www-authenticate").is_some());
    s.stop().await;
}

#[tokio::test]
async fn garbage_token_is_401() {
    let s = start().await;
    assert_unauthenticated(&s, Some("not.a.jwt")).await;
    assert_unauthenticated(&s, Some("garbage")).await;
    s.stop().await;
}

#[tokio::test]
async fn token_signed_by_another_key_is_401() {
    let s = start().await;
    let now = chrono::Utc::now().timestamp();
    let claims = claims_like(&s, now);
    // An unknown kid.
    let other = callhook_crypto::SigningKey::generate("someone-else").expect("key");
    assert_unauthenticated(&s, Some(&other.sign(&claims).expect("sign"))).await;
    // The server's kid, but another private key.
    let good = s.token().await;
    let (header, _) = jwt_parts(&good);
    let kid = header["kid"].as_str().expect("kid").to_string();
    let impostor = callhook_crypto::SigningKey::generate(kid).expect("key");
    let a = assert_unauthenticated(&s, Some(&impostor.sign(&claims).expect("sign"))).await;
    assert!(a.message().contains("signature"), "{}", a.message());
    s.stop().await;
}

#[tokio::test]
async fn alg_none_token_is_401() {
    let s = start().await;
    let good = s.token().await;
    let (mut header, payload) = jwt_parts(&good);
    header["alg"] = json!("none");
    let forged = format!(
        "{}.{}.",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(payload.to_string().as_bytes())
    );
    assert_unauthenticated(&s, Some(&forged)).await;
    // Same with the real signature left on.
    let sig = good.rsplit('.').next().expect("sig");
    assert_unauthenticated(&s, Some(&format!("{forged}{sig}"))).await;
    s.stop().await;
}

#[tokio::test]
async fn token_with_tampered_payload_is_401() {
    let s = start().await;
    let good = s.token().await;
    let parts: Vec<&str> = good.split('.').collect();
    let (_, mut payload) = jwt_parts(&good);
    payload["roles"] = json!(["CallRecords.Read.All", "Extra.Role"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url_encode(payload.to_string().as_bytes()),
        parts[2]
    );
    assert_unauthenticated(&s, Some(&forged)).await;
    s.stop().await;
}

#[tokio::test]
async fn token_is_refused_once_server_clock_passes_its_expiry() {
    let s = start().await;
    let token = s.token().await;
    s.get(LIST, &token).await.expect_status(200);
    s.server.state.clock.advance(chrono::Duration::hours(2));
    let a = assert_unauthenticated(&s, Some(&token)).await;
    assert!(a.message().contains("expired"), "{}", a.message());
    s.stop().await;
}

#[tokio::test]
async fn token_issued_after_server_clock_moved_forward_is_accepted() {
    let s = start().await;
    s.server.state.clock.advance(chrono::Duration::hours(1));
    let token = s.token().await;
    let a = s.get(LIST, &token).await;
    a.expect_status(200);
    s.stop().await;
}

#[tokio::test]
async fn expired_forged_token_signed_by_the_server_key_is_401() {
    // Independent of the server clock: a token whose exp is in the real past.
    let s = start().await;
    let now = chrono::Utc::now().timestamp();
    let mut claims = claims_like(&s, now - 7200);
    claims.exp = now - 3600;
    let token = s.server.state.keys().current().sign(&claims).expect("sign");
    let a = assert_unauthenticated(&s, Some(&token)).await;
    assert!(a.message().contains("expired"), "{}", a.message());
    s.stop().await;
}

#[tokio::test]
async fn client_request_id_is_echoed_in_header_and_error_body() {
    let s = start().await;
    let resp = s
        .http
        .get(s.url(LIST))
        .header("client-request-id", "my-correlation-42")
        .send()
        .await
        .expect("GET");
    let a = Answer::from(resp).await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    assert_eq!(a.header("client-request-id"), Some("my-correlation-42"));
    assert_eq!(
        a.json["error"]["innerError"]["client-request-id"],
        "my-correlation-42"
    );
    // And on a success.
    let token = s.token().await;
    let ok = s
        .get_with(LIST, &token, &[("client-request-id", "ok-77")])
        .await;
    ok.expect_status(200);
    assert_eq!(ok.header("client-request-id"), Some("ok-77"));
    s.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_header() {
    let s = start().await;
    let token = s.token().await;
    let id = uuid_like(0x4e9, 1);
    s.put_record(&id, &record(&id)).await.expect_status(201);
    let mut seen = Vec::new();
    for (path, tok) in [
        ("/healthz", ""),
        (LIST, token.as_str()),
        (LIST, ""),
        (
            "/v1.0/communications/callRecords/11111111-1111-1111-1111-111111111111",
            token.as_str(),
        ),
        ("/v1.0/foo", token.as_str()),
        ("/nope", ""),
        ("/ingest/v1/openapi.json", ""),
    ] {
        let a = s.get(path, tok).await;
        let rid = a
            .header("request-id")
            .unwrap_or_else(|| panic!("no request-id on {path} ({})", a.status))
            .to_string();
        assert!(!rid.is_empty());
        seen.push(rid);
    }
    let a = s
        .token_request(s.tenant(), &[("grant_type", "password")])
        .await;
    assert!(a.header("request-id").is_some(), "token endpoint error");
    let a = s.put_record(&id, &record(&id)).await;
    assert!(a.header("request-id").is_some(), "ingest");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        seen.len(),
        "request ids must be fresh per request"
    );
    s.stop().await;
}

/// A change to otherwise good claims, given the server's now.
type Edit = Box<dyn FnOnce(&mut AccessClaims, i64)>;

/// A token signed by the server's own key with `edit` applied to otherwise good claims.
async fn signed_with(s: &TestServer, edit: impl FnOnce(&mut AccessClaims, i64)) -> String {
    let now = s.server.state.clock.now().timestamp();
    let mut claims = claims_like(s, now);
    edit(&mut claims, now);
    s.server.state.keys().current().sign(&claims).expect("sign")
}

/// Defence in depth: a valid signature is not enough, the claims must be ones callhook issues.
#[tokio::test]
async fn signed_tokens_with_claims_callhook_never_issues_are_401() {
    let s = start().await;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "foreign issuer",
            Box::new(|c, _| c.iss = "https://evil.example/t/v2.0".into()),
            "Invalid issuer",
        ),
        (
            "issuer of another tenant",
            Box::new(|c, _| c.iss = "https://sts.windows.net/other-tenant/".into()),
            "Invalid issuer",
        ),
        (
            "iat in the future",
            Box::new(|c, now| c.iat = now + 3600),
            "not yet valid",
        ),
        (
            "nbf in the future beyond the skew (by a minute: the server reads its clock later than the test)",
            Box::new(|c, now| c.nbf = now + 360),
            "not yet valid",
        ),
        (
            "a 30,000-year lifetime",
            Box::new(|c, now| c.exp = now + 30_000 * 365 * 86_400),
            "maximum",
        ),
        (
            "25 hours",
            Box::new(|c, now| c.exp = now + 25 * 3600),
            "maximum",
        ),
        (
            "azp differs from appid",
            Box::new(|c, _| c.azp = "00000000-0000-0000-0000-000000000001".into()),
            "azp",
        ),
    ];
    for (what, edit, message) in cases {
        let token = signed_with(&s, edit).await;
        let a = assert_unauthenticated(&s, Some(&token)).await;
        assert!(a.message().contains(message), "{what}: {}", a.message());
    }
    s.stop().await;
}

/// Every issuer form callhook issues in is accepted whatever `--token-form` is, and a clock a
/// little behind the issuer's (several nodes) does not refuse a fresh token.
#[tokio::test]
async fn every_issuer_form_and_a_small_clock_skew_are_accepted() {
    let s = start().await;
    let tid = s.tenant().to_string();
    let base = s.base().to_string();
    for iss in [
        format!("https://sts.windows.net/{tid}/"),
        format!("https://login.microsoftonline.com/{tid}/v2.0"),
        format!("{base}/{tid}/v2.0"),
    ] {
        let token = signed_with(&s, |c, _| c.iss = iss.clone()).await;
        s.get(LIST, &token).await.expect_status(200);
    }
    let token = signed_with(&s, |c, now| {
        c.iat = now + 120;
        c.nbf = now + 120;
    })
    .await;
    s.get(LIST, &token).await.expect_status(200);
    let token = signed_with(&s, |c, now| c.exp = now + 24 * 3600).await;
    s.get(LIST, &token).await.expect_status(200);
    s.stop().await;
}
