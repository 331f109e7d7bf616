//! The dashboard (`/dashboard` on the collector's listener): the reports as pages, with the
//! same functions and the same filters as `callhook report`, so every number on a page equals
//! the CLI's. Built on `callhook-web` (layout, embedded assets, SVG charts, sealed session
//! cookie, CSRF).
//!
//! Access: a token kept in the collector's data directory (`dashboard-token`, created on first
//! start) signs a browser in. Only a listener on a loopback address may serve pages without
//! signing in.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use callhook_collector::Store;
use callhook_quality::Thresholds;
use callhook_web::charts::{bars, Bar, Svg};
use callhook_web::{NavItem, Session, Sessions, Site};
use serde_json::{json, Value};

use crate::quality::{quality, worst, By, QualityRow};
use crate::{call, cell, columns, parse_time, to_objects, usage, Filters};

pub const BASE: &str = "/dashboard";
/// The token's file in the collector's data directory.
pub const TOKEN_FILE: &str = "dashboard-token";

/// CQD's overall targets (QER): Audio Poor Stream Rate, setup and drop failure, in percent.
pub const TARGET_AUDIO_PSR: f64 = 3.0;
pub const TARGET_SETUP_FAILURE: f64 = 1.0;
pub const TARGET_DROP_FAILURE: f64 = 3.0;

const TEMPLATES: &[(&str, &str)] = &[
    ("page.html", include_str!("../templates/page.html")),
    ("login.html", include_str!("../templates/login.html")),
];

/// What the dashboard serves from.
pub struct Dashboard {
    store: Store,
    site: Site,
    sessions: Sessions,
    token: String,
    /// Pages without signing in (a loopback listener only).
    anonymous: bool,
    thresholds: Thresholds,
}

/// The token in `data_dir/dashboard-token`, created (random, owner-only) when missing.
pub fn token_from_dir(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let token = callhook_crypto::random_secret(32)?;
    std::fs::write(&path, format!("{token}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(token)
}

impl Dashboard {
    /// `token` signs browsers in (and keys their cookies); `anonymous` lets a loopback
    /// listener serve pages without it.
    pub fn new(store: Store, token: &str, anonymous: bool) -> anyhow::Result<Arc<Self>> {
        let nav = vec![
            NavItem {
                label: "Overview",
                path: "",
            },
            NavItem {
                label: "Top offenders",
                path: "/offenders",
            },
            NavItem {
                label: "Networks",
                path: "/network",
            },
            NavItem {
                label: "Clients",
                path: "/clients",
            },
            NavItem {
                label: "PSTN & direct routing",
                path: "/pstn",
            },
            NavItem {
                label: "Emergency calls",
                path: "/emergency",
            },
            NavItem {
                label: "Live",
                path: "/live",
            },
            NavItem {
                label: "Call",
                path: "/call",
            },
        ];
        let site = Site::new("callhook dashboard", BASE, nav, TEMPLATES)?;
        // The cookie's key: derived from the token, so a new token signs everybody out.
        let secret = format!("dashboard-session|{token}").into_bytes();
        Ok(Arc::new(Self {
            store,
            site,
            sessions: Sessions::new(&secret, "callhook_dashboard", BASE, false),
            token: token.to_string(),
            anonymous,
            thresholds: Thresholds::default(),
        }))
    }

    /// The routes, to merge into the collector's listener.
    pub fn router(self: &Arc<Self>) -> Router {
        let pages = Router::new()
            .route("/", get(overview))
            .route("/offenders", get(offenders))
            .route("/network", get(network))
            .route("/clients", get(clients))
            .route("/pstn", get(pstn))
            .route("/emergency", get(emergency))
            .route("/live", get(live))
            .route("/call", get(call_page))
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .merge(callhook_web::assets::router())
            .layer(middleware::from_fn(callhook_web::security_headers))
            .with_state(self.clone());
        Router::new().nest(BASE, pages)
    }
}

type Dash = State<Arc<Dashboard>>;

/// A page view: signed in, or anonymous on a loopback listener; else to the login page.
struct Viewer(Option<Session>);

impl FromRequestParts<Arc<Dashboard>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Dashboard>) -> Result<Self, Response> {
        match d.sessions.from_headers(&parts.headers, chrono::Utc::now()) {
            Some(s) => Ok(Viewer(Some(s))),
            None if d.anonymous => Ok(Viewer(None)),
            None => Err(Redirect::to(&format!("{BASE}/login")).into_response()),
        }
    }
}

