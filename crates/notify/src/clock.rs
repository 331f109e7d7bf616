//! The server's notion of "now". Real time by default; an offset can be added so tests and the
//! emulator controls can move time forward (expiry, retention) without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

/// The clock cannot be moved past what the server can serve.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the clock cannot move past {}", latest_text())]
pub struct BeyondLatest;

fn latest_text() -> String {
    Clock::latest().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// The latest instant the server can serve at: Graph's timestamps have four-digit years,
    /// and a year of headroom keeps "now + a subscription's or token's lifetime", retention
    /// windows and the like writable.
    pub fn latest() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(9999, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
            .checked_add_signed(Duration::milliseconds(
                self.offset_ms.load(Ordering::Relaxed),
            ))
            .unwrap_or_else(Self::latest)
    }

    /// Whether "now" is still an instant the server can serve at: real time goes on past
    /// [`Clock::latest`], and a month before year 10000 "now + 30 days" (the longest lifetime
    /// the server computes) could no longer be written.
    pub fn servable(&self) -> bool {
        self.now() <= Self::latest() + Duration::days(334)
    }

    /// Moves this clock (and every clone of it) forward by `by`, unless that passes
    /// [`Clock::latest`].
    pub fn try_advance(&self, by: Duration) -> Result<DateTime<Utc>, BeyondLatest> {
        let by = by.num_milliseconds();
        let mut moved = None;
        self.offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                let next = offset.checked_add(by)?;
                let now = Utc::now().checked_add_signed(Duration::milliseconds(next))?;
                moved = Some(now);
                (now <= Self::latest()).then_some(next)
            })
            .map_err(|_| BeyondLatest)?;
        moved.ok_or(BeyondLatest)
    }

    /// Moves this clock (and every clone of it) forward by `by`; at most to [`Clock::latest`].
    pub fn advance(&self, by: Duration) {
        if self.try_advance(by).is_err() {
            let _ = self.try_advance(Self::latest() - self.now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_stops_at_the_latest_servable_instant() {
        let clock = Clock::system();
        let decade = Duration::days(3650);
        let mut moved = 0;
        while clock.try_advance(decade).is_ok() {
            moved += 1;
        }
        assert!(moved > 700, "moved {moved} decades");
        assert!(clock.servable());
        assert!(clock.now() <= Clock::latest());
        assert!(clock.now() > Clock::latest() - decade);
        // Past it: refused, and repeated refusals neither overflow nor move the clock.
        for _ in 0..10_000 {
            assert!(clock.try_advance(decade).is_err());
        }
        clock.advance(Duration::MAX);
        assert!(clock.servable());
    }
}
