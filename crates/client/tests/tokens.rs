//! validationTokens: minted by callhook-crypto, checked by callhook-client.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use callhook_client::{
    ChangeNotificationCollection, ClientError, TokenRejection, TokenValidator,
    GRAPH_CHANGE_TRACKING_APP_ID,
};
use callhook_crypto::{
    mint_validation_token, SigningKey, TokenForm, ValidationTokenClaims,
    VALIDATION_TOKEN_LIFETIME_SECS,
};
use common::data;
use serde_json::{json, Value};

const BASE: &str = "https://callhook.test:8443";
const TENANT: &str = "9f4ebab6-520d-49c0-85cc-7b25c78d4a93";
const APP: &str = "925bff9f-f6e2-4a69-b858-f71ea2b9b6d0";
const NOW: i64 = 1_750_000_000;

fn jwks(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() }).to_string()
}

fn setup() -> (SigningKey, TokenValidator) {
    let key = SigningKey::generate("kid-1").unwrap();
    let validator = TokenValidator::for_callhook(&jwks(&[&key]), &[APP], BASE).unwrap();
    (key, validator)
}

fn claims() -> ValidationTokenClaims {
    ValidationTokenClaims::new(TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap()
}

fn encode_part(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn minted_token_validates_with_graphs_claims() {
    let (key, validator) = setup();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();

    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "kid-1");

    let c = validator.validate(&token, NOW + 60).unwrap();
    assert_eq!(c.aud, APP);
    assert_eq!(c.iss, format!("{BASE}/{TENANT}/v2.0"));
    assert_eq!(c.tid.as_deref(), Some(TENANT));
    assert_eq!(c.azp.as_deref(), Some(GRAPH_CHANGE_TRACKING_APP_ID));
    assert_eq!(c.ver.as_deref(), Some("2.0"));
    assert_eq!(c.iat, Some(NOW));
    assert_eq!(c.nbf, Some(NOW));
    assert_eq!(c.exp, NOW + VALIDATION_TOKEN_LIFETIME_SECS);
    assert_eq!(c.extra["azpacr"], "2");
    assert_eq!(c.extra["oid"], c.extra["sub"]);
    assert!(c.extra["uti"].as_str().is_some_and(|u| !u.is_empty()));

    // The claim names are exactly those of Graph's published v2 example.
    let published: Value = serde_json::from_str(&data("validation-token-claims-v2.json")).unwrap();
    let mut ours: Vec<String> = serde_json::to_value(claims())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    ours.sort();
    let mut theirs: Vec<String> = published
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !["aio", "rh"].contains(&k.as_str()))
        .cloned()
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn wrong_audience_is_refused() {
    let (key, _) = setup();
    let other_app = TokenValidator::for_callhook(&jwks(&[&key]), &["another-app"], BASE).unwrap();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    assert_eq!(
        other_app.validate(&token, NOW),
        Err(TokenRejection::WrongAudience(APP.into()))
    );
    // A validator that accepts several app ids takes any of them.
    let both = TokenValidator::for_callhook(&jwks(&[&key]), &["another-app", APP], BASE).unwrap();
    assert!(both.validate(&token, NOW).is_ok());
}

#[test]
fn wrong_publisher_is_refused() {
    let (key, validator) = setup();
    let mut c = claims();
    c.azp = APP.into();
    assert_eq!(
        validator.validate(&key.sign(&c).unwrap(), NOW),
        Err(TokenRejection::WrongPublisher {
            expected: GRAPH_CHANGE_TRACKING_APP_ID.into(),
            found: Some(APP.into())
        })
    );

    // A v2 token is judged by azp only: a right appid does not stand in for it.
    let mut v = serde_json::to_value(claims()).unwrap();
    v.as_object_mut().unwrap().remove("azp");
    v["appid"] = json!(GRAPH_CHANGE_TRACKING_APP_ID);
    assert!(matches!(
        validator.validate(&key.sign(&v).unwrap(), NOW),
        Err(TokenRejection::WrongPublisher { found: None, .. })
    ));
}

#[test]
fn wrong_issuer_is_refused() {
    let (key, _) = setup();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    let elsewhere =
        TokenValidator::for_callhook(&jwks(&[&key]), &[APP], "https://other.test").unwrap();
    assert_eq!(
        elsewhere.validate(&token, NOW),
        Err(TokenRejection::WrongIssuer(format!("{BASE}/{TENANT}/v2.0")))
    );
    // A fixed issuer for one tenant refuses another tenant's token.
    let one_tenant = TokenValidator::new(
        &jwks(&[&key]),
        &[APP],
        &[&format!("{BASE}/11111111-1111-1111-1111-111111111111/v2.0")],
    )
    .unwrap();
    assert!(matches!(
        one_tenant.validate(&token, NOW),
        Err(TokenRejection::WrongIssuer(_))
    ));
}

#[test]
fn lifetime_is_checked_with_a_small_leeway() {
    let (key, validator) = setup();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    let exp = NOW + VALIDATION_TOKEN_LIFETIME_SECS;
    assert!(validator.validate(&token, exp + 100).is_ok());
    assert_eq!(
        validator.validate(&token, exp + 301),
        Err(TokenRejection::Expired {
            exp,
            now: exp + 301
        })
    );
    let strict = validator.with_leeway(0);
    assert!(matches!(
        strict.validate(&token, exp),
        Err(TokenRejection::Expired { .. })
    ));
    assert_eq!(
        strict.validate(&token, NOW - 1),
        Err(TokenRejection::NotYetValid {
            nbf: NOW,
            now: NOW - 1
        })
    );
}

#[test]
fn unknown_or_wrong_key_is_refused() {
    let (_, validator) = setup();
    let stranger = SigningKey::generate("kid-2").unwrap();
    let token =
        mint_validation_token(&stranger, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    assert_eq!(
        validator.validate(&token, NOW),
        Err(TokenRejection::UnknownKey("kid-2".into()))
    );
    // A key that claims a known kid but is not that key.
    let impostor = SigningKey::generate("kid-1").unwrap();
    let token =
        mint_validation_token(&impostor, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    assert_eq!(
        validator.validate(&token, NOW),
        Err(TokenRejection::BadSignature)
    );
    // No kid at all.
    let (key, _) = setup();
    let signed = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    let mut parts: Vec<&str> = signed.split('.').collect();
    let no_kid = encode_part(&json!({"alg":"RS256","typ":"JWT"}));
    parts[0] = &no_kid;
    assert_eq!(
        validator.validate(&parts.join("."), NOW),
        Err(TokenRejection::MissingKeyId)
    );
}

#[test]
fn alg_none_and_hmac_tokens_are_refused() {
    let (key, validator) = setup();
    let body = encode_part(&serde_json::to_value(claims()).unwrap());
    let none = format!(
        "{}.{body}.",
        encode_part(&json!({"alg":"none","typ":"JWT","kid":"kid-1"}))
    );
    assert_eq!(
        validator.validate(&none, NOW),
        Err(TokenRejection::UnsupportedAlgorithm("none".into()))
    );

    // HS256 keyed with the public key's modulus: the classic key-confusion forgery.
    let n = key.public_jwk()["n"].as_str().unwrap().to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("kid-1".into());
    let hs = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        validator.validate(&hs, NOW),
        Err(TokenRejection::UnsupportedAlgorithm("HS256".into()))
    );

    assert!(matches!(
        validator.validate("not-a-jwt", NOW),
        Err(TokenRejection::Malformed(_))
    ));
}

#[test]
fn tampered_tokens_are_refused() {
    let (key, validator) = setup();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        validator.validate(&bad_sig, NOW),
        Err(TokenRejection::BadSignature)
    );

    let mut forged = claims();
    forged.aud = "attacker-app".into();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        encode_part(&serde_json::to_value(forged).unwrap()),
        parts[2]
    );
    assert_eq!(
        validator.validate(&swapped, NOW),
        Err(TokenRejection::BadSignature)
    );
}

