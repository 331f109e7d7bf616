//! The Entra-shaped token endpoint (`POST /{tenant}/oauth2/v2.0/token`: client credentials for
//! application tokens, the resource-owner password grant for delegated ones) and
//! the discovery documents (OpenID configuration, JWKS) that let standard clients use it.
//! Errors here use Entra's OAuth error shape, not Graph's, because OAuth clients parse that.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use crate::auth::AccessClaims;
use crate::AppState;

/// An OAuth 2.0 error answer as Entra ID writes it.
fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let ids = crate::context::current();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: {}",
            ids.request_id, ids.client_request_id, chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": ids.request_id,
        "correlation_id": ids.client_request_id,
    });
    (status, Json(body)).into_response()
}

fn invalid_request(code: u32, description: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        code,
        description,
    )
}

/// `client_secret_basic`: credentials in the Authorization header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((unescape(id), unescape(secret)))
}

/// The form fields of a token request; a repeated field keeps its first value.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

pub async fn issue_token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant.is_empty() {
        return invalid_request(
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    if grant != "client_credentials" && grant != "password" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. callhook issues tokens with the client_credentials and password grants only.",
        );
    }
    let (client_id, secret) = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => match basic_credentials(&headers) {
            Some(c) => c,
            None if form.contains_key("client_id") => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                )
            }
            None => return invalid_request(900144, "The request body must contain the following parameter: 'client_id'."),
        },
    };
    if grant == "password" {
        return password_grant(&state, &tenant, &headers, &form, &client_id, &secret).await;
    }
    let Some(scope) = form.get("scope") else {
        return invalid_request(
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let scope_ok = scope.split(' ').filter(|s| !s.is_empty()).all(|s| {
        matches!(
            s,
            "https://graph.microsoft.com/.default"
                | "https://graph.microsoft.com//.default"
                | "00000003-0000-0000-c000-000000000000/.default"
        )
    });
    if !scope_ok || scope.trim().is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let app = match authenticate_client(&state, &tenant, &client_id, &secret).await {
        Ok(app) => app,
        Err(resp) => return resp,
    };
    match mint_access_token(&state, &state.base_url(&headers), &app) {
        Ok((token, lifetime)) => Json(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }))
        .into_response(),
        Err(_) => crate::error::GraphError::internal().into_response(),
    }
}

/// The app registration of `client_id` in `tenant` if `secret` is one of its secrets; Entra's
/// error answer otherwise.
async fn authenticate_client(
    state: &AppState,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Result<callhook_store::App, Response> {
    let tenant_row = match state.store.tenant(tenant).await {
        Ok(t) => t,
        Err(_) => return Err(crate::error::GraphError::unavailable().into_response()),
    };
    if tenant_row.is_none() {
        return Err(invalid_request(90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")));
    }
    let app = match state.store.app(client_id).await {
        Ok(a) => a.filter(|a| a.tenant_id == tenant),
        Err(_) => return Err(crate::error::GraphError::unavailable().into_response()),
    };
    let Some(app) = app else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        ));
    };
    if !app
        .secret_hashes
        .iter()
        .any(|h| callhook_crypto::verify_secret(secret, h))
    {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
        ));
    }
    Ok(app)
}

/// Graph's resource prefixes a delegated scope may carry.
const GRAPH_RESOURCES: &[&str] = &[
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000/",
];

