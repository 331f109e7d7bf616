//! The provider's console at `/_callhook/ui`: what the server holds and did (tenants and apps,
//! subscriptions and their delivery state, the outbox, every webhook POST with its request and
//! response, a live tail, the clock) and the emulator's actions (lifecycle events, pause and
//! resume, the manual clock, replay, delete, the simulator), built on `callhook-web`.
//!
//! Access: the ingest key (from the data directory's `credentials.json`) signs in and gets a
//! sealed session cookie; every page wants it, on every listener. Every action is a POST form
//! whose CSRF token [`Action`] checks before the handler runs. Actions call the same functions
//! as the JSON control routes (`controls.rs`), so both behave alike.

mod pages;
mod simulator;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Form, Router};

use callhook_web::{NavItem, Session, Sessions, Site};

use crate::AppState;

pub use simulator::SimulatorCommand;

/// Where the console is mounted.
pub const BASE: &str = "/_callhook/ui";

/// The console's site, sessions and simulator runs (part of [`AppState`]).
pub struct Console {
    site: Site,
    sessions: Sessions,
    sim: simulator::Runs,
}

impl Console {
    /// `secret` keys session cookies and CSRF tokens (the server keeps it in the database so
    /// nodes share it); `secure` marks the cookie HTTPS-only.
    pub fn new(secret: &[u8], secure: bool) -> anyhow::Result<Self> {
        let nav = vec![
            NavItem {
                label: "Overview",
                path: "",
            },
            NavItem {
                label: "Tenants & apps",
                path: "/tenants",
            },
            NavItem {
                label: "Subscriptions",
                path: "/subscriptions",
            },
            NavItem {
                label: "Outbox",
                path: "/outbox",
            },
            NavItem {
                label: "POSTs",
                path: "/posts",
            },
            NavItem {
                label: "Live tail",
                path: "/tail",
            },
            NavItem {
                label: "Clock",
                path: "/clock",
            },
            NavItem {
                label: "Simulator",
                path: "/simulator",
            },
        ];
        let site = Site::new("callhook console", BASE, nav, pages::TEMPLATES)?;
        Ok(Self {
            site,
            sessions: Sessions::new(secret, "callhook_console", BASE, secure),
            sim: simulator::Runs::default(),
        })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_page).post(login))
        .route("/logout", post(logout))
        .route("/tenants", get(pages::tenants))
        .route("/subscriptions", get(pages::subscriptions))
        .route("/subscriptions/{id}", get(pages::subscription))
        .route("/subscriptions/{id}/lifecycle", post(pages::fire_lifecycle))
        .route(
            "/subscriptions/{id}/delete",
            post(pages::delete_subscription),
        )
        .route("/outbox", get(pages::outbox))
        .route("/delivery/pause", post(pages::pause))
        .route("/delivery/resume", post(pages::resume))
        .route("/posts", get(pages::posts))
        .route("/posts/{id}", get(pages::post))
        .route("/posts/{id}/decrypt", post(pages::decrypt))
        .route("/posts/{id}/request/body", get(pages::request_body))
        .route("/posts/{id}/response/body", get(pages::response_body))
        .route("/posts/{id}/replay", post(pages::replay))
        .route("/tail", get(pages::tail))
        .route("/tail/events", get(pages::tail_events))
        .route("/clock", get(pages::clock))
        .route("/clock/advance", post(pages::advance_clock))
        .route("/simulator", get(simulator::page))
        .route("/simulator/run", post(simulator::run))
        .route("/simulator/status", get(simulator::status))
        .route("/simulator/stop", post(simulator::stop))
        .route("/simulator/truth", get(simulator::truth))
        .merge(callhook_web::assets::router())
        .layer(middleware::from_fn(callhook_web::security_headers))
}

/// `GET /`: the console, on a loopback listener (elsewhere `/` stays unknown).
pub async fn root(State(state): State<AppState>) -> Response {
    if state.config.console_at_root {
        Redirect::to(BASE).into_response()
    } else {
        crate::error::GraphError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested URL does not exist on this server.",
        )
        .into_response()
    }
}

/// A signed-in page view; without a session the browser is sent to the login page.
pub(crate) struct Page(pub Session);

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let console = state.console();
        match console
            .sessions
            .from_headers(&parts.headers, chrono::Utc::now())
        {
            Some(s) => Ok(Page(s)),
            None => Err(Redirect::to(&format!("{BASE}/login")).into_response()),
        }
    }
}

/// A signed-in action: the session and the posted form, whose `csrf` field was checked.
/// Without a session: 401; with a wrong or missing token: 403 (nothing is done either way).
pub(crate) struct Action {
    pub session: Session,
    pub form: HashMap<String, String>,
}

impl FromRequest<AppState> for Action {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let Some(session) = state
            .console()
            .sessions
            .from_headers(req.headers(), chrono::Utc::now())
        else {
            return Err(crate::error::GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Sign in to the console first.",
            )
            .into_response());
        };
        let Form(form) = Form::<HashMap<String, String>>::from_request(req, state)
            .await
            .map_err(|e| crate::error::GraphError::bad_request(e.body_text()).into_response())?;
        let token = form.get("csrf").map(String::as_str).unwrap_or("");
        if !session.check_csrf(token) {
            return Err(crate::error::GraphError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The form's CSRF token is missing or does not belong to this session; reload the page.",
            )
            .into_response());
        }
        Ok(Action { session, form })
    }
}

/// Back to `path` (under the console) with a message shown on arrival.
pub(crate) fn back(path: &str, message: &str, ok: bool) -> Response {
    let msg: String = url::form_urlencoded::byte_serialize(message.as_bytes()).collect();
    let kind = if ok { "ok" } else { "error" };
    Redirect::to(&format!("{BASE}{path}?flash={msg}&kind={kind}")).into_response()
}

/// The outcome of an action, as a message to go back with.
pub(crate) fn outcome(path: &str, done: &str, result: crate::error::GraphResult<()>) -> Response {
    match result {
        Ok(()) => back(path, done, true),
        Err(e) => back(path, &e.message, false),
    }
}

async fn login(
    State(state): State<AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = state.console();
    let key = form.get("key").map(|k| k.trim()).unwrap_or("");
    // The login form's own token: a page from this server, not a forged cross-site post.
    let login_token_ok = form
        .get("csrf")
        .is_some_and(|t| console.sessions.check_login_token(t, chrono::Utc::now()));
    if !login_token_ok {
        return back("/login", "The login form expired; try again.", false);
    }
    if key.is_empty() || !callhook_crypto::verify_secret(key, &state.ingest_key_hash) {
        tracing::warn!("console sign-in refused: wrong key");
        return back("/login", "That is not this server's ingest key.", false);
    }
    match console.sessions.start(chrono::Utc::now()) {
        Ok((_, cookie)) => {
            let mut resp = Redirect::to(BASE).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "starting a console session failed");
            crate::error::GraphError::internal().into_response()
        }
    }
}

async fn logout(State(state): State<AppState>, _action: Action) -> Response {
    let mut resp = Redirect::to(&format!("{BASE}/login")).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, state.console().sessions.end());
    resp
}

/// An SSE or JSON answer's common headers.
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Shared by the console's pages: the console of the state.
impl AppState {
    pub(crate) fn console(&self) -> &Arc<Console> {
        &self.console
    }
}
