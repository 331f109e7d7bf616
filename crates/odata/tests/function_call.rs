//! Report-function path segments such as `getPstnCalls(fromDateTime=…,toDateTime=…)`.

use callhook_odata::{parse_function_call, FunctionCall};
use chrono::{DateTime, Utc};

const DECLARED: &[&str] = &["fromDateTime", "toDateTime"];

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
}

fn call(segment: &str) -> FunctionCall {
    parse_function_call(segment).unwrap_or_else(|e| panic!("{segment:?} should parse: {e}"))
}

fn range(segment: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let c = parse_function_call(segment).map_err(|e| e.to_string())?;
    c.check_params(DECLARED).map_err(|e| e.to_string())?;
    let from = c
        .required_datetime("fromDateTime")
        .map_err(|e| e.to_string())?;
    let to = c
        .required_datetime("toDateTime")
        .map_err(|e| e.to_string())?;
    Ok((from, to))
}

#[test]
fn published_request_with_dates() {
    let c = call("getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)");
    assert_eq!(c.name, "getPstnCalls");
    assert_eq!(
        c.params,
        vec![
            ("fromDateTime".to_string(), "2019-11-01".to_string()),
            ("toDateTime".to_string(), "2019-12-01".to_string()),
        ]
    );
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)"),
        Ok((utc("2019-11-01T00:00:00Z"), utc("2019-12-01T00:00:00Z")))
    );
}

#[test]
fn namespace_qualified_quoted_reordered_and_spaced() {
    let expected = Ok((
        utc("2021-05-06T01:48:48.7950838Z"),
        utc("2021-05-07T00:00:00Z"),
    ));
    for segment in [
        "microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2021-05-06T01:48:48.7950838Z,toDateTime=2021-05-07)",
        "getDirectRoutingCalls(fromDateTime='2021-05-06T01:48:48.7950838Z',toDateTime='2021-05-07T00:00:00Z')",
        "getDirectRoutingCalls(toDateTime=2021-05-07, fromDateTime = 2021-05-06T01:48:48.7950838Z )",
        "getDirectRoutingCalls(fromDateTime=2021-05-06T03:48:48.7950838+02:00,toDateTime=2021-05-06T19:00:00-05:00)",
    ] {
        assert_eq!(range(segment), expected, "{segment}");
    }
    assert_eq!(
        call(
            "Microsoft.Graph.CallRecords.getSmsLog(fromDateTime=2021-01-01,toDateTime=2021-01-02)"
        )
        .name,
        "getSmsLog"
    );
}

#[test]
fn plus_decoded_to_a_space_is_put_back() {
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-11-01T10:00:00 02:00,toDateTime=2019-11-02T00:00:00 00:00)"),
        Ok((utc("2019-11-01T08:00:00Z"), utc("2019-11-02T00:00:00Z")))
    );
}

#[test]
fn empty_values_give_graphs_message() {
    assert_eq!(
        range("getPstnCalls(fromDateTime=,toDateTime=)"),
        Err("Expression expected at position 13 in 'fromDateTime=,toDateTime='.".into())
    );
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-11-01,toDateTime=)"),
        Err("Expression expected at position 35 in 'fromDateTime=2019-11-01,toDateTime='.".into())
    );
}

#[test]
fn syntax_errors_count_positions_inside_the_parentheses() {
    assert_eq!(
        range("getPstnCalls(fromDateTime)"),
        Err("Syntax error at position 12 in 'fromDateTime'.".into())
    );
    assert_eq!(
        range("getPstnCalls(=2019-11-01)"),
        Err("Syntax error at position 0 in '=2019-11-01'.".into())
    );
    assert_eq!(
        range("getPstnCalls(fromDateTime='2019-11-01' x,toDateTime=2019-12-01)"),
        Err("')' or ',' expected at position 26 in 'fromDateTime='2019-11-01' x,toDateTime=2019-12-01'.".into())
    );
    assert_eq!(
        range("getPstnCalls(fromDateTime='2019-11-01)"),
        Err("Unterminated string literal at position 24 in 'fromDateTime='2019-11-01'.".into())
    );
}

#[test]
fn missing_unknown_and_repeated_parameters() {
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-11-01)"),
        Err("The parameter 'toDateTime' is required for function 'getPstnCalls'.".into())
    );
    assert_eq!(
        range("getPstnCalls()"),
        Err("The parameter 'fromDateTime' is required for function 'getPstnCalls'.".into())
    );
    assert_eq!(
        range("getPstnCalls(from=2019-11-01,to=2019-12-01)"),
        Err("The parameter 'from' is not defined for function 'getPstnCalls'. Expected parameters: fromDateTime, toDateTime.".into())
    );
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-11-01,fromDateTime=2019-11-02)"),
        Err("The parameter 'fromDateTime' was specified more than once.".into())
    );
}

#[test]
fn invalid_timestamps_name_the_parameter() {
    assert_eq!(
        range("getPstnCalls(fromDateTime=2019-13-01,toDateTime=2019-12-01)"),
        Err("The value '2019-13-01' of parameter 'fromDateTime' is not a valid DateTimeOffset; use e.g. 2019-11-01 or 2019-11-01T00:00:00Z.".into())
    );
    assert!(range("getPstnCalls(fromDateTime=2019-11-01T00:00:00,toDateTime=2019-12-01)").is_err());
    assert!(range("getPstnCalls(fromDateTime='',toDateTime=2019-12-01)").is_err());
}

#[test]
fn segments_that_are_not_calls() {
    for segment in [
        "getPstnCalls",
        "getPstnCalls(",
        "(a=1)",
        "get Pstn(a=1)",
        "getPstnCalls)(",
    ] {
        let err = parse_function_call(segment).err().map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!("'{segment}' is not a function call.")),
            "{segment}"
        );
    }
}
