//! Deterministic generation of a tenant's call traffic in the ingest API's shapes.
//!
//! Everything is drawn from one `ChaCha8Rng` seeded with `SimConfig::seed`, in a fixed order,
//! so the same configuration always yields byte-identical JSON.

mod calls;
mod catalog;
mod draft;
mod emergency;
mod media;
mod meetings;
mod rows;
mod staging;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use catalog::*;
pub use emergency::POLICY_NAME as EMERGENCY_POLICY_NAME;
pub use meetings::SimArtifact;
pub use staging::{StagedItem, StreamRef};

use crate::scenario::Staging;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimConfig {
    /// Number of call records (version 1).
    pub calls: usize,
    pub seed: u64,
    /// Directory users (at least 2 are generated whatever this says).
    pub users: usize,
    /// Start times spread over the `days` days before `now` (at least 1).
    pub days: u32,
    /// Share of records (0..=1) that receive one or more later corrections.
    pub update_fraction: f64,
    /// Every call ends before this instant.
    pub now: DateTime<Utc>,
    pub tenant_id: String,
    /// Mail domain of the directory users, e.g. `contoso.com`.
    pub domain: String,
    /// How many of the calls are emergency calls; `None`: one per 1,000 calls, and one from 100
    /// calls on (see [`SimConfig::emergency_call_count`]).
    pub emergency_calls: Option<usize>,
}

impl SimConfig {
    /// The defaults (1,000 calls over 7 days, 200 users, 20 % corrected) for a tenant at `now`.
    pub fn new(tenant_id: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            calls: 1_000,
            seed: 1,
            users: 200,
            days: 7,
            update_fraction: 0.2,
            now,
            tenant_id: tenant_id.into(),
            domain: "contoso.com".into(),
            emergency_calls: None,
        }
    }

    /// The emergency calls among `calls`: as configured (at most `calls`), else rare — one per
    /// 1,000 calls, at least one from 100 calls on.
    pub fn emergency_call_count(&self) -> usize {
        match self.emergency_calls {
            Some(n) => n.min(self.calls),
            None if self.calls >= 100 => (self.calls / 1000).max(1),
            None => 0,
        }
    }
}

/// Kind of call a record stands for (the simulator's own classification, not a Graph field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CallKind {
    PeerToPeer,
    /// Ad-hoc group call (no `joinWebUrl`).
    Group,
    /// Scheduled meeting (`joinWebUrl`).
    Meeting,
    /// Calling Plan / Operator Connect PSTN call.
    Pstn,
    DirectRouting,
}

/// Everything one simulation run sends, as ingest-API JSON bodies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPlan {
    /// Directory users: `{id, displayName, userPrincipalName, mail}`.
    pub users: Vec<Value>,
    /// Version-1 call records, fully expanded, in start-time order.
    pub call_records: Vec<Value>,
    /// `record_kinds[i]` is the kind of `call_records[i]`.
    pub record_kinds: Vec<CallKind>,
    /// Later whole-record corrections (same ids), in the order a platform would send them.
    pub updates: Vec<Value>,
    pub pstn_calls: Vec<Value>,
    pub direct_routing_calls: Vec<Value>,
    pub sms_log: Vec<Value>,
    pub pstn_blocked_users: Vec<Value>,
    pub dialout_usage: Vec<Value>,
    /// Online meetings of the meeting calls (`onlineMeeting`, with `joinWebUrl`).
    pub online_meetings: Vec<Value>,
    /// Ad hoc calls that have a transcript or recording (ingest shape, with `organizer`).
    pub adhoc_calls: Vec<Value>,
    /// Transcripts and recordings of those meetings and calls.
    pub artifacts: Vec<SimArtifact>,
    /// Call events (per-user callStarted/callEnded, meeting roster changes) in time order.
    pub call_events: Vec<Value>,
    /// The tenant's emergency policies (ingest shape: `name`, `dialStrings`); sent first.
    pub emergency_policies: Vec<Value>,
    /// `emergencyCallEvent`s of the emergency calls, in time order. Each emergency call is also
    /// a PSTN or direct-routing record with its report row (`emergency_out`, `dr_emergency_out`).
    pub emergency_call_events: Vec<Value>,
    /// What a scenario's incidents put into this part (nothing without a scenario).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub staged: Vec<StagedItem>,
}

