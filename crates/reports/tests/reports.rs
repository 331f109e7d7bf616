//! Reports against ground truth: the simulator stages incidents (a degraded building, a bad
//! driver, a VPN site, a failing trunk, emergency calls), its records and report rows go into
//! the collector's store (SQLite, and PostgreSQL from `CALLHOOK_TEST_POSTGRES_URL`; skipped with
//! a notice when unreachable unless `CALLHOOK_REQUIRE_POSTGRES=1`), and every report number is
//! compared with the simulator's independent truth (computed from the records it generated).

use callhook_collector::flatten::{self, Scope};
use callhook_collector::Store;
use callhook_quality::{Dimension, Modality, Thresholds};
use callhook_reports::quality::{quality, By, QualityRow};
use callhook_reports::{buildings, call, usage, Filters};
use callhook_sim::scenario::Scenario;
use callhook_sim::truth::Truth;
use callhook_sim::{generate_staged, SimConfig, SimPlan};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";

const SCENARIO: &str = r#"
name = "reports test"

[[building]]
name = "Lyon office"
networks = ["10.70.0.0/16"]
city = "Lyon"
country = "FR"
region = "EMEA"

[[building]]
name = "Home VPN"
networks = ["172.20.4.0/22"]
vpn = true

[[incident]]
kind = "network"
building = "Lyon office"
start = "+5h"
duration = "3h"
calls = 25
packet_loss = 0.2
jitter_ms = 60

[[incident]]
kind = "device"
capture_device = "Tailspin Mic 7"
driver = "Tailspin 2.1"
duration = "4h"

[[incident]]
kind = "vpn"
building = "Home VPN"
calls = 8

[[incident]]
kind = "trunk"
trunk = "sbc4.contoso.com"
sip_code = 503
duration = "40m"
calls = 10

[[incident]]
kind = "emergency"
start = "+20h"
calls = 2
"#;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 12, 15, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The plan of a two-day run with the scenario, and its truth.
fn plan() -> (SimPlan, Truth, callhook_quality::BuildingFile) {
    let scenario = Scenario::parse(SCENARIO).expect("scenario");
    let window = (now() - Duration::days(2), now());
    let staging = scenario.resolve(window.0, window.1, 7).expect("staging");
    let mut cfg = SimConfig::new(TENANT, now());
    cfg.calls = 160;
    cfg.users = 40;
    cfg.days = 2;
    let plan = generate_staged(&cfg, 0, Some(&staging));
    let mut truth = Truth::new(&staging, 7, TENANT, window);
    truth.add_part(&plan);
    let file = staging.buildings.clone().expect("buildings");
    (plan, truth, file)
}

async fn stores(dir: &tempfile::TempDir) -> Vec<Store> {
    let mut out = vec![
        Store::open(&dir.path().join("c.db").display().to_string(), 2)
            .await
            .expect("sqlite"),
    ];
    match postgres_database().await {
        Ok(url) => out.push(Store::open(&url, 4).await.expect("postgres")),
        Err(e) if std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but {e}")
        }
        Err(e) => eprintln!("SKIPPED the PostgreSQL half: {e}"),
    }
    out
}

async fn postgres_database() -> Result<String, String> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let admin = std::env::var("CALLHOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin).map_err(|e| e.to_string())?;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL at {admin}: {e}"))?;
    // Named like callhook's test databases, so `.ci/run` sweeps them.
    let name = format!(
        "callhook_test_{}_{}",
        Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(options.database(&name).to_url_lossy().to_string())
}

