//! Tokenizer for `$filter` text. Lazy, like Microsoft.OData's: a bad character is only reported
//! when the parser reaches it, so the first error is the one Graph would report.

use crate::error::{Error, Syntax};
use crate::filter::Literal;
use crate::temporal::{self, Scan};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Literal(Literal),
    OpenParen,
    CloseParen,
    Comma,
    Slash,
    Colon,
    End,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub pos: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0 }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|s| s.chars().next())
    }

    fn skip_whitespace(&mut self) {
        while let Some(c) = self.char_at(self.pos).filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    /// Whether the next non-blank character is `c` (used to tell `name(` calls from members).
    pub fn next_char_is(&self, c: char) -> bool {
        let rest = self.text.get(self.pos..).unwrap_or("");
        rest.trim_start().starts_with(c)
    }

    pub fn next_token(&mut self) -> Result<Token<'a>, Error> {
        self.skip_whitespace();
        let start = self.pos;
        let Some(c) = self.char_at(start) else {
            return Ok(Token {
                tok: Tok::End,
                pos: self.text.len(),
            });
        };
        let single = match c {
            '(' => Some(Tok::OpenParen),
            ')' => Some(Tok::CloseParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        let tok = if let Some(tok) = single {
            self.pos += 1;
            tok
        } else if c == '\'' {
            Tok::Literal(Literal::String(self.string_literal()?))
        } else if let Some(guid) = self.guid() {
            Tok::Literal(Literal::Guid(guid.to_string()))
        } else if c.is_ascii_digit() {
            let rest = self.text.get(start..).unwrap_or("");
            match temporal::scan(rest) {
                Scan::Found(t, len) => {
                    self.pos += len;
                    Tok::Literal(Literal::from(t))
                }
                Scan::Invalid => return Err(Error::syntax(Syntax::General, start, self.text)),
                Scan::NotTemporal => Tok::Literal(self.number()),
            }
        } else if c == '-' && self.char_at(start + 1).is_some_and(|d| d.is_ascii_digit()) {
            Tok::Literal(self.number())
        } else if is_ident_start(c) {
            Tok::Ident(self.identifier())
        } else {
            return Err(Error::syntax(Syntax::InvalidCharacter(c), start, self.text));
        };
        Ok(Token { tok, pos: start })
    }

    /// `'…'` with `''` standing for one quote. Unterminated strings are reported at the end of
    /// the text, as Microsoft.OData does.
    fn string_literal(&mut self) -> Result<String, Error> {
        let mut value = String::new();
        let mut at = self.pos + 1;
        loop {
            let rest = self.text.get(at..).unwrap_or("");
            let Some(quote) = rest.find('\'') else {
                return Err(Error::syntax(
                    Syntax::UnterminatedString,
                    self.text.len(),
                    self.text,
                ));
            };
            value.push_str(rest.get(..quote).unwrap_or(""));
            at += quote + 1;
            if self.char_at(at) == Some('\'') {
                value.push('\'');
                at += 1;
            } else {
                self.pos = at;
                return Ok(value);
            }
        }
    }

    /// An unquoted GUID `8-4-4-4-12` hex digits not followed by more identifier characters.
    fn guid(&mut self) -> Option<&'a str> {
        let candidate = self.text.get(self.pos..self.pos + 36)?;
        let shape_ok = candidate.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        let ends = !self
            .char_at(self.pos + 36)
            .is_some_and(|c| is_ident_continue(c) || c == '-');
        if shape_ok && ends {
            self.pos += 36;
            Some(candidate)
        } else {
            None
        }
    }

    fn eat_digits(&mut self) -> usize {
        let start = self.pos;
        while self.char_at(self.pos).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-?digits[.digits][e[±]digits]` with an optional OData type suffix (`L`, `M`, `D`, `F`).
    fn number(&mut self) -> Literal {
        let start = self.pos;
        if self.char_at(self.pos) == Some('-') {
            self.pos += 1;
        }
        self.eat_digits();
        let mut decimal = false;
        if self.char_at(self.pos) == Some('.')
            && self
                .char_at(self.pos + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            self.pos += 1;
            self.eat_digits();
            decimal = true;
        }
        if matches!(self.char_at(self.pos), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.char_at(self.pos + 1), Some('+' | '-')));
            if self
                .char_at(self.pos + 1 + sign)
                .is_some_and(|c| c.is_ascii_digit())
            {
                self.pos += 1 + sign;
                self.eat_digits();
                decimal = true;
            }
        }
        let digits = self.text.get(start..self.pos).unwrap_or("");
        match self.char_at(self.pos) {
            Some('L' | 'l') if !decimal => self.pos += 1,
            Some('M' | 'm' | 'D' | 'd' | 'F' | 'f') => {
                self.pos += 1;
                decimal = true;
            }
            _ => {}
        }
        match digits.parse::<i64>() {
            Ok(n) if !decimal => Literal::Int(n),
            // Too large for Int64: Microsoft.OData falls back to a decimal literal too.
            _ => Literal::Decimal(digits.to_string()),
        }
    }

    /// A name, possibly namespace-qualified (`microsoft.graph.x`).
    fn identifier(&mut self) -> &'a str {
        let start = self.pos;
        loop {
            while let Some(c) = self
                .char_at(self.pos)
                .filter(|&c| is_ident_continue(c) || c == '$')
            {
                self.pos += c.len_utf8();
            }
            let dotted = self.char_at(self.pos) == Some('.')
                && self.char_at(self.pos + 1).is_some_and(is_ident_start);
            if !dotted {
                break;
            }
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Vec<Tok<'_>>, Error> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            if t.tok == Tok::End {
                return Ok(out);
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn punctuation_identifiers_and_literals() {
        let toks = tokens("a/b(c:'x''y',12,-3,1.5,7L,2e3)").unwrap_or_default();
        assert_eq!(
            toks,
            vec![
                Tok::Ident("a"),
                Tok::Slash,
                Tok::Ident("b"),
                Tok::OpenParen,
                Tok::Ident("c"),
                Tok::Colon,
                Tok::Literal(Literal::String("x'y".into())),
                Tok::Comma,
                Tok::Literal(Literal::Int(12)),
                Tok::Comma,
                Tok::Literal(Literal::Int(-3)),
                Tok::Comma,
                Tok::Literal(Literal::Decimal("1.5".into())),
                Tok::Comma,
                Tok::Literal(Literal::Int(7)),
                Tok::Comma,
                Tok::Literal(Literal::Decimal("2e3".into())),
                Tok::CloseParen,
            ]
        );
    }

    #[test]
    fn guids_are_recognised_even_when_starting_with_a_letter() {
        let toks =
            tokens("821809f5-0000-0000-0000-3b5136c0e777 ab3a6b3c-1111-2222-3333-444455556666")
                .unwrap_or_default();
        assert_eq!(
            toks,
            vec![
                Tok::Literal(Literal::Guid("821809f5-0000-0000-0000-3b5136c0e777".into())),
                Tok::Literal(Literal::Guid("ab3a6b3c-1111-2222-3333-444455556666".into())),
            ]
        );
    }

    #[test]
    fn qualified_names_are_one_identifier() {
        assert_eq!(
            tokens("microsoft.graph.callRecords.getPstnCalls").unwrap_or_default(),
            vec![Tok::Ident("microsoft.graph.callRecords.getPstnCalls")]
        );
    }

    #[test]
    fn huge_integers_become_decimals() {
        assert_eq!(
            tokens("99999999999999999999").unwrap_or_default(),
            vec![Tok::Literal(Literal::Decimal(
                "99999999999999999999".into()
            ))]
        );
    }

    #[test]
    fn positions_are_reported_in_utf16_units() {
        let err = tokens("'é' eq #").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("Syntax error: character '#' is not valid at position 7 in ''é' eq #'.")
        );
    }
}
