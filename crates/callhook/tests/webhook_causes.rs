//! Why a webhook failed, for operators: Graph's exact body, callhook's `innerError.callhookCause`,
//! and one log line naming the subscription, host and cause. `--webhook-ca` pins a receiver's
//! certificate (OpenSSL's `req -x509` makes CA:TRUE ones), and a TLS receiver that ends its
//! answer by closing the connection without close_notify (Python's `http.server` in TLS) is
//! read as curl reads it.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;

const NOT_200: &str = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";

/// A self-signed certificate for 127.0.0.1 marked CA:TRUE, as `openssl req -x509 -newkey
/// rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1` makes it.
fn openssl_style_certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    params.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

/// A TLS receiver that answers the validation request the way Python's `http.server` does in
/// TLS: HTTP/1.0, no Content-Length, and the TCP connection closed without close_notify.
async fn close_delimited_receiver(cert_pem: &str, key_pem: &str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let target = text.split(' ').nth(1).unwrap_or("/");
                let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
                let token = url
                    .query_pairs()
                    .find(|(k, _)| k == "validationToken")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let answer = format!(
                    "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12\r\nContent-Type: text/plain\r\n\r\n{token}"
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.flush().await;
                // Close the TCP connection under TLS: no close_notify.
                let (tcp, _) = tls.into_inner();
                drop(tcp);
            });
        }
    });
    port
}

fn subscription(url: &str) -> Value {
    json!({
        "changeType": "created",
        "notificationUrl": url,
        "resource": "/communications/callRecords",
        "expirationDateTime": ts(Utc::now() + chrono::Duration::minutes(50)),
        "clientState": "secret",
    })
}

async fn subscribe(s: &TestServer, url: &str) -> Answer {
    let token = s.token().await;
    let resp = s
        .http
        .post(s.url("/v1.0/subscriptions"))
        .bearer_auth(token)
        .json(&subscription(url))
        .send()
        .await
        .expect("request");
    Answer::from(resp).await
}

async fn start_with_ca(pem: Option<&str>) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = serve_options(dir.path()).await;
    if let Some(pem) = pem {
        let path = dir.path().join("receiver.pem");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .expect("write pem");
        opts.notify.webhook_ca = Some(path);
    }
    let server = callhook::server::start(opts).await.expect("server starts");
    let creds = read_credentials(dir.path());
    TestServer {
        server,
        dir,
        creds,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

/// Every log line this test binary writes, from any thread: one process-wide subscriber (a
/// thread-scoped one, set and dropped around each request, can miss events while tests run in
/// parallel, since tracing caches each callsite's interest globally). Tests find their own line
/// by its cause.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn global() -> Self {
        static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let c = Captured::default();
            let writer = c.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || writer.clone())
                .finish();
            // Fails only if a subscriber is already set, and this is the one place that sets it.
            let _ = tracing::subscriber::set_global_default(subscriber);
            c
        })
        .clone()
    }

    /// The first line that holds every one of `needles`.
    fn line_with(&self, needles: &[&str]) -> Option<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).to_string();
        text.lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

#[tokio::test]
async fn a_pinned_openssl_certificate_and_a_close_delimited_answer_are_accepted() {
    let (cert, key) = openssl_style_certificate();
    let port = close_delimited_receiver(&cert, &key).await;
    let s = start_with_ca(Some(&cert)).await;
    let a = subscribe(&s, &format!("https://127.0.0.1:{port}/hook")).await;
    assert_eq!(a.status, 201, "{}", a.text);
    s.stop().await;
}

#[tokio::test]
async fn an_unpinned_certificate_is_refused_with_graphs_body_and_the_cause() {
    let (cert, key) = openssl_style_certificate();
    let port = close_delimited_receiver(&cert, &key).await;
    let (other, _) = openssl_style_certificate();
    for pinned in [None, Some(other.as_str())] {
        let s = start_with_ca(pinned).await;
        let logs = Captured::global();
        let a = subscribe(&s, &format!("https://127.0.0.1:{port}/hook")).await;
        assert_graph_error(&a, 400, "ValidationError");
        assert_eq!(a.message(), NOT_200);
        let cause = a.json["error"]["innerError"]["callhookCause"]
            .as_str()
            .unwrap_or("");
        assert!(cause.starts_with("certificate: "), "{}", a.text);
        let line = logs
            .line_with(&["host=127.0.0.1", cause])
            .unwrap_or_else(|| panic!("no line naming {cause} in {}", logs.text()));
        assert!(
            line.contains("subscription=\"new\"") || line.contains("subscription=new"),
            "{line}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn a_receiver_that_is_not_listening_is_named_as_such() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = start().await;
    for scheme in ["http", "https"] {
        let logs = Captured::global();
        let a = subscribe(&s, &format!("{scheme}://127.0.0.1:{port}/hook")).await;
        assert_graph_error(&a, 400, "ValidationError");
        assert_eq!(a.message(), NOT_200);
        assert_eq!(
            a.json["error"]["innerError"]["callhookCause"], "connection refused",
            "{}",
            a.text
        );
        assert!(
            logs.line_with(&["WARN", "connection refused", "host=127.0.0.1"])
                .is_some(),
            "no connection-refused line in {}",
            logs.text()
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_private_address_says_which_flag_allows_it() {
    let s = start().await;
    let url = "https://10.0.0.5/hook";
    let a = subscribe(&s, url).await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert_eq!(a.message(), format!("Invalid notification url='{url}'."));
    assert_eq!(
        a.json["error"]["innerError"]["callhookCause"],
        "private address: start with --allow-private-webhooks"
    );
    // Graph's own members are all still there, unchanged.
    let inner = a.json["error"]["innerError"].as_object().unwrap();
    assert_eq!(inner.len(), 4, "{inner:?}");
    s.stop().await;
}
