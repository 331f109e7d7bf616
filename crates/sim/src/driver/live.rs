//! Live mode: traffic that unfolds in time. Calls start at the configured rate; everything a
//! call produces is due at the moment Graph would make it available (call events at their
//! time, the record after a latency draw, later versions after further delays, transcripts and
//! recordings after the meeting, report rows in report-sized chunks later) and is sent when the
//! simulation's clock reaches it. The clock is the server's own when it runs `--clock manual`
//! (the simulator follows it), else the local clock sped up `speed` times.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use super::{
    artifact_jobs, id_of, put_json, send_policies, Batches, Job, Sender, SimulateOptions,
    EVENT_BATCH, RECORD_BATCH, ROW_BATCH, USER_BATCH,
};
use crate::generator::{generate_live, SimPlan};
use crate::scenario::Staging;
use crate::summary::SimSummary;
use crate::truth::Truth;

/// A delay distribution: exponential with the given mean, cut at `max` (minutes of simulated
/// time), at least `min`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delay {
    pub min_minutes: f64,
    pub mean_minutes: f64,
    pub max_minutes: f64,
}

impl Delay {
    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let m = (-u.ln() * self.mean_minutes)
            .clamp(self.min_minutes, self.max_minutes.max(self.min_minutes));
        Duration::milliseconds((m * 60_000.0) as i64)
    }
}

/// How a live run unfolds.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Calls starting per minute (at an ordinary working hour when `daily_profile` is on).
    pub rate_per_minute: f64,
    /// Busy mornings, a lunch dip, quiet nights and weekends.
    pub daily_profile: bool,
    /// Simulated time during which calls start; `None`: until Ctrl-C. The run ends when all
    /// the calls started have delivered everything.
    pub duration: Option<Duration>,
    /// Local clock only: simulated time runs this many times faster than real time.
    pub speed: f64,
    /// From a call's end to its record (Graph: on average under 30 minutes, at most 150).
    pub record_delay: Delay,
    /// From one version of a record to the next.
    pub version_delay: Delay,
    /// From a meeting's end to its transcript and recording.
    pub artifact_delay: Delay,
    /// Report rows become available this long after their call ended...
    pub report_delay: Duration,
    /// ...in chunks, one every `report_every`.
    pub report_every: Duration,
    /// Real time between two looks at the clock.
    pub tick: std::time::Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            rate_per_minute: 2.0,
            daily_profile: false,
            duration: None,
            speed: 1.0,
            record_delay: Delay {
                min_minutes: 2.0,
                mean_minutes: 15.0,
                max_minutes: 150.0,
            },
            version_delay: Delay {
                min_minutes: 10.0,
                mean_minutes: 60.0,
                max_minutes: 720.0,
            },
            artifact_delay: Delay {
                min_minutes: 2.0,
                mean_minutes: 10.0,
                max_minutes: 60.0,
            },
            report_delay: Duration::minutes(60),
            report_every: Duration::minutes(30),
            tick: std::time::Duration::from_millis(250),
        }
    }
}

/// The share of `--rate` at `t` under the daily profile (1.0 at an ordinary working hour).
pub fn profile_factor(t: DateTime<Utc>) -> f64 {
    let hour = match t.hour() {
        0..=5 => 0.03,
        6 => 0.15,
        7 => 0.5,
        8 => 1.2,
        9..=11 => 1.6,
        12 => 0.7,
        13..=15 => 1.2,
        16 => 0.9,
        17 => 0.5,
        18..=20 => 0.15,
        _ => 0.05,
    };
    match t.weekday() {
        Weekday::Sat | Weekday::Sun => hour * 0.1,
        _ => hour,
    }
}

const PROFILE_MAX: f64 = 1.6;

/// Calls per minute a live run may ask for (100 a second: far beyond a live tenant).
pub const MAX_RATE: f64 = 6_000.0;

/// Start times of the calls in `[from, to)`: a Poisson process at `rate` per minute, thinned
/// by the daily profile when it is on.
pub fn arrivals(
    rng: &mut ChaCha8Rng,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rate_per_minute: f64,
    daily_profile: bool,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if rate_per_minute <= 0.0 || !rate_per_minute.is_finite() {
        return out;
    }
    let peak = if daily_profile {
        rate_per_minute * PROFILE_MAX
    } else {
        rate_per_minute
    };
    let mut t = from;
    loop {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        t += Duration::microseconds((-u.ln() / peak * 60_000_000.0) as i64)
            .max(Duration::microseconds(1));
        if t >= to {
            return out;
        }
        if !daily_profile || rng.gen_bool((profile_factor(t) / PROFILE_MAX).clamp(0.0, 1.0)) {
            out.push(t);
        }
    }
}

