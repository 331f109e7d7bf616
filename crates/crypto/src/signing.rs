use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CryptoError;

/// An RSA key that signs callhook's JWTs (RS256). Its `kid` names it in token headers and in
/// the JWKS document, so keys can be rotated while older tokens still verify.
pub struct SigningKey {
    kid: String,
    pkcs8_der: Vec<u8>,
    encoding: EncodingKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new 2,048-bit key.
    pub fn generate(kid: impl Into<String>) -> Result<Self, CryptoError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| CryptoError("RSA key generation failed".into()))?;
        let der = pair
            .as_der()
            .map_err(|_| CryptoError("PKCS#8 export failed".into()))?;
        Self::from_pkcs8(kid, der.as_ref())
    }

    /// A key from its unencrypted PKCS#8 DER form (as stored by [`SigningKey::pkcs8_der`]).
    pub fn from_pkcs8(kid: impl Into<String>, der: &[u8]) -> Result<Self, CryptoError> {
        let pair =
            KeyPair::from_pkcs8(der).map_err(|e| CryptoError(format!("bad signing key: {e}")))?;
        let public = pair.public_key();
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        let pem = pem_wrap("PRIVATE KEY", der);
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| CryptoError(format!("bad signing key: {e}")))?;
        Ok(Self {
            kid: kid.into(),
            pkcs8_der: der.to_vec(),
            encoding,
            modulus,
            exponent,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 DER, for the store.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// Signs `claims` as a compact JWT with `alg: RS256`, `typ: JWT` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, CryptoError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| CryptoError(format!("JWT signing failed: {e}")))
    }

    /// The public half as a JWK (RFC 7517), for a JWKS document.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.modulus),
            "e": URL_SAFE_NO_PAD.encode(&self.exponent),
        })
    }

    fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_rsa_raw_components(&self.modulus, &self.exponent)
    }
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Why a presented token was refused. The variants map to Graph's 401 messages in the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not yet valid")]
    NotYetValid,
    #[error("the token's audience is invalid")]
    WrongAudience,
    #[error("the token's algorithm is not accepted")]
    WrongAlgorithm,
}

/// The keys that verify tokens: every key callhook still honours, the newest signing.
pub struct KeySet {
    keys: Vec<SigningKey>,
    by_kid: HashMap<String, usize>,
}

impl KeySet {
    /// `keys` newest first; the first one signs.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Some(Self { keys, by_kid })
    }

    pub fn current(&self) -> &SigningKey {
        // `new` refuses an empty list.
        &self.keys[0]
    }

    /// The JWKS document (`{"keys":[…]}`) of every honoured key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() })
    }

    /// Verifies signature, that `aud` is one of `audiences`, and `exp`/`nbf` against `now`
    /// (Unix seconds, with `leeway_secs`), then returns the claims. `now` comes from the
    /// caller so a server with an adjustable clock judges lifetimes by that clock. Only RS256
    /// with a known `kid` is accepted (never `alg: none`).
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        audiences: &[&str],
        now: i64,
        leeway_secs: i64,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let idx = *self.by_kid.get(&kid).ok_or(TokenError::UnknownKey)?;
        let key = self.keys[idx].decoding_key();
        let mut validation = Validation::new(Algorithm::RS256);
        // Lifetimes are checked below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "aud"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature => TokenError::BadSignature,
                    K::InvalidAudience => TokenError::WrongAudience,
                    K::InvalidAlgorithm => TokenError::WrongAlgorithm,
                    _ => TokenError::Malformed,
                }
            })?;
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or(TokenError::Malformed)?;
        if now - leeway_secs >= exp {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or(TokenError::Malformed)?;
            if now + leeway_secs < nbf {
                return Err(TokenError::NotYetValid);
            }
        }
        serde_json::from_value(claims).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        aud: String,
        exp: u64,
        nbf: u64,
        tid: String,
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn at() -> i64 {
        now() as i64
    }

    #[test]
    fn signed_tokens_verify_and_tampering_is_caught() {
        let key = SigningKey::generate("k1").unwrap();
        let reloaded = SigningKey::from_pkcs8("k1", key.pkcs8_der()).unwrap();
        let set = KeySet::new(vec![reloaded]).unwrap();
        let claims = Claims {
            aud: "a".into(),
            exp: now() + 60,
            nbf: now() - 1,
            tid: "t".into(),
        };
        let token = key.sign(&claims).unwrap();
        assert_eq!(
            set.verify::<Claims>(&token, &["a"], at(), 0).unwrap(),
            claims
        );
        assert_eq!(
            set.verify::<Claims>(&token, &["b"], at(), 0),
            Err(TokenError::WrongAudience)
        );

        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let forged = Claims {
            tid: "other".into(),
            ..claims
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            set.verify::<Claims>(&parts.join("."), &["a"], at(), 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn expired_unknown_key_and_alg_none_are_refused() {
        let key = SigningKey::generate("k1").unwrap();
        let set = KeySet::new(vec![SigningKey::generate("k2").unwrap()]).unwrap();
        let claims = Claims {
            aud: "a".into(),
            exp: now() + 60,
            nbf: now(),
            tid: "t".into(),
        };
        assert_eq!(
            set.verify::<Claims>(&key.sign(&claims).unwrap(), &["a"], at(), 0),
            Err(TokenError::UnknownKey)
        );

        let own =
            KeySet::new(vec![SigningKey::from_pkcs8("k1", key.pkcs8_der()).unwrap()]).unwrap();
        let old = Claims {
            aud: "a".into(),
            exp: now() - 120,
            nbf: now() - 600,
            tid: "t".into(),
        };
        assert_eq!(
            own.verify::<Claims>(&key.sign(&old).unwrap(), &["a"], at(), 0),
            Err(TokenError::Expired)
        );

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let err = own
            .verify::<Claims>(&format!("{none_header}.{body}."), &["a"], at(), 0)
            .unwrap_err();
        assert!(matches!(
            err,
            TokenError::Malformed | TokenError::WrongAlgorithm
        ));
    }

    #[test]
    fn lifetimes_are_judged_by_the_callers_clock() {
        let key = SigningKey::generate("k1").unwrap();
        let set =
            KeySet::new(vec![SigningKey::from_pkcs8("k1", key.pkcs8_der()).unwrap()]).unwrap();
        let claims = Claims {
            aud: "a".into(),
            exp: now() + 60,
            nbf: now(),
            tid: "t".into(),
        };
        let token = key.sign(&claims).unwrap();
        assert!(set.verify::<Claims>(&token, &["a"], at(), 0).is_ok());
        assert_eq!(
            set.verify::<Claims>(&token, &["a"], at() + 3600, 0),
            Err(TokenError::Expired)
        );
        assert_eq!(
            set.verify::<Claims>(&token, &["a"], at() - 3600, 0),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn jwks_lists_public_parts_only() {
        let key = SigningKey::generate("k1").unwrap();
        let jwks = KeySet::new(vec![key]).unwrap().jwks();
        let k = &jwks["keys"][0];
        assert_eq!(k["kid"], "k1");
        assert_eq!(k["e"], "AQAB");
        assert!(k.get("d").is_none());
    }
}
