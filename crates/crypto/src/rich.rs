//! Rich (encrypted) change notifications and their `validationTokens`, byte for byte as Graph
//! makes them: AES-CBC under a fresh key whose first 16 bytes are the IV, the key wrapped with
//! RSA-OAEP (SHA-1), and an HMAC-SHA256 of the raw ciphertext keyed with the same key.

use std::time::{Duration, Instant};

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::certificate::EncryptionCertificate;
use crate::{CryptoError, SigningKey, TokenForm};

/// Size of the per-notification AES key Graph uses (AES-256).
const CONTENT_KEY_LEN: usize = 32;
const IV_LEN: usize = 16;

/// Graph's `changeNotificationEncryptedContent`, with its wire names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedContent {
    /// Base64 of the AES-CBC ciphertext.
    pub data: String,
    /// Base64 of HMAC-SHA256 (keyed with the AES key) over the raw ciphertext.
    pub data_signature: String,
    /// Base64 of the AES key wrapped with RSA-OAEP (SHA-1) for the subscriber's certificate.
    pub data_key: String,
    /// The subscription's `encryptionCertificateId`, echoed.
    pub encryption_certificate_id: String,
    /// Upper-case hex SHA-1 of the certificate.
    pub encryption_certificate_thumbprint: String,
}

/// Encrypts one notification's resource data (the JSON of the resource) for `cert`.
/// Every call draws a fresh key, so two notifications never share a key or an IV.
pub fn encrypt_resource_data(
    cert: &EncryptionCertificate,
    certificate_id: &str,
    plaintext: &[u8],
) -> Result<EncryptedContent, CryptoError> {
    let mut key = [0u8; CONTENT_KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| CryptoError("system random source failed".into()))?;
    let ciphertext = aes_cbc_encrypt(&key, plaintext)?;
    let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &ciphertext);
    let wrapped = cert.wrap_key(&key)?;
    Ok(EncryptedContent {
        data: STANDARD.encode(&ciphertext),
        data_signature: STANDARD.encode(signature.as_ref()),
        data_key: STANDARD.encode(wrapped),
        encryption_certificate_id: certificate_id.to_string(),
        encryption_certificate_thumbprint: cert.thumbprint().to_string(),
    })
}

/// Average wall time of [`encrypt_resource_data`] for `plaintext` over `iterations` runs, for
/// callhook-bench's per-notification cost figures (not used by the server).
pub fn encryption_cost(
    cert: &EncryptionCertificate,
    plaintext: &[u8],
    iterations: u32,
) -> Result<Duration, CryptoError> {
    let runs = iterations.max(1);
    let start = Instant::now();
    for _ in 0..runs {
        encrypt_resource_data(cert, "bench", plaintext)?;
    }
    Ok(start.elapsed() / runs)
}

fn aes_cbc_encrypt(key: &[u8; CONTENT_KEY_LEN], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let fail = |_| CryptoError("AES-CBC encryption failed".into());
    let cipher =
        PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, key).map_err(fail)?)
            .map_err(fail)?;
    let iv = iv_of(key).ok_or_else(|| CryptoError("content key too short".into()))?;
    let mut buf = plaintext.to_vec();
    // Graph derives the IV from the key instead of drawing one; the key is never reused, so
    // the (key, IV) pair is still unique.
    cipher
        .less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(fail)?;
    Ok(buf)
}

fn iv_of(key: &[u8]) -> Option<[u8; IV_LEN]> {
    key.get(..IV_LEN)?.try_into().ok()
}

/// Why encrypted resource data could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "the private key is not an unencrypted RSA key in PKCS#8 form \
         (DER, or PEM \"PRIVATE KEY\")"
    )]
    InvalidPrivateKey,
    #[error("encryptedContent.{0} is not valid base64")]
    InvalidBase64(&'static str),
    #[error(
        "dataKey could not be decrypted with this private key \
         (another certificate's key, or not RSA-OAEP with SHA-1)"
    )]
    KeyUnwrap,
    #[error("the decrypted data key has {0} bytes, which is not an AES key length")]
    InvalidKeyLength(usize),
    #[error("dataSignature does not match the encrypted data: the content was altered")]
    SignatureMismatch,
    #[error("data could not be decrypted (bad length or padding)")]
    Decrypt,
}

/// An RSA private key that opens rich notifications encrypted for its certificate.
pub struct DecryptionKey {
    key: OaepPrivateDecryptingKey,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DecryptionKey")
            .field("bits", &self.key.key_size_bits())
            .finish_non_exhaustive()
    }
}