/// What becomes available at a moment.
enum Item {
    Record(Value),
    CallEvent(Value),
    Row(&'static str, Value),
    /// An online meeting or ad hoc call (`PUT`) or an artifact's requests.
    Puts(Vec<Job>),
    EmergencyEvent(Value),
}

impl Item {
    fn lane(&self) -> Option<&'static str> {
        match self {
            Self::Record(_) => Some("callRecords"),
            Self::CallEvent(_) => Some("callEvents"),
            Self::Row(path, _) => Some(path),
            Self::EmergencyEvent(_) => Some("emergencyCallEvents"),
            Self::Puts(_) => None,
        }
    }
}

fn time_of(v: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .find_map(|s| s.parse::<DateTime<Utc>>().ok())
}

/// Everything of a plan, by when it becomes available.
struct Timeline {
    items: BTreeMap<(DateTime<Utc>, u64), Item>,
    seq: u64,
}

impl Timeline {
    fn push(&mut self, at: DateTime<Utc>, item: Item) {
        self.seq += 1;
        self.items.insert((at, self.seq), item);
    }

    fn add_plan(
        &mut self,
        plan: &SimPlan,
        live: &LiveOptions,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<()> {
        for e in &plan.call_events {
            let at = time_of(e, &["eventDateTime"]).unwrap_or_default();
            self.push(at, Item::CallEvent(e.clone()));
        }
        for e in &plan.emergency_call_events {
            let at = time_of(e, &["eventDateTime"]).unwrap_or_default();
            self.push(at, Item::EmergencyEvent(e.clone()));
        }
        // Version 1 after Graph's latency, each later version after a further delay.
        let mut last: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for r in &plan.call_records {
            let end = time_of(r, &["endDateTime"]).unwrap_or_default();
            let at = end + live.record_delay.draw(rng);
            last.insert(id_of(r)?.to_string(), at);
            self.push(at, Item::Record(r.clone()));
        }
        for u in &plan.updates {
            let prev = last.get(id_of(u)?).copied().unwrap_or_default();
            let at = prev + live.version_delay.draw(rng);
            last.insert(id_of(u)?.to_string(), at);
            self.push(at, Item::Record(u.clone()));
        }
        let reports: [(&'static str, &Vec<Value>); 5] = [
            ("reports/pstnCalls", &plan.pstn_calls),
            ("reports/directRoutingCalls", &plan.direct_routing_calls),
            ("reports/smsLog", &plan.sms_log),
            ("reports/pstnBlockedUsersLog", &plan.pstn_blocked_users),
            ("reports/pstnOnlineMeetingDialout", &plan.dialout_usage),
        ];
        let every = live.report_every.num_milliseconds().max(1);
        for (path, rows) in reports {
            for row in rows {
                let t = time_of(
                    row,
                    &[
                        "endDateTime",
                        "failureDateTime",
                        "startDateTime",
                        "sentDateTime",
                        "blockDateTime",
                        "usageDate",
                    ],
                )
                .unwrap_or_default()
                    + live.report_delay;
                // Rounded up to the next report: rows arrive in chunks.
                let ms = t.timestamp_millis();
                let at =
                    DateTime::from_timestamp_millis(ms + (every - ms.rem_euclid(every)) % every)
                        .unwrap_or(t);
                self.push(at, Item::Row(path, row.clone()));
            }
        }
        // A meeting exists from its start; its artifacts come after it ended.
        let mut ends: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        let parents = plan
            .online_meetings
            .iter()
            .map(|m| ("onlineMeetings", m))
            .chain(plan.adhoc_calls.iter().map(|c| ("adhocCalls", c)));
        for (kind, body) in parents {
            let path = format!("{kind}/{}", id_of(body)?);
            let at = time_of(body, &["startDateTime", "creationDateTime"]).unwrap_or_default();
            ends.insert(path.clone(), time_of(body, &["endDateTime"]).unwrap_or(at));
            self.push(at, Item::Puts(vec![put_json(path, body)?]));
        }
        for a in &plan.artifacts {
            let parent = super::parent_of(&a.path);
            let end = time_of(&a.metadata, &["endDateTime"])
                .or_else(|| ends.get(parent).copied())
                .unwrap_or_default();
            let at =
                end.max(ends.get(parent).copied().unwrap_or(end)) + live.artifact_delay.draw(rng);
            self.push(at, Item::Puts(artifact_jobs(a)?));
        }
        Ok(())
    }

    /// Removes and returns what is due at `now`, in time order.
    fn due(&mut self, now: DateTime<Utc>) -> Vec<Item> {
        let later = self.items.split_off(&(now + Duration::nanoseconds(1), 0));
        std::mem::replace(&mut self.items, later)
            .into_values()
            .collect()
    }
}

/// The simulation's time.
enum Clock {
    /// The server's `--clock manual`: followed, never moved.
    Server,
    Local {
        start: DateTime<Utc>,
        real: Instant,
        speed: f64,
    },
}

impl Clock {
    async fn now(&self, sender: &Sender) -> anyhow::Result<DateTime<Utc>> {
        match self {
            Self::Local { start, real, speed } => {
                let ms = real.elapsed().as_secs_f64() * speed * 1000.0;
                Ok(*start + Duration::milliseconds(ms as i64))
            }
            Self::Server => server_clock(sender).await.map(|(now, _)| now),
        }
    }
}

/// The server's time and whether it is manual (`GET /_callhook/clock`).
async fn server_clock(sender: &Sender) -> anyhow::Result<(DateTime<Utc>, bool)> {
    let url = format!("{}/_callhook/clock", sender.endpoint.url);
    let v: Value = sender
        .endpoint
        .http
        .get(&url)
        .header(AUTHORIZATION, &sender.auth)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}"))?;
    let now = v
        .get("now")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .ok_or_else(|| anyhow!("GET {url}: no time in {v}"))?;
    Ok((now, v.get("manual").and_then(Value::as_bool) == Some(true)))
}

/// Runs a live simulation until its calls have delivered everything or Ctrl-C.
pub(super) async fn run_live(
    opts: &SimulateOptions,
    live: &LiveOptions,
    sender: Arc<Sender>,
    seed: u64,
) -> anyhow::Result<(SimSummary, Option<Truth>)> {
    if !(live.rate_per_minute > 0.0 && live.rate_per_minute <= MAX_RATE) {
        bail!("--rate must be above 0 and at most {MAX_RATE} calls per minute");
    }
    let (server_now, manual) = server_clock(&sender).await?;
    let clock = if manual {
        Clock::Server
    } else {
        Clock::Local {
            start: Utc::now(),
            real: Instant::now(),
            speed: if live.speed > 0.0 { live.speed } else { 1.0 },
        }
    };
    let start = if manual { server_now } else { Utc::now() };
    let end = live.duration.map(|d| start + d);
    // Without an end, a scenario's incidents fall in the first hour.
    let window = (start, end.unwrap_or(start + Duration::hours(1)));
    let staging: Option<Staging> = match &opts.scenario {
        Some(s) => Some(s.resolve(window.0, window.1, seed)?),
        None => None,
    };
    let mut truth = staging
        .as_ref()
        .map(|s| Truth::new(s, seed, &sender.endpoint.tenant_id, window));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x11FE);
    let mut timeline = Timeline {
        items: BTreeMap::new(),
        seq: 0,
    };
    let chunk = Duration::hours(1);
    let mut next_chunk = start;
    let mut part = 0u32;
    let mut summary: Option<SimSummary> = None;
    let mut users_sent = false;
    let mut cfg = opts.config(seed, start, &sender.endpoint.tenant_id);
    // SMS and blocked-user rows fall in the day before each hour's end.
    cfg.days = 1;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let now = clock.now(&sender).await?;
        // Calls of the next hour are generated a little ahead of time.
        let generating = end.is_none_or(|e| next_chunk < e);
        if generating && next_chunk <= now + Duration::minutes(5) {
            let to = end.map_or(next_chunk + chunk, |e| (next_chunk + chunk).min(e));
            let starts = arrivals(
                &mut rng,
                next_chunk,
                to,
                live.rate_per_minute,
                live.daily_profile,
            );
            let st = if part == 0 { staging.as_ref() } else { None };
            cfg.now = to;
            let plan = generate_live(&cfg, part, st, &starts);
            if !users_sent {
                send_policies(&sender, &plan).await?;
                let mut users = Batches::new("users", &plan.users, USER_BATCH);
                while let Some(job) = users.next_job()? {
                    sender.execute(job).await?;
                }
                users_sent = true;
                sender
                    .progress
                    .stage("live: sending what is due as the clock reaches it");
            } else if !plan.emergency_policies.is_empty() {
                send_policies(&sender, &plan).await?;
            }
            timeline.add_plan(&plan, live, &mut rng)?;
            if let Some(t) = &mut truth {
                t.add_part(&plan);
            }
            let counts = SimSummary::of_plan(&plan);
            match &mut summary {
                None => summary = Some(counts),
                Some(s) => s.add_part(&counts),
            }
            sender
                .progress
                .add_total(plan.call_records.len() + plan.updates.len());
            next_chunk = to;
            part += 1;
            continue;
        }
        send_due(&sender, timeline.due(now)).await?;
        if !generating && timeline.items.is_empty() {
            break;
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(live.tick) => {}
        }
    }
    let summary = summary.ok_or_else(|| anyhow!("the run stopped before its first calls"))?;
    Ok((summary, truth))
}

