//! The accept loop: hyper connections over TCP (or TLS) with the connection limits a public
//! server needs — a cap on concurrent connections, a deadline for a request's headers, a
//! keep-alive idle timeout — and graceful shutdown. (The body's deadline is the API's own
//! middleware, which can still answer Graph's 408.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::Service;

/// Limits of the listener (`--header-read-timeout`, `--keep-alive-timeout`, `--max-connections`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From a request's first byte (or the connection's, or its TLS handshake's start) to the
    /// end of its headers.
    pub header_read_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Largest request line plus headers hyper buffers. The API answers Graph's 414/431 well
    /// below it; only beyond it does hyper refuse on its own (with an empty body).
    pub max_head_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 1024,
            max_head_bytes: 256 * 1024,
        }
    }
}

/// Stops a [`serve`] loop: it stops accepting and lets requests in flight finish.
pub struct Shutdown {
    tx: watch::Sender<Option<Duration>>,
}

impl Shutdown {
    /// `grace`: how long requests in flight may take before their connections are dropped.
    pub fn graceful(&self, grace: Duration) {
        let _ = self.tx.send(Some(grace));
    }
}

pub fn shutdown_pair() -> (Shutdown, watch::Receiver<Option<Duration>>) {
    let (tx, rx) = watch::channel(None);
    (Shutdown { tx }, rx)
}

/// Serves `app` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<Option<Duration>>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A backstop only: the watchdog below applies the finer rules.
        .header_read_timeout(limits.header_read_timeout + limits.keep_alive_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        // The API refuses more than callhook_api's MAX_HEADERS in Graph's shape; hyper's own
        // limit is far above it.
        .max_headers(1000);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let grace = loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break None,
            },
            _ = shutdown.changed() => break *shutdown.borrow(),
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break *shutdown.borrow(),
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, tls, builder) = (app.clone(), tls.clone(), builder.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity::new());
            let io = match tls {
                None => Io::Plain(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(s)) => Io::Tls(Box::new(s)),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            let io = Watched {
                inner: io,
                activity: activity.clone(),
                replacement: None,
            };
            let service = Counted {
                app,
                activity: activity.clone(),
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                // Dropping the connection closes it.
                why = activity.expired(limits) => tracing::debug!(why, "closing a connection"),
            }
        });
    };
    drop(listener);
    match grace {
        Some(grace) => {
            let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
        }
        None => graceful.shutdown().await,
    }
    Ok(())
}

const NONE: u64 = u64::MAX;

/// What a connection is doing, shared by its I/O, its service and its watchdog.
struct Activity {
    epoch: Instant,
    /// Requests handed to the app and not yet answered.
    in_flight: AtomicUsize,
    /// When the connection last became idle (end of an answer, or a write), in ms since `epoch`;
    /// `NONE` before its first request.
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived while idle; `NONE` if none yet.
    head_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(NONE),
            head_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now();
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.idle_since.load(Ordering::Relaxed) != NONE
        {
            self.idle_since.store(self.now(), Ordering::Release);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
    }

    fn request_done(&self) {
        self.idle_since.store(self.now(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Resolves when the connection has broken a limit, naming it.
    async fn expired(&self, limits: ConnectionLimits) -> &'static str {
        let header = as_ms(limits.header_read_timeout);
        let idle = as_ms(limits.keep_alive_timeout);
        let tick = Duration::from_millis((header.min(idle) / 8).clamp(5, 500));
        loop {
            tokio::time::sleep(tick).await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                continue;
            }
            let now = self.now();
            let head = self.head_since.load(Ordering::Acquire);
            let idle_since = self.idle_since.load(Ordering::Acquire);
            if head != NONE {
                if now.saturating_sub(head) >= header {
                    return "header read timeout";
                }
            } else if idle_since == NONE {
                // A new connection gets the header deadline for its first byte too.
                if now >= header {
                    return "no request";
                }
            } else if now.saturating_sub(idle_since) >= idle {
                return "keep-alive idle timeout";
            }
        }
    }
}

fn as_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(NONE - 1).max(1)
}

/// The app, counting the requests in flight on its connection.
#[derive(Clone)]
struct Counted {
    app: Router,
    activity: Arc<Activity>,
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Counted {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        self.activity.request_started();
        let guard = InFlight(self.activity.clone());
        let mut app = self.app.clone();
        Box::pin(async move {
            let resp = app.call(req.map(axum::body::Body::new)).await;
            drop(guard);
            resp
        })
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection's stream, reporting reads and writes to its [`Activity`].
///
/// It also puts Graph's body into the answers hyper makes on its own: a request hyper cannot
/// parse (a malformed request line, a header value holding a control character, a head beyond
/// its buffer) gets hyper's canned 400/414/431 with an empty body, before the app sees anything.
/// Those answers are the only ones without callhook's version header; this stream writes Graph's
/// error in their place, and hyper closes the connection after them.
struct Watched {
    inner: Io,
    activity: Arc<Activity>,
    /// Graph's answer replacing hyper's canned one: bytes, and how many are written.
    replacement: Option<(Vec<u8>, usize)>,
}

/// If `buf` is the head of one of hyper's canned error answers, Graph's answer in its place.
fn graph_answer_for(buf: &[u8]) -> Option<Vec<u8>> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &buf[..head_end];
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let message = match status {
        b"400" => "The request is not valid HTTP/1.1.",
        b"414" => "The request URL is too long.",
        b"431" => "The request headers are too large.",
        _ => return None,
    };
    let version = b"x-callhook-version";
    if head
        .windows(version.len())
        .any(|w| w.eq_ignore_ascii_case(version))
    {
        return None;
    }
    let status = std::str::from_utf8(status).ok()?.parse::<u16>().ok()?;
    let status = axum::http::StatusCode::from_u16(status).ok()?;
    let body = callhook_api::error::GraphError::from_status(status, message).body();
    let request_id = body["error"]["innerError"]["request-id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let body = serde_json::to_vec(&body).ok()?;
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nrequest-id: {request_id}\r\nclient-request-id: {request_id}\r\n\
         x-callhook-version: {}\r\n\r\n",
        body.len(),
        env!("CARGO_PKG_VERSION"),
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl Watched {
    /// Writes what is left of a replacement answer; Ready once it is all written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.replacement {
            if *done == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            let n = match &mut self.inner {
                Io::Plain(s) => ready!(Pin::new(s).poll_write(cx, &bytes[*done..])),
                Io::Tls(s) => ready!(Pin::new(s.as_mut()).poll_write(cx, &bytes[*done..])),
            }?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes over `buf` when it is one of hyper's canned answers (or anything after one).
    fn poll_replace(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        if self.replacement.is_none() {
            let answer = graph_answer_for(buf)?;
            self.replacement = Some((answer, 0));
        }
        // hyper's bytes are swallowed: it believes them written.
        Some(match self.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        })
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = match &mut this.inner {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(r) = this.poll_replace(cx, buf) {
            return r;
        }
        let r = match &mut this.inner {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if this.replacement.is_some() || graph_answer_for(first).is_some() {
                let total = bufs.iter().map(|b| b.len()).sum::<usize>();
                return match this.poll_replace(cx, first) {
                    Some(Poll::Ready(Ok(_))) => Poll::Ready(Ok(total)),
                    Some(other) => other,
                    None => Poll::Ready(Ok(total)),
                };
            }
        }
        let r = match &mut this.inner {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        match &mut this.inner {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        match &mut this.inner {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A TLS acceptor for the PEM certificate chain and key at these paths.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context as _;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate chain {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate does not match the key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