/// Generates the plan for `cfg`. Pure: the same `cfg` always gives the same plan.
pub fn generate(cfg: &SimConfig) -> SimPlan {
    generate_part(cfg, 0)
}

/// Part `part` of a run generated in parts (a large run's plan does not fit in memory at
/// once): the same directory users in every part, `cfg.calls` other calls in each (part 0 is
/// exactly [`generate`]'s plan), and the directory-level report rows (blocked users) in part
/// 0 only. Pure, like [`generate`].
pub fn generate_part(cfg: &SimConfig, part: u32) -> SimPlan {
    generate_staged(cfg, part, None)
}

/// [`generate_part`] with a scenario's incidents staged: their own calls, rows and events in
/// part 0, and in every part the changes to the calls caught in a streak's window.
pub fn generate_staged(cfg: &SimConfig, part: u32, staging: Option<&Staging>) -> SimPlan {
    generate_with(cfg, part, staging, &[])
}

/// A live run's part: its calls start at `starts` (one call each, in order; `cfg.calls` is
/// ignored), the last of them emergency calls as configured.
pub fn generate_live(
    cfg: &SimConfig,
    part: u32,
    staging: Option<&Staging>,
    starts: &[DateTime<Utc>],
) -> SimPlan {
    let cfg = SimConfig {
        calls: starts.len(),
        ..cfg.clone()
    };
    generate_with(&cfg, part, staging, starts)
}

fn generate_with(
    cfg: &SimConfig,
    part: u32,
    staging: Option<&Staging>,
    starts: &[DateTime<Utc>],
) -> SimPlan {
    let mut g = Gen::new(cfg);
    g.make_people();
    let seed = part_seed(cfg.seed, part);
    if part > 0 {
        g.rng = ChaCha8Rng::seed_from_u64(seed);
    }
    let mut drafts = Vec::with_capacity(cfg.calls);
    let emergency = cfg.emergency_call_count();
    let mut starts = starts.iter();
    for _ in 0..cfg.calls - emergency {
        g.forced_start = starts.next().copied();
        drafts.push(g.make_call());
    }
    for _ in 0..emergency {
        g.forced_start = starts.next().copied();
        drafts.push(g.make_emergency_call());
    }
    g.forced_start = None;
    let mut staged = Vec::new();
    if let Some(st) = staging {
        if part == 0 {
            staged = g.stage(st, &mut drafts);
        }
        let ids: Vec<String> = staged
            .iter()
            .filter_map(|s| s.call_record_id.clone())
            .collect();
        staged.extend(g.stage_streaks(st, &mut drafts, &ids));
    }
    g.emergency_events.sort_by(|a, b| {
        let key = |v: &Value| (v["eventDateTime"].to_string(), v["id"].to_string());
        key(a).cmp(&key(b))
    });
    // Send records in the order the calls happened, as a platform would.
    drafts.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    let mut updates: Vec<(DateTime<Utc>, usize, u8, Value)> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let mut arrival = d.end;
        for k in 1..=d.corrections {
            // Late client signals trickle in from minutes to a day after the call.
            let delay_min = match k {
                1 => g.rng.gen_range(20..180),
                2 => g.rng.gen_range(30..720),
                _ => g.rng.gen_range(60..1440),
            };
            arrival += Duration::minutes(delay_min);
            updates.push((arrival, i, k, d.render(k + 1)));
        }
    }
    updates.sort_by_key(|u| (u.0, u.1, u.2));
    g.make_sms_rows();
    if part == 0 {
        g.make_blocked_users();
    }
    let m = meetings::make(seed, &cfg.tenant_id, &g.users, &g.externals, &drafts);
    SimPlan {
        users: g.users.iter().map(Person::directory_json).collect(),
        call_records: drafts.iter().map(|d| d.render(1)).collect(),
        record_kinds: drafts.iter().map(|d| d.kind).collect(),
        updates: updates.into_iter().map(|u| u.3).collect(),
        pstn_calls: g.pstn_rows,
        direct_routing_calls: g.dr_rows,
        sms_log: g.sms_rows,
        pstn_blocked_users: g.blocked_rows,
        dialout_usage: g.dialout_rows,
        online_meetings: m.online_meetings,
        adhoc_calls: m.adhoc_calls,
        artifacts: m.artifacts,
        call_events: m.call_events,
        emergency_policies: if !g.emergency_events.is_empty() {
            vec![emergency::policy()]
        } else {
            Vec::new()
        },
        emergency_call_events: g.emergency_events,
        staged,
    }
}

