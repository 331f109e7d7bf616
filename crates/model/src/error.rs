//! The error returned when a payload does not fit the model.

use std::fmt;

/// A payload rejected by the model, located by JSON path.
///
/// `path` uses dots for properties and brackets for array items, e.g.
/// `sessions[0].segments[1].media[0].streams[0].streamDirection`; it is empty when the problem is
/// the document itself (not JSON, not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// JSON path of the offending value.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ModelError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing document, e.g. `prefixed("value[3]")` turns
    /// `sessions[0].id` into `value[3].sessions[0].id`.
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.path = if self.path.is_empty() {
            prefix.to_owned()
        } else if self.path.starts_with('[') || prefix.is_empty() {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ModelError {}
