//! `$select=a,b,c`

use crate::error::{Error, Syntax};

/// Parses `$select` text (percent-decoded) and checks every name against `allowed`, the
/// properties of `type_name` (e.g. `microsoft.graph.callRecords.callRecord`).
///
/// Names are trimmed and case-sensitive; duplicates are kept. Empty text means no `$select`
/// and gives an empty list. An empty item (`id,,type`, `id,`) is a syntax error.
pub fn parse_select(text: &str, allowed: &[&str], type_name: &str) -> Result<Vec<String>, Error> {
    let names = split_names(text, 0, text)?;
    check_properties(&names, allowed, type_name)?;
    Ok(names)
}

/// Fails with Graph's message on the first name not in `allowed`.
pub fn check_properties(names: &[String], allowed: &[&str], type_name: &str) -> Result<(), Error> {
    match names.iter().find(|n| !allowed.contains(&n.as_str())) {
        Some(unknown) => Err(Error::new(format!(
            "Could not find a property named '{unknown}' on type '{type_name}'."
        ))),
        None => Ok(()),
    }
}

/// Splits a comma list found at byte `offset` of `whole` (for error positions).
pub(crate) fn split_names(list: &str, offset: usize, whole: &str) -> Result<Vec<String>, Error> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    let mut start = 0;
    for part in list.split(',') {
        let name = part.trim();
        if name.is_empty() {
            let blank = part.len() - part.trim_start().len();
            return Err(Error::syntax(
                Syntax::General,
                offset + start + blank,
                whole,
            ));
        }
        names.push(name.to_string());
        start += part.len() + 1;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL_RECORD: &str = "microsoft.graph.callRecords.callRecord";
    const ALLOWED: &[&str] = &["id", "version", "type", "startDateTime"];

    #[test]
    fn names_are_trimmed_and_duplicates_kept() {
        assert_eq!(
            parse_select(" id , version,id", ALLOWED, CALL_RECORD),
            Ok(vec!["id".to_string(), "version".into(), "id".into()])
        );
    }

    #[test]
    fn empty_select_selects_nothing_in_particular() {
        assert_eq!(parse_select("", ALLOWED, CALL_RECORD), Ok(vec![]));
        assert_eq!(parse_select("  ", ALLOWED, CALL_RECORD), Ok(vec![]));
    }

    #[test]
    fn unknown_and_wrongly_cased_names_are_not_found() {
        for (text, bad) in [
            ("id,foo", "foo"),
            ("ID", "ID"),
            ("id,startdatetime", "startdatetime"),
        ] {
            let err = parse_select(text, ALLOWED, CALL_RECORD).err();
            assert_eq!(
                err.map(|e| e.to_string()),
                Some(format!(
                    "Could not find a property named '{bad}' on type '{CALL_RECORD}'."
                ))
            );
        }
    }

    #[test]
    fn empty_items_are_syntax_errors_with_positions() {
        let err = parse_select("id,,type", ALLOWED, CALL_RECORD).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("Syntax error at position 3 in 'id,,type'.".to_string())
        );
        let err = parse_select("id, ", ALLOWED, CALL_RECORD).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("Syntax error at position 4 in 'id, '.".to_string())
        );
    }
}
