//! The benchmark suite: every scenario on one server holding a given volume, each figure next
//! to the loopback ceiling measured in the same run (see [`crate::ceiling`]).
//!
//! A *cell* is one backend at one volume: `callhook bench` starts a fresh server per cell,
//! calls [`run_cell`], and on PostgreSQL starts a second node on the same database and calls
//! [`second_node`]. The cells together make a [`SuiteReport`] (JSON and a table).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;
use serde::Serialize;

use crate::ceiling::{self, CeilingServer, PostFigures, Route};
use crate::load::{self, Budget, Read, ReadFigures, ReadPlan};
use crate::notifications::{
    self, Feed, LatencyFigures, NeighbourFigures, NotifyBenchOptions, Receiver, RichFigures,
    ThroughputFigures,
};
use crate::{ingest, prepare_pstn_rows, prepare_records, send_ingest, IngestFigures, Target};

/// The days PSTN report rows are spread over (Graph keeps call data 30 days).
const REPORT_DAYS: i64 = 30;
/// POSTs callhook keeps in flight per webhook URL (its default), so the ceiling's sender is
/// held to the same parallelism.
const POSTS_PER_URL: usize = 4;

/// The volumes and loads of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteOptions {
    /// Ingest requests in flight.
    pub concurrency: usize,
    /// Records per ingest request.
    pub batch: usize,
    /// Records ingested (batched, then single `PUT`s) once the volume is stored.
    pub ingest_records: usize,
    pub single_records: usize,
    /// PSTN report rows stored per call record stored (rows = records / this).
    pub records_per_pstn_row: usize,
    /// Requests per read with one client (the unloaded latency).
    pub samples: usize,
    /// Concurrent clients, and seconds, of each loaded read.
    pub clients: usize,
    pub load_seconds: f64,
    /// Basic notifications to one subscription (records ingested, then drained).
    pub notify_records: usize,
    /// Records for the many-subscription figure (each notifies every subscription).
    pub fanout_records: usize,
    pub subscriptions: usize,
    pub receivers: usize,
    /// Call events (= rich notifications) in each rich throughput figure.
    pub rich_events: usize,
    /// Notifications per second, and seconds, of each latency figure.
    pub paced_rate: usize,
    pub paced_seconds: u64,
    /// Calls of the simulator's run (`callhook simulate` into a tenant of its own).
    pub simulate_calls: usize,
    /// The noisy neighbour: stuck subscriptions, notifications queued for them, and the
    /// healthy subscription's records per second (for `paced_seconds`).
    pub neighbour_subscriptions: usize,
    pub neighbour_notifications: usize,
    pub neighbour_rate: usize,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            batch: 100,
            ingest_records: 20_000,
            single_records: 2_000,
            records_per_pstn_row: 10,
            samples: 1_000,
            clients: 16,
            load_seconds: 5.0,
            notify_records: 20_000,
            fanout_records: 1_000,
            subscriptions: 100,
            receivers: 10,
            rich_events: 20_000,
            paced_rate: 1_000,
            paced_seconds: 5,
            simulate_calls: 20_000,
            neighbour_subscriptions: 10,
            neighbour_notifications: 10_000,
            neighbour_rate: 100,
        }
    }
}

/// One line of the table: a figure of callhook, and of the ceiling where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: String,
    /// `records/s`, `notifications/s`, `requests/s`, `p50 ms` or `p99 ms`.
    pub measure: &'static str,
    pub callhook: f64,
    pub ceiling: Option<f64>,
    /// callhook ÷ ceiling: for a rate, the share of the ceiling reached; for a latency, how
    /// many times the ceiling's it is.
    pub ratio: Option<f64>,
    /// False when notifications went missing (the figure is then not a valid result).
    pub complete: bool,
}

fn figure(
    scenario: impl Into<String>,
    measure: &'static str,
    callhook: f64,
    ceiling: Option<f64>,
) -> Figure {
    Figure {
        scenario: scenario.into(),
        measure,
        callhook,
        ceiling,
        ratio: ceiling.filter(|c| *c > 0.0).map(|c| callhook / c),
        complete: true,
    }
}

/// A read's figures on callhook and on the ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct ReadResult {
    pub callhook: ReadFigures,
    pub ceiling: ReadFigures,
}

