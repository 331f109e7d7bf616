//! The outgoing HTTP client for validation requests and deliveries, and the rules for which
//! notification URLs and addresses callhook will call. Webhook targets must not become a way
//! into the network callhook runs in: link-local and cloud-metadata addresses are never called,
//! private ranges only with `allow_private_webhooks`, loopback unless `deny_loopback_webhooks`.
//! Host names are checked after resolution on every new connection (the client's resolver
//! drops refused addresses, so a name cannot be rebound to one between checks); IP-literal
//! URLs, which reach no resolver, are checked by [`check_url`] and [`check_target`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::{NotifyConfig, NotifyError};

/// Which addresses webhooks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private: bool,
    pub allow_loopback: bool,
}

impl AddressPolicy {
    pub fn of(config: &NotifyConfig) -> Self {
        Self {
            allow_private: config.allow_private_webhooks,
            allow_loopback: !config.deny_loopback_webhooks,
        }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.refusal(ip).is_none()
    }

    /// Why `ip` may not be called, for an operator; `None` if it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        match classify(ip) {
            AddressClass::Public => None,
            AddressClass::Loopback if !self.allow_loopback => Some(LOOPBACK_REFUSED),
            AddressClass::Private if !self.allow_private => Some(PRIVATE_REFUSED),
            AddressClass::Forbidden => Some(FORBIDDEN_REFUSED),
            _ => None,
        }
    }
}

const PRIVATE_REFUSED: &str = "private address: start with --allow-private-webhooks";
const LOOPBACK_REFUSED: &str = "loopback address: refused by --deny-loopback-webhooks";
const FORBIDDEN_REFUSED: &str = "link-local, cloud-metadata or reserved address: never called";

/// What an address is, for the webhook policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, CGNAT 100.64.0.0/10, benchmarking 198.18.0.0/15, unique local fc00::/7.
    Private,
    /// Never called: link-local (169.254.0.0/16, fe80::/10), cloud metadata endpoints,
    /// unspecified, "this network", multicast, broadcast and reserved addresses.
    Forbidden,
}

