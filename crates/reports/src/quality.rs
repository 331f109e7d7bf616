//! CQD measures over the stored records, grouped by one dimension.
//!
//! Classification happens when a report runs: each stored record's JSON (its latest version)
//! goes through `callhook-quality` (the same code the simulator's ground truth uses), so a
//! changed threshold or a newly imported building file applies to all data at once. A stream
//! counts under every distinct value of its client endpoints (CQD tests only the client side
//! of a server–client stream; a client–client stream has two), as `callhook-quality` does.
//!
//! Failures: CQD counts setup and drop failures per stream. Graph reports them per segment
//! (and session) in `failureInfo.stage`: every stream of a segment whose stage is `callSetup`
//! is a setup failure, `midcall` a drop; a segment without streams (a failed setup often has
//! no media) counts as one item so its failure is not lost.

use std::collections::BTreeMap;
use std::net::IpAddr;

use callhook_collector::Store;
use callhook_model::{
    CallRecord, Endpoint, FailureStage, NetworkInfo, NetworkTransportProtocol, UserAgent,
};
use callhook_quality::{
    streams, BuildingFile, Counts, Dimension, Modality, Quality, Side, StreamView, Thresholds,
};
use serde::Serialize;
use sqlx::Row;

use crate::sql::{fetch_all, with_pool, Bind, Sql};
use crate::{matches, percent, Filters};

/// What a quality report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum By {
    /// One row for everything (the dashboard's KPIs).
    All,
    /// The call's start day (UTC).
    Day,
    Building,
    Subnet,
    /// Connection type: wired, wifi, mobile, tunnel.
    Network,
    WifiBand,
    Vpn,
    /// Inside or outside the corporate network (building file `InsideCorp`).
    InsideCorp,
    /// UDP or TCP.
    Transport,
    /// Capture device name.
    Device,
    /// Capture device driver.
    Driver,
    /// Client platform (`userAgent.platform`).
    Platform,
    /// Client product and version (`productFamily applicationVersion`).
    Version,
    /// The client endpoint's user (UPN, else display name, else id).
    User,
}

impl By {
    pub const ALL: [By; 14] = [
        By::All,
        By::Day,
        By::Building,
        By::Subnet,
        By::Network,
        By::WifiBand,
        By::Vpn,
        By::InsideCorp,
        By::Transport,
        By::Device,
        By::Driver,
        By::Platform,
        By::Version,
        By::User,
    ];

    pub fn name(self) -> &'static str {
        match self {
            By::All => "all",
            By::Day => "day",
            By::Building => "building",
            By::Subnet => "subnet",
            By::Network => "network",
            By::WifiBand => "wifi-band",
            By::Vpn => "vpn",
            By::InsideCorp => "inside-corp",
            By::Transport => "transport",
            By::Device => "device",
            By::Driver => "driver",
            By::Platform => "platform",
            By::Version => "version",
            By::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == text)
    }

    fn dimension(self) -> Option<Dimension> {
        Some(match self {
            By::Building => Dimension::Building,
            By::Subnet => Dimension::Subnet,
            By::Network => Dimension::ConnectionType,
            By::WifiBand => Dimension::WifiBand,
            By::Vpn => Dimension::Vpn,
            By::Device => Dimension::CaptureDevice,
            By::Driver => Dimension::CaptureDriver,
            _ => return None,
        })
    }
}

/// One group's measures. Rates are percentages; `null` when their denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityRow {
    pub key: String,
    pub calls: u64,
    pub streams: u64,
    pub audio_good: u64,
    pub audio_poor: u64,
    pub audio_unclassified: u64,
    /// Audio Poor Stream Rate: Poor ÷ (Poor + Good).
    pub audio_poor_stream_rate: Option<f64>,
    /// Calls with at least one classified audio stream, and those with a Poor one.
    pub audio_calls: u64,
    pub audio_poor_calls: u64,
    pub audio_poor_call_percent: Option<f64>,
    pub video_good: u64,
    pub video_poor: u64,
    pub video_unclassified: u64,
    pub video_poor_stream_rate: Option<f64>,
    pub vbss_good: u64,
    pub vbss_poor: u64,
    pub vbss_unclassified: u64,
    pub app_sharing_good: u64,
    pub app_sharing_poor: u64,
    pub app_sharing_unclassified: u64,
    /// Streams (and stream-less segments) with a record: CQD's "CDR available".
    pub cdr_available: u64,
    pub setup_failed: u64,
    /// Setup failed ÷ CDR available.
    pub setup_failure_percent: Option<f64>,
    pub dropped: u64,
    /// Dropped ÷ setup succeeded.
    pub drop_failure_percent: Option<f64>,
    /// Audio streams whose client used TCP ÷ audio streams with a known transport.
    pub audio_tcp_streams: u64,
    pub audio_tcp_percent: Option<f64>,
    /// Poor Due To counts (a Poor stream can have several), `reason:count` joined by spaces.
    pub poor_due_to: String,
}