/// A notification throughput figure and the bare sender's.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryResult<T> {
    pub callhook: T,
    pub ceiling: Option<PostFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationResults {
    pub basic_one: DeliveryResult<ThroughputFigures>,
    pub basic_many: DeliveryResult<ThroughputFigures>,
    pub rich_one: DeliveryResult<RichFigures>,
    pub rich_many: DeliveryResult<RichFigures>,
    pub basic_one_latency: DeliveryResult<LatencyFigures>,
    pub basic_many_latency: DeliveryResult<LatencyFigures>,
    pub rich_one_latency: DeliveryResult<LatencyFigures>,
    pub rich_many_latency: DeliveryResult<LatencyFigures>,
    pub neighbour: Option<NeighbourFigures>,
}

/// One node against two on the same database, same requests.
#[derive(Debug, Clone, Serialize)]
pub struct NodeComparison {
    pub ingest_one_node: IngestFigures,
    pub ingest_two_nodes: IngestFigures,
    pub fanout_one_node: ThroughputFigures,
    pub fanout_two_nodes: ThroughputFigures,
}

impl NodeComparison {
    /// Two-node rate ÷ one-node rate, for ingest and for delivery.
    pub fn ratios(&self) -> (f64, f64) {
        (
            self.ingest_two_nodes.records_per_second
                / self.ingest_one_node.records_per_second.max(1e-9),
            self.fanout_two_nodes.notifications_per_second
                / self.fanout_one_node.notifications_per_second.max(1e-9),
        )
    }
}

/// Everything measured on one backend at one volume.
#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub backend: String,
    /// Call records stored before the cell was measured.
    pub volume: usize,
    /// Call records stored at the end (the scenarios add their own).
    pub stored_records: usize,
    pub pstn_rows: usize,
    pub figures: Vec<Figure>,
    /// Every notification of every scenario arrived.
    pub complete: bool,
    pub fill: IngestFigures,
    pub pstn_fill: IngestFigures,
    pub ingest: Vec<IngestFigures>,
    pub ingest_ceiling: Vec<IngestFigures>,
    pub reads_one_client: Vec<ReadResult>,
    pub reads_loaded: Vec<ReadResult>,
    pub notifications: NotificationResults,
    pub second_node: Option<NodeComparison>,
    /// The next unused record number (record ids are `record::id_of(n)`).
    #[serde(skip)]
    next_record: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub started_at: String,
    pub cores: usize,
    pub options: SuiteOptions,
    pub cells: Vec<CellReport>,
    /// Cells that could not run, and why (e.g. no PostgreSQL).
    pub skipped: Vec<String>,
}

fn notify_options(
    t: &Target,
    neighbour: Option<&Target>,
    opts: &SuiteOptions,
) -> NotifyBenchOptions {
    let mut n = NotifyBenchOptions::new(t.clone());
    n.batch = opts.batch;
    n.concurrency = opts.concurrency;
    n.neighbour = neighbour.cloned();
    n.neighbour_subscriptions = opts.neighbour_subscriptions;
    n.neighbour_notifications = opts.neighbour_notifications;
    n.neighbour_rate = opts.neighbour_rate;
    n
}

/// Fresh receivers like a scenario's, their hook URLs, and how many POSTs callhook may have in
/// flight to them (one per subscription, at most 4 per URL).
async fn ceiling_hooks(
    subscriptions: usize,
    receivers: usize,
) -> anyhow::Result<(Vec<Receiver>, Vec<String>, usize)> {
    let hooks = Receiver::start_for(subscriptions, receivers).await?;
    let urls: Vec<String> = hooks.iter().map(|h| format!("{}/hook", h.url)).collect();
    let in_flight = subscriptions.clamp(1, POSTS_PER_URL * urls.len());
    Ok((hooks, urls, in_flight))
}

/// The bare sender's run for a delivery callhook made: the same bodies, as many POSTs, to
/// fresh receivers like the scenario's, as parallel as callhook may be.
async fn ceiling_throughput(
    sample: Option<&(usize, axum::body::Bytes)>,
    expected: u64,
    subscriptions: usize,
    receivers: usize,
) -> anyhow::Result<Option<PostFigures>> {
    let Some((items, body)) = sample else {
        return Ok(None);
    };
    let items = (*items).max(1);
    let posts = (expected as usize).div_ceil(items);
    let (hooks, urls, in_flight) = ceiling_hooks(subscriptions, receivers).await?;
    let figures = ceiling::send_posts(&urls, body.clone(), items, posts, in_flight, None).await?;
    let got: u64 = hooks.iter().map(Receiver::items).sum();
    anyhow::ensure!(
        got as usize == figures.notifications,
        "the ceiling's receivers counted {got} of {} notifications",
        figures.notifications
    );
    Ok(Some(figures))
}