/// Sign-in scopes that ask for no Graph permission.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The resource-owner password grant, for delegated tokens of a tenant's sign-in users (the one
/// user flow that needs no browser, which suits local tests). The token's `scp` holds the
/// requested delegated permissions, each of which must have been consented for the app, or
/// every consented one for `…/.default`.
async fn password_grant(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    client_id: &str,
    secret: &str,
) -> Response {
    for field in ["username", "password", "scope"] {
        if form.get(field).is_none_or(|v| v.is_empty()) {
            return invalid_request(
                900144,
                &format!("The request body must contain the following parameter: '{field}'."),
            );
        }
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let app = match authenticate_client(state, tenant, client_id, secret).await {
        Ok(app) => app,
        Err(resp) => return resp,
    };
    let user = match state.store.sign_in_user(tenant, field("username")).await {
        Ok(u) => u.filter(|u| callhook_crypto::verify_secret(field("password"), &u.password_hash)),
        Err(_) => return crate::error::GraphError::unavailable().into_response(),
    };
    let Some(user) = user else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        );
    };
    let consented = match state.store.delegated_scopes(tenant, client_id).await {
        Ok(s) => s,
        Err(_) => return crate::error::GraphError::unavailable().into_response(),
    };
    let mut scopes: Vec<String> = Vec::new();
    for requested in field("scope").split(' ').filter(|s| !s.is_empty()) {
        if OIDC_SCOPES.contains(&requested) {
            continue;
        }
        let name = GRAPH_RESOURCES
            .iter()
            .find_map(|r| requested.strip_prefix(r))
            .unwrap_or(requested);
        if name == ".default" || name == "/.default" {
            scopes.extend(consented.iter().cloned());
            continue;
        }
        let Some(known) = crate::permissions::DELEGATED
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
        else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                650053,
                &format!("The application '{}' asked for scope '{name}' that doesn't exist on the resource '00000003-0000-0000-c000-000000000000'. Contact the app vendor.", app.display_name),
            );
        };
        if !consented.iter().any(|c| c == known) {
            return consent_required(&app);
        }
        scopes.push(known.to_string());
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return consent_required(&app);
    }
    match mint_user_token(state, &state.base_url(headers), &app, &user, &scopes) {
        Ok((token, lifetime)) => Json(json!({
            "token_type": "Bearer",
            "scope": scopes.iter().map(|s| format!("https://graph.microsoft.com/{s}")).collect::<Vec<_>>().join(" "),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }))
        .into_response(),
        Err(_) => crate::error::GraphError::internal().into_response(),
    }
}

fn consent_required(app: &callhook_store::App) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        65001,
        &format!("The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.", app.client_id, app.display_name),
    )
}

