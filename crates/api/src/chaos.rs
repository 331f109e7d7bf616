//! `--chaos-*`: faults a consumer's tests can rely on meeting, on the Graph routes only: a share
//! of requests answered with Graph's 429 or 503 (each with `Retry-After`) before they reach the
//! route, and added latency. Off by default.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::error::GraphError;
use crate::AppState;

#[derive(Debug, Clone, PartialEq)]
pub struct ChaosConfig {
    /// Share of requests (0–1) answered with a random 429 or 503.
    pub error_rate: f64,
    /// `Retry-After` seconds of those answers.
    pub retry_after_secs: u64,
    /// Latency added to every request: uniformly between these bounds.
    pub latency_min: Duration,
    pub latency_max: Duration,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            retry_after_secs: 1,
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
        }
    }
}

impl ChaosConfig {
    pub fn is_off(&self) -> bool {
        self.error_rate <= 0.0 && self.latency_max.is_zero()
    }
}

/// What chaos does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    TooManyRequests,
    Unavailable,
}

/// Draws the fault and the delay of one request.
pub fn draw(config: &ChaosConfig, rng: &mut impl Rng) -> (Fault, Duration) {
    let delay = if config.latency_max > config.latency_min {
        rng.gen_range(config.latency_min..=config.latency_max)
    } else {
        config.latency_min.max(config.latency_max)
    };
    let fault = if config.error_rate > 0.0 && rng.gen_bool(config.error_rate.clamp(0.0, 1.0)) {
        if rng.gen_bool(0.5) {
            Fault::TooManyRequests
        } else {
            Fault::Unavailable
        }
    } else {
        Fault::None
    };
    (fault, delay)
}

pub async fn chaos(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = &state.config.chaos;
    if config.is_off() {
        return next.run(req).await;
    }
    let (fault, delay) = draw(config, &mut rand::thread_rng());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let retry_after = config.retry_after_secs.max(1);
    match fault {
        Fault::None => next.run(req).await,
        Fault::TooManyRequests => {
            crate::throttle::too_many_requests(Duration::from_secs(retry_after)).into_response()
        }
        Fault::Unavailable => {
            let mut e = GraphError::unavailable();
            e.headers
                .retain(|(name, _)| name != axum::http::header::RETRY_AFTER);
            e.with_header(axum::http::header::RETRY_AFTER, retry_after.to_string())
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_share_of_faults_and_the_delays_follow_the_configuration() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let config = ChaosConfig {
            error_rate: 0.3,
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(20),
            ..ChaosConfig::default()
        };
        let draws: Vec<_> = (0..2000).map(|_| draw(&config, &mut rng)).collect();
        let faults = draws.iter().filter(|(f, _)| *f != Fault::None).count();
        assert!((450..750).contains(&faults), "{faults}");
        assert!(draws.iter().any(|(f, _)| *f == Fault::TooManyRequests));
        assert!(draws.iter().any(|(f, _)| *f == Fault::Unavailable));
        assert!(draws
            .iter()
            .all(|(_, d)| *d >= config.latency_min && *d <= config.latency_max));
        let off = ChaosConfig::default();
        assert!(off.is_off());
        assert_eq!(draw(&off, &mut rng), (Fault::None, Duration::ZERO));
    }
}
