//! The Graph client: GET with paging, POST/PATCH/DELETE for subscriptions, and the retry policy
//! (429 waits `Retry-After`; 5xx, timeouts and broken bodies back off; a 401 refreshes the token
//! once; 403 names the permission; 404 is an answer, not an error).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::auth::TokenSource;
use crate::error::{CollectError, Result};
use crate::metrics::Metrics;

/// `$expand` of a record fetch: sessions with their segments (the nested pages follow).
pub const RECORD_EXPAND: &str = "sessions($expand=segments)";

/// How hard to try before giving a request up (its work item is retried later).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Per-request timeout (headers and body).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        // Full jitter keeps many workers from retrying in step.
        let ms = exp.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }
}

/// A Graph endpoint and the app's token for one tenant.
pub struct GraphClient {
    pub http: reqwest::Client,
    /// e.g. `https://graph.microsoft.com` or a callhook's base URL (no version segment).
    pub base: String,
    pub tenant_id: String,
    pub tokens: TokenSource,
    pub retry: RetryPolicy,
    pub metrics: Arc<Metrics>,
}

/// The text of an error with its causes (reqwest hides the useful part in `source()`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The application permission a Graph path needs, for the message of a 403.
pub fn permission_for(url: &str) -> &'static str {
    if url.contains("/subscriptions") || url.contains("/communications/callRecords") {
        if [
            "getPstnCalls",
            "getDirectRoutingCalls",
            "getSmsLog",
            "getPstnBlockedUsersLog",
            "getPstnOnlineMeetingDialoutReport",
        ]
        .iter()
        .any(|f| url.contains(f))
        {
            "CallRecord-PstnCalls.Read.All (or CallRecords.Read.All)"
        } else {
            "CallRecords.Read.All"
        }
    } else if url.contains("callEvents") || url.contains("emergency") {
        "CallEvents-Emergency.Read.All"
    } else {
        "CallRecords.Read.All"
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now()).to_std().ok()?;
    Some(wait)
}

/// One answer of Graph that the caller acts on.
pub enum Answer {
    Json(Value),
    NoContent,
    NotFound,
}

