//! The read load generator: clients that each send one request at a time (closed loop) to one
//! of the Graph read routes, as an SDK's page iterator or a dashboard would, and time each from
//! send to the last body byte.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{client, record, LatencySummary, Target};

/// Which read a load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Read {
    /// `GET …/callRecords/{id}?$expand=sessions($expand=segments)` of a random stored record.
    ExpandedGet,
    /// `GET …/callRecords` pages of 60, each client following its own `@odata.nextLink` chain
    /// from the first page and starting over at the end.
    ListPage,
    /// `GET …/getPstnCalls(fromDateTime=…,toDateTime=…)` of a random day: its first page (up to
    /// 1,000 rows).
    ReportPage,
}

impl Read {
    pub const ALL: [Read; 3] = [Read::ExpandedGet, Read::ListPage, Read::ReportPage];

    pub fn label(self) -> &'static str {
        match self {
            Read::ExpandedGet => "GET record, sessions+segments expanded",
            Read::ListPage => "GET list page (60 records)",
            Read::ReportPage => "GET getPstnCalls page (1 day)",
        }
    }
}

/// What is stored, so reads hit stored data.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// Stored call records are `record::id_of(0..records)`.
    pub records: usize,
    /// PSTN rows lie in the `report_days` days before `report_end`.
    pub report_days: i64,
    pub report_end: DateTime<Utc>,
}

impl ReadPlan {
    /// A request's URL on `base`; `next` is the list chain's next link, if any.
    pub fn url(
        &self,
        base: &str,
        read: Read,
        rng: &mut impl Rng,
        next: &mut Option<String>,
    ) -> String {
        let records = format!("{base}/v1.0/communications/callRecords");
        match read {
            Read::ExpandedGet => {
                let id = record::id_of(rng.gen_range(0..self.records.max(1)));
                format!("{records}/{id}?$expand=sessions($expand=segments)")
            }
            Read::ListPage => next.take().unwrap_or(records),
            Read::ReportPage => {
                let day = rng.gen_range(1..=self.report_days.max(1));
                let from = self.report_end - chrono::Duration::days(day);
                let to = from + chrono::Duration::days(1);
                let z = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                format!(
                    "{records}/getPstnCalls(fromDateTime={},toDateTime={})",
                    z(from),
                    z(to)
                )
            }
        }
    }
}

/// How long a load lasts.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// This many requests in all, shared between the clients.
    Requests(usize),
    /// As many as the clients complete in this time.
    Time(Duration),
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadFigures {
    pub read: Read,
    pub clients: usize,
    pub requests: usize,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub mean_response_bytes: f64,
    pub latency: LatencySummary,
}

#[derive(Deserialize)]
struct NextLink {
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
}

/// Runs `clients` closed-loop clients sending `read` to `target` for `budget`.
pub async fn measure(
    target: &Target,
    plan: &ReadPlan,
    read: Read,
    clients: usize,
    budget: Budget,
) -> anyhow::Result<ReadFigures> {
    let http = client()?;
    let clients = clients.max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (http, plan, base, token) = (
            http.clone(),
            plan.clone(),
            target.base_url.clone(),
            target.access_token.clone(),
        );
        let quota = match budget {
            Budget::Requests(n) => n / clients + usize::from(c < n % clients),
            Budget::Time(_) => usize::MAX,
        };
        let deadline = match budget {
            Budget::Time(d) => Some(started + d),
            Budget::Requests(_) => None,
        };
        tasks.spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed + c as u64);
            let mut next = None;
            let mut lat = Vec::new();
            let mut bytes = 0usize;
            while lat.len() < quota && deadline.is_none_or(|d| Instant::now() < d) {
                let url = plan.url(&base, read, &mut rng, &mut next);
                let t = Instant::now();
                let resp = http.get(&url).bearer_auth(&token).send().await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                lat.push(t.elapsed());
                if !status.is_success() {
                    bail!(
                        "GET {url} failed: {status} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                bytes += body.len();
                if read == Read::ListPage {
                    next = serde_json::from_slice::<NextLink>(&body)?.next;
                }
            }
            Ok::<_, anyhow::Error>((lat, bytes))
        });
    }
    let mut all = Vec::new();
    let mut bytes = 0;
    while let Some(done) = tasks.join_next().await {
        let (lat, b) = done??;
        all.extend(lat);
        bytes += b;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ReadFigures {
        read,
        clients,
        requests: all.len(),
        seconds,
        requests_per_second: all.len() as f64 / seconds.max(1e-9),
        mean_response_bytes: bytes as f64 / all.len().max(1) as f64,
        latency: LatencySummary::of(&all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_stored_records_and_whole_days_in_the_report_window() {
        let end = DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let plan = ReadPlan {
            records: 10,
            report_days: 3,
            report_end: end,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut next = None;
        for _ in 0..50 {
            let get = plan.url("http://h", Read::ExpandedGet, &mut rng, &mut next);
            assert!(get.starts_with("http://h/v1.0/communications/callRecords/bench000-"));
            assert!(get.ends_with("?$expand=sessions($expand=segments)"));
            let report = plan.url("http://h", Read::ReportPage, &mut rng, &mut next);
            assert!(
                [
                    "fromDateTime=2026-11-20T00:00:00Z,toDateTime=2026-11-21T00:00:00Z",
                    "fromDateTime=2026-11-21T00:00:00Z,toDateTime=2026-11-22T00:00:00Z",
                    "fromDateTime=2026-11-22T00:00:00Z,toDateTime=2026-11-23T00:00:00Z",
                ]
                .iter()
                .any(|w| report.contains(w)),
                "{report}"
            );
        }
        let mut next = Some("http://h/next".to_string());
        assert_eq!(
            plan.url("http://h", Read::ListPage, &mut rng, &mut next),
            "http://h/next"
        );
        assert_eq!(
            plan.url("http://h", Read::ListPage, &mut rng, &mut next),
            "http://h/v1.0/communications/callRecords"
        );
    }
}
