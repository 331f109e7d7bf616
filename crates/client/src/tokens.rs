//! Validation of the `validationTokens` of rich notifications: JWTs signed by the identity
//! platform (Entra ID, or callhook) that prove the POST comes from Graph's change-tracking
//! service and is meant for this app.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ChangeNotificationCollection, ClientError, TokenRejection};
use callhook_crypto::GRAPH_CHANGE_TRACKING_APP_ID;

/// Issuer pattern of Entra v2.0 tokens; `{tenantid}` stands for the token's `tid`.
pub const ENTRA_V2_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
/// Issuer pattern of Entra v1.0 tokens.
pub const ENTRA_V1_ISSUER: &str = "https://sts.windows.net/{tenantid}/";
/// Entra's OpenID configuration for every tenant (its `issuer` is [`ENTRA_V2_ISSUER`]).
pub const ENTRA_OPENID_CONFIGURATION: &str =
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";

/// Clock skew tolerated on `exp` and `nbf` by default (the identity platform's usual 5 minutes).
pub const DEFAULT_LEEWAY_SECS: i64 = 300;

const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The claims of an accepted validation token. Both token versions fit: v2.0 names the
/// publisher `azp`, v1.0 names it `appid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationTokenClaims {
    pub aud: String,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Every other claim (`oid`, `sub`, `uti`, `azpacr`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Checks validation tokens against a JWKS document, the app ids of the receiver and the
/// accepted issuers. Only RS256 is accepted; `alg: none`, HMAC and every other algorithm are
/// refused before any key is looked at.
pub struct TokenValidator {
    keys: HashMap<String, DecodingKey>,
    audiences: Vec<String>,
    issuers: Vec<String>,
    leeway_secs: i64,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("TokenValidator")
            .field("kids", &kids)
            .field("audiences", &self.audiences)
            .field("issuers", &self.issuers)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl TokenValidator {
    /// `jwks_json` is the JWKS document (`{"keys":[…]}`) as fetched; `app_ids` the accepted
    /// audiences (the app's client id, or the subscriptions' `notificationUrlAppId`);
    /// `issuers` the accepted `iss` values, where `{tenantid}` matches the token's own `tid`.
    /// Keys that are not RSA signature keys are ignored.
    pub fn new(jwks_json: &str, app_ids: &[&str], issuers: &[&str]) -> Result<Self, ClientError> {
        if app_ids.is_empty() {
            return Err(ClientError::InvalidConfig("at least one app id is needed"));
        }
        if issuers.is_empty() {
            return Err(ClientError::InvalidConfig("at least one issuer is needed"));
        }
        Ok(Self {
            keys: parse_jwks(jwks_json)?,
            audiences: app_ids.iter().map(|s| s.to_string()).collect(),
            issuers: issuers.iter().map(|s| s.to_string()).collect(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        })
    }

    /// For tokens from Microsoft Entra ID (v1.0 and v2.0 issuers, any tenant).
    pub fn for_entra(jwks_json: &str, app_ids: &[&str]) -> Result<Self, ClientError> {
        Self::new(jwks_json, app_ids, &[ENTRA_V2_ISSUER, ENTRA_V1_ISSUER])
    }

    /// For tokens from a callhook server at `base_url` (issuer `{base_url}/{tenantid}/v2.0`).
    pub fn for_callhook(
        jwks_json: &str,
        app_ids: &[&str],
        base_url: &str,
    ) -> Result<Self, ClientError> {
        let issuer = format!(
            "{}/{TENANT_PLACEHOLDER}/v2.0",
            base_url.trim_end_matches('/')
        );
        Self::new(jwks_json, app_ids, &[issuer.as_str()])
    }

    /// Tolerated clock skew on `exp` and `nbf`, in seconds (default 300).
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway_secs = secs.max(0);
        self
    }

    /// Checks one token at `now` (Unix seconds; see [`crate::unix_now`]): algorithm, key,
    /// signature, lifetime, issuer, audience, and that the publisher is Graph change tracking
    /// (`azp` in v2.0 tokens, `appid` in v1.0 tokens).
    pub fn validate(&self, token: &str, now: i64) -> Result<ValidationTokenClaims, TokenRejection> {
        let header = decode_header(token)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| TokenRejection::Malformed("the header has no alg".into()))?;
        if alg != "RS256" {
            return Err(TokenRejection::UnsupportedAlgorithm(alg.to_string()));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenRejection::MissingKeyId)?;
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| TokenRejection::UnknownKey(kid.to_string()))?;

        let mut validation = Validation::new(Algorithm::RS256);
        // Claims are checked below, each with its own error and against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let claims = jsonwebtoken::decode::<Value>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                _ => TokenRejection::Malformed(e.to_string()),
            })?
            .claims;

        let exp = int_claim(&claims, "exp")?.ok_or(TokenRejection::MissingClaim("exp"))?;
        if now - self.leeway_secs >= exp {
            return Err(TokenRejection::Expired { exp, now });
        }
        if let Some(nbf) = int_claim(&claims, "nbf")? {
            if now + self.leeway_secs < nbf {
                return Err(TokenRejection::NotYetValid { nbf, now });
            }
        }

        let iss = str_claim(&claims, "iss")?.ok_or(TokenRejection::MissingClaim("iss"))?;
        let tid = str_claim(&claims, "tid")?;
        if !self.issuers.iter().any(|p| issuer_matches(p, iss, tid)) {
            return Err(TokenRejection::WrongIssuer(iss.to_string()));
        }

        let aud = audience(&claims)?;
        if !self.audiences.contains(&aud) {
            return Err(TokenRejection::WrongAudience(aud));
        }

        // Each version names the publisher in its own claim; reading the other one could let a
        // token of another publisher through.
        let publisher_claim = match str_claim(&claims, "ver")? {
            Some("1.0") => "appid",
            _ => "azp",
        };
        let publisher = str_claim(&claims, publisher_claim)?;
        if publisher != Some(GRAPH_CHANGE_TRACKING_APP_ID) {
            return Err(TokenRejection::WrongPublisher {
                expected: GRAPH_CHANGE_TRACKING_APP_ID.to_string(),
                found: publisher.map(str::to_string),
            });
        }

        serde_json::from_value(claims).map_err(|e| TokenRejection::Malformed(e.to_string()))
    }

    /// Checks a whole delivery: every token must be valid, and every tenant that has a rich
    /// item must be covered by a token of that tenant. A delivery without rich items and
    /// without tokens passes with no claims.
    pub fn validate_collection(
        &self,
        collection: &ChangeNotificationCollection,
        now: i64,
    ) -> Result<Vec<ValidationTokenClaims>, ClientError> {
        let tokens = collection.validation_tokens.as_deref().unwrap_or_default();
        if tokens.is_empty() {
            if collection.has_encrypted_content() {
                return Err(ClientError::MissingValidationTokens);
            }
            return Ok(Vec::new());
        }
        let claims = tokens
            .iter()
            .map(|t| self.validate(t, now))
            .collect::<Result<Vec<_>, _>>()?;
        for item in collection
            .value
            .iter()
            .filter(|n| n.encrypted_content.is_some())
        {
            let tenant = item
                .tenant_id
                .as_deref()
                .ok_or(ClientError::MissingTenantId)?;
            if !claims.iter().any(|c| c.tid.as_deref() == Some(tenant)) {
                return Err(ClientError::TenantNotCovered(tenant.to_string()));
            }
        }
        Ok(claims)
    }
}

