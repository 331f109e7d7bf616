//! The simulator, run from the console: `callhook simulate` as a child process of the server
//! (the same command a user types, so the console runs exactly what the CLI runs), its output
//! kept as the run's progress. One run at a time.
//!
//! [`EXTRA_FLAGS`] lists the `callhook simulate` flags the form passes through (live mode's
//! among them); a scenario pasted into the form is written to the data directory's `console/`
//! and run with `--scenario`, its ground truth kept beside it (`/simulator/truth`). A live run
//! lasts until its `--duration` or until stopped from the page.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{back, Action, Page};
use crate::AppState;

/// How the server starts `callhook simulate`: its own executable and data directory (the
/// simulator reads the ingest key and the TLS certificate from there). Unset (tests that run
/// the server in-process), the console says the simulator is not available.
#[derive(Debug, Clone)]
pub struct SimulatorCommand {
    pub program: PathBuf,
    pub data_dir: PathBuf,
}

/// Flags the form may add (name → whether it takes a value). Live mode and scenario files
/// join here when `callhook simulate` has them.
pub const EXTRA_FLAGS: &[(&str, bool)] = &[
    ("--users", true),
    ("--days", true),
    ("--emergency-calls", true),
    ("--update-fraction", true),
    ("--concurrency", true),
    ("--live", false),
    ("--rate", true),
    ("--daily-profile", false),
    ("--duration", true),
    ("--speed", true),
    ("--record-delay", true),
    ("--version-delay", true),
];

/// The largest scenario the form accepts (the example files are a few KiB).
const SCENARIO_BYTES: usize = 256 * 1024;

/// Lines of output kept per run.
const LOG_LINES: usize = 200;

#[derive(Default)]
pub(super) struct Runs {
    current: Mutex<Option<Arc<Mutex<Run>>>>,
}

struct Run {
    /// `running`, `done`, `failed` or `stopped`.
    state: &'static str,
    command: String,
    log: VecDeque<String>,
    /// Ends the run early (a live run otherwise lasts until its `--duration`).
    stop: Arc<tokio::sync::Notify>,
}

impl Run {
    fn push(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }
}

fn snapshot(runs: &Runs) -> serde_json::Value {
    let current = runs.current.lock().ok().and_then(|c| c.clone());
    match current.as_ref().and_then(|r| {
        r.lock()
            .ok()
            .map(|r| json!({ "state": r.state, "command": r.command, "log": r.log }))
    }) {
        Some(v) => v,
        None => json!({ "state": "idle", "command": "", "log": [] }),
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    page: Page,
    axum::extract::Query(flash): axum::extract::Query<super::pages::Flash>,
) -> Response {
    let console = state.console();
    let ctx = json!({
        "available": state.config.simulator.is_some(),
        "run": snapshot(&console.sim),
        "flags": EXTRA_FLAGS
            .iter()
            .map(|(f, takes_value)| json!({ "name": f, "value": takes_value }))
            .collect::<Vec<_>>(),
        "truth": state
            .config
            .simulator
            .as_ref()
            .is_some_and(|c| truth_path(&c.data_dir).is_file()),
    });
    let ctx = flash.into_context(ctx);
    console
        .site
        .render("simulator.html", "/simulator", Some(&page.0), ctx)
}

pub(super) async fn status(State(state): State<AppState>, _page: Page) -> Response {
    super::no_store(Json(snapshot(&state.console().sim)).into_response())
}

/// The arguments of a run from the form: calls, seed and the allowed extra flags.
fn arguments(form: &std::collections::HashMap<String, String>) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let calls = form.get("calls").map(|s| s.trim()).unwrap_or("200");
    let calls: u32 = calls
        .parse()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or("Calls: a whole number from 1 to 1,000,000.")?;
    args.extend(["--calls".to_string(), calls.to_string()]);
    if let Some(seed) = form.get("seed").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let seed: u64 = seed.parse().map_err(|_| "Seed: a whole number.")?;
        args.extend(["--seed".to_string(), seed.to_string()]);
    }
    for (flag, takes_value) in EXTRA_FLAGS {
        let Some(v) = form.get(*flag).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
            continue;
        };
        if *takes_value {
            if v.starts_with('-') || v.len() > 256 {
                return Err(format!("{flag}: not a value"));
            }
            args.extend([flag.to_string(), v.to_string()]);
        } else if v == "on" {
            args.push(flag.to_string());
        }
    }
    Ok(args)
}

