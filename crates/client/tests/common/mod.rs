//! Helpers shared by the integration tests: certificates with RSA keys of a given size, and the
//! published test vector.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rcgen::{CertificateParams, KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm};
use serde_json::Value;

/// A self-signed certificate and its private key (PKCS#8 DER and PEM).
pub struct TestCert {
    pub cert_base64_der: String,
    pub key_pkcs8_der: Vec<u8>,
    pub key_pkcs8_pem: String,
}

pub fn rsa_cert(size: RsaKeySize) -> TestCert {
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).unwrap();
    let cert = CertificateParams::new(vec!["receiver.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    TestCert {
        cert_base64_der: STANDARD.encode(cert.der()),
        key_pkcs8_der: key.serialize_der(),
        key_pkcs8_pem: key.serialize_pem(),
    }
}

pub fn ec_cert_base64() -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec!["receiver.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    STANDARD.encode(cert.der())
}

/// An RSA public key with a modulus of exactly `bits` bits that no private key belongs to. It
/// is enough for the size checks, which read only the modulus, and avoids generating 1,024-bit
/// keys (aws-lc-rs refuses to) and 8,192-bit keys (slow).
struct SizedRsaPublicKey {
    pkcs1: Vec<u8>,
}

impl PublicKeyData for SizedRsaPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.pkcs1
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// A certificate (signed by a throwaway EC issuer) whose subject key is an RSA key of `bits`.
pub fn rsa_cert_with_modulus_bits(bits: usize) -> String {
    let bytes = bits.div_ceil(8);
    let mut modulus = vec![0x5Bu8; bytes];
    // Set the highest bit that belongs to the modulus so its length is exactly `bits`.
    let top_bits = bits - (bytes - 1) * 8;
    modulus[0] = (1u8 << (top_bits - 1)) | 0x01;
    modulus[bytes - 1] |= 0x01;
    // DER integers are signed: a leading zero only when the top bit is set.
    let mut n = if modulus[0] & 0x80 != 0 {
        vec![0x00]
    } else {
        vec![]
    };
    n.extend(modulus);
    let mut seq = der_tlv(0x02, &n);
    seq.extend(der_tlv(0x02, &[0x01, 0x00, 0x01]));
    let subject = SizedRsaPublicKey {
        pkcs1: der_tlv(0x30, &seq),
    };

    let issuer_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = CertificateParams::new(vec!["issuer.example".to_string()])
        .unwrap()
        .self_signed(&issuer_key)
        .unwrap();
    let cert = CertificateParams::new(vec!["receiver.example".to_string()])
        .unwrap()
        .signed_by(&subject, &issuer, &issuer_key)
        .unwrap();
    STANDARD.encode(cert.der())
}

pub fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn vector() -> Value {
    serde_json::from_str(&data("encryption-test-vector.json")).unwrap()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
