//! Throttling of the call-records routes as Graph documents it: token buckets per tenant, per
//! app in a tenant, for listing, per call record (first page, and later pages of its sessions
//! or participants), and for the PSTN report functions per tenant, per app and per function.
//! A request that finds any of its buckets empty gets Graph's 429 with `Retry-After` (whole
//! seconds until the bucket has a token again), so a client that honours it gets through.
//!
//! The buckets are `governor`'s GCRA limiters (equivalent to a token bucket of `requests`
//! tokens refilled evenly over `period`), keyed by tenant, app and record.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Caller;
use crate::error::GraphError;
use crate::AppState;

/// `requests` per `period`: a bucket of `requests` tokens refilled over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub period: Duration,
}

impl Limit {
    pub const fn new(requests: u32, period_secs: u64) -> Self {
        Self {
            requests,
            period: Duration::from_secs(period_secs),
        }
    }

    fn quota(&self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.requests)?;
        let per = self.period.checked_div(self.requests)?;
        Some(Quota::with_period(per.max(Duration::from_nanos(1)))?.allow_burst(burst))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.requests, self.period.as_secs())
    }
}

/// `N/20s`, `N/5m`, `N/1h` (requests per period).
impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected REQUESTS/PERIOD such as 1500/20s or 50/5m, got {s:?}");
        let (n, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (digits, unit) = period.split_at(
            period
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(period.len()),
        );
        let count: u64 = if digits.is_empty() {
            1
        } else {
            digits.parse().map_err(|_| bad())?
        };
        let secs = match unit {
            "s" | "" => count,
            "m" => count.saturating_mul(60),
            "h" => count.saturating_mul(3600),
            _ => return Err(bad()),
        };
        if requests == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(Limit::new(requests, secs))
    }
}

/// The limits; defaults are Graph's newest documented call-records and PSTN limits, and the
/// later-pages limit of the older revision (the only one documented for them). Off by default
/// in the library (embedded servers, tests, benchmarks); `callhook serve` turns it on unless
/// `--no-throttle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    pub enabled: bool,
    /// Per tenant, all apps.
    pub tenant: Limit,
    /// Per app in a tenant.
    pub app: Limit,
    /// List call records, per app in a tenant.
    pub list: Limit,
    /// One call record (and the first page of its sessions or participants).
    pub record: Limit,
    /// Later pages of one call record's sessions or participants.
    pub record_pages: Limit,
    /// PSTN and direct-routing report functions, per tenant.
    pub pstn_tenant: Limit,
    /// …per app in a tenant.
    pub pstn_app: Limit,
    /// …per function (collection) for an app in a tenant.
    pub pstn_collection: Limit,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            tenant: Limit::new(10_000, 20),
            app: Limit::new(1_500, 20),
            list: Limit::new(40, 20),
            record: Limit::new(40, 20),
            record_pages: Limit::new(50, 300),
            pstn_tenant: Limit::new(1_000, 60),
            pstn_app: Limit::new(200, 60),
            pstn_collection: Limit::new(50, 60),
        }
    }
}

type Keyed = DefaultKeyedRateLimiter<String>;

struct Bucket {
    limiter: Option<Keyed>,
}

impl Bucket {
    fn new(limit: Limit) -> Self {
        Self {
            limiter: limit.quota().map(RateLimiter::keyed),
        }
    }

    /// `None` if a token was taken, else how long until one is there.
    fn take(&self, key: String) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        match limiter.check_key(&key) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(limiter.clock().now())),
        }
    }

    fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
        }
    }
}

/// Every bucket of an installation.
pub struct Throttle {
    enabled: bool,
    tenant: Bucket,
    app: Bucket,
    list: Bucket,
    record: Bucket,
    record_pages: Bucket,
    pstn_tenant: Bucket,
    pstn_app: Bucket,
    pstn_collection: Bucket,
    checks: AtomicU64,
}

/// Which limits a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET …/callRecords`.
    List,
    /// `GET …/callRecords/{id}[/sessions|participants_v2|organizer_v2]`; `later_page` with a
    /// `$skiptoken`.
    Record { id: String, later_page: bool },
    /// `GET …/callRecords/getPstnCalls(…)` and the other report functions.
    Report { function: String },
}

impl Route {
    /// Classifies a path (below `/v1.0` or `/beta`) and query; `None` for routes that are not
    /// call records.
    pub fn of(path: &str, query: Option<&str>) -> Option<Route> {
        let rest = path
            .trim_start_matches('/')
            .strip_prefix("communications/callRecords")?;
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            return Some(Route::List);
        }
        let first = rest.split('/').next().unwrap_or(rest);
        let name = first
            .strip_prefix("microsoft.graph.callRecords.")
            .unwrap_or(first);
        if name.starts_with("get") && name.contains('(') {
            let function = name.split('(').next().unwrap_or(name).to_string();
            return Some(Route::Report { function });
        }
        let later_page = query.is_some_and(|q| {
            q.split('&').any(|p| {
                p.to_ascii_lowercase().starts_with("$skiptoken=")
                    || p.to_ascii_lowercase().starts_with("%24skiptoken=")
            })
        });
        Some(Route::Record {
            id: first.to_string(),
            later_page,
        })
    }
}