pub(super) async fn run(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    action: Action,
) -> Response {
    let Some(cmd) = state.config.simulator.clone() else {
        return back(
            "/simulator",
            "The simulator runs only from `callhook serve`.",
            false,
        );
    };
    let args = match arguments(&action.form) {
        Ok(a) => a,
        Err(e) => return back("/simulator", &e, false),
    };
    let console = state.console();
    let run = {
        let Ok(mut current) = console.sim.current.lock() else {
            return back("/simulator", "The simulator is unavailable.", false);
        };
        if current
            .as_ref()
            .is_some_and(|r| r.lock().is_ok_and(|r| r.state == "running"))
        {
            return back(
                "/simulator",
                "A run is in progress; wait for it to finish.",
                false,
            );
        }
        let url = state.base_url(&headers);
        let mut full = vec![
            "simulate".to_string(),
            "--url".into(),
            url,
            "--data-dir".into(),
            cmd.data_dir.display().to_string(),
        ];
        full.extend(args);
        if let Some(text) = action
            .form
            .get("scenario")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            match write_scenario(&cmd.data_dir, text) {
                Ok(path) => full.extend([
                    "--scenario".to_string(),
                    path.display().to_string(),
                    "--truth".to_string(),
                    truth_path(&cmd.data_dir).display().to_string(),
                ]),
                Err(e) => return back("/simulator", &e, false),
            }
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        let run = Arc::new(Mutex::new(Run {
            state: "running",
            command: format!("callhook {}", full.join(" ")),
            log: VecDeque::new(),
            stop: stop.clone(),
        }));
        *current = Some(run.clone());
        (run, full, stop)
    };
    let (run, full, stop) = run;
    tokio::spawn(async move {
        let child = tokio::process::Command::new(&cmd.program)
            .args(&full)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                if let Ok(mut r) = run.lock() {
                    r.push(format!("could not start the simulator: {e}"));
                    r.state = "failed";
                }
                return;
            }
        };
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(collect(BufReader::new(out), run.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(collect(BufReader::new(err), run.clone())));
        }
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.notified() => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                if let Ok(mut r) = run.lock() {
                    r.push("stopped from the console".into());
                    r.state = "stopped";
                }
                return;
            }
        };
        for r in readers {
            let _ = r.await;
        }
        if let Ok(mut r) = run.lock() {
            match status {
                Ok(s) if s.success() => r.state = "done",
                Ok(s) => {
                    r.push(format!("the simulator ended with {s}"));
                    r.state = "failed";
                }
                Err(e) => {
                    r.push(format!("waiting for the simulator failed: {e}"));
                    r.state = "failed";
                }
            }
        }
    });
    back("/simulator", "The simulator started.", true)
}

/// Stops the current run (the simulator process is killed; what it sent stays sent).
pub(super) async fn stop(State(state): State<AppState>, _action: Action) -> Response {
    let running = state
        .console()
        .sim
        .current
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .and_then(|r| {
            r.lock()
                .ok()
                .filter(|r| r.state == "running")
                .map(|r| r.stop.clone())
        });
    match running {
        Some(stop) => {
            stop.notify_one();
            back("/simulator", "The run is stopping.", true)
        }
        None => back("/simulator", "No run is in progress.", false),
    }
}

/// The ground truth of the latest scenario run, as the simulator wrote it.
pub(super) async fn truth(State(state): State<AppState>, _page: Page) -> Response {
    let Some(cmd) = state.config.simulator.as_ref() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(truth_path(&cmd.data_dir)).await {
        Ok(bytes) => super::no_store(
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response(),
        ),
        Err(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

fn console_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("console")
}

fn truth_path(data_dir: &std::path::Path) -> PathBuf {
    console_dir(data_dir).join("truth.json")
}

/// Writes a pasted scenario where the simulator reads it (the simulator checks its content and
/// says what is wrong in the run's log).
fn write_scenario(data_dir: &std::path::Path, text: &str) -> Result<PathBuf, String> {
    if text.len() > SCENARIO_BYTES {
        return Err(format!("Scenario: at most {} KiB.", SCENARIO_BYTES / 1024));
    }
    let dir = console_dir(data_dir);
    let path = dir.join("scenario.toml");
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, text))
        .map_err(|e| format!("Scenario: cannot write {}: {e}", path.display()))?;
    Ok(path)
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(reader: BufReader<R>, run: Arc<Mutex<Run>>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut r) = run.lock() {
            r.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::arguments;

    #[test]
    fn only_known_flags_with_plain_values_reach_the_command() {
        let form = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            arguments(&form(&[
                ("calls", "50"),
                ("seed", "7"),
                ("--users", "3"),
                ("--data-dir", "/x")
            ]))
            .unwrap(),
            ["--calls", "50", "--seed", "7", "--users", "3"]
        );
        assert!(arguments(&form(&[("calls", "0")])).is_err());
        assert!(arguments(&form(&[("--days", "--url=x")])).is_err());
        // A checkbox flag is passed bare when ticked, and never with a value.
        assert_eq!(
            arguments(&form(&[("calls", "5"), ("--live", "on"), ("--rate", "30")])).unwrap(),
            ["--calls", "5", "--live", "--rate", "30"]
        );
        assert_eq!(
            arguments(&form(&[("calls", "5"), ("--live", "yes")])).unwrap(),
            ["--calls", "5"]
        );
    }
}
