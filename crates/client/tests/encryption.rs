//! Rich-notification encryption: the published test vector, round trips between
//! callhook-crypto (producer) and callhook-client (receiver), and the certificate rules.

mod common;

use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use callhook_client::{ClientError, DecryptError, DecryptionKey, DecryptionKeys, EncryptedContent};
use callhook_crypto::{encrypt_resource_data, thumbprint, CertificateError, EncryptionCertificate};
use common::*;
use rcgen::RsaKeySize;
use serde_json::Value;

const UNREADABLE: &str = "Certificate validation error: Cannot find the requested object.";

fn vector_content(v: &Value) -> EncryptedContent {
    serde_json::from_value(v["encryptedContent"].clone()).unwrap()
}

fn vector_key_pem(v: &Value) -> String {
    v["derived"]["privateKeyPkcs8Pem"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn published_vector_decrypts_to_the_exact_plaintext() {
    let v = vector();
    let content = vector_content(&v);
    let key = DecryptionKey::from_pkcs8(vector_key_pem(&v).as_bytes()).unwrap();
    assert_eq!(key.key_bits(), 4096);

    let plaintext = content.decrypt(&key).unwrap();
    let expected = v["expected"]["plaintext"].as_str().unwrap();
    assert_eq!(plaintext.len(), 1297);
    assert_eq!(std::str::from_utf8(&plaintext).unwrap(), expected);
    assert_eq!(
        sha256_hex(&plaintext),
        v["expected"]["plaintextSha256"].as_str().unwrap()
    );

    // The same through the key ring, chosen by the certificate id of the vector.
    let keys = DecryptionKeys::new()
        .with_key("custom-id-for-testing", vector_key_pem(&v).as_bytes())
        .unwrap();
    let json = keys.decrypt_json(&content).unwrap();
    assert_eq!(json["id"], "1625126194597");
    assert_eq!(json["body"]["content"], "Hello World");

    // And through callhook-crypto's one-shot function.
    let crypto_content: callhook_crypto::EncryptedContent =
        serde_json::from_value(v["encryptedContent"].clone()).unwrap();
    assert_eq!(
        callhook_crypto::decrypt_resource_data(vector_key_pem(&v).as_bytes(), &crypto_content)
            .unwrap(),
        plaintext
    );
}

#[test]
fn published_vector_confirms_the_algorithm_choices() {
    let v = vector();
    let content = vector_content(&v);
    let pem = vector_key_pem(&v);
    let der = x509_free_pem_body(&pem);
    let wrapped = STANDARD.decode(&content.data_key).unwrap();
    assert_eq!(wrapped.len(), 512);

    let private =
        || OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(&der).unwrap()).unwrap();
    let mut buf = vec![0u8; 512];
    // OAEP with SHA-256 does not open the key: Graph uses SHA-1.
    assert!(private()
        .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut buf, None)
        .is_err());
    let key = private()
        .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut buf, None)
        .unwrap()
        .to_vec();
    assert_eq!(key.len(), 32);
    assert_eq!(
        STANDARD.encode(&key),
        v["derived"]["symmetricKeyBase64"].as_str().unwrap()
    );

    // The HMAC is over the raw ciphertext, not over its base64 text.
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let raw = STANDARD.decode(&content.data).unwrap();
    assert_eq!(raw.len(), 1312);
    let over_raw = STANDARD.encode(aws_lc_rs::hmac::sign(&hmac_key, &raw).as_ref());
    let over_text =
        STANDARD.encode(aws_lc_rs::hmac::sign(&hmac_key, content.data.as_bytes()).as_ref());
    assert_eq!(Some(over_raw.as_str()), content.data_signature.as_deref());
    assert_ne!(Some(over_text.as_str()), content.data_signature.as_deref());
}

