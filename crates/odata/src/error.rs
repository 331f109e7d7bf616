//! The one error type of this crate: a client-facing message, ready for a `400 BadRequest` body.

/// A query option, header or path segment the client sent could not be accepted.
///
/// `Display` gives the message exactly as Graph words it (without the `Invalid filter clause: `
/// prefix, which the API adds for `$filter`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
    position: Option<usize>,
}

impl Error {
    /// An error without a position in the input.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            position: None,
        }
    }

    /// A positioned syntax error in `text`; `byte_pos` is a byte offset into `text`.
    pub(crate) fn syntax(kind: Syntax, byte_pos: usize, text: &str) -> Self {
        let p = display_position(text, byte_pos);
        let message = match kind {
            Syntax::General => format!("Syntax error at position {p} in '{text}'."),
            Syntax::CloseParenOrComma => format!("')' or ',' expected at position {p} in '{text}'."),
            Syntax::CloseParenOrOperator => {
                format!("')' or operator expected at position {p} in '{text}'.")
            }
            Syntax::ExpressionExpected => format!("Expression expected at position {p} in '{text}'."),
            Syntax::UnterminatedString => {
                format!("Unterminated string literal at position {p} in '{text}'.")
            }
            Syntax::InvalidCharacter(c) => {
                format!("Syntax error: character '{c}' is not valid at position {p} in '{text}'.")
            }
            Syntax::TooDeep => format!(
                "The expression is nested more than {MAX_DEPTH} levels deep at position {p} in '{text}'."
            ),
        };
        Error {
            message,
            position: Some(p),
        }
    }

    /// The message, as it goes into the error envelope.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 0-based position quoted in the message, when the message quotes one.
    pub fn position(&self) -> Option<usize> {
        self.position
    }
}

/// How deeply parentheses, `not`, lambdas and function arguments may nest. Bounds recursion so
/// that no input can overflow the stack.
pub const MAX_DEPTH: usize = 100;

/// The message templates of Microsoft.OData's expression parser, plus our depth limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    General,
    CloseParenOrComma,
    CloseParenOrOperator,
    ExpressionExpected,
    UnterminatedString,
    InvalidCharacter(char),
    TooDeep,
}

/// .NET reports positions in UTF-16 code units; we track bytes. They agree for ASCII text.
fn display_position(text: &str, byte_pos: usize) -> usize {
    match text.get(..byte_pos) {
        Some(prefix) => prefix.encode_utf16().count(),
        None => byte_pos,
    }
}
