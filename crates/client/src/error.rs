use callhook_crypto::DecryptError;

/// Why a validation token was refused. Any refusal means the POST should be treated as
/// suspicious as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted (only RS256 is)")]
    UnsupportedAlgorithm(String),
    #[error("the token has no kid header, so no signing key can be chosen")]
    MissingKeyId,
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("the token expired at {exp} (Unix time), now is {now}")]
    Expired { exp: i64, now: i64 },
    #[error("the token is not valid before {nbf} (Unix time), now is {now}")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("the token's issuer {0:?} is not an accepted issuer")]
    WrongIssuer(String),
    #[error("the token's audience {0:?} is not one of this app's ids")]
    WrongAudience(String),
    #[error(
        "the token was not issued for Microsoft Graph change tracking \
         (expected publisher {expected}, found {found:?})"
    )]
    WrongPublisher {
        expected: String,
        found: Option<String>,
    },
}

/// Everything that can go wrong while receiving a change notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("invalid notification payload: {0}")]
    InvalidPayload(String),
    #[error("clientState does not match the subscription's secret")]
    ClientStateMismatch,
    #[error("validation token refused: {0}")]
    Token(#[from] TokenRejection),
    #[error(
        "the payload carries encrypted content but no validationTokens \
         (in Entra, the Microsoft Graph Change Tracking service principal may lack access to the app)"
    )]
    MissingValidationTokens,
    #[error("a notification with encrypted content has no tenantId")]
    MissingTenantId,
    #[error("no validation token in the payload was issued for tenant {0}")]
    TenantNotCovered(String),
    #[error("invalid JWKS document: {0}")]
    InvalidJwks(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    #[error(
        "encryptedContent has no dataSignature: its integrity cannot be checked, \
         so it is not decrypted"
    )]
    MissingDataSignature,
    #[error("no decryption key for encryptionCertificateId {0:?}")]
    UnknownCertificate(Option<String>),
    #[error("cannot decrypt the resource data: {0}")]
    Decrypt(#[from] DecryptError),
    #[error("the decrypted resource data is not the expected JSON: {0}")]
    InvalidResourceData(String),
    #[error("fetching the signing keys failed: {0}")]
    Fetch(String),
}