#[test]
fn published_claim_sets_of_both_versions_validate_against_entra_issuers() {
    let key = SigningKey::generate("entra-kid").unwrap();
    for (file, app) in [
        (
            "validation-token-claims-v2.json",
            "925bff9f-f6e2-4a69-b858-f71ea2b9b6d0",
        ),
        (
            "validation-token-claims-v1.json",
            "8e460676-ae3f-4b1e-8790-ee0fb5d6148f",
        ),
    ] {
        let claims: Value = serde_json::from_str(&data(file)).unwrap();
        let validator = TokenValidator::for_entra(&jwks(&[&key]), &[app]).unwrap();
        let iat = claims["iat"].as_i64().unwrap();
        let token = key.sign(&claims).unwrap();
        let accepted = validator.validate(&token, iat + 60).unwrap();
        assert_eq!(accepted.tid, claims["tid"].as_str().map(str::to_string));

        // The v1 token names its publisher `appid`; a different one is refused.
        if claims["ver"] == "1.0" {
            let mut wrong = claims.clone();
            wrong["appid"] = json!(app);
            assert!(matches!(
                validator.validate(&key.sign(&wrong).unwrap(), iat + 60),
                Err(TokenRejection::WrongPublisher { .. })
            ));
        }
    }
}

/// callhook's Entra forms pass a receiver's Entra checks with only the key set changed: the
/// issuer of their version, `aud`, and the publisher claim of their version; the v1 form also
/// names the publisher in `azp`, which Microsoft's Java SDK reads whatever the version.
#[test]
fn entra_forms_pass_entra_checks() {
    let key = SigningKey::generate("kid-e").unwrap();
    let validator = TokenValidator::for_entra(&jwks(&[&key]), &[APP]).unwrap();
    for (form, iss, ver) in [
        (
            TokenForm::EntraV1,
            format!("https://sts.windows.net/{TENANT}/"),
            "1.0",
        ),
        (
            TokenForm::EntraV2,
            format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            "2.0",
        ),
    ] {
        let token = mint_validation_token(&key, form, BASE, TENANT, APP, NOW).unwrap();
        let c = validator.validate(&token, NOW + 60).unwrap();
        assert_eq!(c.iss, iss);
        assert_eq!(c.ver.as_deref(), Some(ver));
        assert_eq!(c.azp.as_deref(), Some(GRAPH_CHANGE_TRACKING_APP_ID));
        // The Node sample accepts only the v1 issuer.
        let node_sample = TokenValidator::new(
            &jwks(&[&key]),
            &[APP],
            &["https://sts.windows.net/{tenantid}/"],
        )
        .unwrap();
        assert_eq!(
            node_sample.validate(&token, NOW + 60).is_ok(),
            form == TokenForm::EntraV1
        );
    }
    // The callhook form is not Entra's.
    let own = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    assert!(matches!(
        validator.validate(&own, NOW + 60),
        Err(TokenRejection::WrongIssuer(_))
    ));
}

