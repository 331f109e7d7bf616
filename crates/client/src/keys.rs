//! Private keys of the receiver's encryption certificates, chosen by `encryptionCertificateId`
//! so old and new certificates can both be honoured during a rotation.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ClientError, DecryptionKey, EncryptedContent};

/// The receiver's decryption keys, each labelled with the `encryptionCertificateId` its
/// subscriptions were created with.
#[derive(Debug, Default)]
pub struct DecryptionKeys {
    keys: Vec<(String, DecryptionKey)>,
}

impl DecryptionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the unencrypted PKCS#8 private key (DER or PEM) for `certificate_id`, replacing an
    /// earlier key with the same label.
    pub fn insert(
        &mut self,
        certificate_id: impl Into<String>,
        private_key_pkcs8: &[u8],
    ) -> Result<(), ClientError> {
        let id = certificate_id.into();
        let key = DecryptionKey::from_pkcs8(private_key_pkcs8)?;
        self.keys.retain(|(k, _)| *k != id);
        self.keys.push((id, key));
        Ok(())
    }

    /// Builder form of [`DecryptionKeys::insert`].
    pub fn with_key(
        mut self,
        certificate_id: impl Into<String>,
        private_key_pkcs8: &[u8],
    ) -> Result<Self, ClientError> {
        self.insert(certificate_id, private_key_pkcs8)?;
        Ok(self)
    }

    /// The key for `content.encryptionCertificateId`.
    pub fn key_for(&self, content: &EncryptedContent) -> Result<&DecryptionKey, ClientError> {
        let id = content.encryption_certificate_id.as_deref();
        self.keys
            .iter()
            .find(|(k, _)| Some(k.as_str()) == id)
            .map(|(_, key)| key)
            .ok_or_else(|| ClientError::UnknownCertificate(id.map(str::to_string)))
    }

    /// Checks `dataSignature` and decrypts with the key of the content's certificate.
    pub fn decrypt(&self, content: &EncryptedContent) -> Result<Vec<u8>, ClientError> {
        content.decrypt(self.key_for(content)?)
    }

    /// Decrypts and parses the resource JSON.
    pub fn decrypt_json(&self, content: &EncryptedContent) -> Result<Value, ClientError> {
        content.decrypt_json(self.key_for(content)?)
    }

    /// Decrypts and deserializes the resource into `T`.
    pub fn decrypt_as<T: DeserializeOwned>(
        &self,
        content: &EncryptedContent,
    ) -> Result<T, ClientError> {
        content.decrypt_as(self.key_for(content)?)
    }
}
