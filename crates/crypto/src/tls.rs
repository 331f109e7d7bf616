use crate::CryptoError;

/// A self-signed certificate for `--tls`, valid for `localhost`, `127.0.0.1` and `::1`.
pub struct SelfSignedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates a self-signed server certificate for the given extra host names.
pub fn generate_self_signed(extra_hosts: &[String]) -> Result<SelfSignedCertificate, CryptoError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_hosts.iter().cloned());
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| CryptoError(format!("certificate generation failed: {e}")))?;
    Ok(SelfSignedCertificate {
        cert_pem: certified.cert.pem(),
        key_pem: certified.key_pair.serialize_pem(),
    })
}
