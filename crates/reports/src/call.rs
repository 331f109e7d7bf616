//! One call's timeline: its sessions, segments and streams in time order, with each stream's
//! CQD verdict and "Poor Due To" reasons and CQD's First/Second endpoints.
//!
//! First/Second (CQD): the server endpoint is First whenever the segment has one; between two
//! endpoints of the same kind the caller is First (CQD orders those by user-agent category,
//! which Graph does not carry). A stream is `First-to-Second` when its sender is First.

use callhook_collector::Store;
use callhook_model::{CallRecord, Endpoint, MediaStreamDirection, UserAgent};
use callhook_quality::{streams, Side, Thresholds};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::sql::{fetch_all, with_pool, Bind, Sql};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineRow {
    /// `call`, `session`, `segment` or `stream`.
    pub kind: String,
    pub id: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Caller → callee (call: type and version).
    pub what: String,
    /// Segment: which side is CQD's First; stream: `First-to-Second` or `Second-to-First`.
    pub first: String,
    pub failure: String,
    /// Stream: modality and verdict.
    pub quality: String,
    pub poor_due_to: String,
    /// Stream: the metrics CQD classifies on.
    pub metrics: String,
}

fn describe(e: Option<&Endpoint>) -> String {
    let Some(e) = e else {
        return "?".into();
    };
    match e {
        Endpoint::Participant(p) => {
            let who = p
                .associated_identity
                .as_ref()
                .and_then(|i| {
                    i.user_principal_name
                        .clone()
                        .or_else(|| i.display_name.clone())
                        .or_else(|| i.id.clone())
                })
                .unwrap_or_else(|| "participant".into());
            match &p.user_agent {
                Some(UserAgent::Client(c)) => format!("{who} ({})", c.platform.as_str()),
                _ => who,
            }
        }
        Endpoint::Service(s) => match &s.user_agent {
            Some(UserAgent::Service(u)) => format!("service:{}", u.role.as_str()),
            _ => "service".into(),
        },
        Endpoint::Base(_) => "endpoint".into(),
    }
}

fn is_server(e: Option<&Endpoint>) -> bool {
    e.is_some()
        && !Side {
            endpoint: e,
            network: None,
            device: None,
        }
        .is_client()
}

fn metric(name: &str, v: Option<f64>, unit: &str) -> Option<String> {
    v.map(|v| format!("{name}={v:.3}{unit}"))
}

