//! Bound-function path segments of the report functions:
//! `getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)`.

use chrono::{DateTime, Utc};

use crate::error::{Error, Syntax};

/// The namespace SDKs put in front of the function name.
const NAMESPACE: &str = "microsoft.graph.callRecords.";

/// A parsed function segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    /// The function name, with a leading `microsoft.graph.callRecords.` removed.
    pub name: String,
    /// Parameters in the order written; quoted values are unquoted, others trimmed.
    pub params: Vec<(String, String)>,
}

/// Parses one path segment `name(p=v,…)`. Positions in errors count within the text between
/// the parentheses, as Graph's do.
pub fn parse_function_call(segment: &str) -> Result<FunctionCall, Error> {
    let not_a_call = || Error::new(format!("'{segment}' is not a function call."));
    let (qualified, rest) = segment.split_once('(').ok_or_else(not_a_call)?;
    let inner = rest.strip_suffix(')').ok_or_else(not_a_call)?;
    let qualified = qualified.trim();
    let valid_name = !qualified.is_empty()
        && qualified
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !valid_name {
        return Err(not_a_call());
    }
    let name = match qualified.get(..NAMESPACE.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(NAMESPACE) => {
            qualified.get(NAMESPACE.len()..).unwrap_or("")
        }
        _ => qualified,
    };
    Ok(FunctionCall {
        name: name.to_string(),
        params: parse_params(inner)?,
    })
}

fn parse_params(text: &str) -> Result<Vec<(String, String)>, Error> {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let skip_ws = |mut i: usize| {
        while at(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut pos = skip_ws(0);
    if pos == text.len() {
        return Ok(params);
    }
    loop {
        pos = skip_ws(pos);
        let name_start = pos;
        while at(pos).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            pos += 1;
        }
        let name = text.get(name_start..pos).unwrap_or("");
        pos = skip_ws(pos);
        if name.is_empty() || at(pos) != Some(b'=') {
            return Err(Error::syntax(Syntax::General, pos, text));
        }
        pos = skip_ws(pos + 1);
        let value = if at(pos) == Some(b'\'') {
            let mut value = String::new();
            pos += 1;
            loop {
                let rest = text.get(pos..).unwrap_or("");
                let Some(q) = rest.find('\'') else {
                    return Err(Error::syntax(Syntax::UnterminatedString, text.len(), text));
                };
                value.push_str(rest.get(..q).unwrap_or(""));
                pos += q + 1;
                if at(pos) == Some(b'\'') {
                    value.push('\'');
                    pos += 1;
                } else {
                    break;
                }
            }
            pos = skip_ws(pos);
            value
        } else {
            let start = pos;
            while at(pos).is_some_and(|b| b != b',') {
                pos += 1;
            }
            let value = text.get(start..pos).unwrap_or("").trim();
            if value.is_empty() {
                return Err(Error::syntax(Syntax::ExpressionExpected, pos, text));
            }
            value.to_string()
        };
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(Error::new(format!(
                "The parameter '{name}' was specified more than once."
            )));
        }
        params.push((name.to_string(), value));
        match at(pos) {
            None => return Ok(params),
            Some(b',') => pos += 1,
            Some(_) => return Err(Error::syntax(Syntax::CloseParenOrComma, pos, text)),
        }
    }
}

impl FunctionCall {
    /// The raw value of a parameter (names compare case-insensitively).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Refuses parameters the function does not declare.
    pub fn check_params(&self, declared: &[&str]) -> Result<(), Error> {
        match self
            .params
            .iter()
            .find(|(n, _)| !declared.iter().any(|d| d.eq_ignore_ascii_case(n)))
        {
            Some((unknown, _)) => Err(Error::new(format!(
                "The parameter '{unknown}' is not defined for function '{}'. Expected parameters: {}.",
                self.name,
                declared.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// A required `Edm.DateTimeOffset` parameter: a full timestamp (`Z` or an offset) or a
    /// date (midnight UTC). A `+` turned into a space by URL decoding is put back.
    pub fn required_datetime(&self, name: &str) -> Result<DateTime<Utc>, Error> {
        let raw = self.param(name).ok_or_else(|| {
            Error::new(format!(
                "The parameter '{name}' is required for function '{}'.",
                self.name
            ))
        })?;
        let repaired = restore_plus(raw);
        crate::temporal::parse_exact(&repaired).ok_or_else(|| {
            Error::new(format!(
                "The value '{raw}' of parameter '{name}' is not a valid DateTimeOffset; use e.g. 2019-11-01 or 2019-11-01T00:00:00Z."
            ))
        })
    }
}

/// `2019-11-01T10:00:00 02:00` → `2019-11-01T10:00:00+02:00`.
fn restore_plus(value: &str) -> String {
    let bytes = value.as_bytes();
    let n = bytes.len();
    let tail_is_offset = n > 6
        && bytes.get(n - 6) == Some(&b' ')
        && bytes.get(n - 3) == Some(&b':')
        && [n - 5, n - 4, n - 2, n - 1]
            .iter()
            .all(|&i| bytes.get(i).is_some_and(u8::is_ascii_digit));
    if !tail_is_offset {
        return value.to_string();
    }
    match (value.get(..n - 6), value.get(n - 5..)) {
        (Some(head), Some(offset)) => format!("{head}+{offset}"),
        _ => value.to_string(),
    }
}
