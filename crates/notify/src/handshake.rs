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
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(NotifyError::invalid_request(TIMED_OUT)),
        Ok(Err(e)) if e.is_timeout() => Err(NotifyError::invalid_request(TIMED_OUT)),
        Ok(Err(_)) => Err(NotifyError::new(400, "ValidationError", FAILED_NOT_200)),
        Ok(Ok((status, _))) if status != reqwest::StatusCode::OK => {
            Err(NotifyError::new(400, "ValidationError", FAILED_NOT_200))
        }
        Ok(Ok((_, body))) if body != token.as_bytes() => {
            Err(NotifyError::new(400, "ValidationError", FAILED_MISMATCH))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

/// The response body, at most `cap` bytes (a hostile endpoint cannot make callhook buffer more).
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    Ok(body)
}