/// The timeline of call `id` (any tenant unless `tenant` is given); `None` when not stored.
pub async fn timeline(
    store: &Store,
    tenant: Option<&str>,
    id: &str,
    thresholds: &Thresholds,
) -> anyhow::Result<Option<Vec<TimelineRow>>> {
    let tenant = match tenant {
        Some(t) => t.to_string(),
        None => {
            let mut sql = Sql::new("SELECT tenant_id FROM calls WHERE id = ");
            let p = sql.bind(Bind::Text(id.to_string()));
            sql.push(&format!("{p} ORDER BY tenant_id LIMIT 1"));
            let found: Option<String> = with_pool!(&store.db, pool => {
                match fetch_all!(sql, pool)?.first() {
                    Some(r) => Some(sqlx::Row::try_get(r, 0)?),
                    None => None,
                }
            });
            match found {
                Some(t) => t,
                None => return Ok(None),
            }
        }
    };
    let Some(json) = store.record_json(&tenant, id).await? else {
        return Ok(None);
    };
    let rec = callhook_model::from_value::<CallRecord>(json)
        .map_err(|e| anyhow::anyhow!("call {id}: stored record does not parse: {e}"))?;
    let views = streams(&rec, thresholds);
    let mut out = vec![TimelineRow {
        kind: "call".into(),
        id: rec.id.clone(),
        start: Some(rec.start_date_time),
        end: Some(rec.end_date_time),
        what: format!(
            "{} v{}",
            rec.call_type.as_str(),
            rec.version.unwrap_or_default()
        ),
        first: String::new(),
        failure: String::new(),
        quality: String::new(),
        poor_due_to: String::new(),
        metrics: String::new(),
    }];
    let failure = |i: &Option<callhook_model::FailureInfo>| {
        i.as_ref()
            .map(|i| {
                format!("{} {}", i.stage.as_str(), i.reason.as_deref().unwrap_or(""))
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let mut sessions: Vec<_> = rec.sessions.iter().collect();
    sessions.sort_by_key(|s| s.start_date_time);
    for s in sessions {
        out.push(TimelineRow {
            kind: "session".into(),
            id: s.id.clone(),
            start: Some(s.start_date_time),
            end: Some(s.end_date_time),
            what: format!(
                "{} → {}",
                describe(s.caller.as_ref()),
                describe(s.callee.as_ref())
            ),
            first: String::new(),
            failure: failure(&s.failure_info),
            quality: String::new(),
            poor_due_to: String::new(),
            metrics: String::new(),
        });
        let mut segments: Vec<_> = s.segments.iter().collect();
        segments.sort_by_key(|g| g.start_date_time);
        for g in segments {
            let caller_first = is_server(g.caller.as_ref()) || !is_server(g.callee.as_ref());
            out.push(TimelineRow {
                kind: "segment".into(),
                id: g.id.clone(),
                start: Some(g.start_date_time),
                end: Some(g.end_date_time),
                what: format!(
                    "{} → {}",
                    describe(g.caller.as_ref()),
                    describe(g.callee.as_ref())
                ),
                first: if caller_first { "caller" } else { "callee" }.into(),
                failure: failure(&g.failure_info),
                quality: String::new(),
                poor_due_to: String::new(),
                metrics: String::new(),
            });
            for v in views
                .iter()
                .filter(|v| v.session_id == s.id && v.segment_id == g.id)
            {
                let sent_by_caller =
                    v.stream.stream_direction != MediaStreamDirection::CalleeToCaller;
                let m = callhook_quality::StreamMetrics::from(v.stream);
                let metrics: Vec<String> = [
                    metric("rtt", m.round_trip_ms, "ms"),
                    metric("jitter", m.jitter_ms, "ms"),
                    metric("loss", m.packet_loss_rate, ""),
                    m.packet_utilization.map(|p| format!("packets={p}")),
                    metric("fps", m.video_frame_rate, ""),
                    metric("frameLoss", m.video_frame_loss_percent, "%"),
                ]
                .into_iter()
                .flatten()
                .collect();
                out.push(TimelineRow {
                    kind: "stream".into(),
                    id: v.stream.stream_id.clone().unwrap_or_default(),
                    start: v.stream.start_date_time,
                    end: v.stream.end_date_time,
                    what: format!(
                        "{} {}",
                        v.media.label.as_deref().unwrap_or("media"),
                        v.stream.stream_direction.as_str()
                    ),
                    first: if sent_by_caller == caller_first {
                        "First-to-Second"
                    } else {
                        "Second-to-First"
                    }
                    .into(),
                    failure: String::new(),
                    quality: format!(
                        "{} {}",
                        v.modality.map(|m| m.as_str()).unwrap_or("none"),
                        serde_json::to_value(v.verdict.quality)
                            .ok()
                            .and_then(|q| q.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                    poor_due_to: v
                        .verdict
                        .poor_due_to
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    metrics: metrics.join(" "),
                });
            }
        }
    }
    Ok(Some(out))
}

/// One record as it arrived (the live feed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentRow {
    pub id: String,
    pub fetched_at: DateTime<Utc>,
    pub version: i64,
    #[serde(rename = "type")]
    pub call_type: String,
    pub start: Option<DateTime<Utc>>,
    pub sessions: i64,
    pub streams: i64,
}

/// The `limit` records stored last (newest first), of calls that started in the range.
pub async fn recent(
    store: &Store,
    f: &crate::Filters,
    limit: i64,
) -> anyhow::Result<Vec<RecentRow>> {
    let mut sql = Sql::new(
        "SELECT id, fetched_at, version, COALESCE(type, ''), start_date_time, session_count, \
         stream_count FROM calls WHERE 1 = 1",
    );
    sql.eq("tenant_id", &f.tenant);
    sql.range("start_date_time", f.from, f.to);
    sql.eq("type", &f.call_type);
    sql.push(&format!(
        " ORDER BY fetched_at DESC, id LIMIT {}",
        limit.max(1)
    ));
    with_pool!(&store.db, pool => {
        fetch_all!(sql, pool)?
            .iter()
            .map(|r| {
                use sqlx::Row;
                Ok(RecentRow {
                    id: r.try_get(0)?,
                    fetched_at: r.try_get(1)?,
                    version: r.try_get(2)?,
                    call_type: r.try_get(3)?,
                    start: r.try_get(4)?,
                    sessions: r.try_get(5)?,
                    streams: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    })
}