/// A signed delegated access token for `user` through `app`, and its lifetime in seconds.
pub fn mint_user_token(
    state: &AppState,
    base_url: &str,
    app: &callhook_store::App,
    user: &callhook_store::SignInUser,
    scopes: &[String],
) -> Result<(String, i64), callhook_crypto::CryptoError> {
    let now = state.clock.now().timestamp();
    let lifetime = state.config.token_lifetime_secs;
    let claims = AccessClaims {
        aud: "https://graph.microsoft.com".into(),
        iss: state.config.token_form.issuer(base_url, &app.tenant_id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        tid: app.tenant_id.clone(),
        appid: app.client_id.clone(),
        azp: app.client_id.clone(),
        app_displayname: Some(app.display_name.clone()),
        idtyp: Some("user".into()),
        oid: user.id.clone(),
        sub: user.id.clone(),
        roles: Vec::new(),
        scp: Some(scopes.join(" ")),
        upn: Some(user.user_principal_name.clone()),
        name: Some(user.display_name.clone()),
        uti: callhook_crypto::random_secret(16)?,
        ver: state.config.token_form.version().into(),
    };
    Ok((state.keys().current().sign(&claims)?, lifetime))
}

/// A signed application access token for `app`, and its lifetime in seconds.
pub fn mint_access_token(
    state: &AppState,
    base_url: &str,
    app: &callhook_store::App,
) -> Result<(String, i64), callhook_crypto::CryptoError> {
    let now = state.clock.now().timestamp();
    let lifetime = state.config.token_lifetime_secs;
    let claims = AccessClaims {
        aud: "https://graph.microsoft.com".into(),
        iss: state.config.token_form.issuer(base_url, &app.tenant_id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        tid: app.tenant_id.clone(),
        appid: app.client_id.clone(),
        azp: app.client_id.clone(),
        app_displayname: Some(app.display_name.clone()),
        idtyp: Some("app".into()),
        oid: app.client_id.clone(),
        sub: app.client_id.clone(),
        roles: app.roles.clone(),
        scp: None,
        upn: None,
        name: None,
        uti: callhook_crypto::random_secret(16)?,
        ver: state.config.token_form.version().into(),
    };
    Ok((state.keys().current().sign(&claims)?, lifetime))
}

/// Which of Entra's two discovery documents a path names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Discovery {
    /// `/{tenant}/.well-known/openid-configuration`, keys at `/{tenant}/discovery/keys`.
    V1,
    /// `/{tenant}/v2.0/.well-known/openid-configuration`, keys at `/{tenant}/discovery/v2.0/keys`.
    V2,
}

/// The `issuer` a discovery document names: that of the tokens callhook issues in its
/// `--token-form`, in the document's version as Entra writes it (`common` and the other
/// multi-tenant aliases get Entra's `{tenantid}` template).
fn discovery_issuer(state: &AppState, base: &str, tenant: &str, doc: Discovery) -> String {
    use callhook_crypto::TokenForm;
    let tenant = if matches!(tenant, "common" | "organizations" | "consumers") {
        "{tenantid}"
    } else {
        tenant
    };
    match (state.config.token_form, doc) {
        (TokenForm::Callhook, _) => callhook_crypto::callhook_issuer(base, tenant),
        (_, Discovery::V1) => callhook_crypto::entra_v1_issuer(tenant),
        (_, Discovery::V2) => callhook_crypto::entra_v2_issuer(tenant),
    }
}

fn configuration(state: &AppState, tenant: &str, headers: &HeaderMap, doc: Discovery) -> Response {
    let base = state.base_url(headers);
    let (oauth, keys) = match doc {
        Discovery::V1 => ("oauth2", "discovery/keys"),
        Discovery::V2 => ("oauth2/v2.0", "discovery/v2.0/keys"),
    };
    Json(json!({
        "issuer": discovery_issuer(state, &base, tenant, doc),
        "authorization_endpoint": format!("{base}/{tenant}/{oauth}/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/{keys}"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials", "password"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "azp", "appid", "roles", "ver"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "callhook.local",
    }))
    .into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (also `common`).
pub async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    configuration(&state, &tenant, &headers, Discovery::V2)
}

/// `GET /{tenant}/.well-known/openid-configuration`: Entra's v1.0 document, which .NET's
/// `AadIssuerValidator` reads for v1.0 tokens.
pub async fn openid_configuration_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    configuration(&state, &tenant, &headers, Discovery::V1)
}

/// The signing keys, at every path Entra publishes them (`/{tenant}/discovery/keys`,
/// `/{tenant}/discovery/v2.0/keys`, `common` included): a consumer changes only the host.
pub async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.keys().jwks()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any body parses to some form (first value of a repeated field wins), never panics.
        #[test]
        fn any_form_body_parses(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let form = parse_form(&body);
            // Every field came from a `&`-separated pair of the body.
            prop_assert!(form.len() <= body.split(|b| *b == b'&').count());
        }

        #[test]
        fn repeated_fields_keep_their_first_value(a in "[a-z0-9]{0,8}", b in "[a-z0-9]{0,8}") {
            let form = parse_form(format!("scope={a}&scope={b}").as_bytes());
            prop_assert_eq!(form.get("scope").map(String::as_str), Some(a.as_str()));
        }

        #[test]
        fn any_authorization_header_is_parsed_or_refused(value in ".{0,80}", encoded in prop::collection::vec(any::<u8>(), 0..60)) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(header::AUTHORIZATION, v);
                let _ = basic_credentials(&headers);
            }
            let v = format!("Basic {}", STANDARD.encode(&encoded));
            headers.insert(header::AUTHORIZATION, axum::http::HeaderValue::from_str(&v).unwrap());
            let parsed = basic_credentials(&headers);
            let text = String::from_utf8(encoded.clone());
            prop_assert_eq!(parsed.is_some(), text.map(|t| t.contains(':')).unwrap_or(false));
        }
    }
}
