//! The `$filter` subset of `GET communications/callRecords`.

use callhook_odata::{call_records_filter, parse_filter, CallRecordFilter, CmpOp};
use chrono::{DateTime, Utc};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
}

fn translate(text: &str) -> Result<CallRecordFilter, String> {
    let expr = parse_filter(text).map_err(|e| format!("parse: {e}"))?;
    call_records_filter(&expr).map_err(|e| e.to_string())
}

fn refused(text: &str) -> String {
    match translate(text) {
        Ok(f) => panic!("{text:?} should be refused, got {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn start_time_window_from_the_docs() {
    let f = translate(
        "startDateTime ge 2023-09-25T09:25:00Z and startDateTime lt 2023-09-25T09:30:00Z",
    );
    assert_eq!(
        f,
        Ok(CallRecordFilter {
            start_bounds: vec![
                (CmpOp::Ge, utc("2023-09-25T09:25:00Z")),
                (CmpOp::Lt, utc("2023-09-25T09:30:00Z")),
            ],
            participant_ids: vec![],
        })
    );
}

#[test]
fn offsets_and_dates_are_normalised_to_utc() {
    let f =
        translate("startDateTime gt 2023-09-25T09:25:00.5+02:00 and startDateTime le 2023-09-26");
    assert_eq!(
        f.map(|f| f.start_bounds),
        Ok(vec![
            (CmpOp::Gt, utc("2023-09-25T07:25:00.5Z")),
            (CmpOp::Le, utc("2023-09-26T00:00:00Z")),
        ])
    );
}

#[test]
fn participant_lambda_any_variable_name_and_spacing() {
    for text in [
        "participants_v2/any(p:p/id eq '821809f5-0000-0000-0000-3b5136c0e777')",
        "participants_v2/any(x: x/id eq '821809f5-0000-0000-0000-3b5136c0e777')",
        "(participants_v2/any( who : who/id eq '821809f5-0000-0000-0000-3b5136c0e777' ))",
    ] {
        assert_eq!(
            translate(text).map(|f| f.participant_ids),
            Ok(vec!["821809f5-0000-0000-0000-3b5136c0e777".to_string()]),
            "{text}"
        );
    }
}

#[test]
fn everything_combined_with_and() {
    let f = translate(
        "participants_v2/any(p:p/id eq 'a') and startDateTime ge 2023-09-25 and participants_v2/any(q:q/id eq 'b')",
    );
    assert_eq!(
        f,
        Ok(CallRecordFilter {
            start_bounds: vec![(CmpOp::Ge, utc("2023-09-25T00:00:00Z"))],
            participant_ids: vec!["a".into(), "b".into()],
        })
    );
}

#[test]
fn matches_checks_every_bound_and_every_participant() {
    let f = translate(
        "startDateTime ge 2023-09-25T09:00:00Z and startDateTime lt 2023-09-25T10:00:00Z and participants_v2/any(p:p/id eq 'a')",
    )
    .unwrap_or_default();
    let ids = ["a", "b"];
    let has = |id: &str| ids.contains(&id);
    assert!(f.matches(utc("2023-09-25T09:00:00Z"), has));
    assert!(!f.matches(utc("2023-09-25T10:00:00Z"), has));
    assert!(!f.matches(utc("2023-09-25T09:30:00Z"), |id| id == "b"));
}

#[test]
fn unknown_properties_are_not_found() {
    assert_eq!(
        refused("foo ge 2023-09-25"),
        "Could not find a property named 'foo' on type 'microsoft.graph.callRecords.callRecord'."
    );
    assert_eq!(
        refused("StartDateTime ge 2023-09-25"),
        "Could not find a property named 'StartDateTime' on type 'microsoft.graph.callRecords.callRecord'."
    );
    assert_eq!(
        refused("bogus/any(p:p/id eq 'x')"),
        "Could not find a property named 'bogus' on type 'microsoft.graph.callRecords.callRecord'."
    );
    assert_eq!(
        refused("participants_v2/any(p:p/name eq 'x')"),
        "Could not find a property named 'name' on type 'microsoft.graph.callRecords.participant'."
    );
}

#[test]
fn known_but_unfilterable_properties_are_named() {
    for (text, prop) in [
        ("version gt 3", "version"),
        ("type eq 'groupCall'", "type"),
        ("endDateTime ge 2023-09-25", "endDateTime"),
        ("organizer_v2/id eq 'x'", "organizer_v2/id"),
        ("sessions/any(s:s/id eq 'x')", "sessions"),
    ] {
        let msg = refused(text);
        assert!(
            msg.starts_with(&format!("Filtering on property '{prop}' is not supported.")),
            "{text}: {msg}"
        );
    }
}

#[test]
fn or_not_and_functions_are_refused() {
    assert!(
        refused("startDateTime ge 2023-09-25 or startDateTime lt 2023-09-20")
            .starts_with("The 'or' operator is not supported")
    );
    assert!(refused("not (startDateTime ge 2023-09-25)")
        .starts_with("The 'not' operator is not supported"));
    assert!(refused("startswith(joinWebUrl,'https')")
        .starts_with("The function 'startswith' is not supported"));
}

#[test]
fn equality_on_start_time_is_refused() {
    assert_eq!(
        refused("startDateTime eq 2023-09-25T09:25:00Z"),
        "The operator 'eq' is not supported on 'startDateTime'; use lt, le, gt or ge."
    );
    assert_eq!(
        refused("startDateTime ne 2023-09-25T09:25:00Z"),
        "The operator 'ne' is not supported on 'startDateTime'; use lt, le, gt or ge."
    );
}

#[test]
fn non_date_literals_are_type_errors() {
    assert_eq!(
        refused("startDateTime ge '2023-09-25T09:25:00Z'"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThanOrEqual'."
    );
    assert_eq!(
        refused("startDateTime lt 5"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.Int32' for operator kind 'LessThan'."
    );
    assert_eq!(
        refused("participants_v2/any(p:p/id eq 821809f5-0000-0000-0000-3b5136c0e777)"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Guid' for operator kind 'Equal'."
    );
    assert_eq!(
        refused("startDateTime ge null"),
        "Comparing 'startDateTime' with null is not supported."
    );
    assert!(
        refused("startDateTime ge endDateTime").starts_with("'startDateTime' can only be compared")
    );
}

#[test]
fn other_lambda_shapes_are_refused() {
    assert!(refused("participants_v2/all(p:p/id eq 'x')")
        .starts_with("The lambda operator 'all' is not supported"));
    assert!(
        refused("participants_v2/any()").starts_with("'participants_v2/any()' needs a condition")
    );
    for text in [
        "participants_v2/any(p:p/id ne 'x')",
        "participants_v2/any(p:p/id eq 'x' and p/id eq 'y')",
        "participants_v2/any(p:id eq 'x')",
        "participants_v2/any(p:p/identity eq 'x')",
        "participants_v2/any(p:'x' eq p/id)",
    ] {
        assert!(
            refused(text).starts_with(
                "Only 'p/id eq '{id}'' is supported inside 'participants_v2/any(p: …)'."
            ),
            "{text}"
        );
    }
}

#[test]
fn names_outside_the_range_variable_resolve_against_call_record() {
    assert_eq!(
        refused("participants_v2/any(p:q/id eq 'x')"),
        "Could not find a property named 'q' on type 'microsoft.graph.callRecords.callRecord'."
    );
}

#[test]
fn bare_values_are_refused() {
    assert!(refused("true").starts_with("The filter expression at position 0 is not supported."));
    assert!(refused("startDateTime")
        .starts_with("The filter expression at position 0 is not supported."));
}
