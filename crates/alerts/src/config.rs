//! The alerts file (TOML, documented in `docs/alerts.md`): channels, rules and the evaluation
//! interval. Every rule names the channels it goes to; a file naming an unknown channel, a
//! threshold outside 0–1 or an unreadable duration is refused at start with the rule's name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::AlertError;

/// A parsed and checked alerts file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often windowed rules are evaluated (default `10s`). Emergency events never wait.
    #[serde(default = "ten_seconds", with = "span")]
    pub evaluation_interval: Duration,
    /// CQD building file (headerless CSV/TSV) mapping subnets to buildings, for `scope =
    /// "building"`; relative to the alerts file.
    #[serde(default)]
    pub building_file: Option<PathBuf>,
    /// First retry of a failed delivery; each further one waits twice as long.
    #[serde(default = "two_seconds", with = "span")]
    pub retry_initial: Duration,
    /// The longest wait between two attempts.
    #[serde(default = "five_minutes", with = "span")]
    pub retry_max: Duration,
    #[serde(default, rename = "channel")]
    pub channels: Vec<ChannelConfig>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn two_seconds() -> Duration {
    Duration::from_secs(2)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

/// Where alerts go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// The URL to POST to (`webhook`, `teams`).
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// A JSON document per alert (see `docs/alerts.md`).
    Webhook,
    /// A Teams Workflows webhook: a `message` whose attachment is an Adaptive Card.
    Teams,
    /// A warning line in the collector's log.
    Log,
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Someone dialled an emergency number.
    Emergency,
    /// A building's or subnet's poor-stream rate over `threshold` in `window`.
    PoorStreamRate,
    /// A user's last `calls` calls all poor.
    PoorStreak,
    /// A direct-routing gateway's failed share of calls over `threshold` in `window`.
    DirectRoutingFailures,
}

/// What a poor-stream-rate rule groups streams by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Building,
    Subnet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub kind: RuleKind,
    /// Channel names; default every channel.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// `critical`, `warning` (default; `critical` for emergency) or `info`.
    #[serde(default)]
    pub severity: Option<String>,
    /// A fraction 0–1: poor-stream rate or gateway failure ratio that breaches.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default = "one_hour", with = "span")]
    pub window: Duration,
    /// Fewest classified streams (poor-stream rate) or calls (gateway) for a verdict.
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// `building` (default) or `subnet`.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Poor calls in a row (default 3).
    #[serde(default)]
    pub calls: Option<usize>,
    /// After an alert for one building/subnet/user/gateway, further breaches of it are not
    /// sent for this long (default: the window).
    #[serde(default, with = "opt_span")]
    pub cooldown: Option<Duration>,
    /// Emergency numbers matched in call records and report rows when no event says so
    /// (default `["911", "112", "999", "000", "933"]`).
    #[serde(default)]
    pub numbers: Option<Vec<String>>,
}

const DEFAULT_EMERGENCY_NUMBERS: &[&str] = &["911", "112", "999", "000", "933"];

impl RuleConfig {
    pub fn cooldown(&self) -> Duration {
        self.cooldown.unwrap_or(self.window)
    }
    pub fn severity(&self) -> &str {
        match (&self.severity, self.kind) {
            (Some(s), _) => s,
            (None, RuleKind::Emergency) => "critical",
            (None, _) => "warning",
        }
    }
    pub fn emergency_numbers(&self) -> Vec<String> {
        self.numbers.clone().unwrap_or_else(|| {
            DEFAULT_EMERGENCY_NUMBERS
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    }
}

impl AlertsConfig {
    pub fn parse(text: &str) -> Result<Self, AlertError> {
        let c: AlertsConfig =
            toml::from_str(text).map_err(|e| AlertError::Config(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Reads and checks a file; a relative `building_file` is resolved next to it.
    pub fn load(path: &Path) -> Result<Self, AlertError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AlertError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut c = Self::parse(&text)
            .map_err(|e| AlertError::Config(format!("{}: {e}", path.display())))?;
        if let (Some(b), Some(dir)) = (&c.building_file, path.parent()) {
            if b.is_relative() {
                c.building_file = Some(dir.join(b));
            }
        }
        Ok(c)
    }

    fn check(&self) -> Result<(), AlertError> {
        let bad = |rule: &str, why: &str| Err(AlertError::Config(format!("rule '{rule}': {why}")));
        for ch in &self.channels {
            if ch.kind != ChannelKind::Log && ch.url.is_none() {
                return Err(AlertError::Config(format!(
                    "channel '{}': url is required",
                    ch.name
                )));
            }
        }
        for r in &self.rules {
            for name in r.channels.iter().flatten() {
                if !self.channels.iter().any(|c| &c.name == name) {
                    return bad(&r.name, &format!("no channel named '{name}'"));
                }
            }
            match r.kind {
                RuleKind::PoorStreamRate | RuleKind::DirectRoutingFailures => match r.threshold {
                    Some(t) if (0.0..=1.0).contains(&t) => {}
                    _ => return bad(&r.name, "threshold (a fraction from 0 to 1) is required"),
                },
                RuleKind::PoorStreak if r.calls == Some(0) => {
                    return bad(&r.name, "calls must be at least 1")
                }
                _ => {}
            }
            if !matches!(r.severity(), "critical" | "warning" | "info") {
                return bad(&r.name, "severity is critical, warning or info");
            }
        }
        Ok(())
    }

    /// The channels a rule goes to.
    pub fn channels_of(&self, rule: &RuleConfig) -> Vec<&ChannelConfig> {
        self.channels
            .iter()
            .filter(|c| rule.channels.as_ref().is_none_or(|n| n.contains(&c.name)))
            .collect()
    }
}

/// `90s`, `10m`, `2h`, `1d`, `250ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

mod span {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{s}' is not a duration such as 250ms, 10s, 15m, 2h or 1d"
            ))
        })
    }
}

mod opt_span {
    use serde::Deserializer;
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::span::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_names_known_channels() {
        let c = AlertsConfig::parse(include_str!("../../../examples/alerts.toml")).expect("parses");
        assert_eq!(c.evaluation_interval, Duration::from_secs(10));
        assert!(c.rules.iter().any(|r| r.kind == RuleKind::Emergency));
        for r in &c.rules {
            assert!(!c.channels_of(r).is_empty(), "rule {}", r.name);
        }
    }

    #[test]
    fn a_rule_naming_an_unknown_channel_or_no_threshold_is_refused() {
        let e = AlertsConfig::parse(
            "[[rule]]\nname = \"x\"\nkind = \"emergency\"\nchannels = [\"pager\"]\n",
        )
        .expect_err("unknown channel");
        assert!(e.to_string().contains("no channel named 'pager'"), "{e}");
        let e = AlertsConfig::parse("[[rule]]\nname = \"psr\"\nkind = \"poor-stream-rate\"\n")
            .expect_err("no threshold");
        assert!(e.to_string().contains("rule 'psr'"), "{e}");
        let e = AlertsConfig::parse("evaluation_interval = \"soon\"\n").expect_err("duration");
        assert!(e.to_string().contains("not a duration"), "{e}");
    }

    #[test]
    fn durations_read_their_unit() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5 weeks"), None);
    }
}
