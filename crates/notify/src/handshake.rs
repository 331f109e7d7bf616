//! The validation request: before a subscription is created (and again on renewal,
//! reauthorization or a new URL) each of its URLs must echo an opaque token.

use std::time::Duration;

use crate::NotifyError;

/// Graph's answer when the endpoint did not answer 200 with the token.
pub const FAILED_NOT_200: &str =
    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
pub const FAILED_MISMATCH: &str =
    "Subscription validation request failed. Response must exactly match validationToken query parameter.";
pub const TIMED_OUT: &str = "Subscription validation request timed out.";

/// A fresh opaque validation token.
pub fn new_token() -> String {
    // Opaque by contract; a random id with characters that need URL-encoding keeps receivers
    // honest about decoding it.
    format!("Validation: callhook {}", uuid::Uuid::new_v4())
}

/// Sends `POST {url}?validationToken={token}` (text/plain) and checks that the answer is
/// `200` with exactly the decoded token as its body, within `timeout`.
pub async fn validate(
    client: &reqwest::Client,
    url: &url::Url,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let token = new_token();
    let mut target = url.clone();
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let exchange = async {
        let resp = client
            .post(target)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Vec::new())
            .send()
            .await?;
        let status = resp.status();
        // Read at most a little more than the token: the answer is the token, nothing else.
        let body = read_capped(resp, token.len() + 1024).await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    let host = url.host_str().unwrap_or_default();
    let timed_out = format!("no answer within {} s", timeout.as_secs_f64());
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(NotifyError::invalid_request(TIMED_OUT).with_cause(host, timed_out)),
        Ok(Err(e)) if e.is_timeout() => {
            Err(NotifyError::invalid_request(TIMED_OUT).with_cause(host, timed_out))
        }
        Ok(Err(e)) => Err(NotifyError::new(400, "ValidationError", FAILED_NOT_200)
            .with_cause(host, crate::http::cause(&e))),
        Ok(Ok((status, _))) if status != reqwest::StatusCode::OK => {
            Err(NotifyError::new(400, "ValidationError", FAILED_NOT_200)
                .with_cause(host, format!("answered {status}, not 200 OK")))
        }
        Ok(Ok((_, body))) if body != token.as_bytes() => {
            Err(NotifyError::new(400, "ValidationError", FAILED_MISMATCH)
                .with_cause(host, "the answer's body is not the validation token"))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

/// The response body, at most `cap` bytes (a hostile endpoint cannot make callhook buffer more).
///
/// An answer without Content-Length or chunked encoding ends when the connection closes. Over
/// TLS many servers (Python's `http.server` wrapped in TLS, for one) close without TLS's
/// close_notify, which rustls reports as an unexpected end of file; like curl, callhook takes
/// that as the end of such a body.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let close_delimited = resp.content_length().is_none()
        && !resp
            .headers()
            .get(reqwest::header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let mut body = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if close_delimited && ends_without_close_notify(&e) => break,
            Err(e) => return Err(e),
        };
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    Ok(body)
}

/// Whether `e` is a TLS connection that ended without close_notify.
fn ends_without_close_notify(e: &reqwest::Error) -> bool {
    crate::http::error_chain(e).any(|s| {
        s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
    })
}