/// The JOSE header, read before any library parsing so that `alg` values a JWT library does
/// not even model (such as `none`) get a precise refusal.
fn decode_header(token: &str) -> Result<Map<String, Value>, TokenRejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenRejection::Malformed("the header is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenRejection::Malformed("the header is not a JSON object".into()))
}

fn int_claim(claims: &Value, name: &'static str) -> Result<Option<i64>, TokenRejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| TokenRejection::Malformed(format!("{name} is not a number"))),
    }
}

fn str_claim<'a>(claims: &'a Value, name: &'static str) -> Result<Option<&'a str>, TokenRejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenRejection::Malformed(format!("{name} is not a string"))),
    }
}

/// `aud` as one string. JWTs may carry an array; validation tokens have exactly one audience,
/// so an array is accepted only with one element.
fn audience(claims: &Value) -> Result<String, TokenRejection> {
    match claims.get("aud") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 => a[0]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| TokenRejection::Malformed("aud is not a string".into())),
        Some(Value::Array(a)) => Err(TokenRejection::WrongAudience(
            serde_json::to_string(a).unwrap_or_default(),
        )),
        None | Some(Value::Null) => Err(TokenRejection::MissingClaim("aud")),
        Some(_) => Err(TokenRejection::Malformed("aud is not a string".into())),
    }
}

