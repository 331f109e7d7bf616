//! App-only tokens for Graph: the client-credentials grant with a client secret or with a
//! certificate's client assertion (a JWT signed by the app's private key, as production Entra
//! apps use), cached until shortly before they expire.

use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::CollectError;

/// The scope of every app-only Graph token (callhook accepts exactly this one too).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// How the app proves who it is.
#[derive(Clone)]
pub enum Credential {
    Secret(String),
    /// An RSA private key (PKCS#8 or PKCS#1 PEM) and its certificate (DER), registered on the app.
    Certificate {
        key_pem: String,
        cert_der: Vec<u8>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(<redacted>)"),
            Self::Certificate { .. } => f.write_str("Certificate(<redacted>)"),
        }
    }
}

impl Credential {
    /// Reads a PEM file holding the certificate and its private key (or the key from `key_path`).
    pub fn certificate_from_files(
        cert_path: &std::path::Path,
        key_path: Option<&std::path::Path>,
    ) -> Result<Self, CollectError> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map_err(|e| CollectError::Config(format!("cannot read {}: {e}", p.display())))
        };
        let cert_text = read(cert_path)?;
        let key_pem = match key_path {
            Some(p) => read(p)?,
            None => cert_text.clone(),
        };
        let cert_der = pem_block(&cert_text, "CERTIFICATE").ok_or_else(|| {
            CollectError::Config(format!(
                "{} holds no PEM CERTIFICATE block",
                cert_path.display()
            ))
        })?;
        if !key_pem.contains("PRIVATE KEY-----") {
            return Err(CollectError::Config(
                "the certificate's private key (PEM) was not found; pass --certificate-key".into(),
            ));
        }
        Ok(Self::Certificate { key_pem, cert_der })
    }
}

/// The DER bytes of the first PEM block labelled `label`.
pub fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The signed JWT Entra expects as `client_assertion` (RFC 7523): issuer and subject the app,
/// audience the token endpoint, `x5t#S256` and `x5t` naming the certificate.
pub fn client_assertion(
    client_id: &str,
    token_url: &str,
    key_pem: &str,
    cert_der: &[u8],
    now: i64,
) -> Result<String, CollectError> {
    use aws_lc_rs::digest;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(b64(digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert_der,
    )
    .as_ref()));
    header.x5t_s256 = Some(b64(digest::digest(&digest::SHA256, cert_der).as_ref()));
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())
        .map_err(|e| CollectError::Config(format!("the certificate's private key: {e}")))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| CollectError::Config(format!("signing the client assertion: {e}")))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<i64>,
}

/// Gets and caches the app's token for one tenant.
pub struct TokenSource {
    pub token_url: String,
    pub client_id: String,
    credential: Credential,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub fn new(authority: &str, tenant_id: &str, client_id: &str, credential: Credential) -> Self {
        Self {
            token_url: format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client_id: client_id.to_string(),
            credential,
            cached: Mutex::new(None),
        }
    }

    /// A token valid for at least five more minutes.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, CollectError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.request(http).await?;
        let margin = Duration::from_secs(300).min(lifetime / 2);
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }

    /// Forgets the cached token (after a 401 from Graph).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self, http: &reqwest::Client) -> Result<(String, Duration), CollectError> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", GRAPH_SCOPE.to_string()),
        ];
        match &self.credential {
            Credential::Secret(s) => form.push(("client_secret", s.clone())),
            Credential::Certificate { key_pem, cert_der } => {
                let now = chrono::Utc::now().timestamp();
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    client_assertion(&self.client_id, &self.token_url, key_pem, cert_der, now)?,
                ));
            }
        }
        let resp = http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| CollectError::Unreachable {
                url: self.token_url.clone(),
                detail: crate::graph::error_chain(&e),
            })?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                CollectError::Auth(format!(
                    "the token endpoint {} answered {status} without a token: {e}",
                    self.token_url
                ))
            })?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600).max(60));
            return Ok((answer.access_token, lifetime));
        }
        let err: Option<TokenErrorAnswer> = serde_json::from_slice(&body).ok();
        Err(CollectError::Auth(describe_token_error(
            &self.token_url,
            status.as_u16(),
            err.as_ref(),
            &self.client_id,
        )))
    }
}

fn describe_token_error(
    url: &str,
    status: u16,
    err: Option<&TokenErrorAnswer>,
    client_id: &str,
) -> String {
    let Some(err) = err else {
        return format!("the token endpoint {url} answered {status} (not an OAuth error body: is --authority right?)");
    };
    // Entra's AADSTS codes for the usual mistakes, said in words.
    let hint = if err.error_codes.contains(&7000215) || err.error_codes.contains(&7000222) {
        "the client secret is wrong or expired"
    } else if err.error_codes.contains(&700016) {
        "no app with this client id in the tenant (check --client-id and --tenant)"
    } else if err.error_codes.contains(&90002) || err.error_codes.contains(&900023) {
        "the tenant does not exist (check --tenant)"
    } else if err.error == "invalid_client" {
        "the app's credentials were refused (client id, secret or certificate)"
    } else {
        "the token request was refused"
    };
    let first_line = err.error_description.lines().next().unwrap_or("");
    format!(
        "{hint}: {url} answered {status} {} for client {client_id}: {first_line}",
        err.error
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_assertion_is_an_rs256_jwt_for_the_token_endpoint_naming_the_certificate() {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec!["collector".into()])
            .and_then(|p| p.self_signed(&key))
            .expect("certificate");
        let jwt = client_assertion(
            "app-1",
            "https://login.example/t/oauth2/v2.0/token",
            &key.serialize_pem(),
            cert.der(),
            1_700_000_000,
        )
        .expect("assertion");
        let header = jsonwebtoken::decode_header(&jwt).expect("header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert!(header.x5t.is_some() && header.x5t_s256.is_some());
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://login.example/t/oauth2/v2.0/token"]);
        v.validate_exp = false;
        v.validate_nbf = false;
        let pubkey = jsonwebtoken::DecodingKey::from_rsa_der(key.public_key_raw());
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &pubkey, &v).expect("verifies");
        assert_eq!(data.claims["iss"], "app-1");
        assert_eq!(data.claims["sub"], "app-1");
    }

    #[test]
    fn token_errors_say_what_is_wrong() {
        let err = TokenErrorAnswer {
            error: "invalid_client".into(),
            error_description: "AADSTS7000215: Invalid client secret provided.\nTrace".into(),
            error_codes: vec![7000215],
        };
        let text = describe_token_error("https://x/token", 401, Some(&err), "c1");
        assert!(text.starts_with("the client secret is wrong"), "{text}");
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(!text.contains("Trace"), "{text}");
    }
}
