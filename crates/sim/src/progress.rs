//! What a run shows while it works: an `indicatif` bar on a terminal, a plain line every few
//! seconds otherwise (logs and CI keep a trace without control characters), or nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

/// How a run reports progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A progress bar (for a terminal).
    Bar,
    /// A line every [`LINE_EVERY`].
    Lines,
    #[default]
    Off,
}

/// How often [`ProgressMode::Lines`] prints.
pub const LINE_EVERY: Duration = Duration::from_secs(2);

/// Calls stored out of calls planned, and the stage at work. Cheap to share.
pub(crate) struct Progress {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
    part: std::sync::Mutex<String>,
}

impl Progress {
    pub fn new(mode: ProgressMode, started: Instant) -> Arc<Self> {
        // A hidden bar still counts, so every mode shares the one counter.
        let bar = match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::new(0);
                let style = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} calls {per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            }
            // `ProgressBar::hidden()` has no length, and would never get one.
            ProgressMode::Lines | ProgressMode::Off => {
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden())
            }
        };
        bar.set_message("generating");
        let ticker = (mode == ProgressMode::Lines).then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(LINE_EVERY);
                every.tick().await;
                loop {
                    every.tick().await;
                    eprintln!("{}", line(&bar, started.elapsed()));
                }
            })
        });
        Arc::new(Self {
            bar,
            ticker,
            part: std::sync::Mutex::new(String::new()),
        })
    }

    pub fn add_total(&self, n: usize) {
        self.bar.inc_length(n as u64);
    }

    pub fn inc(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    pub fn stage(&self, what: &'static str) {
        let part = self.part.lock().map(|p| p.clone()).unwrap_or_default();
        self.bar.set_message(format!("{what}{part}"));
    }

    /// Which part of a run generated in parts is being sent (nothing shown for one part).
    pub fn part(&self, n: usize, of: usize) {
        if of > 1 {
            if let Ok(mut p) = self.part.lock() {
                *p = format!(", part {n} of {of}");
            }
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

/// `simulate: 41 % (24600/60000 calls), 3.2 s, call records, reports, meetings and events`.
fn line(bar: &ProgressBar, elapsed: Duration) -> String {
    let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
    let pct = (pos * 100).checked_div(len).unwrap_or(0);
    format!(
        "simulate: {pct} % ({pos}/{len} calls), {:.1} s, {}",
        elapsed.as_secs_f64(),
        bar.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_share_counts_time_and_stage() {
        let p = Progress::new(ProgressMode::Off, Instant::now());
        p.add_total(150);
        p.add_total(50);
        p.inc(50);
        p.stage("call records");
        assert_eq!(
            line(&p.bar, Duration::from_millis(3_300)),
            "simulate: 25 % (50/200 calls), 3.3 s, call records"
        );
    }
}