/// Everything of one group while records are read.
#[derive(Debug, Default)]
struct Acc {
    calls: u64,
    streams: u64,
    modality: BTreeMap<Modality, Counts>,
    audio_calls: u64,
    audio_poor_calls: u64,
    cdr_available: u64,
    setup_failed: u64,
    dropped: u64,
    audio_tcp: u64,
    audio_transport_known: u64,
}

/// What one call added to one group (so calls count once per group).
#[derive(Debug, Default, Clone, Copy)]
struct CallMark {
    audio: bool,
    audio_poor: bool,
}

/// One stream, or one segment without streams.
struct Item<'a> {
    view: Option<&'a StreamView<'a>>,
    caller: Option<&'a Endpoint>,
    callee: Option<&'a Endpoint>,
    stage: Stage,
}

/// A segment's failure as CQD counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    None,
    Setup,
    Drop,
}

fn stage_of(info: Option<&callhook_model::FailureInfo>) -> Stage {
    match info.map(|i| &i.stage) {
        Some(FailureStage::CallSetup) => Stage::Setup,
        Some(FailureStage::Midcall) => Stage::Drop,
        _ => Stage::None,
    }
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn address(n: &NetworkInfo) -> Option<IpAddr> {
    n.ip_address
        .as_deref()
        .or(n.subnet.as_deref())
        .and_then(|s| s.trim().parse().ok())
}

fn is_client(e: Option<&Endpoint>) -> bool {
    Side {
        endpoint: e,
        network: None,
        device: None,
    }
    .is_client()
}

fn user_of(e: &Endpoint) -> Option<String> {
    let Endpoint::Participant(p) = e else {
        return None;
    };
    let id = p.associated_identity.as_ref()?;
    non_empty(id.user_principal_name.as_ref())
        .or_else(|| non_empty(id.display_name.as_ref()))
        .or_else(|| non_empty(id.id.as_ref()))
}

fn client_agent(e: &Endpoint) -> Option<&callhook_model::ClientUserAgent> {
    let ua = match e {
        Endpoint::Participant(p) => p.user_agent.as_ref(),
        Endpoint::Service(s) => s.user_agent.as_ref(),
        Endpoint::Base(b) => b.user_agent.as_ref(),
    };
    match ua {
        Some(UserAgent::Client(c)) => Some(c),
        _ => None,
    }
}

/// The item's values under `by` (distinct, from its client endpoints).
fn keys(by: By, item: &Item<'_>, day: &str, buildings: Option<&BuildingFile>) -> Vec<String> {
    if by == By::All {
        return vec!["all".into()];
    }
    if by == By::Day {
        return vec![day.to_string()];
    }
    if let Some(d) = by.dimension() {
        return item
            .view
            .map(|v| v.values(d, buildings))
            .unwrap_or_default();
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: Option<String>| {
        if let Some(v) = v {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    };
    match by {
        By::InsideCorp | By::Transport => {
            let Some(view) = item.view else { return out };
            for side in view.clients() {
                let Some(n) = side.network else { continue };
                add(match by {
                    By::InsideCorp => address(n).map(|ip| {
                        let inside = buildings
                            .and_then(|b| b.lookup(ip))
                            .is_some_and(|net| net.inside_corp);
                        if inside { "inside" } else { "outside" }.to_string()
                    }),
                    _ => (n.network_transport_protocol != NetworkTransportProtocol::Unknown)
                        .then(|| n.network_transport_protocol.as_str().to_string()),
                });
            }
        }
        By::Platform | By::Version | By::User => {
            for e in [item.caller, item.callee].into_iter().flatten() {
                if !is_client(Some(e)) {
                    continue;
                }
                add(match by {
                    By::User => user_of(e),
                    By::Platform => client_agent(e).map(|a| a.platform.as_str().to_string()),
                    _ => client_agent(e).map(|a| {
                        format!(
                            "{} {}",
                            a.product_family.as_str(),
                            a.application_version.as_deref().unwrap_or("")
                        )
                        .trim()
                        .to_string()
                    }),
                });
            }
        }
        _ => {}
    }
    out
}

fn contains_ci(values: &[String], wanted: &str) -> bool {
    values.iter().any(|v| v.eq_ignore_ascii_case(wanted))
}

/// The stored records of the range, a page at a time (keyset on tenant and id), as
/// `(tenant, id, record JSON)`.
async fn for_each_record(
    store: &Store,
    f: &Filters,
    mut each: impl FnMut(&str, &str, &str),
) -> anyhow::Result<()> {
    const PAGE: i64 = 500;
    let mut after: Option<(String, String)> = None;
    loop {
        let mut sql = Sql::new("SELECT tenant_id, id, record_json FROM calls WHERE 1 = 1");
        sql.eq("tenant_id", &f.tenant);
        sql.range("start_date_time", f.from, f.to);
        if let Some((t, i)) = &after {
            let pt = sql.bind(Bind::Text(t.clone()));
            let pi = sql.bind(Bind::Text(i.clone()));
            sql.push(&format!(
                " AND (tenant_id > {pt} OR (tenant_id = {pt} AND id > {pi}))"
            ));
        }
        sql.push(&format!(" ORDER BY tenant_id, id LIMIT {PAGE}"));
        let page: Vec<(String, String, String)> = with_pool!(&store.db, pool => {
            fetch_all!(sql, pool)?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        for (t, i, json) in &page {
            each(t, i, json);
        }
        match page.last() {
            Some((t, i, _)) if page.len() as i64 == PAGE => after = Some((t.clone(), i.clone())),
            _ => return Ok(()),
        }
    }
}

/// Adds one record to the groups.
fn add_record(
    groups: &mut BTreeMap<String, Acc>,
    rec: &CallRecord,
    by: By,
    f: &Filters,
    thresholds: &Thresholds,
    buildings: Option<&BuildingFile>,
) {
    let views = streams(rec, thresholds);
    let day = rec.start_date_time.format("%Y-%m-%d").to_string();
    let mut items: Vec<Item<'_>> = Vec::with_capacity(views.len());
    for session in &rec.sessions {
        let session_stage = stage_of(session.failure_info.as_ref());
        for segment in &session.segments {
            let stage = match stage_of(segment.failure_info.as_ref()) {
                Stage::None => session_stage,
                s => s,
            };
            let mut any = false;
            for v in views
                .iter()
                .filter(|v| v.session_id == session.id && v.segment_id == segment.id)
            {
                any = true;
                items.push(Item {
                    view: Some(v),
                    caller: segment.caller.as_ref(),
                    callee: segment.callee.as_ref(),
                    stage,
                });
            }
            if !any {
                items.push(Item {
                    view: None,
                    caller: segment.caller.as_ref(),
                    callee: segment.callee.as_ref(),
                    stage,
                });
            }
        }
    }
    let mut marks: BTreeMap<String, CallMark> = BTreeMap::new();
    for item in &items {
        let modality = item.view.and_then(|v| v.modality);
        if f.modality.is_some() && !modality.is_some_and(|m| matches(&f.modality, m.as_str())) {
            continue;
        }
        if !passes(item, f, &day, buildings) {
            continue;
        }
        for key in keys(by, item, &day, buildings) {
            let acc = groups.entry(key.clone()).or_default();
            let mark = marks.entry(key).or_default();
            acc.cdr_available += 1;
            match item.stage {
                Stage::Setup => acc.setup_failed += 1,
                Stage::Drop => acc.dropped += 1,
                Stage::None => {}
            }
            let Some(v) = item.view else { continue };
            acc.streams += 1;
            let Some(m) = v.modality else { continue };
            acc.modality.entry(m).or_default().add(&v.verdict);
            if m == Modality::Audio {
                if v.verdict.quality != Quality::Unclassified {
                    mark.audio = true;
                }
                if v.verdict.quality == Quality::Poor {
                    mark.audio_poor = true;
                }
                let transports: Vec<NetworkTransportProtocol> = v
                    .clients()
                    .iter()
                    .filter_map(|s| s.network.map(|n| n.network_transport_protocol.clone()))
                    .filter(|t| *t != NetworkTransportProtocol::Unknown)
                    .collect();
                if !transports.is_empty() {
                    acc.audio_transport_known += 1;
                    if transports.contains(&NetworkTransportProtocol::Tcp) {
                        acc.audio_tcp += 1;
                    }
                }
            }
        }
    }
    for (key, mark) in marks {
        let acc = groups.entry(key).or_default();
        acc.calls += 1;
        acc.audio_calls += u64::from(mark.audio);
        acc.audio_poor_calls += u64::from(mark.audio_poor);
    }
}

fn user_matches(item: &Item<'_>, want: &str) -> bool {
    [item.caller, item.callee].into_iter().flatten().any(|e| {
        let Endpoint::Participant(p) = e else {
            return false;
        };
        p.associated_identity.as_ref().is_some_and(|id| {
            [&id.user_principal_name, &id.display_name, &id.id]
                .into_iter()
                .flatten()
                .any(|v| v.eq_ignore_ascii_case(want))
        })
    })
}

/// Whether an item passes the building, subnet and user filters.
fn passes(item: &Item<'_>, f: &Filters, day: &str, buildings: Option<&BuildingFile>) -> bool {
    let ok = |filter: &Option<String>, by: By| {
        filter
            .as_ref()
            .is_none_or(|w| contains_ci(&keys(by, item, day, buildings), w))
    };
    ok(&f.building, By::Building)
        && ok(&f.subnet, By::Subnet)
        && f.user.as_ref().is_none_or(|w| {
            contains_ci(&keys(By::User, item, day, buildings), w) || user_matches(item, w)
        })
}

fn reasons(counts: &BTreeMap<Modality, Counts>) -> String {
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for c in counts.values() {
        for (r, n) in &c.poor_due_to {
            *total.entry(r.as_str()).or_default() += n;
        }
    }
    total
        .iter()
        .map(|(r, n)| format!("{r}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Acc {
    fn row(&self, key: String) -> QualityRow {
        let c = |m: Modality| self.modality.get(&m).cloned().unwrap_or_default();
        let (a, v, s, p) = (
            c(Modality::Audio),
            c(Modality::Video),
            c(Modality::Vbss),
            c(Modality::AppSharing),
        );
        let rate = |c: &Counts| c.poor_rate().map(|r| r * 100.0);
        QualityRow {
            key,
            calls: self.calls,
            streams: self.streams,
            audio_good: a.good,
            audio_poor: a.poor,
            audio_unclassified: a.unclassified,
            audio_poor_stream_rate: rate(&a),
            audio_calls: self.audio_calls,
            audio_poor_calls: self.audio_poor_calls,
            audio_poor_call_percent: percent(self.audio_poor_calls, self.audio_calls),
            video_good: v.good,
            video_poor: v.poor,
            video_unclassified: v.unclassified,
            video_poor_stream_rate: rate(&v),
            vbss_good: s.good,
            vbss_poor: s.poor,
            vbss_unclassified: s.unclassified,
            app_sharing_good: p.good,
            app_sharing_poor: p.poor,
            app_sharing_unclassified: p.unclassified,
            cdr_available: self.cdr_available,
            setup_failed: self.setup_failed,
            setup_failure_percent: percent(self.setup_failed, self.cdr_available),
            dropped: self.dropped,
            drop_failure_percent: percent(self.dropped, self.cdr_available - self.setup_failed),
            audio_tcp_streams: self.audio_tcp,
            audio_tcp_percent: percent(self.audio_tcp, self.audio_transport_known),
            poor_due_to: reasons(&self.modality),
        }
    }
}

/// Quality measures per value of `by`, in key order. Records that do not parse as call records
/// are skipped (the collector keeps whatever Graph sent).
pub async fn quality(
    store: &Store,
    by: By,
    f: &Filters,
    thresholds: &Thresholds,
) -> anyhow::Result<Vec<QualityRow>> {
    let buildings = crate::buildings::load(store).await?;
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for_each_record(store, f, |_, _, json| {
        let Ok(value) = serde_json::from_str(json) else {
            return;
        };
        let Ok(rec) = callhook_model::from_value::<CallRecord>(value) else {
            return;
        };
        if !matches(&f.call_type, rec.call_type.as_str()) {
            return;
        }
        add_record(&mut groups, &rec, by, f, thresholds, buildings.as_ref());
    })
    .await?;
    Ok(groups.into_iter().map(|(k, a)| a.row(k)).collect())
}

/// The worst groups by Audio Poor Stream Rate (at least `min_streams` classified audio
/// streams), worst first: the dashboard's top offenders.
pub fn worst(rows: &[QualityRow], min_streams: u64, limit: usize) -> Vec<QualityRow> {
    let mut out: Vec<QualityRow> = rows
        .iter()
        .filter(|r| r.audio_good + r.audio_poor >= min_streams && r.audio_poor > 0)
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        b.audio_poor_stream_rate
            .partial_cmp(&a.audio_poor_stream_rate)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.key.cmp(&b.key))
    });
    out.truncate(limit);
    out
}
