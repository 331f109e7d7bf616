//! Unquoted OData date and DateTimeOffset literals (`2023-09-25`, `2023-09-25T09:25:00.1234567+02:00`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// A date or a point in time, as written in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    /// `2023-09-25`
    Date(NaiveDate),
    /// `2023-09-25T09:25:00Z`, with the offset as written.
    DateTimeOffset(DateTime<FixedOffset>),
}

impl Temporal {
    /// The instant in UTC; a bare date means midnight UTC.
    pub fn to_utc(self) -> DateTime<Utc> {
        match self {
            Temporal::Date(d) => Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)),
            Temporal::DateTimeOffset(t) => t.with_timezone(&Utc),
        }
    }
}

/// Result of looking for a temporal literal at the start of some text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The text does not start with `dddd-dd-dd`.
    NotTemporal,
    /// It starts like a date but is not a valid date or timestamp.
    Invalid,
    /// A literal of this many bytes.
    Found(Temporal, usize),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            let d = self.peek().filter(u8::is_ascii_digit)?;
            value = value * 10 + u32::from(d - b'0');
            self.at += 1;
        }
        Some(value)
    }
}

/// Recognises the longest date or DateTimeOffset literal at the start of `text`.
pub(crate) fn scan(text: &str) -> Scan {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let (Some(year), true, Some(month), true, Some(day)) = (
        c.digits(4),
        c.eat(b'-'),
        c.digits(2),
        c.eat(b'-'),
        c.digits(2),
    ) else {
        return Scan::NotTemporal;
    };
    let Some(date) = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
    else {
        return Scan::Invalid;
    };
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        return Scan::Invalid;
    }
    if !(c.eat(b'T') || c.eat(b't')) {
        return Scan::Found(Temporal::Date(date), c.at);
    }
    match time_and_offset(&mut c) {
        Some((time, offset)) => match date.and_time(time).and_local_timezone(offset) {
            chrono::LocalResult::Single(t) => Scan::Found(Temporal::DateTimeOffset(t), c.at),
            _ => Scan::Invalid,
        },
        None => Scan::Invalid,
    }
}

/// `hh:mm[:ss[.fffffff]]` then `Z` or `±hh:mm`.
fn time_and_offset(c: &mut Cursor<'_>) -> Option<(NaiveTime, FixedOffset)> {
    let hour = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.digits(2)?;
    let mut second = 0;
    let mut nanos = 0u32;
    if c.eat(b':') {
        second = c.digits(2)?;
        if c.eat(b'.') {
            // .NET writes up to 7 fractional digits; keep nanosecond precision, drop the rest.
            let mut count = 0;
            while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                if count < 9 {
                    nanos = nanos * 10 + u32::from(d - b'0');
                }
                count += 1;
                c.at += 1;
            }
            if count == 0 {
                return None;
            }
            for _ in count..9 {
                nanos *= 10;
            }
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = if c.eat(b'Z') || c.eat(b'z') {
        FixedOffset::east_opt(0)?
    } else {
        let sign = if c.eat(b'+') {
            1
        } else if c.eat(b'-') {
            -1
        } else {
            return None;
        };
        let oh = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        let om = c.digits(2)?;
        if oh > 14 || om > 59 {
            return None;
        }
        let seconds = i32::try_from(oh * 3600 + om * 60).ok()?;
        FixedOffset::east_opt(sign * seconds)?
    };
    Some((time, offset))
}

/// The whole of `text` as a date or DateTimeOffset, in UTC.
pub(crate) fn parse_exact(text: &str) -> Option<DateTime<Utc>> {
    match scan(text) {
        Scan::Found(t, len) if len == text.len() => Some(t.to_utc()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
    }

    #[test]
    fn bare_date_is_midnight_utc() {
        assert_eq!(parse_exact("2019-11-01"), Some(utc("2019-11-01T00:00:00Z")));
    }

    #[test]
    fn timestamps_with_zulu_offset_and_fractions() {
        assert_eq!(
            parse_exact("2023-09-25T09:25:00Z"),
            Some(utc("2023-09-25T09:25:00Z"))
        );
        assert_eq!(
            parse_exact("2023-09-25T09:25:00.1234567+02:00"),
            Some(utc("2023-09-25T07:25:00.1234567Z"))
        );
        assert_eq!(
            parse_exact("2021-05-06T01:48:48.7950838Z"),
            Some(utc("2021-05-06T01:48:48.7950838Z"))
        );
        assert_eq!(
            parse_exact("2023-09-25T09:25Z"),
            Some(utc("2023-09-25T09:25:00Z"))
        );
        assert_eq!(
            parse_exact("2023-09-25T09:25:00-05:30"),
            Some(utc("2023-09-25T14:55:00Z"))
        );
    }

    #[test]
    fn more_than_nine_fraction_digits_are_truncated() {
        assert_eq!(
            parse_exact("2023-09-25T09:25:00.123456789999Z"),
            Some(utc("2023-09-25T09:25:00.123456789Z"))
        );
    }

    #[test]
    fn invalid_dates_and_times_are_rejected() {
        for bad in [
            "2023-13-01",
            "2023-02-30",
            "2023-09-25T25:00:00Z",
            "2023-09-25T09:25:00",
            "2023-09-25T09:25:00.Z",
            "2023-09-25T09Z",
            "2023-09-25T09:25:00+2:00",
            "2023-09-255",
        ] {
            assert_eq!(parse_exact(bad), None, "{bad}");
        }
        assert_eq!(scan("2023-09"), Scan::NotTemporal);
        assert_eq!(scan("2023-13-01"), Scan::Invalid);
    }

    #[test]
    fn scan_stops_at_the_end_of_the_literal() {
        assert!(matches!(
            scan("2023-09-25 and x"),
            Scan::Found(Temporal::Date(_), 10)
        ));
        assert!(matches!(
            scan("2023-09-25T09:25:00Z)"),
            Scan::Found(Temporal::DateTimeOffset(_), 20)
        ));
    }
}
