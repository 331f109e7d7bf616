//! The subset of `$filter` that `GET communications/callRecords` supports: `startDateTime`
//! compared with `lt le gt ge` against a timestamp, and `participants_v2/any(p:p/id eq '{id}')`,
//! joined only by `and`.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::filter::{CmpOp, Expr, ExprKind, Lambda, LambdaOp, Literal, Segment};

const CALL_RECORD_TYPE: &str = "microsoft.graph.callRecords.callRecord";
const PARTICIPANT_TYPE: &str = "microsoft.graph.callRecords.participant";

/// Every property and navigation of `callRecord`; names outside this list are "not found",
/// names inside it but not filterable are "not supported".
const CALL_RECORD_PROPERTIES: &[&str] = &[
    "id",
    "version",
    "type",
    "modalities",
    "lastModifiedDateTime",
    "startDateTime",
    "endDateTime",
    "joinWebUrl",
    "organizer",
    "participants",
    "organizer_v2",
    "participants_v2",
    "sessions",
];

const PARTICIPANT_PROPERTIES: &[&str] = &["id", "identity", "administrativeUnitInfos"];

const SUPPORTED: &str = "Supported filters are 'startDateTime' compared with lt, le, gt or ge, \
and 'participants_v2/any(p:p/id eq '{id}')', combined with 'and'.";

/// A `$filter` on call records, reduced to what the store has to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRecordFilter {
    /// Every bound must hold for `startDateTime`.
    pub start_bounds: Vec<(CmpOp, DateTime<Utc>)>,
    /// The record must have a participant with each of these ids.
    pub participant_ids: Vec<String>,
}

impl CallRecordFilter {
    /// Whether a record passes: its start time meets every bound and `has_participant` says
    /// yes for every wanted id.
    pub fn matches(&self, start: DateTime<Utc>, has_participant: impl Fn(&str) -> bool) -> bool {
        self.start_bounds
            .iter()
            .all(|(op, bound)| op.holds(&start, bound))
            && self.participant_ids.iter().all(|id| has_participant(id))
    }
}

/// Reduces a parsed filter to a [`CallRecordFilter`], refusing everything Graph refuses.
pub fn call_records_filter(expr: &Expr) -> Result<CallRecordFilter, Error> {
    let mut filter = CallRecordFilter::default();
    collect(expr, &mut filter)?;
    Ok(filter)
}

fn collect(expr: &Expr, out: &mut CallRecordFilter) -> Result<(), Error> {
    match &expr.kind {
        ExprKind::And(operands) => operands.iter().try_for_each(|e| collect(e, out)),
        ExprKind::Compare { op, left, right } => start_bound(*op, left, right, out),
        ExprKind::Lambda(lambda) => participant(lambda, out),
        ExprKind::Or(_) => Err(Error::new(format!(
            "The 'or' operator is not supported when filtering call records. {SUPPORTED}"
        ))),
        ExprKind::Not(_) => Err(Error::new(format!(
            "The 'not' operator is not supported when filtering call records. {SUPPORTED}"
        ))),
        ExprKind::Call { name, .. } => Err(Error::new(format!(
            "The function '{name}' is not supported when filtering call records. {SUPPORTED}"
        ))),
        ExprKind::Member(path) => {
            check_known(path)?;
            Err(unsupported(expr))
        }
        ExprKind::Literal(_) => Err(unsupported(expr)),
    }
}

fn unsupported(expr: &Expr) -> Error {
    Error::new(format!(
        "The filter expression at position {} is not supported. {SUPPORTED}",
        expr.pos
    ))
}

fn path_text(path: &[Segment]) -> String {
    path.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join("/")
}

/// Unknown first segment: Graph's "could not find" message.
fn check_known(path: &[Segment]) -> Result<(), Error> {
    match path.first() {
        Some(first) if !CALL_RECORD_PROPERTIES.contains(&first.name.as_str()) => {
            Err(Error::new(format!(
                "Could not find a property named '{}' on type '{CALL_RECORD_TYPE}'.",
                first.name
            )))
        }
        _ => Ok(()),
    }
}