/// The bare sender's latency at the pace callhook delivered: the same bodies, in the same
/// bursts (the POSTs one ingest request caused) at the same times, to receivers like the
/// scenario's; from each burst's start to each POST's answer.
async fn ceiling_latency(
    l: &LatencyFigures,
    seconds: u64,
    receivers: usize,
) -> anyhow::Result<Option<PostFigures>> {
    let Some((items, body)) = &l.sample else {
        return Ok(None);
    };
    let requests = l.records.div_ceil(l.records_per_request.max(1)).max(1);
    let posts = (l.posts as usize).max(requests);
    let pace = ceiling::Pace {
        every: Duration::from_secs_f64(seconds.max(1) as f64 / requests as f64),
        posts: posts.div_ceil(requests),
    };
    let (_hooks, urls, in_flight) = ceiling_hooks(l.subscriptions, receivers).await?;
    Ok(Some(
        ceiling::send_posts(&urls, body.clone(), *items, posts, in_flight, Some(pace)).await?,
    ))
}

/// Runs every scenario on `t`, which must be a fresh server (an empty database);
/// `neighbour` is another tenant of the same server (the noisy neighbour's).
pub async fn run_cell(
    t: &Target,
    neighbour: &Target,
    backend: &str,
    volume: usize,
    opts: &SuiteOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<CellReport> {
    let conc = opts.concurrency.max(1);
    let batch = opts.batch.clamp(2, 100);
    let me = std::slice::from_ref(t);

    // 1. Fill to the volume, then ingest more at that volume.
    progress(&format!("{backend}: storing {volume} call records"));
    let fill = ingest(me, 0, volume, batch, conc).await?;
    let pstn_rows = (volume / opts.records_per_pstn_row.max(1)).max(1);
    progress(&format!("{backend}: storing {pstn_rows} PSTN report rows"));
    let report_end = chrono::Utc::now();
    let pstn_fill = send_ingest(
        me,
        prepare_pstn_rows(0, pstn_rows, REPORT_DAYS)?,
        pstn_rows,
        conc,
    )
    .await?;
    let mut next = volume;
    progress(&format!(
        "{backend}: ingesting {} more records in batches, {} as single PUTs",
        opts.ingest_records, opts.single_records
    ));
    let batched = ingest(me, next, opts.ingest_records, batch, conc).await?;
    let singles = ingest(me, next + opts.ingest_records, opts.single_records, 1, conc).await?;
    let ingest_first = next;
    next += opts.ingest_records + opts.single_records;

    // 2. The ceiling: callhook's own answers to one request of each route, replayed.
    progress(&format!(
        "{backend}: capturing answers for the loopback ceiling"
    ));
    let mut answers = HashMap::new();
    let one_batch = prepare_records(next, batch, batch)?;
    next += batch;
    let ingest_base = format!("{}/ingest/v1/tenants/{}", t.base_url, t.tenant_id);
    if let Some(p) = one_batch.into_iter().next() {
        answers.insert(
            Route::IngestBatch,
            ceiling::capture(
                Method::POST,
                &format!("{ingest_base}/{}", p.path),
                &t.ingest_key,
                Some(p.body),
            )
            .await?,
        );
    }
    if let Some(p) = prepare_records(next, 1, 1)?.into_iter().next() {
        answers.insert(
            Route::IngestSingle,
            ceiling::capture(
                Method::PUT,
                &format!("{ingest_base}/{}", p.path),
                &t.ingest_key,
                Some(p.body),
            )
            .await?,
        );
    }
    next += 1;
    if let Some(p) = prepare_pstn_rows(pstn_rows, 1, REPORT_DAYS)?
        .into_iter()
        .next()
    {
        answers.insert(
            Route::IngestReportRows,
            ceiling::capture(
                Method::POST,
                &format!("{ingest_base}/{}", p.path),
                &t.ingest_key,
                Some(p.body),
            )
            .await?,
        );
    }
    let plan = ReadPlan {
        records: volume,
        report_days: REPORT_DAYS,
        report_end,
    };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(11);
    for (route, read) in [
        (Route::ExpandedGet, Read::ExpandedGet),
        (Route::ListPage, Read::ListPage),
        (Route::ReportPage, Read::ReportPage),
    ] {
        let url = plan.url(&t.base_url, read, &mut rng, &mut None);
        answers.insert(
            route,
            ceiling::capture(Method::GET, &url, &t.access_token, None).await?,
        );
    }
    let server = CeilingServer::start(answers, &t.base_url).await?;
    let ct = t.at(&server.base_url);
    let cme = std::slice::from_ref(&ct);
    progress(&format!(
        "{backend}: the same ingest requests to the ceiling"
    ));
    let c_batched = ingest(cme, ingest_first, opts.ingest_records, batch, conc).await?;
    let c_singles = ingest(
        cme,
        ingest_first + opts.ingest_records,
        opts.single_records,
        1,
        conc,
    )
    .await?;
    let c_pstn = send_ingest(
        cme,
        prepare_pstn_rows(0, pstn_rows, REPORT_DAYS)?,
        pstn_rows,
        conc,
    )
    .await?;

    let mut figures = vec![
        figure(
            format!("ingest: store {volume} records, batches of {batch}, {conc} in flight"),
            "records/s",
            fill.records_per_second,
            Some(c_batched.records_per_second),
        ),
        figure(
            format!("ingest: {pstn_rows} PSTN report rows, 1,000 per request"),
            "records/s",
            pstn_fill.records_per_second,
            Some(c_pstn.records_per_second),
        ),
        figure(
            format!("ingest at {volume} stored: batches of {batch}"),
            "records/s",
            batched.records_per_second,
            Some(c_batched.records_per_second),
        ),
        figure(
            format!("ingest at {volume} stored: single PUTs"),
            "records/s",
            singles.records_per_second,
            Some(c_singles.records_per_second),
        ),
    ];

    // 3. Reads: one client (unloaded latency), then concurrent clients.
    let mut reads_one = Vec::new();
    let mut reads_loaded = Vec::new();
    for read in Read::ALL {
        progress(&format!(
            "{backend}: {} — 1 client, then {} clients",
            read.label(),
            opts.clients
        ));
        let one = load::measure(t, &plan, read, 1, Budget::Requests(opts.samples)).await?;
        let c_one = load::measure(&ct, &plan, read, 1, Budget::Requests(opts.samples)).await?;
        let span = Budget::Time(Duration::from_secs_f64(opts.load_seconds.max(0.1)));
        let loaded = load::measure(t, &plan, read, opts.clients, span).await?;
        let c_loaded = load::measure(&ct, &plan, read, opts.clients, span).await?;
        let name = read.label();
        figures.push(figure(
            format!("{name}, 1 client"),
            "p50 ms",
            one.latency.p50_ms,
            Some(c_one.latency.p50_ms),
        ));
        figures.push(figure(
            format!("{name}, 1 client"),
            "p99 ms",
            one.latency.p99_ms,
            Some(c_one.latency.p99_ms),
        ));
        let under = format!("{name}, {} clients", opts.clients);
        figures.push(figure(
            under.clone(),
            "requests/s",
            loaded.requests_per_second,
            Some(c_loaded.requests_per_second),
        ));
        figures.push(figure(
            under.clone(),
            "p50 ms",
            loaded.latency.p50_ms,
            Some(c_loaded.latency.p50_ms),
        ));
        figures.push(figure(
            under,
            "p99 ms",
            loaded.latency.p99_ms,
            Some(c_loaded.latency.p99_ms),
        ));
        reads_one.push(ReadResult {
            callhook: one,
            ceiling: c_one,
        });
        reads_loaded.push(ReadResult {
            callhook: loaded,
            ceiling: c_loaded,
        });
    }
    drop(server);

    // 4. Notifications: throughput (a paused backlog drained) and latency (paced), basic and
    // rich, to one subscription and to many.
    let nopts = notify_options(t, Some(neighbour), opts);
    let subs = opts.subscriptions.max(1);
    let receivers = opts.receivers.max(1);
    progress(&format!(
        "{backend}: basic notifications, 1 subscription, {} drained",
        opts.notify_records
    ));
    let basic_one =
        notifications::throughput(&nopts, me, next, opts.notify_records, 1, 1, Feed::Backlog)
            .await?;
    next += opts.notify_records;
    let c = ceiling_throughput(
        basic_one.sample.as_ref(),
        basic_one.expected_notifications,
        1,
        1,
    )
    .await?;
    let basic_one = DeliveryResult {
        callhook: basic_one,
        ceiling: c,
    };

    progress(&format!(
        "{backend}: basic notifications, {subs} subscriptions, {} drained",
        opts.fanout_records * subs
    ));
    let basic_many = notifications::throughput(
        &nopts,
        me,
        next,
        opts.fanout_records,
        subs,
        receivers,
        Feed::Backlog,
    )
    .await?;
    next += opts.fanout_records;
    let c = ceiling_throughput(
        basic_many.sample.as_ref(),
        basic_many.expected_notifications,
        subs,
        receivers,
    )
    .await?;
    let basic_many = DeliveryResult {
        callhook: basic_many,
        ceiling: c,
    };

    let mut events = 0;
    progress(&format!(
        "{backend}: rich notifications, 1 subscription, {} drained",
        opts.rich_events
    ));
    let rich_one = notifications::rich(t, events, 1, 1, opts.rich_events).await?;
    events += opts.rich_events;
    let c = ceiling_throughput(rich_one.sample.as_ref(), rich_one.events as u64, 1, 1).await?;
    let rich_one = DeliveryResult {
        callhook: rich_one,
        ceiling: c,
    };

    progress(&format!(
        "{backend}: rich notifications, {subs} subscriptions, {} drained",
        opts.rich_events
    ));
    let rich_many = notifications::rich(t, events, subs, receivers, opts.rich_events).await?;
    events += opts.rich_events;
    let c = ceiling_throughput(
        rich_many.sample.as_ref(),
        rich_many.events as u64,
        subs,
        receivers,
    )
    .await?;
    let rich_many = DeliveryResult {
        callhook: rich_many,
        ceiling: c,
    };

    let (rate, secs) = (opts.paced_rate.max(1), opts.paced_seconds.max(1));
    progress(&format!(
        "{backend}: latency at {rate} notifications/s, basic and rich, 1 and {subs} subscriptions"
    ));
    let l = notifications::paced(&nopts, t, next, 1, 1, rate, secs).await?;
    next += l.records;
    let c = ceiling_latency(&l, secs, 1).await?;
    let basic_one_latency = DeliveryResult {
        callhook: l,
        ceiling: c,
    };
    let l = notifications::paced(&nopts, t, next, subs, receivers, rate, secs).await?;
    next += l.records;
    let c = ceiling_latency(&l, secs, receivers).await?;
    let basic_many_latency = DeliveryResult {
        callhook: l,
        ceiling: c,
    };
    let l = notifications::rich_paced(t, events, 1, 1, rate, secs).await?;
    events += l.records;
    let c = ceiling_latency(&l, secs, 1).await?;
    let rich_one_latency = DeliveryResult {
        callhook: l,
        ceiling: c,
    };
    let l = notifications::rich_paced(t, events, subs, receivers, rate, secs).await?;
    let c = ceiling_latency(&l, secs, receivers).await?;
    let rich_many_latency = DeliveryResult {
        callhook: l,
        ceiling: c,
    };

    progress(&format!(
        "{backend}: noisy neighbour — {} stuck subscriptions with {} queued, {} records/s beside them",
        opts.neighbour_subscriptions, opts.neighbour_notifications, opts.neighbour_rate
    ));
    let neighbour = notifications::neighbour(&nopts, t, next, secs).await?;
    let neighbour_ceiling = match &neighbour {
        Some(n) => {
            next += n.healthy.records;
            ceiling_latency(&n.healthy, secs, 1).await?
        }
        None => None,
    };

    let mut complete = true;
    let mut rate_figure =
        |name: String, got: u64, expected: u64, value: f64, c: &Option<PostFigures>| {
            let mut f = figure(
                name,
                "notifications/s",
                value,
                c.as_ref().map(|c| c.notifications_per_second),
            );
            f.complete = got == expected;
            complete &= f.complete;
            figures.push(f);
        };
    for (name, r) in [("basic", &basic_one), ("basic", &basic_many)] {
        let t = &r.callhook;
        rate_figure(
            format!(
                "{name} notifications, {} subscription(s) on {} receiver(s), backlog of {}",
                t.subscriptions, t.receivers, t.expected_notifications
            ),
            t.received_notifications,
            t.expected_notifications,
            t.notifications_per_second,
            &r.ceiling,
        );
    }
    for r in [&rich_one, &rich_many] {
        let t = &r.callhook;
        rate_figure(
            format!(
                "rich notifications ({}-bit), {} subscription(s), backlog of {}",
                t.certificate_bits, t.subscriptions, t.events
            ),
            t.received_notifications,
            t.events as u64,
            t.notifications_per_second,
            &r.ceiling,
        );
    }
    for (kind, r) in [
        ("basic", &basic_one_latency),
        ("basic", &basic_many_latency),
        ("rich", &rich_one_latency),
        ("rich", &rich_many_latency),
    ] {
        let l = &r.callhook;
        let name = format!(
            "{kind} ingest ack → receipt at {rate}/s, {} subscription(s)",
            l.subscriptions
        );
        let ok = l.received_notifications == l.expected_notifications;
        complete &= ok;
        for (measure, v, c) in [
            (
                "p50 ms",
                l.latency.p50_ms,
                r.ceiling.as_ref().map(|c| c.latency.p50_ms),
            ),
            (
                "p99 ms",
                l.latency.p99_ms,
                r.ceiling.as_ref().map(|c| c.latency.p99_ms),
            ),
        ] {
            let mut f = figure(name.clone(), measure, v, c);
            f.complete = ok;
            figures.push(f);
        }
    }

    if let Some(n) = &neighbour {
        let l = &n.healthy;
        let mut f = figure(
            format!(
                "noisy neighbour: ack → receipt at {}/s beside {} stuck subscriptions with {} queued",
                l.records_per_second, n.stuck_subscriptions, n.stuck_notifications
            ),
            "p99 ms",
            l.latency.p99_ms,
            neighbour_ceiling.as_ref().map(|c| c.latency.p99_ms),
        );
        f.complete = l.received_notifications == l.expected_notifications;
        complete &= f.complete;
        figures.push(f);
    }

    Ok(CellReport {
        backend: backend.to_string(),
        volume,
        stored_records: next,
        pstn_rows,
        figures,
        complete,
        fill,
        pstn_fill,
        ingest: vec![batched, singles],
        ingest_ceiling: vec![c_batched, c_singles, c_pstn],
        reads_one_client: reads_one,
        reads_loaded,
        notifications: NotificationResults {
            basic_one,
            basic_many,
            rich_one,
            rich_many,
            basic_one_latency,
            basic_many_latency,
            rich_one_latency,
            rich_many_latency,
            neighbour: neighbour.clone(),
        },
        second_node: None,
        next_record: next,
    })
}

/// The simulator's figure: `calls` calls sent by `callhook simulate` into the cell's server
/// (the whole run: generation, users, records and corrections, report rows, meetings with
/// their transcripts and recordings, call events), beside the cell's batched-ingest rate.
pub fn add_simulator(cell: &mut CellReport, calls: usize, records_per_second: f64) {
    let share = cell
        .ingest
        .first()
        .map(|b| b.records_per_second)
        .filter(|r| *r > 0.0)
        .map(|b| {
            format!(
                ", {:.0} % of batched ingest",
                100.0 * records_per_second / b
            )
        })
        .unwrap_or_default();
    cell.figures.push(figure(
        format!("simulate: {calls} calls, the whole run{share}"),
        "records/s",
        records_per_second,
        None,
    ));
}

/// With a second node `two` on the same database as `cell`'s server `one`: the same batched
/// ingest and the same many-subscription backlog, spread over both nodes, against the
/// one-node figures measured again just before.
pub async fn second_node(
    cell: &mut CellReport,
    one: &Target,
    two: &Target,
    opts: &SuiteOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    let conc = opts.concurrency.max(1);
    let batch = opts.batch.clamp(2, 100);
    let nopts = notify_options(one, None, opts);
    let subs = opts.subscriptions.max(1);
    let both = [one.clone(), two.clone()];
    let mut next = cell.next_record;
    progress(&format!(
        "{}: ingest and delivery, 1 node then 2 nodes",
        cell.backend
    ));
    let ingest_one_node = ingest(
        std::slice::from_ref(one),
        next,
        opts.ingest_records,
        batch,
        conc,
    )
    .await?;
    next += opts.ingest_records;
    let ingest_two_nodes = ingest(&both, next, opts.ingest_records, batch, conc).await?;
    next += opts.ingest_records;
    let fanout_one_node = notifications::throughput(
        &nopts,
        std::slice::from_ref(one),
        next,
        opts.fanout_records,
        subs,
        opts.receivers,
        Feed::Backlog,
    )
    .await?;
    next += opts.fanout_records;
    let fanout_two_nodes = notifications::throughput(
        &nopts,
        &both,
        next,
        opts.fanout_records,
        subs,
        opts.receivers,
        Feed::Backlog,
    )
    .await?;
    next += opts.fanout_records;
    for f in [&fanout_one_node, &fanout_two_nodes] {
        cell.complete &= f.received_notifications == f.expected_notifications;
    }
    cell.next_record = next;
    cell.stored_records = next;
    cell.second_node = Some(NodeComparison {
        ingest_one_node,
        ingest_two_nodes,
        fanout_one_node,
        fanout_two_nodes,
    });
    Ok(())
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn value(v: f64, measure: &str) -> String {
    if measure.ends_with("ms") {
        format!("{v:.2} ms")
    } else {
        format!("{}/s", thousands(v))
    }
}

impl SuiteReport {
    /// A readable table, one section per cell.
    pub fn table(&self) -> String {
        let mut out = format!(
            "callhook benchmark suite — {} ({} cores)\n\
             ratio: for a rate, callhook's share of the loopback ceiling; for a latency, how many times the ceiling's\n",
            self.started_at, self.cores
        );
        for c in &self.cells {
            out.push_str(&format!(
                "\n{} — {} call records and {} PSTN rows stored ({} records at the end){}\n",
                c.backend,
                thousands(c.volume as f64),
                thousands(c.pstn_rows as f64),
                thousands(c.stored_records as f64),
                if c.complete {
                    ""
                } else {
                    " — NOTIFICATIONS MISSING"
                }
            ));
            out.push_str(&format!(
                "  {:<78} {:>8} {:>15} {:>15} {:>8}\n",
                "scenario", "measure", "callhook", "ceiling", "ratio"
            ));
            for f in &c.figures {
                let ceiling = f
                    .ceiling
                    .map(|v| value(v, f.measure))
                    .unwrap_or_else(|| "—".into());
                let ratio = match f.ratio {
                    Some(r) if f.measure.ends_with("ms") => format!("{r:.1}×"),
                    Some(r) => format!("{:.1} %", r * 100.0),
                    None => "—".into(),
                };
                out.push_str(&format!(
                    "  {:<78} {:>8} {:>15} {:>15} {:>8}{}\n",
                    f.scenario,
                    f.measure,
                    value(f.callhook, f.measure),
                    ceiling,
                    ratio,
                    if f.complete { "" } else { "  INCOMPLETE" }
                ));
            }
            if let Some(n) = &c.second_node {
                let (ingest, delivery) = n.ratios();
                out.push_str(&format!(
                    "  second node on the same database: ingest {} → {} records/s ({:.2}×); \
                     {} subscriptions' backlog {} → {} notifications/s ({:.2}×)\n",
                    thousands(n.ingest_one_node.records_per_second),
                    thousands(n.ingest_two_nodes.records_per_second),
                    ingest,
                    n.fanout_one_node.subscriptions,
                    thousands(n.fanout_one_node.notifications_per_second),
                    thousands(n.fanout_two_nodes.notifications_per_second),
                    delivery
                ));
            }
        }
        for s in &self.skipped {
            out.push_str(&format!("\nskipped: {s}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_values_read_as_the_table_says() {
        let f = figure("x", "records/s", 500.0, Some(2000.0));
        assert_eq!(f.ratio, Some(0.25));
        assert_eq!(figure("x", "p99 ms", 3.0, Some(0.0)).ratio, None);
        assert_eq!(value(1_234_567.4, "records/s"), "1,234,567/s");
        assert_eq!(value(999.0, "requests/s"), "999/s");
        assert_eq!(value(0.456, "p50 ms"), "0.46 ms");
        assert_eq!(thousands(-1000.0), "-1,000");
    }

    #[test]
    fn pstn_rows_cover_the_report_window_and_record_ids_are_distinct() -> anyhow::Result<()> {
        let rows = prepare_pstn_rows(0, 2_500, REPORT_DAYS)?;
        assert_eq!(rows.len(), 3);
        let ids: std::collections::HashSet<String> = (0..100).map(crate::record::id_of).collect();
        assert_eq!(ids.len(), 100);
        Ok(())
    }
}
