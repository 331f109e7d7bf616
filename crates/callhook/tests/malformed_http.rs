//! A few thousand malformed requests, written byte by byte on loopback (methods, paths that are
//! not UTF-8, query strings, oversized URLs and headers, control characters in header values,
//! `Bearer` in any case, odd bodies), from a fixed seed. Every answer must be a deliberate one:
//! never a 5xx, never a dropped connection, and every error in Graph's shape (the token endpoint
//! answers in OAuth's, as Entra does).

mod common;

use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::*;

const REQUESTS: usize = 3_000;

struct Inputs {
    tenant: String,
    token: String,
    ingest_key: String,
}

/// One request's bytes, and whether the token endpoint (OAuth's error shape) is its target.
fn request(rng: &mut ChaCha8Rng, i: &Inputs) -> (Vec<u8>, String, bool) {
    let t = &i.tenant;
    let method = *[
        "GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE",
        "FOO", "get", "G\u{1}T",
    ]
    .choose(rng)
    .unwrap_or(&"GET");
    let id = match rng.gen_range(0..6) {
        0 => "0c000000-0000-4000-8000-000000000001".to_string(),
        1 => "%FF%FE".to_string(),
        2 => "%00".to_string(),
        3 => "a'b".to_string(),
        4 => "x".repeat(rng.gen_range(1..600)),
        _ => "..%2F..".to_string(),
    };
    let mut path: Vec<u8> = match rng.gen_range(0..14) {
        0 => b"/v1.0/communications/callRecords".to_vec(),
        1 => format!("/v1.0/communications/callRecords/{id}").into_bytes(),
        2 => format!("/beta/communications/callRecords/{id}/sessions").into_bytes(),
        3 => format!("/ingest/v1/tenants/{t}/callRecords/{id}").into_bytes(),
        4 => format!("/ingest/v1/tenants/{id}/callRecords").into_bytes(),
        5 => format!("/{t}/oauth2/v2.0/token").into_bytes(),
        6 => b"/healthz".to_vec(),
        7 => b"/_callhook/clock".to_vec(),
        8 => format!("/v1.0/subscriptions/{id}").into_bytes(),
        9 => format!("/v1.0/users/{id}/onlineMeetings").into_bytes(),
        10 => b"/v1.0//communications/../callRecords".to_vec(),
        // Raw bytes that are not UTF-8 (and not valid in a URL) in the path.
        11 => {
            let mut p = format!("/ingest/v1/tenants/{t}/callRecords/").into_bytes();
            p.extend((0..rng.gen_range(1..8)).map(|_| rng.gen_range(0x80..=0xFFu8)));
            p
        }
        12 => (0..rng.gen_range(1..40))
            .map(|_| rng.gen_range(0x21..0x7Fu8))
            .collect(),
        _ => format!("/v1.0/{}", "a/".repeat(rng.gen_range(1..30))).into_bytes(),
    };
    if path.first() != Some(&b'/') {
        path.insert(0, b'/');
    }
    match rng.gen_range(0..12) {
        0 => path.extend_from_slice(b"?$top=abc"),
        1 => path.extend_from_slice(b"?$filter=%ZZ"),
        2 => path.extend_from_slice(b"?$select=id,,&$expand=(("),
        3 => path.extend_from_slice(b"?$skiptoken=garbage&$skiptoken=again"),
        4 => path.extend_from_slice(b"?$filter=startDateTime%20ge%202026-01-01T00:00:00Z"),
        5 => path.extend_from_slice(b"?%FF=%FE"),
        6 => {
            path.push(b'?');
            path.extend((0..rng.gen_range(1..60)).map(|_| rng.gen_range(0x21..0x7Fu8)));
        }
        // Past the API's URL limit (Graph's 414), and now and then past hyper's buffer too.
        7 if rng.gen_bool(0.2) => {
            path.extend_from_slice(b"?$filter=");
            let n = if rng.gen_bool(0.5) { 40_000 } else { 300_000 };
            path.extend(std::iter::repeat_n(b'a', n));
        }
        _ => {}
    }
    let target = String::from_utf8_lossy(&path)
        .chars()
        .take(120)
        .collect::<String>();
    let token_endpoint = path.ends_with(b"/oauth2/v2.0/token") || target.contains("oauth2");

    let mut head = Vec::new();
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(&path);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    let auth = match rng.gen_range(0..9) {
        0 => None,
        1 => Some(format!("Bearer {}", i.token)),
        2 => Some(format!("BEARER {}", i.token)),
        3 => Some(format!("bearer   {}", i.ingest_key)),
        4 => Some(format!("BeArEr {}", i.ingest_key)),
        5 => Some("Bearer".to_string()),
        6 => Some("Basic Zm9vOmJhcg==".to_string()),
        7 => Some(format!("Bearer {}x", i.token)),
        _ => Some("Bearer \u{7f}".to_string()),
    };
    if let Some(a) = auth {
        head.extend_from_slice(format!("Authorization: {a}\r\n").as_bytes());
    }
    match rng.gen_range(0..8) {
        0 => head.extend_from_slice(b"Prefer: odata.maxpagesize=\x7f\r\n"),
        1 => head.extend_from_slice(b"Prefer: \x01\x02\r\n"),
        2 => head
            .extend_from_slice(b"Prefer: odata.maxpagesize=-1, include-unknown-enum-members\r\n"),
        3 => head.extend_from_slice(b"client-request-id: \xff\xfe\r\n"),
        // Past the API's header limits (Graph's 431).
        4 if rng.gen_bool(0.3) => {
            head.extend_from_slice(b"X-Big: ");
            head.extend(std::iter::repeat_n(b'b', 70_000));
            head.extend_from_slice(b"\r\n");
        }
        5 if rng.gen_bool(0.3) => {
            for n in 0..250 {
                head.extend_from_slice(format!("X-H{n}: v\r\n").as_bytes());
            }
        }
        6 => head.extend_from_slice(b"Bad Header: x\r\n"),
        _ => {}
    }
    let body: Vec<u8> = match rng.gen_range(0..6) {
        0 => Vec::new(),
        1 => b"{\"id\":".to_vec(),
        2 => b"grant_type=client_credentials&client_id=%ZZ".to_vec(),
        3 => (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect(),
        4 => b"[]".to_vec(),
        _ => b"{\"seconds\": 1e400}".to_vec(),
    };
    let ct = *[
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=\u{7f}",
    ]
    .choose(rng)
    .unwrap_or(&"application/json");
    head.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    if rng.gen_bool(0.1) {
        // A chunked body with a broken chunk size.
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
    } else {
        head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        head.extend_from_slice(&body);
    }
    (head, format!("{method} {target}"), token_endpoint)
}

/// Sends `bytes` and reads the answer to the end: (status, headers, body).
async fn exchange(
    addr: std::net::SocketAddr,
    bytes: &[u8],
) -> Result<(u16, String, Vec<u8>), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    // The server may answer and close before taking all of an oversized request.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .map_err(|_| "no answer within 20 s".to_string())?
        .or_else(|e| {
            if out.is_empty() {
                Err(e.to_string())
            } else {
                Ok(0)
            }
        })?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no answer: {:?}", String::from_utf8_lossy(&out)))?;
    let head = String::from_utf8_lossy(&out[..end]).to_string();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status: {head}"))?;
    let mut body = out[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

fn is_graph_error(body: &Value) -> bool {
    let e = &body["error"];
    e["code"].is_string()
        && e["message"].is_string()
        && ["date", "request-id", "client-request-id"]
            .iter()
            .all(|k| e["innerError"][k].is_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_graphs_error_body_and_never_a_5xx() {
    let s = start().await;
    let inputs = Inputs {
        tenant: s.tenant().to_string(),
        token: s.token().await,
        ingest_key: s.creds.ingest_key.clone(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let requests: Vec<_> = (0..REQUESTS).map(|_| request(&mut rng, &inputs)).collect();
    let requests = Arc::new(requests);
    let addr = s.server.addr;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let requests = requests.clone();
        workers.spawn(async move {
            let mut failures = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for (bytes, what, token_endpoint) in requests.iter().skip(w).step_by(8) {
                let (status, head, body) = match exchange(addr, bytes).await {
                    Ok(a) => a,
                    Err(e) => {
                        failures.push(format!("{what}: {e}"));
                        continue;
                    }
                };
                *statuses.entry(status).or_default() += 1;
                if status >= 500 {
                    failures.push(format!(
                        "{what}: {status}: {}",
                        String::from_utf8_lossy(&body)
                    ));
                    continue;
                }
                if status < 400 || what.starts_with("HEAD ") {
                    continue;
                }
                let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let oauth = *token_endpoint && json["error"].is_string();
                if !(is_graph_error(&json) || oauth) {
                    failures.push(format!(
                        "{what}: {head}\n{}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            (failures, statuses)
        });
    }
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(r) = workers.join_next().await {
        let (f, st) = r.expect("worker");
        failures.extend(f);
        for (k, v) in st {
            *statuses.entry(k).or_default() += v;
        }
    }
    println!("statuses: {statuses:?}");
    assert!(
        failures.is_empty(),
        "{} of {REQUESTS} answers were not deliberate; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    // The oversized and unparsable ones were among them.
    for status in [400, 401, 414, 431] {
        assert!(
            statuses.contains_key(&status),
            "no {status} among {statuses:?}"
        );
    }
    s.stop().await;
}

/// The cases the hostile trial reported, one by one.
#[tokio::test]
async fn the_reported_cases_get_graphs_body() {
    let s = start().await;
    let addr = s.server.addr;
    let t = s.tenant().to_string();
    let token = s.token().await;
    let key = s.creds.ingest_key.clone();
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n")
            .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "URL of 70 KB",
            get(&format!("/v1.0/communications/callRecords?$filter={}", "a".repeat(70_000)), ""),
            414,
            "RequestUriTooLong",
        ),
        (
            "a header of 100 KB",
            get("/healthz", &format!("X-Big: {}\r\n", "b".repeat(100_000))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "headers past hyper's buffer",
            get("/healthz", &format!("X-Big: {}\r\n", "b".repeat(400_000))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a Prefer value holding 0x7F",
            [
                get("/v1.0/communications/callRecords", "")[..].strip_suffix(b"\r\n").unwrap_or_default(),
                format!("Authorization: Bearer {token}\r\nPrefer: odata.maxpagesize=1\x7f\r\n\r\n").as_bytes(),
            ]
            .concat(),
            400,
            "BadRequest",
        ),
        (
            "an ingest id that is not UTF-8",
            [
                format!("PUT /ingest/v1/tenants/{t}/callRecords/").as_bytes(),
                b"%FF%FE",
                format!(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes(),
            ]
            .concat(),
            400,
            "BadRequest",
        ),
        (
            "BEARER on a Graph route",
            get("/v1.0/communications/callRecords/nope", &format!("Authorization: BEARER {token}x\r\n")),
            401,
            "InvalidAuthenticationToken",
        ),
    ];
    for (what, bytes, status, code) in cases {
        let (got, head, body) = exchange(addr, &bytes).await.expect(what);
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            got,
            status,
            "{what}: {head}\n{}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            is_graph_error(&json),
            "{what}: {head}\n{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(json["error"]["code"], code, "{what}");
    }
    // `BEARER` and `bearer` carry the token (Graph) and the ingest key (ingest): RFC 7235.
    let (status, _, body) = exchange(
        addr,
        &get(
            "/v1.0/communications/callRecords",
            &format!("Authorization: BEARER {token}\r\n"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = exchange(
        addr,
        &get(
            &format!("/ingest/v1/tenants/{t}/callRecords/nope"),
            &format!("Authorization: bearer {key}\r\n"),
        ),
    )
    .await
    .unwrap();
    assert_ne!(status, 401, "{}", String::from_utf8_lossy(&body));
    s.stop().await;
}