fn issuer_matches(pattern: &str, iss: &str, tid: Option<&str>) -> bool {
    match pattern.find(TENANT_PLACEHOLDER) {
        None => pattern == iss,
        Some(_) => match tid {
            // An empty tid would make the pattern match an issuer with no tenant at all.
            Some(tid) if !tid.is_empty() => pattern.replace(TENANT_PLACEHOLDER, tid) == iss,
            _ => false,
        },
    }
}

/// The RSA signature keys of a JWKS document by `kid`. Entries of other types or uses, or that
/// do not parse, are skipped: they could not verify an RS256 token anyway.
fn parse_jwks(jwks_json: &str) -> Result<HashMap<String, DecodingKey>, ClientError> {
    let doc: Value =
        serde_json::from_str(jwks_json).map_err(|e| ClientError::InvalidJwks(e.to_string()))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| ClientError::InvalidJwks("no \"keys\" array".into()))?;
    let mut keys = HashMap::new();
    for entry in entries {
        let declared = |name: &str| entry.get(name).and_then(Value::as_str);
        if declared("use").is_some_and(|u| u != "sig")
            || declared("alg").is_some_and(|a| a != "RS256")
        {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let (Some(kid), AlgorithmParameters::RSA(_)) = (jwk.common.key_id.clone(), &jwk.algorithm)
        else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.insert(kid, key);
        }
    }
    if keys.is_empty() {
        return Err(ClientError::InvalidJwks(
            "no RSA signature key with a kid".into(),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_patterns() {
        assert!(issuer_matches(
            ENTRA_V2_ISSUER,
            "https://login.microsoftonline.com/t1/v2.0",
            Some("t1")
        ));
        assert!(!issuer_matches(
            ENTRA_V2_ISSUER,
            "https://login.microsoftonline.com/t1/v2.0",
            Some("t2")
        ));
        assert!(!issuer_matches(
            ENTRA_V2_ISSUER,
            "https://login.microsoftonline.com//v2.0",
            Some("")
        ));
        assert!(issuer_matches("https://x/", "https://x/", None));
    }

    #[test]
    fn jwks_errors() {
        assert!(matches!(
            parse_jwks("nope"),
            Err(ClientError::InvalidJwks(_))
        ));
        assert!(matches!(
            parse_jwks(r#"{"keys":[]}"#),
            Err(ClientError::InvalidJwks(_))
        ));
        // An EC key is skipped, leaving nothing usable.
        let ec = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        assert!(matches!(parse_jwks(ec), Err(ClientError::InvalidJwks(_))));
    }

    #[test]
    fn malformed_tokens() {
        assert!(matches!(
            decode_header("a.b"),
            Err(TokenRejection::Malformed(_))
        ));
        assert!(matches!(
            decode_header("!!.b.c"),
            Err(TokenRejection::Malformed(_))
        ));
    }
}