/// Stores the plan as the collector would: every record version (the store keeps the highest),
/// the report-function rows, and the emergency call events.
async fn fill(store: &Store, plan: &SimPlan, building_file: &str) {
    // callhook numbers versions as records arrive (the ingest bodies carry none).
    let mut versions: std::collections::HashMap<String, i64> = Default::default();
    for r in plan.call_records.iter().chain(plan.updates.iter()) {
        let mut r = r.clone();
        let v = versions
            .entry(r["id"].as_str().unwrap_or_default().to_string())
            .or_default();
        *v += 1;
        r["version"] = (*v).into();
        store
            .put_record(TENANT, &r, None)
            .await
            .expect("put record");
    }
    let specs = callhook_collector::reports::specs();
    for (table, rows) in [
        ("pstn_calls", &plan.pstn_calls),
        ("direct_routing_calls", &plan.direct_routing_calls),
        ("sms_log", &plan.sms_log),
    ] {
        let spec = specs.iter().find(|s| s.table == table).expect("spec");
        let cells: Vec<_> = rows
            .iter()
            .map(|r| {
                flatten::row(
                    &spec.columns,
                    TENANT,
                    Scope {
                        item: Some(r),
                        ..Default::default()
                    },
                )
            })
            .collect();
        store
            .put_report_rows(table, &spec.columns, &cells)
            .await
            .expect("report rows");
    }
    for e in &plan.emergency_call_events {
        let id = e["id"].as_str().expect("event id").to_string();
        let sql = "INSERT INTO emergency_events (tenant_id, id, received_at, event_json) VALUES ($1, $2, $3, $4)";
        match &store.db {
            callhook_collector::store::Db::Sqlite(p) => sqlx::query(sql)
                .bind(TENANT)
                .bind(&id)
                .bind(now())
                .bind(e.to_string())
                .execute(p)
                .await
                .map(|_| ()),
            callhook_collector::store::Db::Postgres(p) => sqlx::query(sql)
                .bind(TENANT)
                .bind(&id)
                .bind(now())
                .bind(e.to_string())
                .execute(p)
                .await
                .map(|_| ()),
        }
        .expect("emergency event");
    }
    buildings::import(store, building_file, "test.csv", now())
        .await
        .expect("import");
}

fn counts(row: &QualityRow, m: Modality) -> (u64, u64, u64) {
    match m {
        Modality::Audio => (row.audio_good, row.audio_poor, row.audio_unclassified),
        Modality::Video => (row.video_good, row.video_poor, row.video_unclassified),
        Modality::Vbss => (row.vbss_good, row.vbss_poor, row.vbss_unclassified),
        Modality::AppSharing => (
            row.app_sharing_good,
            row.app_sharing_poor,
            row.app_sharing_unclassified,
        ),
    }
}

