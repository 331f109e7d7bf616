//! Graph's JSON scalar conventions: `Edm.Duration`, `Edm.Single`, `Edm.DateTimeOffset`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::ModelError;
use crate::json::{self, Json, Path};

const TICKS_PER_SECOND: i128 = 10_000_000;
const TICKS_PER_MINUTE: i128 = 60 * TICKS_PER_SECOND;
const TICKS_PER_HOUR: i128 = 60 * TICKS_PER_MINUTE;
const TICKS_PER_DAY: i128 = 24 * TICKS_PER_HOUR;

/// An `Edm.Duration` (ISO 8601 duration such as `PT0.016S`), held in 100 ns ticks like .NET's
/// `TimeSpan`.
///
/// Parsing accepts `[-]P[nY][nM][nD][T[nH][nM][n[.f]S]]` (a year counts 365 days and a month 30
/// days, as `XmlConvert.ToTimeSpan` does; digits past the seventh decimal are truncated).
/// Formatting follows `XmlConvert.ToString(TimeSpan)`: days, hours, minutes and seconds, zero
/// components omitted, trailing fractional zeros trimmed, and `PT0S` for zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GraphDuration(i64);

impl GraphDuration {
    /// The zero duration, `PT0S`.
    pub const ZERO: Self = Self(0);

    /// A duration of `ticks` × 100 ns.
    pub const fn from_ticks(ticks: i64) -> Self {
        Self(ticks)
    }

    /// The duration in 100 ns ticks.
    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// A duration from milliseconds, rounded to the nearest tick (saturating; NaN gives zero).
    pub fn from_millis_f64(millis: f64) -> Self {
        // `as` saturates on overflow and maps NaN to 0, which is what we want here.
        Self((millis * 10_000.0).round() as i64)
    }

    /// The duration in milliseconds, for comparing with quality thresholds.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
}

impl fmt::Display for GraphDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("PT0S");
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let ticks = i128::from(self.0).abs();
        let days = ticks / TICKS_PER_DAY;
        let hours = ticks % TICKS_PER_DAY / TICKS_PER_HOUR;
        let minutes = ticks % TICKS_PER_HOUR / TICKS_PER_MINUTE;
        let seconds = ticks % TICKS_PER_MINUTE / TICKS_PER_SECOND;
        let fraction = ticks % TICKS_PER_SECOND;
        f.write_str("P")?;
        if days != 0 {
            write!(f, "{days}D")?;
        }
        if hours == 0 && minutes == 0 && seconds == 0 && fraction == 0 {
            return Ok(());
        }
        f.write_str("T")?;
        if hours != 0 {
            write!(f, "{hours}H")?;
        }
        if minutes != 0 {
            write!(f, "{minutes}M")?;
        }
        if seconds != 0 || fraction != 0 {
            write!(f, "{seconds}")?;
            if fraction != 0 {
                let digits = format!("{fraction:07}");
                write!(f, ".{}", digits.trim_end_matches('0'))?;
            }
            f.write_str("S")?;
        }
        Ok(())
    }
}

impl FromStr for GraphDuration {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Self).ok_or_else(|| {
            ModelError::new(
                "",
                format!(
                    "invalid Duration '{}': expected ISO 8601 such as PT0.016S",
                    json::snippet(s)
                ),
            )
        })
    }
}

/// Parses an ISO 8601 duration into ticks; `None` when malformed or out of range.
fn parse_duration(s: &str) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut rest = rest.strip_prefix('P')?.as_bytes();
    let mut total: i128 = 0;
    let mut in_time = false;
    let mut components = 0;
    // Rank of the last designator, so that components come in order and at most once.
    let mut last_rank = 0;
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'T' {
            if in_time {
                return None;
            }
            in_time = true;
            rest = tail;
            // `T` must be followed by at least one time component.
            if rest.is_empty() {
                return None;
            }
            continue;
        }
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if int_len == 0 {
            return None;
        }
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.split_first() {
            Some((b'.', tail)) => {
                let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return None;
                }
                let (digits, after) = tail.split_at(n);
                (Some(digits), after)
            }
            _ => (None, after),
        };
        let (&designator, after) = after.split_first()?;
        let (rank, unit) = match (in_time, designator) {
            (false, b'Y') => (1, 365 * TICKS_PER_DAY),
            (false, b'M') => (2, 30 * TICKS_PER_DAY),
            (false, b'D') => (3, TICKS_PER_DAY),
            (true, b'H') => (4, TICKS_PER_HOUR),
            (true, b'M') => (5, TICKS_PER_MINUTE),
            (true, b'S') => (6, TICKS_PER_SECOND),
            _ => return None,
        };
        if rank <= last_rank || (frac_digits.is_some() && designator != b'S') {
            return None;
        }
        last_rank = rank;
        let mut value: i128 = 0;
        for d in int_digits {
            value = value.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
        }
        total = total.checked_add(value.checked_mul(unit)?)?;
        if let Some(frac) = frac_digits {
            // Seven decimals are 100 ns ticks; finer digits are dropped.
            let mut ticks: i128 = 0;
            for i in 0..7 {
                let d = frac.get(i).map_or(0, |d| i128::from(d - b'0'));
                ticks = ticks * 10 + d;
            }
            total = total.checked_add(ticks)?;
        }
        components += 1;
        rest = after;
    }
    if components == 0 {
        return None;
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).ok()
}

