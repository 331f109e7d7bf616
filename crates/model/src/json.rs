//! Reading and writing Graph JSON with JSON-path error reporting.
//!
//! Every model type implements the crate-private [`Json`] trait: `read` turns an owned
//! `serde_json::Value` into the type while tracking the JSON path for error messages, and
//! `write` produces Graph's wire shape. The public entry points (`parse`, `from_value`,
//! `serde::Serialize`, `serde::Deserialize`) are thin wrappers over it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use crate::error::ModelError;
use crate::values;

pub(crate) type Obj = Map<String, Value>;

/// One step of a JSON path.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

/// The JSON path of the value being read, e.g. `sessions[0].segments[1]`.
#[derive(Debug, Default)]
pub(crate) struct Path(Vec<Seg>);

impl Path {
    fn render(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    /// An error located at the current path.
    pub(crate) fn err(&self, message: impl Into<String>) -> ModelError {
        ModelError::new(self.render(), message)
    }

    /// An error located at property `key` of the current object.
    pub(crate) fn err_at(&self, key: &str, message: impl Into<String>) -> ModelError {
        let mut path = self.render();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&snippet(key));
        ModelError::new(path, message)
    }

    fn with<T>(&mut self, seg: Seg, f: impl FnOnce(&mut Self) -> T) -> T {
        self.0.push(seg);
        let out = f(self);
        self.0.pop();
        out
    }
}

/// Conversion between a model type and its Graph JSON form.
pub(crate) trait Json: Sized {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError>;
    fn write(&self) -> Value;

    /// Streams exactly what [`Json::write`] returns, without building the tree. Types with
    /// many fields override it; leaves keep this default.
    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.write(), s)
    }
}

/// Adapts a [`Json`] value to `serde::Serialize` through [`Json::stream`].
pub(crate) struct Streamed<'a, T>(pub &'a T);

impl<T: Json> serde::Serialize for Streamed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.stream(s)
    }
}

/// Reads a whole document with an empty root path.
pub(crate) fn read_root<T: Json>(v: Value) -> Result<T, ModelError> {
    T::read(v, &mut Path::default())
}

/// Article and name of a JSON value's kind, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn type_error(expected: &str, v: &Value, p: &Path) -> ModelError {
    p.err(format!("expected {expected}, found {}", kind(v)))
}

/// `s` shortened for an error message, so that a huge value is not echoed back whole.
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// OData annotations (`@odata.context`, `sessions@odata.nextLink`, ...) are not properties.
pub(crate) fn is_annotation(key: &str) -> bool {
    key.contains('@')
}

pub(crate) fn object(v: Value, p: &Path) -> Result<Obj, ModelError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(type_error("an object", &other, p)),
    }
}

/// Refuses properties a closed type does not declare; annotations are skipped.
pub(crate) fn check_keys(
    o: &Obj,
    declared: &[&str],
    type_name: &str,
    p: &Path,
) -> Result<(), ModelError> {
    for k in o.keys() {
        if !is_annotation(k) && !declared.contains(&k.as_str()) {
            return Err(p.err_at(
                k,
                format!(
                    "property '{}' does not exist on type '{type_name}'",
                    snippet(k)
                ),
            ));
        }
    }
    Ok(())
}

/// Splits an open type's members into the declared ones (plus `@odata.type`) and the dynamic
/// ones, keeping the input order of the dynamic members; other annotations are dropped.
pub(crate) fn split_open(o: Obj, declared: &[&str]) -> (Obj, Obj) {
    let mut known = Obj::new();
    let mut dynamic = Obj::new();
    for (k, v) in o {
        if k == "@odata.type" || declared.contains(&k.as_str()) {
            known.insert(k, v);
        } else if !is_annotation(&k) {
            dynamic.insert(k, v);
        }
    }
    (known, dynamic)
}

fn read_at<T: Json>(key: &'static str, v: Value, p: &mut Path) -> Result<T, ModelError> {
    p.with(Seg::Key(key), |p| T::read(v, p))
}

/// A non-nullable property that must be present.
pub(crate) fn req<T: Json>(o: &mut Obj, key: &'static str, p: &mut Path) -> Result<T, ModelError> {
    match o.remove(key) {
        None => Err(p.err_at(key, "missing required property")),
        Some(Value::Null) => Err(p.err_at(key, "property is not nullable")),
        Some(v) => read_at(key, v, p),
    }
}

/// A nullable property: absent and `null` both read as `None`.
pub(crate) fn opt<T: Json>(
    o: &mut Obj,
    key: &'static str,
    p: &mut Path,
) -> Result<Option<T>, ModelError> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read_at(key, v, p).map(Some),
    }
}

/// A non-nullable property with a server-side default when absent (or `null`).
pub(crate) fn dflt<T: Json + Default>(
    o: &mut Obj,
    key: &'static str,
    p: &mut Path,
) -> Result<T, ModelError> {
    Ok(opt(o, key, p)?.unwrap_or_default())
}