#[tokio::test]
async fn quality_and_usage_reports_equal_the_scenario_truth() {
    let (plan, truth, file) = plan();
    let dir = tempfile::tempdir().expect("tempdir");
    let thresholds = Thresholds::default();
    for store in stores(&dir).await {
        fill(&store, &plan, &file.to_csv()).await;
        let all = Filters::default();
        // Every dimension, every modality: the same counts as the truth computed.
        for (by, dim) in [
            (By::Building, Dimension::Building),
            (By::Subnet, Dimension::Subnet),
            (By::Device, Dimension::CaptureDevice),
            (By::Driver, Dimension::CaptureDriver),
            (By::Network, Dimension::ConnectionType),
            (By::WifiBand, Dimension::WifiBand),
            (By::Vpn, Dimension::Vpn),
        ] {
            let rows = quality(&store, by, &all, &thresholds)
                .await
                .expect("report");
            let expected = &truth.aggregates.poor_streams[&dim];
            for (value, per_modality) in expected {
                let row = rows
                    .iter()
                    .find(|r| &r.key == value)
                    .unwrap_or_else(|| panic!("{by:?}: no row {value}"));
                for (m, c) in per_modality {
                    assert_eq!(
                        counts(row, *m),
                        (c.good, c.poor, c.unclassified),
                        "{by:?} {value} {m:?}"
                    );
                }
            }
            let keys: Vec<&String> = rows
                .iter()
                .filter(|r| {
                    r.streams > 0
                        && (r.audio_good
                            + r.audio_poor
                            + r.video_good
                            + r.video_poor
                            + r.vbss_good
                            + r.vbss_poor
                            + r.app_sharing_good
                            + r.app_sharing_poor
                            + r.audio_unclassified
                            + r.video_unclassified
                            + r.vbss_unclassified
                            + r.app_sharing_unclassified)
                            > 0
                })
                .map(|r| &r.key)
                .collect();
            assert_eq!(keys.len(), expected.len(), "{by:?}: {keys:?}");
        }
        // The degraded building and the VPN site are the worst two, over CQD's 3 % target.
        let by_building = quality(&store, By::Building, &all, &thresholds)
            .await
            .expect("report");
        let worst = callhook_reports::quality::worst(&by_building, 10, 2);
        let mut names: Vec<&str> = worst.iter().map(|r| r.key.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["Home VPN", "Lyon office"]);
        assert!(worst
            .iter()
            .all(|w| w.audio_poor_stream_rate.unwrap_or(0.0) > 3.0));
        // A building filter gives that building's numbers on the overall row.
        let lyon = Filters {
            building: Some("lyon office".into()),
            ..Default::default()
        };
        let overall = quality(&store, By::All, &lyon, &thresholds)
            .await
            .expect("report");
        let row = by_building
            .iter()
            .find(|r| r.key == "Lyon office")
            .expect("Lyon");
        assert_eq!(
            (overall[0].audio_good, overall[0].audio_poor),
            (row.audio_good, row.audio_poor)
        );
        // Days add up to the whole; a time range keeps only its calls.
        let days = quality(&store, By::Day, &all, &thresholds)
            .await
            .expect("days");
        let total = quality(&store, By::All, &all, &thresholds)
            .await
            .expect("all");
        assert_eq!(days.iter().map(|d| d.calls).sum::<u64>(), total[0].calls);
        assert_eq!(total[0].calls as usize, plan.call_records.len());
        let first = &days[0];
        let first_day = Filters {
            from: Some(callhook_reports::parse_time(&first.key).expect("day")),
            to: Some(callhook_reports::parse_time(&first.key).expect("day") + Duration::days(1)),
            ..Default::default()
        };
        let one = quality(&store, By::All, &first_day, &thresholds)
            .await
            .expect("range");
        assert_eq!(one[0].calls, first.calls);
        assert_eq!(one[0].audio_poor, first.audio_poor);

        // Direct routing per trunk: attempts and failures as generated.
        let gateways = usage::direct_routing(&store, &all).await.expect("dr");
        for (trunk, c) in &truth.aggregates.direct_routing_by_trunk {
            let g = gateways
                .iter()
                .find(|g| &g.gateway == trunk)
                .unwrap_or_else(|| panic!("no gateway {trunk}"));
            assert_eq!(g.attempts as u64, c.attempts, "{trunk}");
            assert_eq!((g.attempts - g.successful) as u64, c.failed, "{trunk}");
        }
        let sbc4 = gateways
            .iter()
            .find(|g| g.gateway == "sbc4.contoso.com")
            .expect("sbc4");
        assert!(sbc4.sip_codes.contains("503:"), "{}", sbc4.sip_codes);

        // PSTN: calls and minutes per user add up to the rows, per currency.
        let pstn = usage::pstn(&store, usage::UsageBy::User, &all)
            .await
            .expect("pstn");
        assert_eq!(
            pstn.iter().map(|r| r.calls as usize).sum::<usize>(),
            plan.pstn_calls.len()
        );
        let seconds: i64 = plan
            .pstn_calls
            .iter()
            .filter_map(|r| r["duration"].as_i64())
            .sum();
        let minutes: f64 = pstn.iter().map(|r| r.minutes).sum();
        assert!((minutes - seconds as f64 / 60.0).abs() < 1e-6);
        let sms = usage::sms(&store, usage::UsageBy::CallType, &all)
            .await
            .expect("sms");
        assert_eq!(
            sms.iter().map(|r| r.messages as usize).sum::<usize>(),
            plan.sms_log.len()
        );

        // Emergency: every event, plus the report rows of those calls.
        let emergency = usage::emergency(&store, &all).await.expect("emergency");
        let events = emergency
            .iter()
            .filter(|e| e.source == "emergencyCallEvent")
            .count() as u64;
        assert_eq!(events, truth.aggregates.emergency_calls);
        assert!(events >= 2);
        let dr_or_pstn = plan
            .direct_routing_calls
            .iter()
            .filter(|r| r["callType"] == "dr_emergency_out")
            .count()
            + plan
                .pstn_calls
                .iter()
                .filter(|r| r["callType"] == "emergency_out")
                .count();
        assert_eq!(emergency.len() as u64 - events, dr_or_pstn as u64);

        // One call's timeline: every stream of the record, with its verdict.
        let rec: &Value = plan
            .call_records
            .iter()
            .find(|r| r["sessions"].as_array().is_some_and(|s| !s.is_empty()))
            .expect("a record");
        let id = rec["id"].as_str().expect("id");
        let rows = call::timeline(&store, None, id, &thresholds)
            .await
            .expect("timeline")
            .expect("stored");
        let stored = store
            .record_json(TENANT, id)
            .await
            .expect("json")
            .expect("stored");
        let model =
            callhook_model::from_value::<callhook_model::CallRecord>(stored).expect("model");
        let views = callhook_quality::streams(&model, &thresholds);
        assert_eq!(
            rows.iter().filter(|r| r.kind == "stream").count(),
            views.len()
        );
        assert_eq!(rows[0].kind, "call");
        assert!(call::timeline(&store, None, "no-such-call", &thresholds)
            .await
            .expect("timeline")
            .is_none());
        store.close().await;
    }
}

