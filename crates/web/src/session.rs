//! Sign-in sessions without server-side state: the cookie is `session|expiry|nonce` sealed
//! with HMAC-SHA256 under the site's secret (kept in the database, so every node accepts every
//! node's cookies and a restart keeps people signed in), and a form's CSRF token is the
//! session's nonce sealed under another purpose. The cookie is `HttpOnly` and
//! `SameSite=Strict`; `Secure` on HTTPS.

use axum::http::{header, HeaderMap, HeaderValue};
use callhook_crypto::PageTokenSealer;
use chrono::{DateTime, Utc};

/// How sessions are made and checked for one site.
#[derive(Clone)]
pub struct Sessions {
    sealer: PageTokenSealer,
    cookie: &'static str,
    /// The path the cookie is sent for (the site's base).
    path: &'static str,
    secure: bool,
    lifetime: chrono::Duration,
}

/// A signed-in browser.
#[derive(Clone)]
pub struct Session {
    nonce: String,
    sealer: PageTokenSealer,
}

impl Sessions {
    /// `secret` keys the seals (at least 32 random bytes); `cookie` names the cookie, sent for
    /// `path` only; `secure` for sites served over HTTPS.
    pub fn new(secret: &[u8], cookie: &'static str, path: &'static str, secure: bool) -> Self {
        Self {
            sealer: PageTokenSealer::new(secret),
            cookie,
            path,
            secure,
            lifetime: chrono::Duration::hours(12),
        }
    }

    /// A new session and the `Set-Cookie` value that hands it to the browser.
    pub fn start(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Session, HeaderValue), callhook_crypto::CryptoError> {
        let nonce = callhook_crypto::random_secret(24)?;
        let expires = now + self.lifetime;
        let value = self
            .sealer
            .seal(format!("session|{}|{nonce}", expires.timestamp()).as_bytes());
        let cookie = format!(
            "{}={value}; Path={}; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.cookie,
            self.path,
            self.lifetime.num_seconds(),
            if self.secure { "; Secure" } else { "" }
        );
        let header = HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""));
        Ok((
            Session {
                nonce,
                sealer: self.sealer.clone(),
            },
            header,
        ))
    }

    /// The `Set-Cookie` value that signs the browser out.
    pub fn end(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0",
            self.cookie, self.path
        ))
        .unwrap_or(HeaderValue::from_static(""))
    }

    /// A token for the form shown before sign-in (the login form), valid for an hour: a login
    /// posted from another site has none.
    pub fn login_token(&self, now: DateTime<Utc>) -> String {
        let expires = now + chrono::Duration::hours(1);
        self.sealer
            .seal(format!("login|{}", expires.timestamp()).as_bytes())
    }

    /// Whether `token` is a login token of this site that has not expired.
    pub fn check_login_token(&self, token: &str, now: DateTime<Utc>) -> bool {
        let Some(payload) = self.sealer.open(token) else {
            return false;
        };
        let payload = String::from_utf8_lossy(&payload);
        payload
            .strip_prefix("login|")
            .and_then(|e| e.parse::<i64>().ok())
            .is_some_and(|expires| now.timestamp() < expires)
    }

    /// The session the request's cookie proves, if it is this site's, unaltered and unexpired.
    pub fn from_headers(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Session> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, v)| v)?;
        let payload = String::from_utf8(self.sealer.open(value)?).ok()?;
        let mut parts = payload.splitn(3, '|');
        if parts.next()? != "session" {
            return None;
        }
        let expires: i64 = parts.next()?.parse().ok()?;
        if now.timestamp() >= expires {
            return None;
        }
        Some(Session {
            nonce: parts.next()?.to_string(),
            sealer: self.sealer.clone(),
        })
    }
}

impl Session {
    /// The token this session's forms carry.
    pub fn csrf_token(&self) -> String {
        self.sealer.seal(format!("csrf|{}", self.nonce).as_bytes())
    }

    /// Whether `token` is this session's CSRF token.
    pub fn check_csrf(&self, token: &str) -> bool {
        self.sealer
            .open(token)
            .is_some_and(|p| p == format!("csrf|{}", self.nonce).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_cookie_proves_its_session_until_it_expires() {
        let s = Sessions::new(&[7; 32], "sid", "/ui", false);
        let now = Utc::now();
        let (session, set) = s.start(now).unwrap();
        assert!(set.to_str().unwrap().contains("HttpOnly; SameSite=Strict"));
        let again = s.from_headers(&cookie_header(&set), now).unwrap();
        assert!(again.check_csrf(&session.csrf_token()));
        assert!(s
            .from_headers(&cookie_header(&set), now + chrono::Duration::hours(13))
            .is_none());
        // Another site's secret, another session's token, a forged cookie: all refused.
        let other = Sessions::new(&[8; 32], "sid", "/ui", false);
        assert!(other.from_headers(&cookie_header(&set), now).is_none());
        let (second, _) = s.start(now).unwrap();
        assert!(!again.check_csrf(&second.csrf_token()));
        assert!(!again.check_csrf("x.y"));
        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_static("sid=c2Vzc2lvbnw5OTk5OTk5OTk5fGE.AAAA"),
        );
        assert!(s.from_headers(&forged, now).is_none());
        // A login token is no session's CSRF token, and runs out.
        let login = s.login_token(now);
        assert!(s.check_login_token(&login, now));
        assert!(!again.check_csrf(&login));
        assert!(!s.check_login_token(&login, now + chrono::Duration::hours(2)));
        assert!(!s.check_login_token(&session.csrf_token(), now));
    }
}