impl Serialize for GraphDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GraphDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Json for GraphDuration {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::String(s) => parse_duration(&s).map(Self).ok_or_else(|| {
                p.err(format!(
                    "invalid Duration '{}': expected ISO 8601 such as PT0.016S",
                    json::snippet(&s)
                ))
            }),
            other => Err(json::type_error("a Duration string", &other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// An `Edm.Single` (or Double) value, held as `f64`.
///
/// Accepts JSON numbers and the strings `"NaN"`, `"INF"`, `"-INF"`, `"Infinity"`, `"-Infinity"`.
/// Finite values are written as plain JSON numbers (shortest round-trip form, integral values
/// without a fraction); non-finite ones as `"NaN"`, `"INF"`, `"-INF"`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct GraphSingle(pub f64);

impl GraphSingle {
    /// The value.
    pub const fn value(self) -> f64 {
        self.0
    }

    fn from_special(s: &str) -> Option<Self> {
        match s {
            "NaN" => Some(Self(f64::NAN)),
            "INF" | "Infinity" => Some(Self(f64::INFINITY)),
            "-INF" | "-Infinity" => Some(Self(f64::NEG_INFINITY)),
            _ => None,
        }
    }
}

impl From<f64> for GraphSingle {
    fn from(v: f64) -> Self {
        Self(v)
    }
}

impl From<GraphSingle> for f64 {
    fn from(v: GraphSingle) -> Self {
        v.0
    }
}

impl Serialize for GraphSingle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.write().serialize(s)
    }
}

impl<'de> Deserialize<'de> for GraphSingle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        json::read_root(v).map_err(serde::de::Error::custom)
    }
}

impl Json for GraphSingle {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match &v {
            Value::Number(n) => n
                .as_f64()
                .map(Self)
                .ok_or_else(|| p.err("number out of range")),
            Value::String(s) => Self::from_special(s).ok_or_else(|| {
                p.err(format!(
                    "invalid number '{}': expected a JSON number or \"NaN\", \"INF\", \"-INF\"",
                    json::snippet(s)
                ))
            }),
            other => Err(json::type_error("a number", other, p)),
        }
    }
    fn write(&self) -> Value {
        let f = self.0;
        if f.is_nan() {
            Value::String("NaN".into())
        } else if f == f64::INFINITY {
            Value::String("INF".into())
        } else if f == f64::NEG_INFINITY {
            Value::String("-INF".into())
        } else {
            json::number_value(f)
        }
    }
}

/// Parses an `Edm.DateTimeOffset`: RFC 3339 with any offset, converted to UTC and truncated to
/// 100 ns. `None` when malformed, a leap second, or outside years 1–9999 in UTC (the range of
/// .NET's `DateTimeOffset`).
pub fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let dt = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    let nanos = dt.nanosecond();
    if nanos >= 1_000_000_000 || !(1..=9999).contains(&dt.year()) {
        return None;
    }
    dt.with_nanosecond(nanos - nanos % 100)
}

/// Formats an `Edm.DateTimeOffset` as Graph does: UTC, `Z`, up to seven fractional digits with
/// trailing zeros trimmed, no fraction when it is zero (`2023-09-25T09:28:38Z`).
pub fn format_date_time(dt: &DateTime<Utc>) -> String {
    let mut out = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    // Leap-second representation (nanos >= 1e9) folds into the same second.
    let ticks = dt.nanosecond() % 1_000_000_000 / 100;
    if ticks != 0 {
        let digits = format!("{ticks:07}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}