#[test]
fn published_certificate_thumbprint_matches() {
    let v = vector();
    let cert = EncryptionCertificate::from_base64_der(
        v["derived"]["certificateBase64Der"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        cert.thumbprint(),
        v["encryptedContent"]["encryptionCertificateThumbprint"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        cert.thumbprint(),
        "4B95353E086AD37196606ACF834A14532F03E6DB"
    );
    // An expired certificate is still used: Graph never checks validity dates.
    assert_eq!(cert.key_bits(), 4096);
}

#[test]
fn round_trip_with_the_published_4096_bit_key() {
    let v = vector();
    let cert = EncryptionCertificate::from_base64_der(
        v["derived"]["certificateBase64Der"].as_str().unwrap(),
    )
    .unwrap();
    let plaintext = br##"{"@odata.type":"#microsoft.graph.callevent","eventType":"callStarted"}"##;
    let sealed = encrypt_resource_data(&cert, "cert-4096", plaintext).unwrap();
    assert_eq!(STANDARD.decode(&sealed.data_key).unwrap().len(), 512);
    let key = DecryptionKey::from_pkcs8(vector_key_pem(&v).as_bytes()).unwrap();
    assert_eq!(
        EncryptedContent::from(sealed).decrypt(&key).unwrap(),
        plaintext
    );
}

#[test]
fn round_trip_2048_and_3072_with_graphs_exact_construction() {
    for (size, modulus_bytes) in [(RsaKeySize::_2048, 256), (RsaKeySize::_3072, 384)] {
        let t = rsa_cert(size);
        let cert = EncryptionCertificate::from_base64_der(&t.cert_base64_der).unwrap();
        assert_eq!(cert.key_bits(), modulus_bytes * 8);
        let plaintext = br#"{"id":"rec-1","version":3,"note":"\u00e9t\u00e9 \ud83d\udcde"}"#;
        let sealed = encrypt_resource_data(&cert, "my-cert-id", plaintext).unwrap();

        assert_eq!(sealed.encryption_certificate_id, "my-cert-id");
        assert_eq!(
            sealed.encryption_certificate_thumbprint,
            thumbprint(&STANDARD.decode(&t.cert_base64_der).unwrap())
        );
        assert_eq!(sealed.encryption_certificate_thumbprint.len(), 40);
        assert!(sealed
            .encryption_certificate_thumbprint
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));

        // Open it by hand, step by step as spec'd, without callhook's decrypt.
        let wrapped = STANDARD.decode(&sealed.data_key).unwrap();
        assert_eq!(wrapped.len(), modulus_bytes);
        let private = OaepPrivateDecryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(&t.key_pkcs8_der).unwrap(),
        )
        .unwrap();
        let mut buf = vec![0u8; modulus_bytes];
        let key = private
            .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut buf, None)
            .unwrap()
            .to_vec();
        assert_eq!(key.len(), 32);
        let ct = STANDARD.decode(&sealed.data).unwrap();
        assert_eq!(ct.len() % 16, 0);
        let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
        assert_eq!(
            STANDARD.encode(aws_lc_rs::hmac::sign(&hmac_key, &ct).as_ref()),
            sealed.data_signature
        );
        let aes =
            PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &key).unwrap())
                .unwrap();
        let iv: [u8; 16] = key[..16].try_into().unwrap();
        let mut in_out = ct.clone();
        let opened = aes
            .decrypt(&mut in_out, DecryptionContext::Iv128(FixedLength::from(iv)))
            .unwrap();
        assert_eq!(opened, plaintext);

        // And with the client, from the PEM and from the DER key.
        let received = EncryptedContent::from(sealed);
        for key in [t.key_pkcs8_pem.as_bytes(), &t.key_pkcs8_der[..]] {
            let keys = DecryptionKeys::new().with_key("my-cert-id", key).unwrap();
            assert_eq!(keys.decrypt(&received).unwrap(), plaintext);
        }
    }
}

#[test]
fn every_notification_gets_a_fresh_key() {
    let t = rsa_cert(RsaKeySize::_2048);
    let cert = EncryptionCertificate::from_base64_der(&t.cert_base64_der).unwrap();
    let a = encrypt_resource_data(&cert, "c", b"same payload").unwrap();
    let b = encrypt_resource_data(&cert, "c", b"same payload").unwrap();
    assert_ne!(a.data, b.data);
    assert_ne!(a.data_key, b.data_key);
    assert_ne!(a.data_signature, b.data_signature);
    let empty = encrypt_resource_data(&cert, "c", b"").unwrap();
    assert_eq!(STANDARD.decode(&empty.data).unwrap().len(), 16);
    let key = DecryptionKey::from_pkcs8(&t.key_pkcs8_der).unwrap();
    assert_eq!(EncryptedContent::from(empty).decrypt(&key).unwrap(), b"");
}

#[test]
fn tampering_is_caught_before_decryption() {
    let t = rsa_cert(RsaKeySize::_2048);
    let cert = EncryptionCertificate::from_base64_der(&t.cert_base64_der).unwrap();
    let sealed: EncryptedContent = encrypt_resource_data(&cert, "c", b"{\"a\":1}")
        .unwrap()
        .into();
    let key = DecryptionKey::from_pkcs8(&t.key_pkcs8_der).unwrap();

    let mut data = STANDARD.decode(&sealed.data).unwrap();
    data[3] ^= 0x01;
    let altered_data = EncryptedContent {
        data: STANDARD.encode(&data),
        ..sealed.clone()
    };
    assert_eq!(
        altered_data.decrypt(&key),
        Err(ClientError::Decrypt(DecryptError::SignatureMismatch))
    );

    let mut sig = STANDARD
        .decode(sealed.data_signature.as_deref().unwrap())
        .unwrap();
    sig[0] ^= 0x80;
    let altered_sig = EncryptedContent {
        data_signature: Some(STANDARD.encode(&sig)),
        ..sealed.clone()
    };
    assert_eq!(
        altered_sig.decrypt(&key),
        Err(ClientError::Decrypt(DecryptError::SignatureMismatch))
    );

    // A signature over the base64 text (a known mistake) is refused too.
    let mut text_sig = sealed.clone();
    text_sig.data_signature = Some(sealed.data.clone());
    assert_eq!(
        text_sig.decrypt(&key),
        Err(ClientError::Decrypt(DecryptError::SignatureMismatch))
    );

    let unsigned = EncryptedContent {
        data_signature: None,
        ..sealed.clone()
    };
    assert_eq!(
        unsigned.decrypt(&key),
        Err(ClientError::MissingDataSignature)
    );

    let not_base64 = EncryptedContent {
        data: "@@@".into(),
        ..sealed.clone()
    };
    assert_eq!(
        not_base64.decrypt(&key),
        Err(ClientError::Decrypt(DecryptError::InvalidBase64("data")))
    );

    let other = rsa_cert(RsaKeySize::_2048);
    let other_key = DecryptionKey::from_pkcs8(&other.key_pkcs8_der).unwrap();
    assert_eq!(
        sealed.decrypt(&other_key),
        Err(ClientError::Decrypt(DecryptError::KeyUnwrap))
    );

    let keys = DecryptionKeys::new()
        .with_key("another-id", &t.key_pkcs8_der)
        .unwrap();
    assert_eq!(
        keys.decrypt(&sealed),
        Err(ClientError::UnknownCertificate(Some("c".into())))
    );
    assert_eq!(
        DecryptionKeys::new()
            .with_key("x", b"not a key")
            .unwrap_err(),
        ClientError::Decrypt(DecryptError::InvalidPrivateKey)
    );
}