impl DecryptionKey {
    /// Loads an unencrypted PKCS#8 RSA key, as DER or as PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8(der_or_pem: &[u8]) -> Result<Self, DecryptError> {
        let der = pkcs8_der(der_or_pem)?;
        let key =
            PrivateDecryptingKey::from_pkcs8(&der).map_err(|_| DecryptError::InvalidPrivateKey)?;
        let key =
            OaepPrivateDecryptingKey::new(key).map_err(|_| DecryptError::InvalidPrivateKey)?;
        Ok(Self { key })
    }

    /// Size of the RSA modulus in bits.
    pub fn key_bits(&self) -> usize {
        self.key.key_size_bits()
    }

    /// Unwraps the key, checks `dataSignature` (before touching the ciphertext with AES), then
    /// decrypts `data`.
    pub fn decrypt(&self, content: &EncryptedContent) -> Result<Vec<u8>, DecryptError> {
        let wrapped = STANDARD
            .decode(&content.data_key)
            .map_err(|_| DecryptError::InvalidBase64("dataKey"))?;
        let mut key_buf = vec![0u8; self.key.min_output_size()];
        let key = self
            .key
            .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut key_buf, None)
            .map_err(|_| DecryptError::KeyUnwrap)?;
        let algorithm = match key.len() {
            16 => &AES_128,
            24 => &AES_192,
            32 => &AES_256,
            n => return Err(DecryptError::InvalidKeyLength(n)),
        };
        let ciphertext = STANDARD
            .decode(&content.data)
            .map_err(|_| DecryptError::InvalidBase64("data"))?;
        let signature = STANDARD
            .decode(&content.data_signature)
            .map_err(|_| DecryptError::InvalidBase64("dataSignature"))?;
        // hmac::verify compares in constant time.
        hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, key),
            &ciphertext,
            &signature,
        )
        .map_err(|_| DecryptError::SignatureMismatch)?;
        let iv = iv_of(key).ok_or(DecryptError::InvalidKeyLength(key.len()))?;
        let cipher = UnboundCipherKey::new(algorithm, key)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(|_| DecryptError::Decrypt)?;
        let mut buf = ciphertext;
        let len = cipher
            .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| DecryptError::Decrypt)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// Opens `content` with an unencrypted PKCS#8 RSA private key (DER or PEM). For many
/// notifications, load the key once with [`DecryptionKey::from_pkcs8`] instead.
pub fn decrypt_resource_data(
    private_key_pkcs8_der_or_pem: &[u8],
    content: &EncryptedContent,
) -> Result<Vec<u8>, DecryptError> {
    DecryptionKey::from_pkcs8(private_key_pkcs8_der_or_pem)?.decrypt(content)
}

fn pkcs8_der(der_or_pem: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let trimmed = der_or_pem.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(der_or_pem.to_vec());
    }
    let (label, der) =
        x509_cert::der::pem::decode_vec(trimmed).map_err(|_| DecryptError::InvalidPrivateKey)?;
    if label != "PRIVATE KEY" {
        return Err(DecryptError::InvalidPrivateKey);
    }
    Ok(der)
}

/// The app id of "Microsoft Graph Change Tracking", the publisher of change notifications: the
/// `azp` (v2) or `appid` (v1) claim of every `validationTokens` JWT.
pub const GRAPH_CHANGE_TRACKING_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";

/// Lifetime of a v2 validation token in Graph's published example (24 h 5 min).
pub const VALIDATION_TOKEN_LIFETIME_SECS: i64 = 86_700;

/// The claims of a `validationTokens` JWT, in the order of Graph's examples. Which optional
/// claims are present depends on the [`TokenForm`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationTokenClaims {
    /// The subscribing app's client id, or the subscription's `notificationUrlAppId`.
    pub aud: String,
    /// Entra's v1.0 or v2.0 issuer for the tenant, or callhook's own authority.
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// v1.0: always [`GRAPH_CHANGE_TRACKING_APP_ID`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// v1.0: `"2"`, the publisher authenticated with a certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    /// Always [`GRAPH_CHANGE_TRACKING_APP_ID`] (v1.0 tokens carry it too, for the Java SDK).
    pub azp: String,
    /// `"2"`: the publisher authenticated with a certificate.
    pub azpacr: String,
    /// v1.0: the identity provider, the tenant's v1.0 issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The publisher's service principal in the tenant (stable per tenant).
    pub oid: String,
    pub sub: String,
    pub tid: String,
    /// Unique token id.
    pub uti: String,
    pub ver: String,
}