#[tokio::test]
async fn a_bad_building_file_is_refused_by_line_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("c.db").display().to_string(), 2)
        .await
        .expect("sqlite");
    let bad = "10.1.0.0,Net,24,HQ,,,,,,,,,1,0\nnot-an-ip,Net,24,HQ,,,,,,,,,1,0\n";
    let err = buildings::import(&store, bad, "b.csv", now())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains('2'), "{err}");
    assert!(buildings::load(&store).await.expect("load").is_none());
    let good = "10.1.0.0,Net,24,HQ,,,,,,,,,1,0\n10.9.0.0,VPN pool,24,Remote,,,,,,,,,0,0,1\n";
    let done = buildings::import(&store, good, "b.csv", now())
        .await
        .expect("import");
    assert_eq!(
        (done.networks, done.buildings, done.inside_corp, done.vpn),
        (2, 2, 1, 1)
    );
    let shown = buildings::networks(&store).await.expect("networks");
    assert_eq!(shown[0].network, "10.1.0.0/24");
    assert!(shown[1].vpn);
}

mod dashboard {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use callhook_reports::dashboard::Dashboard;
    use tower::ServiceExt;

    async fn get(app: &axum::Router, path: &str, cookie: &str) -> (StatusCode, String, String) {
        let resp = app
            .clone()
            .oneshot(
                Request::get(path)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .expect("body");
        (status, location, String::from_utf8_lossy(&body).to_string())
    }

    async fn post(app: &axum::Router, path: &str, form: &str) -> (StatusCode, String, String) {
        let resp = app
            .clone()
            .oneshot(
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form.to_string()))
                    .expect("request"),
            )
            .await
            .expect("response");
        let h = |n: header::HeaderName| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        (resp.status(), h(header::LOCATION), h(header::SET_COOKIE))
    }

    /// The cells of the table `data-report="id"`, row by row, as the page shows them.
    fn table_cells(html: &str, id: &str) -> Vec<Vec<String>> {
        let Some(start) = html.find(&format!("<table data-report=\"{id}\"")) else {
            return Vec::new();
        };
        let end = html[start..]
            .find("</table>")
            .map_or(html.len(), |e| start + e);
        html[start..end]
            .split("<tr>")
            .skip(2)
            .map(|row| {
                row.split("<td data-col=")
                    .skip(1)
                    .map(|c| {
                        let v = &c[c.find('>').map_or(0, |i| i + 1)..];
                        v[..v.find("</td>").unwrap_or(v.len())].to_string()
                    })
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn pages_need_the_token_and_show_the_reports_numbers() {
        let (plan, _truth, file) = plan();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.db").display().to_string(), 2)
            .await
            .expect("sqlite");
        fill(&store, &plan, &file.to_csv()).await;
        let token = callhook_reports::dashboard::token_from_dir(dir.path()).expect("token");
        assert_eq!(
            callhook_reports::dashboard::token_from_dir(dir.path()).expect("again"),
            token
        );
        let app = Dashboard::new(store.clone(), &token, false)
            .expect("dashboard")
            .router();
        // Not signed in: every page sends the browser to the login page.
        let (status, location, _) = get(&app, "/dashboard", "").await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/dashboard/login")
        );
        let (_, _, login) = get(&app, "/dashboard/login", "").await;
        let csrf_at = login.find("name=\"csrf\" value=\"").expect("login token") + 19;
        let csrf = &login[csrf_at..csrf_at + login[csrf_at..].find('"').expect("end")];
        let (_, location, cookie) = post(
            &app,
            "/dashboard/login",
            &format!("csrf={csrf}&token=wrong"),
        )
        .await;
        assert!(
            location.starts_with("/dashboard/login?flash="),
            "{location}"
        );
        assert!(cookie.is_empty());
        let (_, _, cookie) = post(&app, "/dashboard/login", &format!("token={token}")).await;
        assert!(cookie.is_empty(), "a login without its form token");
        let (_, location, cookie) = post(
            &app,
            "/dashboard/login",
            &format!("csrf={csrf}&token={token}"),
        )
        .await;
        assert_eq!(location, "/dashboard");
        let cookie = cookie.split(';').next().expect("cookie").to_string();
        for page in [
            "",
            "/offenders",
            "/network",
            "/clients",
            "/pstn",
            "/emergency",
            "/live",
            "/call",
        ] {
            let (status, _, html) = get(&app, &format!("/dashboard{page}"), &cookie).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(!html.contains("The report failed"), "{page}");
        }
        // The numbers are the reports' numbers, formatted as the CLI's table.
        let thresholds = Thresholds::default();
        let days = quality(&store, By::Day, &Filters::default(), &thresholds)
            .await
            .expect("days");
        let (_, _, html) = get(&app, "/dashboard", &cookie).await;
        let expect: Vec<Vec<String>> = callhook_reports::to_objects(&days)
            .iter()
            .map(|r| {
                callhook_reports::columns(std::slice::from_ref(r))
                    .iter()
                    .map(|c| callhook_reports::cell(&r[c.as_str()]))
                    .collect()
            })
            .collect();
        assert_eq!(table_cells(&html, "quality-day"), expect);
        // Filters in the query string are the CLI's: one building.
        let lyon = Filters {
            building: Some("Lyon office".into()),
            ..Default::default()
        };
        let gw = usage::direct_routing(&store, &lyon).await.expect("dr");
        let (_, _, html) = get(&app, "/dashboard/pstn?building=Lyon+office", &cookie).await;
        assert_eq!(table_cells(&html, "direct-routing").len(), gw.len());
        let (_, _, html) = get(&app, "/dashboard/network?building=Lyon+office", &cookie).await;
        let rows = quality(&store, By::Building, &lyon, &thresholds)
            .await
            .expect("lyon");
        let cells = table_cells(&html, "quality-building");
        assert_eq!(cells.len(), rows.len());
        assert_eq!(cells[0][0], "Lyon office");
        // A call's drill-down lists its streams; a bad time is shown, not a failure.
        let id = plan.call_records[0]["id"].as_str().expect("id");
        let (status, _, html) = get(&app, &format!("/dashboard/call?id={id}"), &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("data-report=\"call\""));
        let (status, _, html) = get(&app, "/dashboard?from=yesterday", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("neither a date"), "{html}");
        // Anonymous pages on a loopback listener only.
        let open = Dashboard::new(store.clone(), &token, true)
            .expect("dashboard")
            .router();
        assert_eq!(get(&open, "/dashboard/live", "").await.0, StatusCode::OK);
        store.close().await;
    }
}
