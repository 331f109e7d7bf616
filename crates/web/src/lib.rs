//! callhook's web stack, shared by every page callhook serves to a browser: the provider's
//! console (`/_callhook/ui`) and the collector's dashboard.
//!
//! - [`Site`] — templates (minijinja, compiled into the binary) inside one layout with the
//!   site's navigation; pages render a JSON context;
//! - [`assets`] — the stylesheet and script, embedded (`include_str!`), served under
//!   `{base}/assets/…`: nothing is fetched from elsewhere, so every page works offline;
//! - [`charts`] — plots as inline SVG, rendered on the server (no chart library);
//! - [`session`] — the signed session cookie a login hands out, and the CSRF token every form
//!   carries;
//! - [`security_headers`] — the Content-Security-Policy (only this site's own script and
//!   styles) and friends, on every response.

pub mod assets;
pub mod charts;
pub mod session;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

pub use session::{Session, Sessions};

/// The layout every page extends (`{% extends "layout.html" %}`, `{% block content %}`).
const LAYOUT: &str = include_str!("../templates/layout.html");
/// Macros pages share (`{% import "macros.html" as m %}`).
const MACROS: &str = include_str!("../templates/macros.html");

/// A link of the navigation bar.
#[derive(Debug, Clone, Serialize)]
pub struct NavItem {
    pub label: &'static str,
    /// Path under the site's base (`""` is the base itself).
    pub path: &'static str,
}

/// A site: its name, where it is mounted, its navigation and its page templates.
pub struct Site {
    env: minijinja::Environment<'static>,
    name: &'static str,
    base: &'static str,
    nav: Vec<NavItem>,
}

impl Site {
    /// `templates` are (name, source) pairs, usually `include_str!`ed; a template that does not
    /// parse is an error here, at startup, not when its page is first asked for.
    pub fn new(
        name: &'static str,
        base: &'static str,
        nav: Vec<NavItem>,
        templates: &[(&'static str, &'static str)],
    ) -> Result<Self, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        // Every template is HTML: values are escaped unless marked safe.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template("layout.html", LAYOUT)?;
        env.add_template("macros.html", MACROS)?;
        for (name, source) in templates {
            env.add_template(name, source)?;
        }
        env.add_filter("bytes", human_bytes);
        Ok(Self {
            env,
            name,
            base,
            nav,
        })
    }

    pub fn base(&self) -> &'static str {
        self.base
    }

    /// Renders `template` with `context` (a JSON object) plus what the layout needs: the site,
    /// its navigation with `active` marked, and the session's CSRF token for forms.
    pub fn render(
        &self,
        template: &str,
        active: &str,
        session: Option<&Session>,
        context: serde_json::Value,
    ) -> Response {
        self.render_with_charts(template, active, session, context, &[])
    }

    /// [`Site::render`] with plots: each `(name, svg)` is inserted as markup under `name`.
    pub fn render_with_charts(
        &self,
        template: &str,
        active: &str,
        session: Option<&Session>,
        context: serde_json::Value,
        charts: &[(&str, &charts::Svg)],
    ) -> Response {
        let mut ctx = match context {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        ctx.insert(
            "site".into(),
            serde_json::json!({ "name": self.name, "base": self.base, "nav": self.nav, "active": active }),
        );
        ctx.insert(
            "csrf".into(),
            serde_json::json!(session.map(|s| s.csrf_token()).unwrap_or_default()),
        );
        ctx.insert("signed_in".into(), serde_json::json!(session.is_some()));
        let mut values: std::collections::BTreeMap<String, minijinja::Value> = ctx
            .into_iter()
            .map(|(k, v)| (k, minijinja::Value::from_serialize(&v)))
            .collect();
        for (name, svg) in charts {
            values.insert(
                name.to_string(),
                minijinja::Value::from_safe_string(svg.as_str().to_string()),
            );
        }
        let rendered = self
            .env
            .get_template(template)
            .and_then(|t| t.render(minijinja::Value::from_object(values)));
        match rendered {
            Ok(html) => {
                let mut resp = Html(html).into_response();
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            }
            Err(e) => {
                tracing::error!(template, error = %e, "rendering a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered (the server log says why)",
                )
                    .into_response()
            }
        }
    }
}

/// `1536 | bytes` → `1.5 KiB`.
fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1024.0 {
        format!("{n} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    }
}

/// Headers for every page and asset: scripts and styles from this site only (no inline script,
/// so injected markup cannot run), no framing, no referrer, no sniffing.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_extend_the_layout_and_escape_values() {
        let site = Site::new(
            "Test",
            "/t",
            vec![NavItem {
                label: "Home",
                path: "",
            }],
            &[(
                "p.html",
                "{% extends \"layout.html\" %}{% block content %}<p>{{ x }}</p>{% endblock %}",
            )],
        )
        .unwrap();
        let html = site
            .env
            .get_template("p.html")
            .unwrap()
            .render(minijinja::context! {
                x => "<script>", site => serde_json::json!({"name": "Test", "base": "/t", "nav": [], "active": ""}),
                csrf => "", signed_in => false
            })
            .unwrap();
        assert!(html.contains("<p>&lt;script&gt;</p>"), "{html}");
        // `/` is escaped too (`&#x2f;`), which browsers read back in attributes.
        assert!(html.contains("&#x2f;t/assets/app.css"), "{html}");
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