const FILTERS: [(&str, &str); 10] = [
    ("from", "From"),
    ("to", "To"),
    ("tenant", "Tenant"),
    ("user", "User"),
    ("building", "Building"),
    ("subnet", "Subnet"),
    ("modality", "Modality"),
    ("country", "Country"),
    ("call_type", "Call type"),
    ("gateway", "Gateway"),
];

/// The query string's filters (the CLI's flags, same names), with an error for a bad time.
pub fn filters_from_query(q: &HashMap<String, String>) -> Result<Filters, String> {
    let get = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let time = |k: &str| {
        get(k)
            .map(|t| parse_time(&t).map_err(|e| e.to_string()))
            .transpose()
    };
    Ok(Filters {
        from: time("from")?,
        to: time("to")?,
        tenant: get("tenant"),
        user: get("user"),
        building: get("building"),
        subnet: get("subnet"),
        modality: get("modality"),
        country: get("country"),
        call_type: get("call_type"),
        gateway: get("gateway"),
    })
}

/// A table of report rows as the page shows it (cells formatted as the CLI's table).
fn table(id: &str, title: &str, rows: Vec<Value>) -> Value {
    let cols = columns(&rows);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(&r[c.as_str()])).collect())
        .collect();
    json!({"id": id, "title": title, "columns": cols, "rows": cells, "link_col": -1})
}

fn fmt_pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} %")).unwrap_or_else(|| "–".into())
}

struct PageOut {
    title: &'static str,
    active: &'static str,
    cards: Vec<Value>,
    charts: Vec<(String, Svg)>,
    tables: Vec<Value>,
}

fn render(
    d: &Dashboard,
    v: &Viewer,
    q: &HashMap<String, String>,
    flash: Option<String>,
    p: PageOut,
) -> Response {
    let fields: Vec<Value> = FILTERS
        .iter()
        .map(|(name, label)| json!({"name": name, "label": label, "value": q.get(*name).cloned().unwrap_or_default()}))
        .collect();
    let titles: Vec<&String> = p.charts.iter().map(|(t, _)| t).collect();
    let empty = bars("", "", &[]);
    let chart0 = p.charts.first().map(|c| &c.1).unwrap_or(&empty);
    let chart1 = p.charts.get(1).map(|c| &c.1).unwrap_or(&empty);
    d.site.render_with_charts(
        "page.html",
        p.active,
        v.0.as_ref(),
        json!({
            "title": p.title, "cards": p.cards, "chart_titles": titles, "tables": p.tables,
            "filter_fields": fields, "flash": flash.clone().unwrap_or_default(),
            "flash_kind": if flash.is_some() { "error" } else { "ok" },
        }),
        &[("chart0", chart0), ("chart1", chart1)],
    )
}

/// Runs a page's reports; a bad filter or a failing query is shown on the page.
async fn page<F, Fut>(
    d: Arc<Dashboard>,
    v: Viewer,
    q: HashMap<String, String>,
    build: F,
) -> Response
where
    F: FnOnce(Arc<Dashboard>, Filters) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<PageOut>>,
{
    let (f, mut flash) = match filters_from_query(&q) {
        Ok(f) => (f, None),
        Err(e) => (Filters::default(), Some(e)),
    };
    match build(d.clone(), f).await {
        Ok(p) => render(&d, &v, &q, flash, p),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard report failed");
            flash = Some(format!("The report failed: {e}"));
            render(
                &d,
                &v,
                &q,
                flash,
                PageOut {
                    title: "Error",
                    active: "",
                    cards: vec![],
                    charts: vec![],
                    tables: vec![],
                },
            )
        }
    }
}

fn quality_table(id: &str, title: &str, rows: &[QualityRow]) -> Value {
    table(id, title, to_objects(rows))
}

