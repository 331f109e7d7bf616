//! Everything in callhook that touches key material lives here, and nowhere else:
//! RSA signing keys and the JWTs they sign (access tokens and the `validationTokens` of rich
//! notifications), the encryption of rich notifications' resource data for a subscriber's
//! certificate (and its decryption, for receivers and tests), random secrets and their hashes,
//! HMAC sealing of opaque page tokens, and the self-signed TLS certificate of `--tls`.
//!
//! The primitives come from aws-lc-rs (constant-time); JWT encoding and verification
//! from `jsonwebtoken` on the same backend.

mod certificate;
mod issuer;
mod page_token;
mod rich;
mod secret;
mod signing;
mod tls;

pub use certificate::{
    thumbprint, CertificateError, EncryptionCertificate, MAX_ENCRYPTION_KEY_BITS,
    MIN_ENCRYPTION_KEY_BITS,
};
pub use issuer::{
    callhook_issuer, entra_v1_issuer, entra_v2_issuer, TokenForm, ENTRA_V1_HOST, ENTRA_V2_HOST,
};
pub use page_token::PageTokenSealer;
pub use rich::{
    decrypt_resource_data, encrypt_resource_data, encryption_cost, mint_validation_token,
    DecryptError, DecryptionKey, EncryptedContent, ValidationTokenClaims,
    GRAPH_CHANGE_TRACKING_APP_ID, VALIDATION_TOKEN_LIFETIME_SECS,
};
pub use secret::{hash_secret, random_secret, random_uuid, secrets_equal, verify_secret};
pub use signing::{KeySet, SigningKey, TokenError};
pub use tls::{generate_self_signed, SelfSignedCertificate};

/// A failure of the crypto backend itself (not of the caller's input).
#[derive(Debug, thiserror::Error)]
#[error("crypto backend failure: {0}")]
pub struct CryptoError(pub String);
