//! OData query options the way Microsoft Graph parses them, with Graph's error messages.
//!
//! Everything here turns client input into values or into an [`Error`] whose message is what
//! Graph would put in a `400 BadRequest` body:
//!
//! - [`split_query`]: the raw query string into system options (`$filter`, `$select`, …) and
//!   other parameters, refusing repeated and unknown `$` options;
//! - [`parse_filter`]: a `$filter` expression into an [`Expr`] tree with positions, and
//!   [`call_records_filter`]: that tree reduced to what `GET communications/callRecords`
//!   supports ([`CallRecordFilter`]);
//! - [`parse_select`] and [`parse_expand`]: `$select` lists and `$expand` trees;
//! - [`parse_prefer`] and [`preference_applied`]: the `Prefer` / `Preference-Applied` headers;
//! - [`parse_function_call`]: report-function segments such as
//!   `getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)`.
//!
//! Positions in messages are 0-based and count UTF-16 units, as .NET does; AST positions are
//! byte offsets. Nesting is capped at [`MAX_DEPTH`] so no input can exhaust the stack.

mod call_records;
mod error;
mod expand;
mod filter;
mod function_call;
mod lexer;
mod prefer;
mod select;
mod system_query;
mod temporal;

pub use call_records::{call_records_filter, CallRecordFilter};
pub use error::{Error, MAX_DEPTH};
pub use expand::{parse_expand, ExpandItem};
pub use filter::{
    parse_filter, CmpOp, Expr, ExprKind, Lambda, LambdaBody, LambdaOp, Literal, Segment,
};
pub use function_call::{parse_function_call, FunctionCall};
pub use prefer::{parse_prefer, preference_applied, Preferences};
pub use select::{check_properties, parse_select};
pub use system_query::{split_query, QueryOptions, SystemOption};