#[test]
fn decrypted_resource_can_be_typed() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Event {
        #[serde(rename = "eventType")]
        event_type: String,
    }
    let t = rsa_cert(RsaKeySize::_2048);
    let cert = EncryptionCertificate::from_base64_der(&t.cert_base64_der).unwrap();
    let key = DecryptionKey::from_pkcs8(t.key_pkcs8_pem.as_bytes()).unwrap();
    let sealed: EncryptedContent =
        encrypt_resource_data(&cert, "c", br#"{"eventType":"callEnded"}"#)
            .unwrap()
            .into();
    assert_eq!(
        sealed.decrypt_as::<Event>(&key).unwrap(),
        Event {
            event_type: "callEnded".into()
        }
    );
    let not_json: EncryptedContent = encrypt_resource_data(&cert, "c", b"not json")
        .unwrap()
        .into();
    assert!(matches!(
        not_json.decrypt_json(&key),
        Err(ClientError::InvalidResourceData(_))
    ));
}

#[test]
fn certificate_rules() {
    // Malformed base64 and things that are not a DER certificate: Graph's own message.
    for (input, expected) in [
        ("%%%not-base64", CertificateError::NotBase64),
        ("-----BEGIN CERTIFICATE-----", CertificateError::NotBase64),
        ("aGVsbG8gd29ybGQ=", CertificateError::NotX509),
        ("", CertificateError::NotX509),
    ] {
        let err = EncryptionCertificate::from_base64_der(input).unwrap_err();
        assert_eq!(err, expected, "{input}");
        assert_eq!(err.to_string(), UNREADABLE);
    }
    // A private key is not a certificate.
    let t = rsa_cert(RsaKeySize::_2048);
    assert_eq!(
        EncryptionCertificate::from_base64_der(&STANDARD.encode(&t.key_pkcs8_der)).unwrap_err(),
        CertificateError::NotX509
    );
    // Trailing bytes after the certificate are refused.
    let mut der = STANDARD.decode(&t.cert_base64_der).unwrap();
    der.push(0);
    assert_eq!(
        EncryptionCertificate::from_base64_der(&STANDARD.encode(&der)).unwrap_err(),
        CertificateError::NotX509
    );

    let ec = EncryptionCertificate::from_base64_der(&ec_cert_base64()).unwrap_err();
    assert_eq!(
        ec,
        CertificateError::NotRsa {
            algorithm: "an EC key".into()
        }
    );
    assert!(ec.to_string().starts_with("Certificate validation error: "));
    assert!(ec.to_string().contains("2048 to 4096 bits"));

    for bits in [1024, 2047, 4097, 8192] {
        let err =
            EncryptionCertificate::from_base64_der(&rsa_cert_with_modulus_bits(bits)).unwrap_err();
        assert_eq!(err, CertificateError::KeySize { bits });
        assert!(err.to_string().contains(&format!("{bits} bits")), "{err}");
    }

    // Accepted sizes; line-wrapped base64 (as in a PEM body) is accepted too.
    let c2048 = EncryptionCertificate::from_base64_der(&t.cert_base64_der).unwrap();
    assert_eq!(c2048.key_bits(), 2048);
    assert_eq!(c2048.to_base64_der(), t.cert_base64_der);
    let wrapped: String = t
        .cert_base64_der
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(
        EncryptionCertificate::from_base64_der(&wrapped)
            .unwrap()
            .thumbprint(),
        c2048.thumbprint()
    );
    let c3072 =
        EncryptionCertificate::from_base64_der(&rsa_cert(RsaKeySize::_3072).cert_base64_der)
            .unwrap();
    assert_eq!(c3072.key_bits(), 3072);
    let c4096 =
        EncryptionCertificate::from_base64_der(&rsa_cert(RsaKeySize::_4096).cert_base64_der)
            .unwrap();
    assert_eq!(c4096.key_bits(), 4096);
}

/// The DER inside a PEM block (test helper; the library has its own parser).
fn x509_free_pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}
