//! Limits of the HTTP layer that still allow an answer, answered in Graph's shape: the URL's and
//! the headers' size (414, 431: checked here, well below where hyper would refuse with an empty
//! body), the request body's deadline (408), and every refusal axum's extractors make on their
//! own (text/plain 400/413/415/422, e.g. an ingest id that is not UTF-8) turned into Graph's body.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::error::GraphError;
use crate::AppState;

/// Longest request target (path and query) answered; longer ones get Graph's 414.
pub const MAX_URL_BYTES: usize = 32 * 1024;
/// Largest sum of header names and values answered; larger ones get Graph's 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields answered.
pub const MAX_HEADERS: usize = 200;

/// Refuses oversized URLs and headers, and gives the body a deadline.
pub async fn request_limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let url = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if url > MAX_URL_BYTES {
        return GraphError::new(
            StatusCode::URI_TOO_LONG,
            "RequestUriTooLong",
            format!("The request URL exceeds the maximum of {MAX_URL_BYTES} bytes."),
        )
        .with_header(header::CONNECTION, "close")
        .into_response();
    }
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES || headers.len() > MAX_HEADERS {
        return GraphError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            format!(
                "The request headers exceed the maximum of {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes."
            ),
        )
        .with_header(header::CONNECTION, "close")
        .into_response();
    }
    let Some(deadline) = state.config.body_read_timeout else {
        return next.run(req).await;
    };
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::new(Deadline {
        inner: body,
        sleep: Box::pin(tokio::time::sleep(deadline)),
        expired: expired.clone(),
        done: false,
    });
    let resp = next.run(Request::from_parts(parts, body)).await;
    if expired.load(Ordering::Acquire) {
        tracing::debug!(?deadline, "request body not received in time");
        return GraphError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "The request body was not received within {} seconds.",
                deadline.as_secs_f64()
            ),
        )
        .with_header(header::CONNECTION, "close")
        .into_response();
    }
    resp
}

/// A request body that fails once its deadline passes before its end.
struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
    done: bool,
}

impl HttpBody for Deadline {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if !this.done {
            if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_frame(cx) {
                this.done = r.is_none();
                return Poll::Ready(r);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                this.expired.store(true, Ordering::Release);
                this.done = true;
                return Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body deadline",
                )))));
            }
            return Poll::Pending;
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Any error answer not already in Graph's shape (axum's own rejections are text/plain) gets
/// Graph's body with the same status; the rejection's text becomes the message.
pub async fn graph_shape(State(state): State<AppState>, resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let mut err = match status {
        StatusCode::PAYLOAD_TOO_LARGE => GraphError::payload_too_large(state.config.max_body_bytes),
        // axum answers 422 for JSON of the wrong shape; Graph answers 400.
        StatusCode::UNPROCESSABLE_ENTITY => GraphError::bad_request(text),
        s => GraphError::from_status(s, text),
    };
    for name in [header::CONNECTION, header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
            err = err.with_header(name, v);
        }
    }
    let mut out = err.into_response();
    if let Some(v) = parts.headers.get(header::WWW_AUTHENTICATE) {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::clone(v));
    }
    out
}
