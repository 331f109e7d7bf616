//! The outgoing HTTP client for validation requests and deliveries, and the rule for which
//! notification URLs callhook will call.

use std::net::IpAddr;

use crate::{NotifyConfig, NotifyError};

/// Builds the webhook client: no redirects followed, no proxy, the extra CA if configured.
/// Per-request timeouts are set by the callers (3 s, 10 s, …).
pub fn webhook_client(config: &NotifyConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(16)
        .user_agent(concat!("callhook/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.webhook_ca {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read --webhook-ca {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("--webhook-ca {} is not PEM: {e}", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// Whether `host` is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Checks a notification or lifecycle URL as Graph does, with callhook's one allowance:
/// `http://` to a loopback host (unless `strict_https`). `field` names the property in
/// messages (`NotificationUrl` or `LifecycleNotificationUrl`).
pub fn check_url(raw: &str, field: &str, config: &NotifyConfig) -> Result<url::Url, NotifyError> {
    let invalid = || {
        let what = if field == "NotificationUrl" {
            "notification"
        } else {
            "lifecycle notification"
        };
        NotifyError::invalid_request(format!("Invalid {what} url='{raw}'."))
    };
    // WHATWG parsing would turn `https:////host` into `https://host`; Graph refuses an empty
    // authority, and so does callhook.
    let authority = raw.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if authority.is_empty() || authority.starts_with('/') {
        return Err(invalid());
    }
    let url = url::Url::parse(raw).map_err(|_| invalid())?;
    let host = url.host().ok_or_else(invalid)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid());
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if !config.strict_https && is_loopback_host(&host) => Ok(url),
        scheme => Err(NotifyError::invalid_request(format!(
            "{field} scheme='{scheme}' is not supported."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_allowed_for_loopback_only_and_never_when_strict() {
        let c = NotifyConfig::default();
        assert!(check_url("https://example.com/hook", "NotificationUrl", &c).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook?x=1", "NotificationUrl", &c).is_ok());
        assert!(check_url("http://localhost/hook", "NotificationUrl", &c).is_ok());
        assert!(check_url("http://[::1]:8/hook", "NotificationUrl", &c).is_ok());
        let e = check_url("http://example.com/hook", "NotificationUrl", &c).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (
                400,
                "InvalidRequest",
                "NotificationUrl scheme='http' is not supported."
            )
        );
        let strict = NotifyConfig {
            strict_https: true,
            ..c.clone()
        };
        assert!(check_url("http://127.0.0.1/hook", "NotificationUrl", &strict).is_err());
        let e = check_url("https:////x/listen", "NotificationUrl", &c).unwrap_err();
        assert_eq!(e.message, "Invalid notification url='https:////x/listen'.");
        assert!(check_url("ftp://127.0.0.1/x", "NotificationUrl", &c).is_err());
        assert!(check_url("not a url", "LifecycleNotificationUrl", &c).is_err());
    }
}