async fn overview(State(d): Dash, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    page(d, v, q, |d, f| async move {
        let all = quality(&d.store, By::All, &f, &d.thresholds).await?;
        let days = quality(&d.store, By::Day, &f, &d.thresholds).await?;
        let t = all.first().cloned().unwrap_or_default();
        let card = |id: &str, label: &str, value: Option<f64>, target: Option<f64>| {
            json!({"id": id, "label": label, "value": fmt_pct(value),
                   "target": target.map(|t| format!("{t:.1} %")),
                   "over": matches!((value, target), (Some(v), Some(t)) if v > t)})
        };
        let cards = vec![
            json!({"id": "calls", "label": "Calls", "value": t.calls.to_string(), "target": null, "over": false}),
            json!({"id": "streams", "label": "Streams", "value": t.streams.to_string(), "target": null, "over": false}),
            card("audioPoorStreamRate", "Audio Poor Stream Rate", t.audio_poor_stream_rate, Some(TARGET_AUDIO_PSR)),
            card("audioPoorCallPercent", "Audio Poor Call %", t.audio_poor_call_percent, None),
            card("setupFailurePercent", "Call Setup Failure %", t.setup_failure_percent, Some(TARGET_SETUP_FAILURE)),
            card("dropFailurePercent", "Call Drop Failure %", t.drop_failure_percent, Some(TARGET_DROP_FAILURE)),
            card("audioTcpPercent", "Audio on TCP", t.audio_tcp_percent, None),
        ];
        let psr: Vec<Bar> = days
            .iter()
            .map(|r| Bar {
                label: r.key.clone(),
                value: r.audio_poor_stream_rate.unwrap_or(0.0),
                class: if r.audio_poor_stream_rate.unwrap_or(0.0) > TARGET_AUDIO_PSR { "bad" } else { "ok" },
            })
            .collect();
        let streams: Vec<Bar> = days
            .iter()
            .map(|r| Bar { label: r.key.clone(), value: r.streams as f64, class: "ok" })
            .collect();
        Ok(PageOut {
            title: "Overview",
            active: "",
            cards,
            charts: vec![
                (format!("Audio Poor Stream Rate per day (target {TARGET_AUDIO_PSR:.1} %)"), bars("Audio Poor Stream Rate per day", "%", &psr)),
                ("Streams per day".into(), bars("Streams per day", "streams", &streams)),
            ],
            tables: vec![quality_table("quality-day", "Per day", &days)],
        })
    })
    .await
}

async fn offenders(
    State(d): Dash,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    page(d, v, q, |d, f| async move {
        let mut tables = Vec::new();
        for (by, id, title) in [
            (By::Building, "worst-building", "Worst buildings"),
            (By::Subnet, "worst-subnet", "Worst subnets"),
            (By::Device, "worst-device", "Worst capture devices"),
            (By::Driver, "worst-driver", "Worst drivers"),
            (By::User, "worst-user", "Worst users"),
        ] {
            let rows = quality(&d.store, by, &f, &d.thresholds).await?;
            tables.push(quality_table(id, title, &worst(&rows, 10, 10)));
        }
        Ok(PageOut {
            title: "Top offenders (Audio Poor Stream Rate, at least 10 classified audio streams)",
            active: "/offenders",
            cards: vec![],
            charts: vec![],
            tables,
        })
    })
    .await
}

async fn breakdown(
    d: Arc<Dashboard>,
    f: Filters,
    list: &[(By, &str, &str)],
) -> anyhow::Result<Vec<Value>> {
    let mut tables = Vec::new();
    for (by, id, title) in list {
        let rows = quality(&d.store, *by, &f, &d.thresholds).await?;
        tables.push(quality_table(id, title, &rows));
    }
    Ok(tables)
}

async fn network(State(d): Dash, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    page(d, v, q, |d, f| async move {
        let tables = breakdown(
            d,
            f,
            &[
                (By::Network, "quality-network", "By connection type"),
                (By::WifiBand, "quality-wifi-band", "By Wi-Fi band"),
                (
                    By::InsideCorp,
                    "quality-inside-corp",
                    "Inside / outside corp",
                ),
                (By::Vpn, "quality-vpn", "VPN"),
                (By::Transport, "quality-transport", "Transport (UDP / TCP)"),
                (By::Building, "quality-building", "By building"),
            ],
        )
        .await?;
        Ok(PageOut {
            title: "Networks",
            active: "/network",
            cards: vec![],
            charts: vec![],
            tables,
        })
    })
    .await
}

async fn clients(State(d): Dash, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    page(d, v, q, |d, f| async move {
        let tables = breakdown(
            d,
            f,
            &[
                (By::Platform, "quality-platform", "By client platform"),
                (By::Version, "quality-version", "By client version"),
                (By::Device, "quality-device", "By capture device"),
                (By::Driver, "quality-driver", "By driver"),
            ],
        )
        .await?;
        Ok(PageOut {
            title: "Clients and devices",
            active: "/clients",
            cards: vec![],
            charts: vec![],
            tables,
        })
    })
    .await
}

