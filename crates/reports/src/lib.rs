//! `callhook report`: what the collector's store tells about call quality and usage.
//!
//! Every report is one function over a [`callhook_collector::Store`] taking [`Filters`] and
//! returning rows that serialize to flat JSON objects; the CLI renders them as a table, CSV or
//! JSON ([`render`]) and the dashboard shows the same rows, so both always agree.
//!
//! - [`quality`]: CQD measures (stream classification by `callhook-quality` from each stored
//!   record, Poor Stream Rate, Audio Poor Call %, setup and drop failure %, TCP share) per day,
//!   building, subnet, network type, device, driver, client, user, …
//! - [`usage`]: PSTN minutes and charges, direct routing per gateway (success ratio, NER, SIP
//!   codes), SMS, emergency calls.
//! - [`call`]: one call's timeline (sessions, segments, streams with verdicts and reasons).
//! - [`buildings`]: the CQD building file, imported into the collector's database.

pub mod buildings;
pub mod call;
pub mod dashboard;
pub mod quality;
mod sql;
pub mod usage;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

/// Time range and filters; every report applies the ones that make sense for its rows (a
/// `user` filter matches a user principal name, display name or id, case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    /// Inclusive start (call start, row start, event time).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub building: Option<String>,
    pub subnet: Option<String>,
    /// `audio`, `video`, `vbss`, `appSharing` (quality reports).
    pub modality: Option<String>,
    /// Usage country (PSTN, SMS).
    pub country: Option<String>,
    pub call_type: Option<String>,
    /// Direct-routing trunk FQDN.
    pub gateway: Option<String>,
}

/// Parses `--from`/`--to`: a date (`2026-03-01`, midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("'{text}' is neither a date (2026-03-01) nor an RFC 3339 time")
    })?;
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Rows as JSON objects (what `--format json` prints and the dashboard reads).
pub fn to_objects<T: Serialize>(rows: &[T]) -> Vec<Value> {
    rows.iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect()
}

/// A cell as shown in a table or on the dashboard: numbers with at most two decimals.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The column names of rows (the first row's keys, in order).
pub fn columns(rows: &[Value]) -> Vec<String> {
    rows.first()
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Renders rows for a terminal, a CSV file or a script.
pub fn render(rows: &[Value], format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(rows).unwrap_or_default() + "\n";
    }
    let cols = columns(rows);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(&r[c.as_str()])).collect())
        .collect();
    let mut out = String::new();
    if format == Format::Csv {
        let line = |v: &[String]| v.iter().map(|s| csv_field(s)).collect::<Vec<_>>().join(",");
        out.push_str(&line(&cols));
        out.push('\n');
        for r in &cells {
            out.push_str(&line(r));
            out.push('\n');
        }
        return out;
    }
    if rows.is_empty() {
        return "(no rows)\n".into();
    }
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |v: &[String]| {
        v.iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out.push_str(&line(&cols));
    out.push('\n');
    for r in &cells {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// A percentage `part ÷ whole × 100`, `None` when `whole` is 0.
pub(crate) fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// Case-insensitive equality of a filter with a value.
pub(crate) fn matches(filter: &Option<String>, value: &str) -> bool {
    filter
        .as_ref()
        .is_none_or(|f| f.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_what_needs_it_and_tables_align() {
        let rows = vec![
            json!({"key": "a,b", "n": 1, "rate": 2.5}),
            json!({"key": "c", "n": null, "rate": 0.126}),
        ];
        assert_eq!(
            render(&rows, Format::Csv),
            "key,n,rate\n\"a,b\",1,2.50\nc,,0.13\n"
        );
        assert_eq!(
            render(&rows, Format::Table),
            "key  n  rate\na,b  1  2.50\nc       0.13\n"
        );
    }

    #[test]
    fn times_are_dates_or_rfc3339() {
        assert_eq!(
            parse_time("2026-03-01").ok().map(|t| t.to_rfc3339()),
            Some("2026-03-01T00:00:00+00:00".into())
        );
        assert!(parse_time("2026-03-01T10:00:00Z").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