fn not_filterable(path: &[Segment]) -> Error {
    Error::new(format!(
        "Filtering on property '{}' is not supported. {SUPPORTED}",
        path_text(path)
    ))
}

fn incompatible(left_type: &str, right: &Literal, op: CmpOp) -> Error {
    Error::new(format!(
        "A binary operator with incompatible types was detected. Found operand types '{left_type}' and '{}' for operator kind '{}'.",
        right.edm_type(),
        op.kind_name()
    ))
}

/// `startDateTime {lt|le|gt|ge} {timestamp}`
fn start_bound(
    op: CmpOp,
    left: &Expr,
    right: &Expr,
    out: &mut CallRecordFilter,
) -> Result<(), Error> {
    let ExprKind::Member(path) = &left.kind else {
        return Err(unsupported(left));
    };
    check_known(path)?;
    if path_text(path) != "startDateTime" {
        return Err(not_filterable(path));
    }
    if matches!(op, CmpOp::Eq | CmpOp::Ne) {
        return Err(Error::new(format!(
            "The operator '{}' is not supported on 'startDateTime'; use lt, le, gt or ge.",
            op.keyword()
        )));
    }
    let bound = match &right.kind {
        ExprKind::Literal(Literal::DateTimeOffset(t)) => t.with_timezone(&Utc),
        ExprKind::Literal(Literal::Date(d)) => crate::temporal::Temporal::Date(*d).to_utc(),
        ExprKind::Literal(Literal::Null) => {
            return Err(Error::new(
                "Comparing 'startDateTime' with null is not supported.",
            ))
        }
        ExprKind::Literal(other) => return Err(incompatible("Edm.DateTimeOffset", other, op)),
        _ => {
            return Err(Error::new(format!(
                "'startDateTime' can only be compared with a DateTimeOffset literal such as 2023-09-25T09:25:00Z (position {}).",
                right.pos
            )))
        }
    };
    out.start_bounds.push((op, bound));
    Ok(())
}

/// `participants_v2/any(p: p/id eq '{id}')`
fn participant(lambda: &Lambda, out: &mut CallRecordFilter) -> Result<(), Error> {
    check_known(&lambda.collection)?;
    if path_text(&lambda.collection) != "participants_v2" {
        return Err(not_filterable(&lambda.collection));
    }
    if lambda.op == LambdaOp::All {
        return Err(Error::new(format!(
            "The lambda operator 'all' is not supported on 'participants_v2'. {SUPPORTED}"
        )));
    }
    let Some(body) = &lambda.body else {
        return Err(Error::new(format!(
            "'participants_v2/any()' needs a condition. {SUPPORTED}"
        )));
    };
    let shape_error = || {
        Error::new(format!(
            "Only '{v}/id eq '{{id}}'' is supported inside 'participants_v2/any({v}: …)'.",
            v = body.variable
        ))
    };
    let ExprKind::Compare { op, left, right } = &body.predicate.kind else {
        return Err(shape_error());
    };
    let ExprKind::Member(path) = &left.kind else {
        return Err(shape_error());
    };
    match path.as_slice() {
        [var, prop] if var.name == body.variable => {
            if !PARTICIPANT_PROPERTIES.contains(&prop.name.as_str()) {
                return Err(Error::new(format!(
                    "Could not find a property named '{}' on type '{PARTICIPANT_TYPE}'.",
                    prop.name
                )));
            }
            if prop.name != "id" {
                return Err(shape_error());
            }
        }
        [first, ..] if first.name != body.variable => {
            // Outside the range variable, names resolve against callRecord.
            check_known(path)?;
            return Err(shape_error());
        }
        _ => return Err(shape_error()),
    }
    if *op != CmpOp::Eq {
        return Err(shape_error());
    }
    match &right.kind {
        ExprKind::Literal(Literal::String(id)) => {
            out.participant_ids.push(id.clone());
            Ok(())
        }
        ExprKind::Literal(Literal::Null) => Err(shape_error()),
        ExprKind::Literal(other) => Err(incompatible("Edm.String", other, *op)),
        _ => Err(shape_error()),
    }
}