fn rich_delivery(tenant: &str, tokens: Option<Vec<String>>) -> ChangeNotificationCollection {
    let mut body: Value = serde_json::from_str(&data("notification-transcript-rich.json")).unwrap();
    body["value"][0]["tenantId"] = json!(tenant);
    body["validationTokens"] = json!(tokens);
    serde_json::from_value(body).unwrap()
}

#[test]
fn whole_deliveries_are_checked() {
    let (key, validator) = setup();
    let token = mint_validation_token(&key, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();

    let ok = rich_delivery(TENANT, Some(vec![token.clone()]));
    assert_eq!(validator.validate_collection(&ok, NOW).unwrap().len(), 1);

    assert_eq!(
        validator.validate_collection(&rich_delivery(TENANT, None), NOW),
        Err(ClientError::MissingValidationTokens)
    );
    assert_eq!(
        validator.validate_collection(&rich_delivery(TENANT, Some(vec![])), NOW),
        Err(ClientError::MissingValidationTokens)
    );
    assert_eq!(
        validator.validate_collection(
            &rich_delivery("other-tenant", Some(vec![token.clone()])),
            NOW
        ),
        Err(ClientError::TenantNotCovered("other-tenant".into()))
    );
    // One bad token spoils the whole POST.
    let stranger = SigningKey::generate("kid-9").unwrap();
    let bad =
        mint_validation_token(&stranger, TokenForm::Callhook, BASE, TENANT, APP, NOW).unwrap();
    assert_eq!(
        validator.validate_collection(&rich_delivery(TENANT, Some(vec![token, bad])), NOW),
        Err(ClientError::Token(TokenRejection::UnknownKey(
            "kid-9".into()
        )))
    );

    // Basic notifications carry no tokens and need none.
    let basic = ChangeNotificationCollection::from_slice(
        data("notification-callrecord-created.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(validator.validate_collection(&basic, NOW), Ok(vec![]));
}

#[test]
fn validator_configuration_errors() {
    let (key, _) = setup();
    assert_eq!(
        TokenValidator::new(&jwks(&[&key]), &[], &["x"]).unwrap_err(),
        ClientError::InvalidConfig("at least one app id is needed")
    );
    assert!(matches!(
        TokenValidator::for_entra("{}", &[APP]),
        Err(ClientError::InvalidJwks(_))
    ));
    // Keys published for encryption, or for another algorithm, are not used for signatures.
    let mut enc = key.public_jwk();
    enc["use"] = json!("enc");
    assert!(matches!(
        TokenValidator::for_entra(&json!({"keys":[enc]}).to_string(), &[APP]),
        Err(ClientError::InvalidJwks(_))
    ));
}

#[cfg(feature = "fetch")]
#[tokio::test]
async fn keys_are_fetched_from_an_openid_configuration() {
    use axum::routing::get;
    use axum::Json;

    let (key, _) = setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = json!({
        "issuer": format!("{base}/{{tenantid}}/v2.0"),
        "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
    });
    let keys: Value = serde_json::from_str(&jwks(&[&key])).unwrap();
    let app = axum::Router::new()
        .route(
            "/common/v2.0/.well-known/openid-configuration",
            get(move || async move { Json(config) }),
        )
        .route(
            "/common/discovery/v2.0/keys",
            get(move || async move { Json(keys) }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let fetched = callhook_client::fetch_openid_keys(
        &http,
        &format!("{base}/common/v2.0/.well-known/openid-configuration"),
    )
    .await
    .unwrap();
    assert_eq!(fetched.issuer, format!("{base}/{{tenantid}}/v2.0"));
    let validator = TokenValidator::new(&fetched.jwks, &[APP], &[&fetched.issuer]).unwrap();
    let token = mint_validation_token(&key, TokenForm::Callhook, &base, TENANT, APP, NOW).unwrap();
    assert!(validator.validate(&token, NOW).is_ok());

    let missing = callhook_client::fetch_openid_keys(&http, &format!("{base}/nope")).await;
    assert!(matches!(missing, Err(ClientError::Fetch(m)) if m.contains("404")));
    server.abort();
}
