//! Connection limits, over raw TCP on loopback: slow or idle clients are cut off at the
//! configured limits (short ones here), a body past its deadline gets Graph's 408, and
//! connections beyond the cap wait until one closes.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use callhook::listener::ConnectionLimits;
use callhook::server::{self, RunningServer};

async fn start(
    limits: ConnectionLimits,
    body_deadline: Duration,
) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = common::serve_options(dir.path()).await;
    opts.connections = limits;
    opts.api.body_read_timeout = Some(body_deadline);
    let server = server::start(opts).await.expect("server starts");
    (server, dir)
}

fn limits(header: f64, idle: f64, max: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs_f64(header),
        keep_alive_timeout: Duration::from_secs_f64(idle),
        max_connections: max,
        ..ConnectionLimits::default()
    }
}

/// Reads until the server closes the connection (EOF or reset); returns what was read and when
/// the close came. Fails if it does not come within 15 s.
async fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open; read so far: {:?}",
                String::from_utf8_lossy(&all)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (all, Instant::now()),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response with a Content-Length body (keep-alive).
async fn read_response(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf))
            .await
            .expect("an answer")
            .expect("read");
        assert!(n > 0, "closed before the answer");
        all.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&all).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if all.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

fn graph_body(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_are_cut_off() {
    let (server, _dir) = start(limits(1.0, 30.0, 100), Duration::from_secs(30)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    // One header line every 300 ms, for longer than the deadline, then wait for the close.
    let (mut reader, mut writer) = s.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if writer
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut buf))
        .await
        .expect("the server closes a connection that trickles its headers");
    let took = started.elapsed();
    assert!(buf.is_empty(), "no answer expected: {buf:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    trickle.abort();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn headers_then_nothing_and_a_silent_connection_are_cut_off() {
    let (server, _dir) = start(limits(1.0, 30.0, 100), Duration::from_secs(30)).await;
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let (_, at) = read_until_closed(&mut partial).await;
    assert!(at - started < Duration::from_secs(4));
    let (_, at) = read_until_closed(&mut silent).await;
    assert!(at - started < Duration::from_secs(4));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_timeout() {
    let (server, _dir) = start(limits(0.5, 2.0, 100), Duration::from_secs(30)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // Two requests on the connection: it stays usable while within the timeout.
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let answer = read_response(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let idle_from = Instant::now();
    let (rest, at) = read_until_closed(&mut s).await;
    assert!(rest.is_empty());
    let idle = at - idle_from;
    // The idle timeout (2 s), not the shorter header deadline, applies between requests.
    assert!(
        idle >= Duration::from_millis(1800) && idle < Duration::from_secs(6),
        "closed after {idle:?} idle"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_trickled_body_gets_graphs_408_and_the_connection_closes() {
    let (server, _dir) = start(limits(5.0, 30.0, 100), Duration::from_secs(1)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    s.write_all(
        b"POST /common/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut reader, mut writer) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut buf))
        .await
        .expect("the server closes a connection that trickles its body");
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&buf).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = graph_body(&answer);
    assert_eq!(body["error"]["code"], "RequestTimeout", "{answer}");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    trickle.abort();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (server, _dir) = start(limits(30.0, 30.0, 2), Duration::from_secs(30)).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        read_response(&mut s).await;
        held.push(s);
    }
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte))
            .await
            .is_err(),
        "a third connection was served while two held the cap"
    );
    drop(held.pop());
    let answer = read_response(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.shutdown().await.unwrap();
}
