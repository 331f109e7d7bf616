//! Splitting query strings into OData system options and other parameters.

use callhook_odata::{split_query, SystemOption};

#[test]
fn system_options_are_decoded_and_case_insensitive() {
    let q = split_query(
        "?$FILTER=startDateTime+ge+2023-09-25T09:25:00Z&%24select=id,version&$Top=5&api-version=2&x=a%2Bb",
    )
    .unwrap_or_default();
    assert_eq!(
        q.get(SystemOption::Filter),
        Some("startDateTime ge 2023-09-25T09:25:00Z")
    );
    assert_eq!(q.get(SystemOption::Select), Some("id,version"));
    assert_eq!(q.top(), Ok(Some(5)));
    assert_eq!(q.get(SystemOption::Expand), None);
    assert_eq!(
        q.present().collect::<Vec<_>>(),
        [
            SystemOption::Filter,
            SystemOption::Select,
            SystemOption::Top
        ]
    );
    assert_eq!(
        q.other,
        vec![
            ("api-version".to_string(), "2".to_string()),
            ("x".to_string(), "a+b".to_string()),
        ]
    );
}

#[test]
fn every_system_option_is_recognised() {
    let raw = SystemOption::ALL
        .iter()
        .map(|o| format!("{}=v", o.name()))
        .collect::<Vec<_>>()
        .join("&");
    let q = split_query(&raw).unwrap_or_default();
    assert_eq!(q.present().count(), SystemOption::ALL.len());
    assert!(q.other.is_empty());
}

#[test]
fn percent_encoded_filter_keeps_quotes_and_slashes() {
    let q = split_query("$filter=participants_v2%2Fany(p%3Ap%2Fid%20eq%20%27821809f5%27)")
        .unwrap_or_default();
    assert_eq!(
        q.get(SystemOption::Filter),
        Some("participants_v2/any(p:p/id eq '821809f5')")
    );
}

#[test]
fn empty_pairs_and_valueless_names() {
    let q = split_query("&&$count&a").unwrap_or_default();
    assert_eq!(q.get(SystemOption::Count), Some(""));
    assert_eq!(q.other, vec![("a".to_string(), String::new())]);
    assert_eq!(split_query(""), Ok(Default::default()));
}

#[test]
fn repeated_options_are_refused() {
    assert_eq!(
        split_query("$filter=a&$FILTER=b").err().map(|e| e.to_string()),
        Some("Query option '$filter' was specified more than once, but it must be specified at most once.".into())
    );
    // Repeated ordinary parameters are fine.
    assert!(split_query("a=1&a=2").is_ok());
}

#[test]
fn unknown_dollar_options_are_refused() {
    assert_eq!(
        split_query("$xyz=1").err().map(|e| e.to_string()),
        Some("The query parameter '$xyz' is not supported.".into())
    );
}

#[test]
fn routes_can_refuse_options_they_do_not_support() {
    let q = split_query("$select=id&$top=3").unwrap_or_default();
    assert_eq!(
        q.allow_only(&[SystemOption::Select, SystemOption::Top]),
        Ok(())
    );
    assert_eq!(
        q.allow_only(&[SystemOption::Select])
            .err()
            .map(|e| e.to_string()),
        Some("The query parameter '$top' is not supported.".into())
    );
}

#[test]
fn top_skip_and_count_values_are_checked() {
    let q = split_query("$top=-1&$skip=abc&$count=maybe").unwrap_or_default();
    assert_eq!(
        q.top().err().map(|e| e.to_string()),
        Some("Invalid value '-1' for $top query option found. The $top query option requires a non-negative integer value.".into())
    );
    assert_eq!(
        q.skip().err().map(|e| e.to_string()),
        Some("Invalid value 'abc' for $skip query option found. The $skip query option requires a non-negative integer value.".into())
    );
    assert_eq!(
        q.count().err().map(|e| e.to_string()),
        Some("'maybe' is not a valid count option.".into())
    );
    let q = split_query("$skip=1000&$count=TRUE").unwrap_or_default();
    assert_eq!(q.skip(), Ok(Some(1000)));
    assert_eq!(q.count(), Ok(Some(true)));
}
