//! `$expand=sessions($select=id,caller;$expand=segments($select=id)),participants_v2`

use crate::error::{Error, Syntax, MAX_DEPTH};
use crate::select::split_names;

/// One expanded navigation with its nested options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandItem {
    /// As written, e.g. `sessions` (may contain `/`).
    pub path: String,
    /// Nested `$select`, unvalidated; `None` when absent.
    pub select: Option<Vec<String>>,
    /// Nested `$expand`.
    pub expand: Vec<ExpandItem>,
}

/// Parses `$expand` text (percent-decoded). Empty text gives an empty list.
///
/// Nested options are `$select` and `$expand` (the `$` is optional, names are case-insensitive);
/// any other nested option is refused.
pub fn parse_expand(text: &str) -> Result<Vec<ExpandItem>, Error> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let items = parser.list()?;
    parser.skip_whitespace();
    if parser.pos < text.len() {
        return Err(parser.error());
    }
    Ok(items)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn error(&self) -> Error {
        Error::syntax(Syntax::General, self.pos, self.text)
    }

    /// Bytes allowed in a path or option name.
    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'$' | b'*')
        }) {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// `item (, item)*`; stops before `;`, `)` or the end.
    fn list(&mut self) -> Result<Vec<ExpandItem>, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::syntax(Syntax::TooDeep, self.pos, self.text));
        }
        let mut items = vec![self.item()?];
        while self.peek() == Some(b',') {
            self.pos += 1;
            items.push(self.item()?);
        }
        self.depth -= 1;
        Ok(items)
    }

    fn item(&mut self) -> Result<ExpandItem, Error> {
        self.skip_whitespace();
        let path = self.word().to_string();
        if path.is_empty() {
            return Err(self.error());
        }
        let mut item = ExpandItem {
            path,
            ..ExpandItem::default()
        };
        self.skip_whitespace();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            self.options(&mut item)?;
            self.skip_whitespace();
        }
        Ok(item)
    }

    /// `option (; option)* )` after the opening parenthesis.
    fn options(&mut self, item: &mut ExpandItem) -> Result<(), Error> {
        self.skip_whitespace();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(());
        }
        let mut seen_expand = false;
        loop {
            self.skip_whitespace();
            let name_pos = self.pos;
            let name = self.word().to_string();
            self.skip_whitespace();
            if name.is_empty() || self.peek() != Some(b'=') {
                return Err(self.error());
            }
            self.pos += 1;
            let canonical = name.trim_start_matches('$').to_ascii_lowercase();
            let repeated = match canonical.as_str() {
                "select" => item.select.is_some(),
                "expand" => seen_expand,
                _ => {
                    return Err(Error::new(format!(
                        "The query option '{name}' is not supported inside $expand (position {name_pos} in '{}').",
                        self.text
                    )))
                }
            };
            if repeated {
                return Err(Error::new(format!(
                    "Query option '${canonical}' was specified more than once, but it must be specified at most once."
                )));
            }
            if canonical == "select" {
                let start = self.pos;
                while self.peek().is_some_and(|b| b != b';' && b != b')') {
                    self.pos += 1;
                }
                let list = self.text.get(start..self.pos).unwrap_or("");
                item.select = Some(split_names(list, start, self.text)?);
            } else {
                seen_expand = true;
                item.expand = self.list()?;
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b';') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(path: &str) -> ExpandItem {
        ExpandItem {
            path: path.into(),
            ..ExpandItem::default()
        }
    }

    fn message(text: &str) -> Option<String> {
        parse_expand(text).err().map(|e| e.to_string())
    }

    #[test]
    fn plain_navigation() {
        assert_eq!(
            parse_expand("participants_v2"),
            Ok(vec![leaf("participants_v2")])
        );
    }

    #[test]
    fn nested_expand_of_segments() {
        assert_eq!(
            parse_expand("sessions($expand=segments)"),
            Ok(vec![ExpandItem {
                path: "sessions".into(),
                select: None,
                expand: vec![leaf("segments")],
            }])
        );
    }

    #[test]
    fn nested_select_and_expand_separated_by_semicolons() {
        assert_eq!(
            parse_expand("sessions($select=id, caller;$expand=segments($select=id))"),
            Ok(vec![ExpandItem {
                path: "sessions".into(),
                select: Some(vec!["id".into(), "caller".into()]),
                expand: vec![ExpandItem {
                    path: "segments".into(),
                    select: Some(vec!["id".into()]),
                    expand: vec![],
                }],
            }])
        );
    }

    #[test]
    fn several_items_and_blank_options() {
        assert_eq!(
            parse_expand(" sessions() , participants_v2 "),
            Ok(vec![leaf("sessions"), leaf("participants_v2")])
        );
        assert_eq!(
            parse_expand("sessions($EXPAND=segments)"),
            Ok(vec![ExpandItem {
                path: "sessions".into(),
                select: None,
                expand: vec![leaf("segments")],
            }])
        );
    }

    #[test]
    fn empty_expand_is_no_expansion() {
        assert_eq!(parse_expand(""), Ok(vec![]));
    }

    #[test]
    fn syntax_errors_carry_positions() {
        assert_eq!(
            message("sessions($expand=segments"),
            Some("Syntax error at position 25 in 'sessions($expand=segments'.".into())
        );
        assert_eq!(
            message("sessions)"),
            Some("Syntax error at position 8 in 'sessions)'.".into())
        );
        assert_eq!(
            message("sessions,"),
            Some("Syntax error at position 9 in 'sessions,'.".into())
        );
        assert_eq!(
            message("sessions($expand)"),
            Some("Syntax error at position 16 in 'sessions($expand)'.".into())
        );
        assert_eq!(
            message("sessions($select=id,)"),
            Some("Syntax error at position 20 in 'sessions($select=id,)'.".into())
        );
        assert_eq!(
            message("sessions($expand=segments)x"),
            Some("Syntax error at position 26 in 'sessions($expand=segments)x'.".into())
        );
    }

    #[test]
    fn unsupported_and_repeated_nested_options_are_refused() {
        assert_eq!(
            message("sessions($top=1)"),
            Some("The query option '$top' is not supported inside $expand (position 9 in 'sessions($top=1)').".into())
        );
        assert_eq!(
            message("sessions($select=id;$select=caller)"),
            Some("Query option '$select' was specified more than once, but it must be specified at most once.".into())
        );
    }

    #[test]
    fn deep_nesting_is_capped() {
        let deep = "a($expand=".repeat(500) + "b" + &")".repeat(500);
        let err = parse_expand(&deep)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("nested more than 100 levels"), "{err}");
    }
}
