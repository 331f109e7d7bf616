//! Splitting a raw URL query string into OData system query options and everything else.

use percent_encoding::percent_decode_str;

use crate::error::Error;

/// The system query options Graph knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemOption {
    Filter,
    Select,
    Expand,
    Top,
    Skip,
    SkipToken,
    Count,
    OrderBy,
    Search,
    Format,
    DeltaToken,
}

impl SystemOption {
    /// Every option, in a fixed order.
    pub const ALL: [SystemOption; 11] = [
        SystemOption::Filter,
        SystemOption::Select,
        SystemOption::Expand,
        SystemOption::Top,
        SystemOption::Skip,
        SystemOption::SkipToken,
        SystemOption::Count,
        SystemOption::OrderBy,
        SystemOption::Search,
        SystemOption::Format,
        SystemOption::DeltaToken,
    ];

    /// The canonical spelling, with `$`.
    pub fn name(self) -> &'static str {
        match self {
            SystemOption::Filter => "$filter",
            SystemOption::Select => "$select",
            SystemOption::Expand => "$expand",
            SystemOption::Top => "$top",
            SystemOption::Skip => "$skip",
            SystemOption::SkipToken => "$skiptoken",
            SystemOption::Count => "$count",
            SystemOption::OrderBy => "$orderby",
            SystemOption::Search => "$search",
            SystemOption::Format => "$format",
            SystemOption::DeltaToken => "$deltatoken",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A query string split into system options (decoded values) and other parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    system: [Option<String>; 11],
    /// Non-system parameters in order, names and values decoded; repeats are kept.
    pub other: Vec<(String, String)>,
}

/// Splits `raw` (the part after `?`, a leading `?` is tolerated). `+` means a space; names and
/// values are percent-decoded (invalid UTF-8 becomes U+FFFD). System option names are
/// case-insensitive; each may appear once; an unknown `$name` is refused.
pub fn split_query(raw: &str) -> Result<QueryOptions, Error> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    let mut options = QueryOptions::default();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), decode(value));
        if !name.starts_with('$') {
            options.other.push((name, value));
            continue;
        }
        let option = SystemOption::from_name(&name)
            .ok_or_else(|| Error::new(format!("The query parameter '{name}' is not supported.")))?;
        let slot = options
            .system
            .get_mut(option.index())
            .ok_or_else(|| Error::new("internal: option table"))?;
        if slot.is_some() {
            return Err(Error::new(format!(
                "Query option '{}' was specified more than once, but it must be specified at most once.",
                option.name()
            )));
        }
        *slot = Some(value);
    }
    Ok(options)
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl QueryOptions {
    /// The decoded value of a system option, if present.
    pub fn get(&self, option: SystemOption) -> Option<&str> {
        self.system.get(option.index()).and_then(|v| v.as_deref())
    }

    /// The system options present, in [`SystemOption::ALL`] order.
    pub fn present(&self) -> impl Iterator<Item = SystemOption> + '_ {
        SystemOption::ALL
            .into_iter()
            .filter(|o| self.get(*o).is_some())
    }

    /// Refuses any system option a route does not support.
    pub fn allow_only(&self, allowed: &[SystemOption]) -> Result<(), Error> {
        match self.present().find(|o| !allowed.contains(o)) {
            Some(o) => Err(Error::new(format!(
                "The query parameter '{}' is not supported.",
                o.name()
            ))),
            None => Ok(()),
        }
    }

    /// `$top` as a non-negative integer.
    pub fn top(&self) -> Result<Option<u64>, Error> {
        self.non_negative(SystemOption::Top)
    }

    /// `$skip` as a non-negative integer.
    pub fn skip(&self) -> Result<Option<u64>, Error> {
        self.non_negative(SystemOption::Skip)
    }

    /// `$count` as `true` or `false`.
    pub fn count(&self) -> Result<Option<bool>, Error> {
        match self.get(SystemOption::Count) {
            None => Ok(None),
            Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Error::new(format!("'{v}' is not a valid count option."))),
        }
    }

    fn non_negative(&self, option: SystemOption) -> Result<Option<u64>, Error> {
        let Some(value) = self.get(option) else {
            return Ok(None);
        };
        value.trim().parse::<u64>().map(Some).map_err(|_| {
            Error::new(format!(
                "Invalid value '{value}' for {name} query option found. The {name} query option requires a non-negative integer value.",
                name = option.name()
            ))
        })
    }
}