impl Throttle {
    pub fn new(config: &ThrottleConfig) -> Self {
        Self {
            enabled: config.enabled,
            tenant: Bucket::new(config.tenant),
            app: Bucket::new(config.app),
            list: Bucket::new(config.list),
            record: Bucket::new(config.record),
            record_pages: Bucket::new(config.record_pages),
            pstn_tenant: Bucket::new(config.pstn_tenant),
            pstn_app: Bucket::new(config.pstn_app),
            pstn_collection: Bucket::new(config.pstn_collection),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token from each of the request's buckets, narrowest first (so that a request
    /// refused by a per-record bucket does not use up its tenant's); `Some(wait)` if refused.
    pub fn check(&self, caller: &Caller, route: &Route) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        // Forget the state of idle keys now and then, so memory stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            for b in [
                &self.tenant,
                &self.app,
                &self.list,
                &self.record,
                &self.record_pages,
                &self.pstn_tenant,
                &self.pstn_app,
                &self.pstn_collection,
            ] {
                b.forget_idle();
            }
        }
        let t = &caller.tenant_id;
        let app_key = format!("{t}\n{}", caller.app_id);
        match route {
            Route::List => self
                .list
                .take(app_key.clone())
                .or_else(|| self.app.take(app_key))
                .or_else(|| self.tenant.take(t.clone())),
            Route::Record { id, later_page } => {
                let bucket = if *later_page {
                    &self.record_pages
                } else {
                    &self.record
                };
                bucket
                    .take(format!("{t}\n{id}"))
                    .or_else(|| self.app.take(app_key))
                    .or_else(|| self.tenant.take(t.clone()))
            }
            Route::Report { function } => self
                .pstn_collection
                .take(format!("{app_key}\n{function}"))
                .or_else(|| self.pstn_app.take(app_key))
                .or_else(|| self.pstn_tenant.take(t.clone())),
        }
    }
}

/// Graph's 429: `TooManyRequests` with `Retry-After` in whole seconds (at least 1).
pub fn too_many_requests(wait: Duration) -> GraphError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    GraphError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Please retry again later.",
    )
    .with_header(header::RETRY_AFTER, secs.max(1).to_string())
}

/// The middleware on the Graph routes (after the token check, which provides the [`Caller`]).
pub async fn throttle(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(caller) = req.extensions().get::<Caller>() {
        if let Some(route) = Route::of(req.uri().path(), req.uri().query()) {
            if let Some(wait) = state.throttle.check(caller, &route) {
                return too_many_requests(wait).into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(t: &str, a: &str) -> Caller {
        Caller {
            tenant_id: t.into(),
            app_id: a.into(),
            roles: vec![],
            user_id: None,
            scopes: vec![],
        }
    }

    #[test]
    fn limits_parse_from_requests_per_period() {
        assert_eq!("1500/20s".parse::<Limit>().unwrap(), Limit::new(1500, 20));
        assert_eq!("50/5m".parse::<Limit>().unwrap(), Limit::new(50, 300));
        assert_eq!("1/h".parse::<Limit>().unwrap(), Limit::new(1, 3600));
        for bad in ["", "0/20s", "10/0s", "10", "x/20s", "10/20d", "10/-1s"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_are_classified_by_path_and_query() {
        assert_eq!(
            Route::of("/communications/callRecords", None),
            Some(Route::List)
        );
        assert_eq!(
            Route::of(
                "/communications/callRecords/abc/sessions",
                Some("$skiptoken=x")
            ),
            Some(Route::Record {
                id: "abc".into(),
                later_page: true
            })
        );
        assert_eq!(
            Route::of("/communications/callRecords/abc", Some("$select=id")),
            Some(Route::Record {
                id: "abc".into(),
                later_page: false
            })
        );
        assert_eq!(
            Route::of(
                "/communications/callRecords/microsoft.graph.callRecords.getPstnCalls(fromDateTime=2024-01-01,toDateTime=2024-01-02)",
                None
            ),
            Some(Route::Report { function: "getPstnCalls".into() })
        );
        assert_eq!(Route::of("/users", None), None);
        assert_eq!(Route::of("/subscriptions", None), None);
    }

    #[test]
    fn each_bucket_refuses_once_empty_and_keys_are_separate() {
        let config = ThrottleConfig {
            enabled: true,
            record: Limit::new(2, 20),
            app: Limit::new(5, 20),
            ..ThrottleConfig::default()
        };
        let t = Throttle::new(&config);
        let a = caller("t1", "a1");
        let rec = |id: &str| Route::Record {
            id: id.into(),
            later_page: false,
        };
        assert!(t.check(&a, &rec("r1")).is_none());
        assert!(t.check(&a, &rec("r1")).is_none());
        let wait = t.check(&a, &rec("r1")).expect("third is throttled");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Another record has its own bucket; the app's bucket (5) counted only the two.
        assert!(t.check(&a, &rec("r2")).is_none());
        assert!(t.check(&a, &rec("r2")).is_none());
        assert!(t.check(&a, &rec("r3")).is_none());
        assert!(t.check(&a, &rec("r4")).is_some(), "app bucket empty");
        // Another tenant's app is untouched.
        assert!(t.check(&caller("t2", "a2"), &rec("r1")).is_none());
        let off = Throttle::new(&ThrottleConfig {
            enabled: false,
            ..config
        });
        for _ in 0..10 {
            assert!(off.check(&a, &rec("r1")).is_none());
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let e = too_many_requests(Duration::from_millis(1500));
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.headers[0].1, "2");
        assert_eq!(too_many_requests(Duration::ZERO).headers[0].1, "1");
    }
}
