use aws_lc_rs::digest;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use x509_cert::der::asn1::UintRef;
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::spki::ObjectIdentifier;
use x509_cert::Certificate;

use crate::CryptoError;

/// Smallest and largest RSA modulus Graph accepts for `encryptionCertificate`.
pub const MIN_ENCRYPTION_KEY_BITS: usize = 2048;
pub const MAX_ENCRYPTION_KEY_BITS: usize = 4096;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// What Graph answers for a certificate it cannot read (docs-contrib #4898). The API layer uses
/// it for every variant that means "this is not a certificate at all".
const UNREADABLE: &str = "Certificate validation error: Cannot find the requested object.";

/// Why a subscription's `encryptionCertificate` was refused. `Display` is the message for the
/// `400 Bad Request` OData error body, so the API layer can use it as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The string is not standard base64.
    #[error("{}", UNREADABLE)]
    NotBase64,
    /// The bytes are not one DER-encoded X.509 certificate (a PEM text, a PKCS#12 file, …).
    #[error("{}", UNREADABLE)]
    NotX509,
    /// The certificate's key is not RSA (e.g. EC or Ed25519).
    #[error(
        "Certificate validation error: The certificate's public key is {algorithm}, not RSA. \
         Rich notifications need an RSA key of 2048 to 4096 bits."
    )]
    NotRsa { algorithm: String },
    /// An RSA key outside 2,048..=4,096 bits.
    #[error(
        "Certificate validation error: The certificate's RSA key has {bits} bits. \
         Rich notifications need an RSA key of 2048 to 4096 bits."
    )]
    KeySize { bits: usize },
    /// The key claims to be RSA but its parameters are unusable.
    #[error("Certificate validation error: The certificate's RSA public key is invalid.")]
    InvalidRsaKey,
}

/// A subscriber's `encryptionCertificate`: only its RSA public key and its thumbprint matter
/// (Graph checks neither the issuer nor the validity dates).
#[derive(Clone)]
pub struct EncryptionCertificate {
    der: Vec<u8>,
    thumbprint: String,
    key_bits: usize,
    key: PublicEncryptingKey,
}

impl std::fmt::Debug for EncryptionCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("key_bits", &self.key_bits)
            .finish_non_exhaustive()
    }
}

impl EncryptionCertificate {
    /// Parses the subscription property: base64 (standard alphabet) of the DER certificate.
    /// ASCII whitespace is ignored, as .NET's base64 decoder does.
    pub fn from_base64_der(value: &str) -> Result<Self, CertificateError> {
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| CertificateError::NotBase64)?;
        Self::from_der(&der)
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let cert = Certificate::from_der(der).map_err(|_| CertificateError::NotX509)?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(CertificateError::NotRsa {
                algorithm: algorithm_name(&spki.algorithm.oid),
            });
        }
        // Measure the modulus ourselves: aws-lc-rs refuses keys under 2,048 bits without
        // saying why, and accepts up to 8,192 bits, more than Graph does.
        let bits = rsa_modulus_bits(spki.subject_public_key.raw_bytes())
            .ok_or(CertificateError::InvalidRsaKey)?;
        if !(MIN_ENCRYPTION_KEY_BITS..=MAX_ENCRYPTION_KEY_BITS).contains(&bits) {
            return Err(CertificateError::KeySize { bits });
        }
        let spki_der = spki.to_der().map_err(|_| CertificateError::InvalidRsaKey)?;
        let key = PublicEncryptingKey::from_der(&spki_der)
            .map_err(|_| CertificateError::InvalidRsaKey)?;
        Ok(Self {
            der: der.to_vec(),
            thumbprint: thumbprint(der),
            key_bits: bits,
            key,
        })
    }

    /// Upper-case hex SHA-1 of the DER bytes, as Graph puts in `encryptionCertificateThumbprint`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Size of the RSA modulus in bits.
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }

    /// The certificate as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as Graph's subscription property (base64 of the DER).
    pub fn to_base64_der(&self) -> String {
        STANDARD.encode(&self.der)
    }

    /// Wraps a symmetric key with RSA-OAEP (SHA-1, MGF1-SHA-1, empty label), as Graph does.
    pub(crate) fn wrap_key(&self, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let oaep = OaepPublicEncryptingKey::new(self.key.clone())
            .map_err(|_| CryptoError("RSA-OAEP key setup failed".into()))?;
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let written = oaep
            .encrypt(&OAEP_SHA1_MGF1SHA1, key, &mut out, None)
            .map_err(|_| CryptoError("RSA-OAEP encryption failed".into()))?
            .len();
        out.truncate(written);
        Ok(out)
    }
}

/// Upper-case hex SHA-1 of `der`.
pub fn thumbprint(der: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Bit length of the modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { n INTEGER, e INTEGER }`).
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(pkcs1).ok()?;
    let bits = reader
        .sequence(|r| {
            let n = r.decode::<UintRef<'_>>()?;
            let _e = r.decode::<UintRef<'_>>()?;
            let bytes = n.as_bytes();
            Ok(match bytes.first() {
                Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
                None => 0,
            })
        })
        .ok()?;
    reader.finish(bits).ok()
}

/// A readable name for the key algorithms people most often send by mistake.
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC key".into(),
        "1.3.101.112" => "an Ed25519 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        "1.2.840.113549.1.1.10" => "an RSASSA-PSS key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_graphs_message() {
        let err = EncryptionCertificate::from_base64_der("not base64!").unwrap_err();
        assert_eq!(err, CertificateError::NotBase64);
        assert_eq!(err.to_string(), UNREADABLE);
        let err = EncryptionCertificate::from_base64_der("aGVsbG8=").unwrap_err();
        assert_eq!(err, CertificateError::NotX509);
        assert_eq!(
            EncryptionCertificate::from_base64_der("").unwrap_err(),
            CertificateError::NotX509
        );
    }

    #[test]
    fn modulus_bits_ignore_the_sign_byte() {
        // SEQUENCE { INTEGER 0x00C3 (a positive 8-bit number), INTEGER 3 }
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x07, 0x02, 0x02, 0x00, 0xC3, 0x02, 0x01, 0x03]),
            Some(8)
        );
        assert_eq!(rsa_modulus_bits(&[0x30, 0x00]), None);
        assert_eq!(rsa_modulus_bits(&[]), None);
    }
}
