//! Fetching the signing keys from an OpenID configuration document (feature `fetch`).

use serde_json::Value;

use crate::ClientError;

/// What a validator needs from an OpenID provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenIdKeys {
    /// The configuration's `issuer` (Entra's common endpoint gives a `{tenantid}` pattern).
    pub issuer: String,
    pub jwks_uri: String,
    /// The JWKS document, for [`crate::TokenValidator::new`].
    pub jwks: String,
}

/// Reads the OpenID configuration at `openid_configuration_url` and then the JWKS it points to.
/// Cache the result: Entra rotates keys about daily, so refetch when a `kid` is unknown.
pub async fn fetch_openid_keys(
    http: &reqwest::Client,
    openid_configuration_url: &str,
) -> Result<OpenIdKeys, ClientError> {
    let config: Value = serde_json::from_str(&get_text(http, openid_configuration_url).await?)
        .map_err(|e| ClientError::Fetch(format!("the OpenID configuration is not JSON: {e}")))?;
    let field = |name: &str| {
        config
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ClientError::Fetch(format!("the OpenID configuration has no {name}")))
    };
    let issuer = field("issuer")?;
    let jwks_uri = field("jwks_uri")?;
    let jwks = get_text(http, &jwks_uri).await?;
    Ok(OpenIdKeys {
        issuer,
        jwks_uri,
        jwks,
    })
}

async fn get_text(http: &reqwest::Client, url: &str) -> Result<String, ClientError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| ClientError::Fetch(format!("GET {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ClientError::Fetch(format!("GET {url}: HTTP {status}")));
    }
    response
        .text()
        .await
        .map_err(|e| ClientError::Fetch(format!("GET {url}: {e}")))
}