async fn pstn(State(d): Dash, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    page(d, v, q, |d, f| async move {
        let gateways = usage::direct_routing(&d.store, &f).await?;
        let chart: Vec<Bar> = gateways
            .iter()
            .map(|g| Bar {
                label: g.gateway.clone(),
                value: g.success_percent.unwrap_or(0.0),
                class: if g.success_percent.unwrap_or(100.0) < 90.0 {
                    "bad"
                } else {
                    "ok"
                },
            })
            .collect();
        let tables = vec![
            table(
                "direct-routing",
                "Direct routing per gateway",
                to_objects(&gateways),
            ),
            table(
                "pstn-user",
                "PSTN by user",
                to_objects(&usage::pstn(&d.store, usage::UsageBy::User, &f).await?),
            ),
            table(
                "pstn-country",
                "PSTN by country",
                to_objects(&usage::pstn(&d.store, usage::UsageBy::Country, &f).await?),
            ),
            table(
                "pstn-call-type",
                "PSTN by call type",
                to_objects(&usage::pstn(&d.store, usage::UsageBy::CallType, &f).await?),
            ),
            table(
                "sms-user",
                "SMS by user",
                to_objects(&usage::sms(&d.store, usage::UsageBy::User, &f).await?),
            ),
        ];
        Ok(PageOut {
            title: "PSTN and direct routing",
            active: "/pstn",
            cards: vec![],
            charts: vec![(
                "Direct-routing success per gateway".into(),
                bars("Direct-routing success per gateway", "%", &chart),
            )],
            tables,
        })
    })
    .await
}

async fn emergency(
    State(d): Dash,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    page(d, v, q, |d, f| async move {
        let rows = usage::emergency(&d.store, &f).await?;
        Ok(PageOut {
            title: "Emergency calls",
            active: "/emergency",
            cards: vec![],
            charts: vec![],
            tables: vec![table("emergency", "Emergency calls", to_objects(&rows))],
        })
    })
    .await
}

async fn live(State(d): Dash, v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    page(d, v, q, |d, f| async move {
        let rows = call::recent(&d.store, &f, 50).await?;
        let mut t = table(
            "live",
            "Latest records stored (newest first; reload for more)",
            to_objects(&rows),
        );
        t["link_col"] = json!(0);
        Ok(PageOut {
            title: "Live feed",
            active: "/live",
            cards: vec![],
            charts: vec![],
            tables: vec![t],
        })
    })
    .await
}

async fn call_page(
    State(d): Dash,
    v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = q.get("id").cloned().unwrap_or_default();
    page(d, v, q, |d, f| async move {
        let mut tables = Vec::new();
        if !id.trim().is_empty() {
            match call::timeline(&d.store, f.tenant.as_deref(), id.trim(), &d.thresholds).await? {
                Some(rows) => tables.push(table(
                    "call",
                    &format!("Call {}", id.trim()),
                    to_objects(&rows),
                )),
                None => anyhow::bail!("call {} is not in the collector's database", id.trim()),
            }
        }
        Ok(PageOut {
            title: "Call drill-down (add ?id= or pick one on the live feed)",
            active: "/call",
            cards: vec![],
            charts: vec![],
            tables,
        })
    })
    .await
}

async fn login_page(State(d): Dash, Query(q): Query<HashMap<String, String>>) -> Response {
    d.site.render(
        "login.html",
        "",
        None,
        json!({"login_token": d.sessions.login_token(chrono::Utc::now()),
               "flash": q.get("flash").cloned().unwrap_or_default(), "flash_kind": "error"}),
    )
}

async fn login(State(d): Dash, Form(form): Form<HashMap<String, String>>) -> Response {
    let back = |m: &str| {
        Redirect::to(&format!("{BASE}/login?flash={}", m.replace(' ', "+"))).into_response()
    };
    let fresh = form
        .get("csrf")
        .is_some_and(|t| d.sessions.check_login_token(t, chrono::Utc::now()));
    if !fresh {
        return back("The login form expired; try again.");
    }
    let given = form.get("token").map(|t| t.trim()).unwrap_or("");
    if given.is_empty() || !callhook_crypto::secrets_equal(given.as_bytes(), d.token.as_bytes()) {
        tracing::warn!("dashboard sign-in refused: wrong token");
        return back("That is not the dashboard token.");
    }
    match d.sessions.start(chrono::Utc::now()) {
        Ok((_, cookie)) => {
            let mut resp = Redirect::to(BASE).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "starting a dashboard session failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn logout(
    State(d): Dash,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ok = d
        .sessions
        .from_headers(&headers, chrono::Utc::now())
        .is_some_and(|s| s.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")));
    if !ok {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut resp = Redirect::to(&format!("{BASE}/login")).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, d.sessions.end());
    resp
}