/// Cloud metadata endpoints outside the link-local ranges (those are refused anyway).
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure platform (WireServer)
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud (legacy)
];
const METADATA_V6: &[Ipv6Addr] = &[
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS over IPv6
];
/// Host names of metadata services.
const METADATA_NAMES: &[&str] = &["metadata.google.internal", "metadata.goog", "metadata"];

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address inside IPv6 (mapped, compatible, NAT64) is judged as IPv4.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let seg = v6.segments();
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            if METADATA_V6.contains(&v6) {
                AddressClass::Forbidden
            } else if v6.is_loopback() {
                AddressClass::Loopback
            } else if v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xffc0) == 0xfe80
                || seg[..6] == [0, 0, 0, 0, 0, 0]
            {
                // Link-local, and the deprecated IPv4-compatible form.
                AddressClass::Forbidden
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let o = ip.octets();
    if METADATA_V4.contains(&ip)
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || o[0] >= 240
    {
        AddressClass::Forbidden
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private()
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
#[error("webhook host {host} resolves to no address callhook may deliver to ({cause})")]
pub struct RefusedAddress {
    pub host: String,
    pub cause: &'static str,
}

/// The webhook client's resolver: the system resolver, keeping only the addresses the policy
/// allows. reqwest calls it for every new connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            let metadata = METADATA_NAMES.contains(&host.to_ascii_lowercase().as_str());
            if allowed.is_empty() || metadata {
                let cause = match found.first() {
                    Some(a) if !metadata => policy.refusal(a.ip()).unwrap_or(FORBIDDEN_REFUSED),
                    _ => FORBIDDEN_REFUSED,
                };
                return Err(Box::new(RefusedAddress { host, cause })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The `User-Agent` of every webhook request.
pub const USER_AGENT: &str = concat!("callhook/", env!("CARGO_PKG_VERSION"));

/// Builds the webhook client: no redirects followed, no proxy, addresses filtered by the
/// [`GuardedResolver`], connect and overall timeouts, the extra CA if configured. Callers set
/// shorter per-request timeouts (3 s, 10 s, …).
pub fn webhook_client(config: &NotifyConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: AddressPolicy::of(config),
        }))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(16)
        .user_agent(USER_AGENT);
    if let Some(path) = &config.webhook_ca {
        builder = builder.use_preconfigured_tls(pinned_tls(path)?);
    }
    Ok(builder.build()?)
}

/// TLS for `--webhook-ca FILE`: the certificates in FILE are trusted as issuers (CAs) and, as
/// they are, as receivers' own certificates: a receiver presenting exactly one of them is
/// accepted even where WebPKI would refuse it as an end entity (OpenSSL's
/// `req -x509` marks its self-signed certificates CA:TRUE, which WebPKI refuses to see at the
/// end of a chain). Everything else is verified as usual, against the public roots too.
fn pinned_tls(path: &std::path::Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pinned = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--webhook-ca {} is not PEM: {e}", path.display()))?;
    if pinned.is_empty() {
        anyhow::bail!("--webhook-ca {} holds no certificate", path.display());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in &pinned {
        // A certificate WebPKI cannot use as a trust anchor can still be pinned.
        let _ = roots.add(cert.clone());
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let verifier = PinnedVerifier {
        pinned,
        webpki,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Accepts an end-entity certificate byte-identical to a pinned one (its validity dates and
/// name are the operator's business: they pinned it); anything else goes to WebPKI. The
/// handshake's signatures are always checked, so the peer must hold the pinned key.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: Vec<rustls::pki_types::CertificateDer<'static>>,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why a request to a webhook failed, in words an operator can act on: "connection refused",
/// "certificate: CaUsedAsEndEntity", "private address: start with --allow-private-webhooks".
/// The host of a notification URL, for logs: never its path or query, which may carry a
/// receiver's secret. Empty when the URL does not parse.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut last = e.to_string();
    for s in error_chain(e) {
        if let Some(c) = known_cause(s) {
            return c;
        }
        last = s.to_string();
    }
    last
}

/// `e` and its sources, looking inside the errors an `io::Error` wraps (its own `source`
/// skips them).
pub(crate) fn error_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |s| {
        match s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        }
    })
}

fn known_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(r) = e.downcast_ref::<RefusedAddress>() {
        return Some(r.cause.to_string());
    }
    if let Some(t) = e.downcast_ref::<rustls::Error>() {
        return Some(match t {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o)) => {
                format!("certificate: {o}")
            }
            rustls::Error::InvalidCertificate(c) => {
                let text = format!("{c:?}");
                let name = text
                    .split(|ch: char| !ch.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or_default();
                format!("certificate: {name}")
            }
            other => format!("TLS: {other}"),
        });
    }
    let io = e.downcast_ref::<std::io::Error>()?;
    use std::io::ErrorKind as K;
    let text = match io.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::UnexpectedEof => "connection closed before the answer was complete",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        _ => return None,
    };
    Some(text.to_string())
}

/// Whether the host of `url` may be called under `config`, as far as can be told without
/// resolving it: IP literals by their address, `localhost` as loopback, metadata names never.
/// Names are checked again, after resolution, on every connection.
pub fn check_target(url: &url::Url, config: &NotifyConfig) -> bool {
    target_refusal(url, config).is_none()
}