impl GraphClient {
    /// An absolute URL for `path_and_query` (which starts with `/v1.0` or `/beta`), or the
    /// URL itself when it already is one (a nextLink).
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base.trim_end_matches('/'))
        }
    }

    /// Sends one request with the retry policy.
    pub async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer> {
        let url = self.url(url);
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            let token = self.tokens.token(&self.http).await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .timeout(self.retry.timeout);
            if let Some(b) = body {
                req = req.json(b);
            }
            self.metrics.graph_requests.fetch_add(1, Ordering::Relaxed);
            let wait = match req.send().await {
                Err(e) => {
                    let detail = error_chain(&e);
                    if attempt + 1 >= self.retry.max_attempts {
                        return Err(CollectError::Unreachable { url, detail });
                    }
                    tracing::debug!(%url, error = %detail, "Graph request failed; retrying");
                    self.retry.backoff(attempt)
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    // A body cut short is as transient as a dropped connection.
                    let bytes = match resp.bytes().await {
                        Ok(b) => Some(b),
                        Err(e) => {
                            tracing::debug!(%url, error = %error_chain(&e), "Graph body broken; retrying");
                            None
                        }
                    };
                    match (status, bytes) {
                        (StatusCode::NOT_FOUND, _) => return Ok(Answer::NotFound),
                        (StatusCode::NO_CONTENT, _) => return Ok(Answer::NoContent),
                        (s, Some(b)) if s.is_success() => {
                            if b.is_empty() {
                                return Ok(Answer::NoContent);
                            }
                            match serde_json::from_slice::<Value>(&b) {
                                Ok(v) => return Ok(Answer::Json(v)),
                                Err(e) => {
                                    tracing::debug!(%url, error = %e, "Graph page is not JSON; retrying");
                                    if attempt + 1 >= self.retry.max_attempts {
                                        return Err(self.graph_error(&method, &url, s, &b));
                                    }
                                    self.retry.backoff(attempt)
                                }
                            }
                        }
                        (StatusCode::UNAUTHORIZED, b) if !refreshed => {
                            refreshed = true;
                            self.tokens.invalidate().await;
                            let _ = b;
                            continue;
                        }
                        (StatusCode::FORBIDDEN, b) => {
                            let (code, message) = error_parts(b.as_deref().unwrap_or_default());
                            return Err(CollectError::Permission {
                                permission: permission_for(&url),
                                url,
                                code,
                                message,
                            });
                        }
                        (s, b) => {
                            let transient = s == StatusCode::TOO_MANY_REQUESTS
                                || s.is_server_error()
                                || s == StatusCode::REQUEST_TIMEOUT
                                || b.is_none();
                            if s == StatusCode::TOO_MANY_REQUESTS {
                                self.metrics.throttled.fetch_add(1, Ordering::Relaxed);
                            }
                            if !transient || attempt + 1 >= self.retry.max_attempts {
                                return Err(self.graph_error(
                                    &method,
                                    &url,
                                    s,
                                    b.as_deref().unwrap_or_default(),
                                ));
                            }
                            retry_after(&headers)
                                .map(|d| d.min(self.retry.max_backoff))
                                .unwrap_or_else(|| self.retry.backoff(attempt))
                        }
                    }
                }
            };
            self.metrics.retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    fn graph_error(
        &self,
        method: &Method,
        url: &str,
        status: StatusCode,
        body: &[u8],
    ) -> CollectError {
        let (code, message) = error_parts(body);
        CollectError::Graph {
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            code,
            message,
        }
    }

    /// GET returning the JSON body, `None` on 404.
    pub async fn get(&self, url: &str) -> Result<Option<Value>> {
        match self.send(Method::GET, url, None).await? {
            Answer::Json(v) => Ok(Some(v)),
            Answer::NoContent => Ok(Some(Value::Null)),
            Answer::NotFound => Ok(None),
        }
    }

    /// Every item of a collection, following `@odata.nextLink`; `None` on 404 (of any page).
    pub async fn get_all(&self, url: &str) -> Result<Option<Vec<Value>>> {
        let mut items = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next.take() {
            let Some(mut page) = self.get(&u).await? else {
                return Ok(None);
            };
            next = page["@odata.nextLink"].as_str().map(str::to_string);
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(v)) => items.extend(v),
                _ => {
                    return Err(CollectError::Other(format!(
                        "{u}: a collection page without a value array"
                    )))
                }
            }
        }
        Ok(Some(items))
    }

    /// One call record, complete: sessions with segments (every nested
    /// `sessions@odata.nextLink` followed) and every `participants_v2` page. `None` when Graph
    /// answers 404 (past retention, or not yet there).
    pub async fn fetch_record(&self, id: &str) -> Result<Option<Value>> {
        let id_seg = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let base = format!("/v1.0/communications/callRecords/{id_seg}");
        let Some(mut record) = self.get(&format!("{base}?$expand={RECORD_EXPAND}")).await? else {
            return Ok(None);
        };
        let Some(obj) = record.as_object_mut() else {
            return Err(CollectError::Other(format!(
                "callRecord {id}: not a JSON object"
            )));
        };
        let mut sessions = match obj.remove("sessions") {
            Some(Value::Array(v)) => v,
            _ => Vec::new(),
        };
        if let Some(Value::String(next)) = obj.remove("sessions@odata.nextLink") {
            match self.get_all(&next).await? {
                Some(more) => sessions.extend(more),
                None => return Ok(None),
            }
        }
        obj.retain(|k, _| !k.starts_with("sessions@") && !k.starts_with("participants_v2"));
        let Some(participants) = self.get_all(&format!("{base}/participants_v2")).await? else {
            return Ok(None);
        };
        obj.insert("sessions".into(), Value::Array(sessions));
        obj.insert("participants_v2".into(), Value::Array(participants));
        Ok(Some(record))
    }
}

/// `error.code` and `error.message` of a Graph error body.
fn error_parts(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or("").to_string();
    let message = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after", "soon".parse().expect("header"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_403_names_the_permission_of_the_path() {
        assert_eq!(
            permission_for("https://g/v1.0/communications/callRecords/x"),
            "CallRecords.Read.All"
        );
        assert!(permission_for(
            "https://g/beta/communications/callRecords/getSmsLog(fromDateTime=a,toDateTime=b)"
        )
        .starts_with("CallRecord-PstnCalls.Read.All"));
    }
}
