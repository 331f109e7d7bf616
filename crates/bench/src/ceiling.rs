//! The loopback ceiling: what the same requests cost when the server does nothing but answer.
//!
//! [`CeilingServer`] is a minimal HTTP server (axum on loopback, like callhook) that reads each
//! request's body and answers with the exact status, content type and bytes callhook answered
//! to a request of the same route (captured from the server under test in the same run). No
//! parsing, no authentication, no storage: the load generator, HTTP and loopback only. For
//! notifications, [`send_posts`] is a bare sender that POSTs the very bodies callhook delivered
//! to the same kind of receiver. Every suite figure is shown as a ratio to these.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::{client, LatencySummary};

/// The routes the suite sends, as the ceiling tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    IngestBatch,
    IngestSingle,
    IngestReportRows,
    ExpandedGet,
    ListPage,
    ReportPage,
}

/// The route of a request, from its method and URL.
pub fn classify(method: &Method, uri: &Uri) -> Option<Route> {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    if path.starts_with("/ingest/") {
        return Some(if method == Method::PUT {
            Route::IngestSingle
        } else if path.contains("/reports/") {
            Route::IngestReportRows
        } else {
            Route::IngestBatch
        });
    }
    if method != Method::GET {
        return None;
    }
    Some(if path.contains("getPstnCalls") {
        Route::ReportPage
    } else if query.contains("expand") {
        Route::ExpandedGet
    } else {
        Route::ListPage
    })
}

/// One answer of the server under test, replayed by the ceiling.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

/// Sends one request to the server under test and keeps its answer.
pub async fn capture(
    method: Method,
    url: &str,
    bearer: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Canned> {
    let http = client()?;
    let mut req = http.request(method, url).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.header(header::CONTENT_TYPE, "application/json").body(b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = resp.bytes().await?;
    if !status.is_success() {
        bail!(
            "capturing {url} for the ceiling failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(Canned {
        status,
        content_type,
        body,
    })
}

type Answers = Arc<HashMap<Route, Canned>>;

async fn answer(State(answers): State<Answers>, method: Method, uri: Uri, body: Bytes) -> Response {
    // The body is read in full (the extractor), as callhook reads it.
    drop(body);
    match classify(&method, &uri).and_then(|r| answers.get(&r)) {
        Some(c) => (
            c.status,
            [(header::CONTENT_TYPE, c.content_type.clone())],
            c.body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The minimal server; stops when dropped.
pub struct CeilingServer {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl CeilingServer {
    /// Serves `answers` on `127.0.0.1:0`; links to `server_base` inside them (next links) are
    /// rewritten to the ceiling's own address, so a client following them stays here.
    pub async fn start(
        mut answers: HashMap<Route, Canned>,
        server_base: &str,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        for c in answers.values_mut() {
            if let Ok(text) = std::str::from_utf8(&c.body) {
                if text.contains(server_base) {
                    c.body = Bytes::from(text.replace(server_base, &base_url));
                }
            }
        }
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::new(answers));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("ceiling server stopped: {e}");
            }
        });
        Ok(Self { base_url, task })
    }
}

impl Drop for CeilingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bare sender's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PostFigures {
    pub posts: usize,
    pub notifications: usize,
    pub seconds: f64,
    pub notifications_per_second: f64,
    /// Send → answer of each POST; when paced, from the start of its burst (so waiting for a
    /// free slot counts, as it does for callhook's deliveries of one ingest request).
    pub latency: LatencySummary,
}

/// How a paced sender spaces its POSTs: bursts of `posts` POSTs (what one ingest request
/// makes callhook send) every `every`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub every: Duration,
    pub posts: usize,
}