/// The seed of a part's calls: the run's own for part 0.
fn part_seed(seed: u64, part: u32) -> u64 {
    seed ^ u64::from(part).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DevKind {
    Windows,
    Mac,
    Web,
    Ios,
    Android,
    Room,
    IpPhone,
}

#[derive(Clone)]
struct Device {
    kind: DevKind,
    platform: &'static str,
    family: &'static str,
    header: String,
    app_version: Option<String>,
    app_id: Option<&'static str>,
    name: Option<String>,
    cpu: Option<(&'static str, i64, i64)>,
    audio: (&'static str, &'static str, &'static str),
}

#[derive(Clone)]
struct Person {
    id: String,
    name: String,
    upn: String,
    tenant: String,
    country: usize,
    phone: String,
    primary: Device,
    mobile: Option<Device>,
    room: bool,
}

impl Person {
    fn directory_json(&self) -> Value {
        json!({
            "id": self.id,
            "displayName": self.name,
            "userPrincipalName": self.upn,
            "mail": self.upn,
        })
    }

    fn participant_json(&self) -> Value {
        json!({
            "id": self.id,
            "identity": {"user": {"id": self.id, "displayName": self.name, "tenantId": self.tenant}},
        })
    }
}

fn phone_participant_json(number: &str) -> Value {
    json!({
        "id": number,
        "identity": {"phone": {"id": number, "displayName": null, "tenantId": null}},
    })
}

struct Gen<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    users: Vec<Person>,
    /// Federated users of another tenant who join some meetings.
    externals: Vec<Person>,
    pstn_rows: Vec<Value>,
    dr_rows: Vec<Value>,
    sms_rows: Vec<Value>,
    blocked_rows: Vec<Value>,
    dialout_rows: Vec<Value>,
    emergency_events: Vec<Value>,
    /// A staged call's start and first user, taken by the next `pick_start` / `pick_user`.
    forced_start: Option<DateTime<Utc>>,
    forced_user: Option<usize>,
}

impl<'a> Gen<'a> {
    fn new(cfg: &'a SimConfig) -> Self {
        Self {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            users: Vec::new(),
            externals: Vec::new(),
            pstn_rows: Vec::new(),
            dr_rows: Vec::new(),
            sms_rows: Vec::new(),
            blocked_rows: Vec::new(),
            dialout_rows: Vec::new(),
            emergency_events: Vec::new(),
            forced_start: None,
            forced_user: None,
        }
    }

    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// One element of a non-empty table.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.rng.gen_range(0..items.len().max(1));
        // Tables are compile-time constants or non-empty pools; the first element is a
        // fallback that is never reached.
        items
            .get(i)
            .or(items.first())
            .copied()
            .unwrap_or_else(unreachable_empty)
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| *w).sum();
        let mut x = self.rng.gen_range(0..total.max(1));
        for (item, w) in items {
            if x < *w {
                return *item;
            }
            x -= w;
        }
        items
            .first()
            .map(|(i, _)| *i)
            .unwrap_or_else(unreachable_empty)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|i| {
                // Subscriber numbers do not start with 0 or 1.
                let lo = if i == 0 { 2 } else { 0 };
                char::from(b'0' + self.rng.gen_range(lo..10u8))
            })
            .collect()
    }

    fn phone_number(&mut self, country: usize) -> String {
        let c = country_at(country);
        let area = self.pick(c.areas);
        format!("{}{}{}", c.dial, area, self.digits(c.local_digits))
    }

    fn make_people(&mut self) {
        let count = self.cfg.users.max(2);
        let rooms = if count >= 20 {
            (count / 25).min(ROOM_NAMES.len())
        } else {
            0
        };
        let mut taken = std::collections::BTreeSet::new();
        let domain = self.cfg.domain.clone();
        for i in 0..count {
            let room = i >= count - rooms;
            let (name, local) = if room {
                let r = ROOM_NAMES.get(i + rooms - count).copied().unwrap_or("Room");
                (
                    format!("Conf Room {r}"),
                    format!("confroom{}", r.to_lowercase()),
                )
            } else {
                let first = self.pick(FIRST_NAMES);
                let last = self.pick(LAST_NAMES);
                (
                    format!("{first} {last}"),
                    format!("{}.{}", first.to_lowercase(), last.to_lowercase()),
                )
            };
            let mut local_unique = local.clone();
            let mut n = 1;
            while !taken.insert(local_unique.clone()) {
                n += 1;
                local_unique = format!("{local}{n}");
            }
            let country = self.weighted(USER_COUNTRIES);
            let p = self.make_person(name, format!("{local_unique}@{domain}"), country, room);
            self.users.push(p);
        }
        let ext_tenant = self.uuid();
        for _ in 0..8 {
            let first = self.pick(FIRST_NAMES);
            let last = self.pick(LAST_NAMES);
            let upn = format!(
                "{}.{}@fabrikam.com",
                first.to_lowercase(),
                last.to_lowercase()
            );
            let mut p = self.make_person(format!("{first} {last}"), upn, 0, false);
            p.tenant = ext_tenant.clone();
            self.externals.push(p);
        }
    }

    fn make_person(&mut self, name: String, upn: String, country: usize, room: bool) -> Person {
        let id = self.uuid();
        let phone = self.phone_number(country);
        let first = name.split(' ').next().unwrap_or("User").to_string();
        let kind = if room {
            DevKind::Room
        } else {
            self.weighted(&[
                (DevKind::Windows, 58),
                (DevKind::Mac, 18),
                (DevKind::Web, 8),
                (DevKind::Ios, 6),
                (DevKind::Android, 5),
                (DevKind::IpPhone, 5),
            ])
        };
        let primary = self.make_device(kind, &first);
        let mobile = if room || kind == DevKind::IpPhone || !self.chance(0.6) {
            None
        } else {
            let k = if self.chance(0.55) {
                DevKind::Ios
            } else {
                DevKind::Android
            };
            Some(self.make_device(k, &first))
        };
        Person {
            id,
            name,
            upn,
            tenant: self.cfg.tenant_id.clone(),
            country,
            phone,
            primary,
            mobile,
            room,
        }
    }

    /// A call start time in the last `days` days, mostly weekday working hours, such that a
    /// call lasting `span_s` seconds has ended (with margin) before `now`.
    fn pick_start(&mut self, span_s: i64, scheduled: bool) -> DateTime<Utc> {
        if let Some(t) = self.forced_start.take() {
            return t;
        }
        let now = self.cfg.now;
        let days = i64::from(self.cfg.days.max(1));
        let window_start = now - Duration::days(days);
        let latest = now - Duration::seconds(span_s + 120);
        for _ in 0..24 {
            let day = window_start + Duration::days(self.rng.gen_range(0..=days));
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            if weekend && !self.chance(0.12) {
                continue;
            }
            let hour: u32 = if self.chance(0.85) {
                self.weighted(&[
                    (8, 6),
                    (9, 12),
                    (10, 14),
                    (11, 12),
                    (12, 6),
                    (13, 11),
                    (14, 13),
                    (15, 12),
                    (16, 9),
                    (17, 5),
                ])
            } else {
                self.rng.gen_range(0..24)
            };
            let (minute, second, nanos) = if scheduled {
                (self.pick(&[0u32, 0, 30, 30, 15, 45]), 0, 0)
            } else {
                (
                    self.rng.gen_range(0..60),
                    self.rng.gen_range(0..60),
                    self.rng.gen_range(0..10_000_000u32) * 100,
                )
            };
            let Some(t) = day
                .with_hour(hour)
                .and_then(|t| t.with_minute(minute))
                .and_then(|t| t.with_second(second))
                .and_then(|t| t.with_nanosecond(nanos))
            else {
                continue;
            };
            if t >= window_start && t <= latest {
                return t;
            }
        }
        // Short windows (or bad luck): any time that still ends before now.
        let back = self.rng.gen_range(600..(days * 86_400).max(601));
        latest - Duration::seconds(back.min(days * 86_400 - 1).max(0))
    }
}

fn unreachable_empty<T>() -> T {
    // Only reachable if a constant table were empty, which the tests would catch first.
    panic!("internal error: empty constant table")
}

fn country_at(i: usize) -> &'static Country {
    COUNTRIES.get(i).unwrap_or(&COUNTRIES[0])
}
