//! HTTP/2 over `--tls`: a client that negotiates h2 (as the Python SDK's httpx does) names the
//! host in `:authority`, not `Host`; links and discovery URLs must still carry its port.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

use common::*;

/// The DER of the first certificate in a PEM file.
fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(b64).expect("PEM base64")
}

type H2 = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/2 connection to `addr` through TLS with ALPN `h2`, trusting `cert_pem` only.
async fn connect_h2(addr: std::net::SocketAddr, cert_pem: &str) -> H2 {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(pem_der(cert_pem)))
        .expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the server negotiates HTTP/2"
    );
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    send
}

/// GET `url` (absolute: its authority becomes `:authority`) over HTTP/2; status and JSON.
async fn get(h2: &mut H2, url: &str, token: Option<&str>, prefer: Option<&str>) -> (u16, Value) {
    let mut req = hyper::Request::get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(p) = prefer {
        req = req.header("prefer", p);
    }
    let req = req.body(Empty::<Bytes>::new()).expect("request");
    assert!(
        req.headers().get("host").is_none(),
        "HTTP/2 carries no Host header"
    );
    h2.ready().await.expect("ready");
    let resp = h2.send_request(req).await.expect("response");
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn links_over_http2_carry_the_authority_with_its_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = serve_options(dir.path()).await;
    opts.tls = callhook::server::TlsMode::SelfSigned;
    let server = callhook::server::start(opts).await.expect("server");
    let creds = read_credentials(dir.path());
    let cert_path = server.tls_cert.clone().expect("certificate");
    let cert_pem = std::fs::read_to_string(&cert_path).expect("cert");
    let port = server.addr.port();
    let base = format!("https://localhost:{port}");

    // Two records through ingest (HTTP/1.1 is fine there).
    let http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    for id in [uuid_like(7, 1), uuid_like(7, 2)] {
        let resp = http
            .put(format!(
                "{base}/ingest/v1/tenants/{}/callRecords/{id}",
                creds.tenant_id
            ))
            .bearer_auth(&creds.ingest_key)
            .json(&record(&id))
            .send()
            .await
            .expect("ingest");
        assert!(resp.status().is_success(), "{}", resp.status());
    }

    let mut h2 = connect_h2(server.addr, &cert_pem).await;
    // The discovery document names the port the client used.
    let (status, conf) = get(
        &mut h2,
        &format!(
            "{base}/{}/v2.0/.well-known/openid-configuration",
            creds.tenant_id
        ),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        conf["token_endpoint"],
        format!("{base}/{}/oauth2/v2.0/token", creds.tenant_id)
    );
    assert_eq!(
        conf["jwks_uri"],
        format!("{base}/{}/discovery/v2.0/keys", creds.tenant_id)
    );

    let app = server
        .state
        .store
        .app(&creds.client_id)
        .await
        .expect("store")
        .expect("development app");
    let (token, _) =
        callhook_api::token::mint_access_token(&server.state, &base, &app).expect("token");

    // Page 1 of 2, then its nextLink, all over HTTP/2.
    let (status, page) = get(
        &mut h2,
        &format!("{base}/v1.0/communications/callRecords"),
        Some(&token),
        Some("odata.maxpagesize=1"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let context = page["@odata.context"].as_str().expect("context");
    assert!(
        context.starts_with(&format!("{base}/v1.0/$metadata#")),
        "{context}"
    );
    let next = page["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    assert!(next.starts_with(&format!("{base}/v1.0/")), "{next}");
    let (status, page2) = get(&mut h2, &next, Some(&token), None).await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(page2["value"].as_array().map(Vec::len), Some(1));
    assert_ne!(page["value"][0]["id"], page2["value"][0]["id"]);

    server.shutdown().await.expect("shutdown");
}