impl ValidationTokenClaims {
    /// Graph's claims for notifications of `tenant_id` to the app `audience`, issued at `now`
    /// (Unix seconds, from the server's clock), in `form`. `base_url` is callhook's public base
    /// URL (the issuer of [`TokenForm::Callhook`]).
    pub fn new(
        form: TokenForm,
        base_url: &str,
        tenant_id: &str,
        audience: &str,
        now: i64,
    ) -> Result<Self, CryptoError> {
        let principal = publisher_principal_id(tenant_id);
        let v1 = form == TokenForm::EntraV1;
        let v1_only = |v: String| v1.then_some(v);
        Ok(Self {
            aud: audience.to_string(),
            iss: form.issuer(base_url, tenant_id),
            iat: now,
            nbf: now,
            exp: now + VALIDATION_TOKEN_LIFETIME_SECS,
            appid: v1_only(GRAPH_CHANGE_TRACKING_APP_ID.to_string()),
            appidacr: v1_only("2".to_string()),
            azp: GRAPH_CHANGE_TRACKING_APP_ID.to_string(),
            azpacr: "2".to_string(),
            idp: v1_only(crate::entra_v1_issuer(tenant_id)),
            oid: principal.clone(),
            sub: principal,
            tid: tenant_id.to_string(),
            uti: crate::random_secret(16)?,
            ver: form.version().to_string(),
        })
    }
}

/// Mints one `validationTokens` entry (RS256, `kid` of `key`) for the (app, tenant) pair.
pub fn mint_validation_token(
    key: &SigningKey,
    form: TokenForm,
    base_url: &str,
    tenant_id: &str,
    audience: &str,
    now: i64,
) -> Result<String, CryptoError> {
    key.sign(&ValidationTokenClaims::new(
        form, base_url, tenant_id, audience, now,
    )?)
}

/// A stable UUID-shaped id for the change-tracking service principal of `tenant_id`: in Entra
/// that object has one id per tenant, so `oid`/`sub` stay the same across tokens.
fn publisher_principal_id(tenant_id: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"callhook change-tracking principal\0");
    ctx.update(GRAPH_CHANGE_TRACKING_APP_ID.as_bytes());
    ctx.update(b"\0");
    ctx.update(tenant_id.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    // Mark it as a name-based (version 5 style) UUID.
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_id_is_stable_per_tenant() {
        let a = publisher_principal_id("t1");
        assert_eq!(a, publisher_principal_id("t1"));
        assert_ne!(a, publisher_principal_id("t2"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }

    #[test]
    fn claims_follow_graphs_v2_shape() {
        for (form, iss) in [
            (TokenForm::Callhook, "https://h:8443/tid-1/v2.0"),
            (
                TokenForm::EntraV2,
                "https://login.microsoftonline.com/tid-1/v2.0",
            ),
        ] {
            let c = ValidationTokenClaims::new(form, "https://h:8443/", "tid-1", "app-1", 1000)
                .unwrap();
            assert_eq!(c.iss, iss);
            assert_eq!(c.exp - c.iat, VALIDATION_TOKEN_LIFETIME_SECS);
            assert_eq!(c.azp, GRAPH_CHANGE_TRACKING_APP_ID);
            assert_eq!(c.azpacr, "2");
            assert_eq!(c.ver, "2.0");
            assert_eq!(c.oid, c.sub);
            assert_eq!((c.appid, c.appidacr, c.idp), (None, None, None));
        }
    }

    #[test]
    fn v1_claims_name_the_publisher_in_appid_and_azp() {
        let c = ValidationTokenClaims::new(TokenForm::EntraV1, "https://h", "tid-1", "app-1", 1000)
            .unwrap();
        assert_eq!(c.iss, "https://sts.windows.net/tid-1/");
        assert_eq!(c.ver, "1.0");
        assert_eq!(c.appid.as_deref(), Some(GRAPH_CHANGE_TRACKING_APP_ID));
        assert_eq!(c.appidacr.as_deref(), Some("2"));
        assert_eq!(c.azp, GRAPH_CHANGE_TRACKING_APP_ID);
        assert_eq!(c.idp.as_deref(), Some("https://sts.windows.net/tid-1/"));
    }

    #[test]
    fn pem_with_another_label_is_refused() {
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            DecryptionKey::from_pkcs8(pem).unwrap_err(),
            DecryptError::InvalidPrivateKey
        );
        assert_eq!(
            DecryptionKey::from_pkcs8(b"junk").unwrap_err(),
            DecryptError::InvalidPrivateKey
        );
    }
}
