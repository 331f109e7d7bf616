//! `$filter` expressions: a recursive-descent parser over [`crate::lexer`], producing an AST whose
//! nodes keep the byte offset where they start.
//!
//! Precedence, loosest first: `or`, `and`, comparisons (`eq ne gt ge lt le`), `not`, primaries.

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::error::{Error, Syntax, MAX_DEPTH};
use crate::lexer::{Lexer, Tok, Token};
use crate::temporal::Temporal;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`, with `''` already unescaped.
    String(String),
    /// An integer that fits in Int64.
    Int(i64),
    /// Any other number, kept as written (`1.5`, `2e3`, `1.5M`'s digits, huge integers).
    Decimal(String),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// Unquoted `2023-09-25T09:25:00Z`.
    DateTimeOffset(DateTime<FixedOffset>),
    /// Unquoted `2023-09-25`.
    Date(NaiveDate),
    /// Unquoted `821809f5-0000-0000-0000-3b5136c0e777`, as written.
    Guid(String),
}

impl Literal {
    /// The EDM type name Graph uses in type errors.
    pub fn edm_type(&self) -> &'static str {
        match self {
            Literal::String(_) => "Edm.String",
            Literal::Int(n) if i32::try_from(*n).is_ok() => "Edm.Int32",
            Literal::Int(_) => "Edm.Int64",
            Literal::Decimal(_) => "Edm.Decimal",
            Literal::Bool(_) => "Edm.Boolean",
            Literal::Null => "null",
            Literal::DateTimeOffset(_) => "Edm.DateTimeOffset",
            Literal::Date(_) => "Edm.Date",
            Literal::Guid(_) => "Edm.Guid",
        }
    }
}

impl From<Temporal> for Literal {
    fn from(t: Temporal) -> Self {
        match t {
            Temporal::Date(d) => Literal::Date(d),
            Temporal::DateTimeOffset(t) => Literal::DateTimeOffset(t),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    /// The keyword as written in a filter (`ge`).
    pub fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    /// Microsoft.OData's name for the operator kind, used in its type-error messages.
    pub fn kind_name(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }

    /// Whether `left {op} right` holds.
    pub fn holds<T: Ord>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

/// One segment of a member path, with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub pos: usize,
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaOp {
    Any,
    All,
}

/// `collection/any(var: predicate)`; `any()` has no body.
#[derive(Debug, Clone, PartialEq)]
pub struct Lambda {
    pub op: LambdaOp,
    pub collection: Vec<Segment>,
    pub body: Option<LambdaBody>,
}

/// The `var: predicate` part of a lambda.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaBody {
    pub variable: String,
    pub predicate: Expr,
}

/// A node of the filter AST.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Byte offset in the filter text where this expression starts.
    pub pos: usize,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `a/b/c`
    Member(Vec<Segment>),
    Lambda(Box<Lambda>),
    /// `name(args…)`, any function name.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Compare {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// Two or more operands; kept flat so long chains do not build deep trees.
    And(Vec<Expr>),
    /// Two or more operands.
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// Parses percent-decoded `$filter` text.
pub fn parse_filter(text: &str) -> Result<Expr, Error> {
    let mut lexer = Lexer::new(text);
    let token = lexer.next_token()?;
    let mut parser = Parser {
        lexer,
        token,
        depth: 0,
    };
    let expr = parser.expression()?;
    match parser.token.tok {
        Tok::End => Ok(expr),
        _ => Err(parser.error(Syntax::General)),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    token: Token<'a>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn advance(&mut self) -> Result<(), Error> {
        self.token = self.lexer.next_token()?;
        Ok(())
    }

    fn error(&self, kind: Syntax) -> Error {
        Error::syntax(kind, self.token.pos, self.lexer.text())
    }

    fn is_keyword(&self, word: &str) -> bool {
        self.token.tok == Tok::Ident(word)
    }

    /// Counts one level of nesting; every recursive path goes through here.
    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error(Syntax::TooDeep))
        } else {
            Ok(())
        }
    }

    fn expression(&mut self) -> Result<Expr, Error> {
        self.enter()?;
        let expr = self.or();
        self.depth -= 1;
        expr
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let first = self.and()?;
        if !self.is_keyword("or") {
            return Ok(first);
        }
        let pos = first.pos;
        let mut operands = vec![first];
        while self.is_keyword("or") {
            self.advance()?;
            operands.push(self.and()?);
        }
        Ok(Expr {
            pos,
            kind: ExprKind::Or(operands),
        })
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let first = self.comparison()?;
        if !self.is_keyword("and") {
            return Ok(first);
        }
        let pos = first.pos;
        let mut operands = vec![first];
        while self.is_keyword("and") {
            self.advance()?;
            operands.push(self.comparison()?);
        }
        Ok(Expr {
            pos,
            kind: ExprKind::And(operands),
        })
    }

    fn comparison(&mut self) -> Result<Expr, Error> {
        let mut left = self.unary()?;
        let depth = self.depth;
        while let Tok::Ident(word) = self.token.tok {
            let Some(op) = CmpOp::from_keyword(word) else {
                break;
            };
            // `a eq b eq c` nests to the left; count each chained operator so the tree stays
            // shallow.
            if matches!(left.kind, ExprKind::Compare { .. }) {
                self.enter()?;
            }
            self.advance()?;
            let right = self.unary()?;
            left = Expr {
                pos: left.pos,
                kind: ExprKind::Compare {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
            };
        }
        self.depth = depth;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if !self.is_keyword("not") {
            return self.primary();
        }
        let pos = self.token.pos;
        self.enter()?;
        self.advance()?;
        let operand = self.unary();
        self.depth -= 1;
        Ok(Expr {
            pos,
            kind: ExprKind::Not(Box::new(operand?)),
        })
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let pos = self.token.pos;
        match self.token.tok.clone() {
            Tok::Literal(literal) => {
                self.advance()?;
                Ok(Expr {
                    pos,
                    kind: ExprKind::Literal(literal),
                })
            }
            Tok::OpenParen => {
                self.advance()?;
                let inner = self.expression()?;
                if self.token.tok != Tok::CloseParen {
                    return Err(self.error(Syntax::CloseParenOrOperator));
                }
                self.advance()?;
                Ok(inner)
            }
            Tok::Ident(word) => {
                let keyword_literal = match word {
                    "true" => Some(Literal::Bool(true)),
                    "false" => Some(Literal::Bool(false)),
                    "null" => Some(Literal::Null),
                    _ => None,
                };
                if let Some(literal) = keyword_literal {
                    self.advance()?;
                    return Ok(Expr {
                        pos,
                        kind: ExprKind::Literal(literal),
                    });
                }
                if self.lexer.next_char_is('(') {
                    return self.call(word, pos);
                }
                self.member_path(word, pos)
            }
            _ => Err(self.error(Syntax::ExpressionExpected)),
        }
    }

    /// `name(arg, …)`; the current token is the name.
    fn call(&mut self, name: &str, pos: usize) -> Result<Expr, Error> {
        self.advance()?; // the name
        self.advance()?; // '('
        let mut args = Vec::new();
        if self.token.tok == Tok::CloseParen {
            self.advance()?;
        } else {
            loop {
                args.push(self.expression()?);
                match self.token.tok {
                    Tok::Comma => self.advance()?,
                    Tok::CloseParen => {
                        self.advance()?;
                        break;
                    }
                    _ => return Err(self.error(Syntax::CloseParenOrComma)),
                }
            }
        }
        Ok(Expr {
            pos,
            kind: ExprKind::Call {
                name: name.to_string(),
                args,
            },
        })
    }

    /// `a/b/c`, possibly ending in `/any(…)` or `/all(…)`; the current token is `first`.
    fn member_path(&mut self, first: &str, pos: usize) -> Result<Expr, Error> {
        let mut segments = vec![Segment {
            name: first.to_string(),
            pos,
        }];
        self.advance()?;
        while self.token.tok == Tok::Slash {
            self.advance()?;
            let Tok::Ident(name) = self.token.tok else {
                return Err(self.error(Syntax::General));
            };
            let lambda_op = match name {
                "any" => Some(LambdaOp::Any),
                "all" => Some(LambdaOp::All),
                _ => None,
            };
            if let Some(op) = lambda_op.filter(|_| self.lexer.next_char_is('(')) {
                return self.lambda(op, segments, pos);
            }
            segments.push(Segment {
                name: name.to_string(),
                pos: self.token.pos,
            });
            self.advance()?;
        }
        Ok(Expr {
            pos,
            kind: ExprKind::Member(segments),
        })
    }

    /// `any(v: predicate)` or `any()`; the current token is `any`/`all`.
    fn lambda(
        &mut self,
        op: LambdaOp,
        collection: Vec<Segment>,
        pos: usize,
    ) -> Result<Expr, Error> {
        self.advance()?; // any / all
        self.advance()?; // '('
        let body = if self.token.tok == Tok::CloseParen {
            None
        } else {
            let Tok::Ident(variable) = self.token.tok else {
                return Err(self.error(Syntax::General));
            };
            self.advance()?;
            if self.token.tok != Tok::Colon {
                return Err(self.error(Syntax::General));
            }
            self.advance()?;
            let predicate = self.expression()?;
            if self.token.tok != Tok::CloseParen {
                return Err(self.error(Syntax::CloseParenOrOperator));
            }
            Some(LambdaBody {
                variable: variable.to_string(),
                predicate,
            })
        };
        self.advance()?; // ')'
        Ok(Expr {
            pos,
            kind: ExprKind::Lambda(Box::new(Lambda {
                op,
                collection,
                body,
            })),
        })
    }
}