/// Sends due items in order: consecutive items of one route go in one batch (a record's
/// versions never share a batch, so they are stored in order).
async fn send_due(sender: &Arc<Sender>, items: Vec<Item>) -> anyhow::Result<()> {
    let mut batch: Vec<Value> = Vec::new();
    let mut lane: Option<&'static str> = None;
    for item in items {
        let this = item.lane();
        let repeat = matches!(&item, Item::Record(r)
            if batch.iter().any(|b| b.get("id") == r.get("id")));
        if this != lane || repeat {
            flush(sender, lane, &mut batch).await?;
        }
        lane = this;
        match item {
            Item::Record(v) | Item::CallEvent(v) | Item::Row(_, v) | Item::EmergencyEvent(v) => {
                batch.push(v)
            }
            Item::Puts(jobs) => {
                for job in jobs {
                    sender.execute(job).await?;
                }
            }
        }
    }
    flush(sender, lane, &mut batch).await
}

async fn flush(
    sender: &Arc<Sender>,
    lane: Option<&'static str>,
    batch: &mut Vec<Value>,
) -> anyhow::Result<()> {
    let Some(path) = lane else {
        batch.clear();
        return Ok(());
    };
    let size = match path {
        "callRecords" => RECORD_BATCH,
        "callEvents" | "emergencyCallEvents" => EVENT_BATCH,
        _ => ROW_BATCH,
    };
    let mut batches = Batches::new(path, batch, size);
    while let Some(mut job) = batches.next_job()? {
        if path == "callRecords" {
            job.expect_values = Some(job.items);
            job.calls = job.items;
        }
        sender.execute(job).await?;
    }
    batch.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        // March 2026: the 10th is a Tuesday, the 14th a Saturday.
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn arrivals_follow_the_rate_in_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = arrivals(&mut rng, at(10, 0), at(10, 10), 2.0, false);
        assert!((1000..1400).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|t| *t >= at(10, 0) && *t < at(10, 10)));
        assert!(arrivals(&mut rng, at(10, 0), at(10, 1), 0.0, false).is_empty());
    }

    #[test]
    fn the_daily_profile_makes_busy_mornings_and_quiet_nights_and_weekends() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut count = |from, to| arrivals(&mut rng, from, to, 10.0, true).len();
        let morning = count(at(10, 9), at(10, 11));
        let night = count(at(10, 2), at(10, 4));
        let weekend = count(at(14, 9), at(14, 11));
        assert!(morning > 1500, "{morning}");
        assert!(night * 10 < morning, "{night} vs {morning}");
        assert!(weekend * 5 < morning, "{weekend} vs {morning}");
        assert_eq!(profile_factor(at(10, 10)), 1.6);
        assert_eq!(profile_factor(at(10, 14)), 1.2);
    }

    #[test]
    fn delays_stay_in_their_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let d = Delay {
            min_minutes: 2.0,
            mean_minutes: 15.0,
            max_minutes: 150.0,
        };
        let draws: Vec<Duration> = (0..2000).map(|_| d.draw(&mut rng)).collect();
        assert!(draws
            .iter()
            .all(|x| *x >= Duration::minutes(2) && *x <= Duration::minutes(150)));
        let mean = draws.iter().map(|x| x.num_seconds()).sum::<i64>() / 2000;
        assert!((600..1200).contains(&mean), "{mean}");
    }
}
