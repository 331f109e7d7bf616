//! The receiving end of Microsoft Graph change notifications, for a Rust webhook (and for
//! callhook's own tests): it works against Graph and against a callhook server alike.
//!
//! - [`handshake_response`]: answer the validation request (`?validationToken=…`) that Graph
//!   sends before it creates a subscription.
//! - [`ChangeNotificationCollection::from_slice`]: parse a delivery (`{"value":[…]}`, change or
//!   lifecycle notifications) into typed values; members this crate does not know are kept in
//!   `extra`.
//! - [`ChangeNotification::verify_client_state`]: constant-time check of `clientState`.
//! - [`TokenValidator`]: check the `validationTokens` of rich notifications against a JWKS
//!   document (RS256 only, known `kid`, issuer, audience, publisher, lifetime); with the `fetch`
//!   feature, [`fetch_openid_keys`] gets the JWKS from an OpenID configuration URL.
//! - [`DecryptionKeys`] / [`EncryptedContent::decrypt`]: verify `dataSignature` and decrypt
//!   `encryptedContent` into bytes, a `serde_json::Value` or any deserializable type.
//!
//! The crate does no I/O of its own except [`fetch_openid_keys`], so it fits any HTTP server.
//!
//! ```no_run
//! use callhook_client::{handshake_response, unix_now, ChangeNotificationCollection,
//!     DecryptionKeys, TokenValidator};
//!
//! fn on_post(query: &str, body: &[u8], validator: &TokenValidator, keys: &DecryptionKeys)
//!     -> Result<(u16, String), callhook_client::ClientError>
//! {
//!     if let Some(answer) = handshake_response(query) {
//!         return Ok((answer.status, answer.body));
//!     }
//!     let delivery = ChangeNotificationCollection::from_slice(body)?;
//!     validator.validate_collection(&delivery, unix_now())?;
//!     for item in &delivery.value {
//!         item.verify_client_state("my secret client state")?;
//!         if let Some(content) = &item.encrypted_content {
//!             let resource = keys.decrypt_json(content)?;
//!             println!("{resource}");
//!         }
//!     }
//!     Ok((202, String::new()))
//! }
//! ```

mod error;
#[cfg(feature = "fetch")]
mod fetch;
mod handshake;
mod keys;
mod payload;
mod tokens;

pub use callhook_crypto::{DecryptError, DecryptionKey, GRAPH_CHANGE_TRACKING_APP_ID};
pub use error::{ClientError, TokenRejection};
#[cfg(feature = "fetch")]
pub use fetch::{fetch_openid_keys, OpenIdKeys};
pub use handshake::{
    handshake_response, validation_token, validation_token_from_url, HandshakeResponse,
    VALIDATION_TOKEN_PARAM,
};
pub use keys::DecryptionKeys;
pub use payload::{
    ChangeNotification, ChangeNotificationCollection, ChangeType, EncryptedContent, LifecycleEvent,
    ResourceData,
};
pub use tokens::{
    TokenValidator, ValidationTokenClaims, DEFAULT_LEEWAY_SECS, ENTRA_OPENID_CONFIGURATION,
    ENTRA_V1_ISSUER, ENTRA_V2_ISSUER,
};

/// The current time in Unix seconds, for [`TokenValidator::validate`].
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