/// Why [`check_target`] refuses `url`, for an operator.
pub fn target_refusal(url: &url::Url, config: &NotifyConfig) -> Option<&'static str> {
    let policy = AddressPolicy::of(config);
    match url.host() {
        None => Some("no host"),
        Some(url::Host::Ipv4(ip)) => policy.refusal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => policy.refusal(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_NAMES.contains(&d.as_str()) {
                Some(FORBIDDEN_REFUSED)
            } else if (d == "localhost" || d.ends_with(".localhost")) && !policy.allow_loopback {
                Some(LOOPBACK_REFUSED)
            } else {
                None
            }
        }
    }
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
/// `http://` to a loopback host (unless `strict_https`), and refuses hosts the address policy
/// forbids ([`check_target`]) as an invalid URL. `field` names the property in messages
/// (`NotificationUrl` or `LifecycleNotificationUrl`).
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
        "https" => {}
        "http" if !config.strict_https && is_loopback_host(&host) => {}
        scheme => {
            let why = if scheme == "http" && config.strict_https {
                "http:// refused: started with --strict-https"
            } else if scheme == "http" {
                "http:// is allowed to loopback hosts only: use https://"
            } else {
                "only https:// (and http:// to loopback) can be called"
            };
            return Err(NotifyError::invalid_request(format!(
                "{field} scheme='{scheme}' is not supported."
            ))
            .with_cause(host.to_string(), why));
        }
    }
    if let Some(why) = target_refusal(&url, config) {
        return Err(invalid().with_cause(host.to_string(), why));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

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

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn addresses_are_classified() {
        use AddressClass::*;
        for (ip, want) in [
            ("169.254.169.254", Forbidden),
            ("169.254.1.1", Forbidden),
            ("fe80::1", Forbidden),
            ("fd00:ec2::254", Forbidden),
            ("100.100.100.200", Forbidden),
            ("168.63.129.16", Forbidden),
            ("0.0.0.0", Forbidden),
            ("0.1.2.3", Forbidden),
            ("::", Forbidden),
            ("224.0.0.1", Forbidden),
            ("255.255.255.255", Forbidden),
            ("240.0.0.1", Forbidden),
            ("ff02::1", Forbidden),
            ("::ffff:169.254.169.254", Forbidden),
            ("64:ff9b::a9fe:a9fe", Forbidden),
            ("127.0.0.1", Loopback),
            ("127.9.9.9", Loopback),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("198.18.0.1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("::ffff:10.0.0.1", Private),
            ("8.8.8.8", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("2606:4700::1111", Public),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn urls_to_forbidden_or_unallowed_hosts_are_invalid_notification_urls() {
        let c = NotifyConfig::default();
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00:ec2::254]/",
            "https://100.100.100.200/",
            "https://[fe80::1]/hook",
            "https://10.0.0.5/hook",
            "https://192.168.0.10/hook",
            "https://[::ffff:192.168.0.10]/hook",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://0.0.0.0/hook",
        ] {
            let e = check_url(url, "NotificationUrl", &c).unwrap_err();
            assert_eq!((e.status, e.code), (400, "InvalidRequest"), "{url}");
            assert_eq!(e.message, format!("Invalid notification url='{url}'."));
        }
        let private = NotifyConfig {
            allow_private_webhooks: true,
            ..c.clone()
        };
        assert!(check_url("https://10.0.0.5/hook", "NotificationUrl", &private).is_ok());
        assert!(check_url("https://169.254.169.254/", "NotificationUrl", &private).is_err());
        let no_loopback = NotifyConfig {
            deny_loopback_webhooks: true,
            ..c.clone()
        };
        assert!(check_url("http://127.0.0.1:9/hook", "NotificationUrl", &no_loopback).is_err());
        assert!(check_url("https://localhost/hook", "NotificationUrl", &no_loopback).is_err());
        assert!(check_url("https://example.com/hook", "NotificationUrl", &no_loopback).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_on_every_lookup() {
        use reqwest::dns::Resolve;
        let allow = GuardedResolver {
            policy: AddressPolicy {
                allow_private: false,
                allow_loopback: true,
            },
        };
        let name = |s: &str| reqwest::dns::Name::from_str(s).unwrap();
        let addrs: Vec<_> = allow.resolve(name("localhost")).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
        let deny = GuardedResolver {
            policy: AddressPolicy {
                allow_private: false,
                allow_loopback: false,
            },
        };
        let err = deny
            .resolve(name("localhost"))
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("localhost"), "{err}");
    }

    #[tokio::test]
    async fn the_client_does_not_connect_to_a_name_that_resolves_to_a_refused_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = NotifyConfig {
            deny_loopback_webhooks: true,
            ..NotifyConfig::default()
        };
        let client = webhook_client(&config).unwrap();
        let err = client
            .post(format!("http://localhost:{port}/hook"))
            .send()
            .await
            .expect_err("refused before connecting");
        assert!(
            err.is_connect() || err.to_string().contains("error"),
            "{err}"
        );
        // Nothing ever connected.
        let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
        // With loopback allowed the same request goes through to the listener.
        let client = webhook_client(&NotifyConfig::default()).unwrap();
        let send = tokio::spawn(async move {
            client
                .post(format!("http://localhost:{port}/hook"))
                .send()
                .await
        });
        let (_conn, _) = listener.accept().await.unwrap();
        send.abort();
    }
}