/// POSTs `body` (a notification collection of `items` notifications) `posts` times, to
/// `urls` in turn, at most `in_flight` at once, as fast as they are answered or at `pace`.
pub async fn send_posts(
    urls: &[String],
    body: Bytes,
    items: usize,
    posts: usize,
    in_flight: usize,
    pace: Option<Pace>,
) -> anyhow::Result<PostFigures> {
    if urls.is_empty() {
        bail!("no receiver for the ceiling");
    }
    let http = client()?;
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lat = Vec::with_capacity(posts);
    let mut burst_started = started;
    for j in 0..posts {
        let burst_start = match pace {
            Some(p) => {
                let burst = j / p.posts.max(1);
                if j % p.posts.max(1) == 0 {
                    let at = started
                        + p.every
                            .saturating_mul(u32::try_from(burst).unwrap_or(u32::MAX));
                    tokio::time::sleep_until(at.into()).await;
                    // From when the burst really starts: the timer wakes up to a millisecond
                    // late, which callhook's figure (from the ingest acknowledgment) never sees.
                    burst_started = Instant::now();
                }
                Some(burst_started)
            }
            None => None,
        };
        let permit = permits.clone().acquire_owned().await?;
        let (http, url, body) = (http.clone(), urls[j % urls.len()].clone(), body.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let t = burst_start.unwrap_or_else(Instant::now);
            let resp = http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?;
            let status = resp.status();
            resp.bytes().await?;
            if !status.is_success() {
                bail!("the ceiling's POST was answered {status}");
            }
            Ok(t.elapsed())
        });
        while let Some(done) = tasks.try_join_next() {
            lat.push(done.context("ceiling sender panicked")??);
        }
    }
    while let Some(done) = tasks.join_next().await {
        lat.push(done.context("ceiling sender panicked")??);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(PostFigures {
        posts,
        notifications: posts * items,
        seconds,
        notifications_per_second: (posts * items) as f64 / seconds.max(1e-9),
        latency: LatencySummary::of(&lat),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, url: &str) -> Option<Route> {
        classify(&method, &url.parse::<Uri>().ok()?)
    }

    #[test]
    fn routes_are_told_apart_as_the_suite_sends_them() {
        let t = "/ingest/v1/tenants/t";
        assert_eq!(
            route(Method::POST, &format!("{t}/callRecords")),
            Some(Route::IngestBatch)
        );
        assert_eq!(
            route(Method::PUT, &format!("{t}/callRecords/x")),
            Some(Route::IngestSingle)
        );
        assert_eq!(
            route(Method::POST, &format!("{t}/reports/pstnCalls")),
            Some(Route::IngestReportRows)
        );
        let r = "/v1.0/communications/callRecords";
        assert_eq!(
            route(
                Method::GET,
                &format!("{r}/x?$expand=sessions($expand=segments)")
            ),
            Some(Route::ExpandedGet)
        );
        assert_eq!(route(Method::GET, r), Some(Route::ListPage));
        assert_eq!(
            route(Method::GET, &format!("{r}?$skiptoken=abc")),
            Some(Route::ListPage)
        );
        assert_eq!(
            route(
                Method::GET,
                &format!("{r}/getPstnCalls(fromDateTime=2026-11-20T00:00:00Z,toDateTime=2026-11-21T00:00:00Z)")
            ),
            Some(Route::ReportPage)
        );
        assert_eq!(route(Method::DELETE, r), None);
    }

    #[tokio::test]
    async fn the_ceiling_replays_answers_with_links_pointing_at_itself() -> anyhow::Result<()> {
        let mut answers = HashMap::new();
        answers.insert(
            Route::ListPage,
            Canned {
                status: StatusCode::OK,
                content_type: "application/json".into(),
                body: Bytes::from_static(
                    br#"{"value":[],"@odata.nextLink":"http://server:1/v1.0/communications/callRecords?$skiptoken=a"}"#,
                ),
            },
        );
        let ceiling = CeilingServer::start(answers, "http://server:1").await?;
        let http = client()?;
        let resp = http
            .get(format!(
                "{}/v1.0/communications/callRecords",
                ceiling.base_url
            ))
            .send()
            .await?;
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        let body: serde_json::Value = resp.json().await?;
        assert_eq!(
            body["@odata.nextLink"],
            format!(
                "{}/v1.0/communications/callRecords?$skiptoken=a",
                ceiling.base_url
            )
        );
        let missing = http
            .get(format!(
                "{}/v1.0/communications/callRecords/x?$expand=sessions",
                ceiling.base_url
            ))
            .send()
            .await?;
        assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
        Ok(())
    }
}
