use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::CryptoError;

fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError("system random source failed".into()))?;
    Ok(buf)
}

/// A fresh secret of `bytes` random bytes, base64url without padding.
pub fn random_secret(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError("system random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A random (version 4) UUID in its usual hyphenated lower-case form.
pub fn random_uuid() -> Result<String, CryptoError> {
    let mut b: [u8; 16] = random_bytes()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The stored form of a secret: `sha256$<salt>$<digest>`. Secrets callhook issues are
/// high-entropy random strings, so a salted SHA-256 is enough (no password stretching needed).
pub fn hash_secret(secret: &str) -> Result<String, CryptoError> {
    let salt = random_secret(16)?;
    Ok(format!("sha256${salt}${}", digest_hex(&salt, secret)))
}

/// Constant-time check of `secret` against a value made by [`hash_secret`].
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("sha256"), Some(salt), Some(expected)) => {
            secrets_equal(digest_hex(salt, secret).as_bytes(), expected.as_bytes())
        }
        _ => false,
    }
}

/// Constant-time equality of two byte strings.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn digest_hex(salt: &str, secret: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt.as_bytes());
    ctx.update(b"$");
    ctx.update(secret.as_bytes());
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_secret_verifies_only_the_original() {
        let stored = hash_secret("s3cret").unwrap();
        assert!(verify_secret("s3cret", &stored));
        assert!(!verify_secret("s3cret ", &stored));
        assert!(!verify_secret("s3cret", "garbage"));
        assert_ne!(stored, hash_secret("s3cret").unwrap(), "salted");
    }

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = random_uuid().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, random_uuid().unwrap());
    }
}
