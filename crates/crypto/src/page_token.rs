use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Seals opaque paging state (`$skiptoken`) so a client can neither read it usefully nor forge it.
/// The token is `base64url(payload) . base64url(HMAC-SHA256(payload))`.
#[derive(Clone)]
pub struct PageTokenSealer {
    key: hmac::Key,
}

impl PageTokenSealer {
    /// A sealer keyed with the installation's page-token secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn seal(&self, payload: &[u8]) -> String {
        let tag = hmac::sign(&self.key, payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The payload of a token this sealer made, or `None` for anything else.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        let (body, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &payload, &tag).ok()?;
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_and_forgeries_do_not() {
        let s = PageTokenSealer::new(b"k1");
        let t = s.seal(b"{\"after\":5}");
        assert_eq!(s.open(&t).as_deref(), Some(&b"{\"after\":5}"[..]));
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"{\"after\":0}"),
            t.split_once('.').unwrap().1
        );
        assert!(s.open(&forged).is_none());
        assert!(PageTokenSealer::new(b"k2").open(&t).is_none());
        assert!(s.open("").is_none());
        assert!(s.open("..").is_none());
    }
}
