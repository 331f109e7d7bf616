//! The Entra-shaped token endpoint and its discovery documents.

mod common;

use common::*;

fn grant(creds: &callhook::Credentials) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", &creds.client_id),
        ("client_secret", &creds.client_secret),
        ("scope", GRAPH_SCOPE),
    ]
}

fn with<'a>(
    mut pairs: Vec<(&'a str, &'a str)>,
    key: &str,
    value: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let pos = pairs.iter().position(|(k, _)| *k == key);
    match (pos, value) {
        (Some(i), Some(v)) => pairs[i].1 = v,
        (Some(i), None) => {
            pairs.remove(i);
        }
        (None, _) => {}
    }
    pairs
}

#[tokio::test]
async fn client_credentials_grant_returns_a_bearer_jwt_with_app_claims() {
    let s = start().await;
    let a = s.token_request(s.tenant(), &grant(&s.creds)).await;
    a.expect_status(200);
    assert_eq!(a.json["token_type"], "Bearer");
    let expires = a.json["expires_in"]
        .as_i64()
        .expect("expires_in is a number");
    assert!(expires > 0 && expires <= 86_400, "expires_in {expires}");
    let token = a.json["access_token"].as_str().expect("access_token");
    let (header, payload) = jwt_parts(token);
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    assert_eq!(payload["tid"], s.creds.tenant_id.as_str());
    assert_eq!(payload["appid"], s.creds.client_id.as_str());
    assert_eq!(payload["azp"], s.creds.client_id.as_str());
    let roles = payload["roles"].as_array().expect("roles array");
    assert!(
        roles.iter().any(|r| r == "CallRecords.Read.All"),
        "{roles:?}"
    );
    let exp = payload["exp"].as_i64().expect("exp");
    let iat = payload["iat"].as_i64().expect("iat");
    assert_eq!(exp - iat, expires);
    s.stop().await;
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client() {
    let s = start().await;
    let a = s
        .token_request(
            s.tenant(),
            &with(grant(&s.creds), "client_secret", Some("not-the-secret")),
        )
        .await;
    a.expect_status(401);
    assert_eq!(a.json["error"], "invalid_client");
    assert!(a.json["error_description"]
        .as_str()
        .is_some_and(|d| d.starts_with("AADSTS")));
    assert!(a.json["error_codes"].is_array());
    s.stop().await;
}

#[tokio::test]
async fn unknown_client_id_is_refused() {
    let s = start().await;
    let unknown = uuid_like(0xdead, 1);
    let a = s
        .token_request(
            s.tenant(),
            &with(grant(&s.creds), "client_id", Some(&unknown)),
        )
        .await;
    assert!(a.status.is_client_error(), "{}", a.text);
    assert_eq!(a.json["error"], "unauthorized_client", "{}", a.text);
    assert!(a.text.contains(&unknown));
    assert!(a.json.get("access_token").is_none());
    s.stop().await;
}

#[tokio::test]
async fn grant_other_than_client_credentials_or_password_is_400_unsupported_grant_type() {
    let s = start().await;
    let a = s
        .token_request(
            s.tenant(),
            &with(grant(&s.creds), "grant_type", Some("authorization_code")),
        )
        .await;
    a.expect_status(400);
    assert_eq!(a.json["error"], "unsupported_grant_type");
    // The password grant (delegated tokens) needs a user name and password.
    let a = s
        .token_request(
            s.tenant(),
            &with(grant(&s.creds), "grant_type", Some("password")),
        )
        .await;
    a.expect_status(400);
    assert_eq!(a.json["error"], "invalid_request");
    assert_eq!(a.json["error_codes"], serde_json::json!([900144]));
    s.stop().await;
}

#[tokio::test]
async fn missing_scope_is_400_invalid_request() {
    let s = start().await;
    let a = s
        .token_request(s.tenant(), &with(grant(&s.creds), "scope", None))
        .await;
    a.expect_status(400);
    assert_eq!(a.json["error"], "invalid_request");
    assert!(a.json["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("'scope'"));
    s.stop().await;
}

#[tokio::test]
async fn scope_without_default_suffix_is_400_invalid_scope() {
    let s = start().await;
    for bad in [
        "https://graph.microsoft.com/CallRecords.Read.All",
        "https://example.com/.default",
        " ",
    ] {
        let a = s
            .token_request(s.tenant(), &with(grant(&s.creds), "scope", Some(bad)))
            .await;
        a.expect_status(400);
        assert_eq!(
            a.json["error"], "invalid_scope",
            "scope {bad:?}: {}",
            a.text
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn unknown_tenant_is_refused_with_aadsts90002() {
    let s = start().await;
    let tenant = uuid_like(0xbeef, 7);
    let a = s.token_request(&tenant, &grant(&s.creds)).await;
    a.expect_status(400);
    assert_eq!(a.json["error"], "invalid_request");
    assert_eq!(a.json["error_codes"][0], 90002);
    assert!(a.text.contains(&tenant));
    s.stop().await;
}

#[tokio::test]
async fn client_secret_basic_authentication_works() {
    let s = start().await;
    let basic = b64_std(format!("{}:{}", s.creds.client_id, s.creds.client_secret).as_bytes());
    let resp = s
        .http
        .post(s.token_url(s.tenant()))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_SCOPE),
        ]))
        .send()
        .await
        .expect("token request");
    let a = Answer::from(resp).await;
    a.expect_status(200);
    let token = a.json["access_token"].as_str().expect("token");
    // The token is good for Graph.
    s.get("/v1.0/communications/callRecords", token)
        .await
        .expect_status(200);
    s.stop().await;
}

#[tokio::test]
async fn discovery_documents_exist_and_jwks_kid_matches_the_token_kid() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    let conf = Answer::from(
        s.http
            .get(format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration",
                s.base()
            ))
            .send()
            .await
            .expect("openid configuration"),
    )
    .await;
    conf.expect_status(200);
    assert_eq!(conf.json["token_endpoint"], s.token_url(&tenant).as_str());
    let jwks_uri = conf.json["jwks_uri"]
        .as_str()
        .expect("jwks_uri")
        .to_string();
    let jwks = Answer::from(s.http.get(&jwks_uri).send().await.expect("jwks")).await;
    jwks.expect_status(200);
    let keys = jwks.json["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert!(k["n"].is_string() && k["e"].is_string());
    }
    let token = s.token().await;
    let (header, payload) = jwt_parts(&token);
    assert!(
        keys.iter().any(|k| k["kid"] == header["kid"]),
        "token kid {} not in JWKS {}",
        header["kid"],
        jwks.text
    );
    // Access tokens are v1.0 tokens, as Entra issues them for Graph: the v1.0 document names
    // their issuer; the v2.0 document names Entra's v2.0 issuer, as Entra's does.
    assert_eq!(payload["ver"], "1.0");
    assert_eq!(
        conf.json["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    let v1 = Answer::from(
        s.http
            .get(format!(
                "{}/{tenant}/.well-known/openid-configuration",
                s.base()
            ))
            .send()
            .await
            .expect("v1 openid configuration"),
    )
    .await;
    v1.expect_status(200);
    assert_eq!(payload["iss"], v1.json["issuer"]);
    assert_eq!(
        v1.json["jwks_uri"],
        format!("{}/{tenant}/discovery/keys", s.base())
    );
    s.stop().await;
}

/// Entra's key and discovery paths under callhook, so a consumer changes only the host it
/// fetches keys from.
#[tokio::test]
async fn keys_and_discovery_are_served_at_entras_paths() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    let reference = Answer::from(
        s.http
            .get(format!("{}/{tenant}/discovery/v2.0/keys", s.base()))
            .send()
            .await
            .expect("keys"),
    )
    .await;
    for path in [
        "/common/discovery/keys".to_string(),
        "/common/discovery/v2.0/keys".to_string(),
        format!("/{tenant}/discovery/keys"),
    ] {
        let a = Answer::from(s.http.get(s.url(&path)).send().await.expect("keys")).await;
        a.expect_status(200);
        assert_eq!(a.json, reference.json, "{path}");
    }
    let common = Answer::from(
        s.http
            .get(s.url("/common/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .expect("common configuration"),
    )
    .await;
    common.expect_status(200);
    assert_eq!(
        common.json["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    assert_eq!(
        common.json["jwks_uri"],
        format!("{}/common/discovery/v2.0/keys", s.base())
    );
    // The .NET SDK's default is Entra's v1.0 common document.
    let v1 = Answer::from(
        s.http
            .get(s.url("/common/.well-known/openid-configuration"))
            .send()
            .await
            .expect("common v1 configuration"),
    )
    .await;
    v1.expect_status(200);
    assert_eq!(v1.json["issuer"], "https://sts.windows.net/{tenantid}/");
    assert_eq!(
        v1.json["jwks_uri"],
        format!("{}/common/discovery/keys", s.base())
    );
    s.stop().await;
}