/// A required entity key.
pub(crate) fn key(o: &mut Obj, k: &'static str, p: &mut Path) -> Result<String, ModelError> {
    let id: String = req(o, k, p)?;
    validate_id(&id).map_err(|m| p.err_at(k, m))?;
    Ok(id)
}

/// An optional entity key (report rows get a generated id when absent).
pub(crate) fn opt_key(
    o: &mut Obj,
    k: &'static str,
    p: &mut Path,
) -> Result<Option<String>, ModelError> {
    let id: Option<String> = opt(o, k, p)?;
    if let Some(id) = &id {
        validate_id(id).map_err(|m| p.err_at(k, m))?;
    }
    Ok(id)
}

/// Longest id accepted, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Checks that `id` can be used as a key segment in Graph URLs.
///
/// Ids must be non-empty, at most [`MAX_ID_CHARS`] characters, and free of control characters
/// and of `/ ? # ' \`, which would break `callRecords('{id}')` or `callRecords/{id}` URLs.
pub fn validate_id(id: &str) -> Result<(), String> {
    validate_id_within(id, MAX_ID_CHARS)
}

/// Longest meeting, transcript or recording id accepted, in characters: Graph's are base64 of
/// several ids joined and run past 300 characters.
pub const MAX_ARTIFACT_ID_CHARS: usize = 1024;

/// [`validate_id`] with the longer limit of meeting and artifact ids.
pub fn validate_artifact_id(id: &str) -> Result<(), String> {
    validate_id_within(id, MAX_ARTIFACT_ID_CHARS)
}

/// A required meeting or artifact key.
pub(crate) fn artifact_key(
    o: &mut Obj,
    k: &'static str,
    p: &mut Path,
) -> Result<String, ModelError> {
    let id: String = req(o, k, p)?;
    validate_artifact_id(&id).map_err(|m| p.err_at(k, m))?;
    Ok(id)
}

fn validate_id_within(id: &str, max: usize) -> Result<(), String> {
    if id.is_empty() {
        return Err("invalid id: must not be empty".into());
    }
    if id.chars().count() > max {
        return Err(format!("invalid id: longer than {max} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_control() || matches!(c, '/' | '?' | '#' | '\'' | '\\'))
    {
        return Err(format!("invalid id: must not contain {c:?}"));
    }
    Ok(())
}

/// A JSON number for an `f64`; integral values are written without a fraction (`0`, not `0.0`),
/// as .NET does.
pub(crate) fn number_value(f: f64) -> Value {
    // 2^53: beyond it not every integer is representable, so keep the float form.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() < EXACT && !(f == 0.0 && f.is_sign_negative()) {
        // Cast is exact: |f| < 2^53 and integral.
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

impl Json for String {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(type_error("a string", &other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::String(self.clone())
    }
    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl Json for bool {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(type_error("a boolean", &other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::Bool(*self)
    }
}

impl Json for i64 {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match &v {
            Value::Number(n) => n.as_i64().ok_or_else(|| {
                if n.is_f64() {
                    p.err("expected an integer")
                } else {
                    p.err("integer out of range for Edm.Int64")
                }
            }),
            other => Err(type_error("an integer", other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::Number(Number::from(*self))
    }
}

impl Json for i32 {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        let n = i64::read(v, p)?;
        i32::try_from(n).map_err(|_| p.err("integer out of range for Edm.Int32"))
    }
    fn write(&self) -> Value {
        Value::Number(Number::from(*self))
    }
}

/// `f64` is used for `Edm.Decimal` fields: plain JSON numbers only.
impl Json for f64 {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match &v {
            Value::Number(n) => n.as_f64().ok_or_else(|| p.err("number out of range")),
            other => Err(type_error("a number", other, p)),
        }
    }
    fn write(&self) -> Value {
        number_value(*self)
    }
}

impl Json for DateTime<Utc> {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::String(s) => values::parse_date_time(&s).ok_or_else(|| {
                p.err(format!(
                    "invalid DateTimeOffset '{}': expected ISO 8601 such as 2020-02-25T18:52:21.2169889Z",
                    snippet(&s)
                ))
            }),
            other => Err(type_error("a DateTimeOffset string", &other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::String(values::format_date_time(self))
    }
}

impl<T: Json> Json for Option<T> {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::Null => Ok(None),
            v => T::read(v, p).map(Some),
        }
    }
    fn write(&self) -> Value {
        self.as_ref().map_or(Value::Null, Json::write)
    }
    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            None => s.serialize_none(),
            Some(v) => v.stream(s),
        }
    }
}

impl<T: Json> Json for Vec<T> {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        match v {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| p.with(Seg::Index(i), |p| T::read(item, p)))
                .collect(),
            other => Err(type_error("an array", &other, p)),
        }
    }
    fn write(&self) -> Value {
        Value::Array(self.iter().map(Json::write).collect())
    }
    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for item in self {
            seq.serialize_element(&Streamed(item))?;
        }
        seq.end()
    }
}
