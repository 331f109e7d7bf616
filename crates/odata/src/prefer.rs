//! The `Prefer` request header and the matching `Preference-Applied` response header.

/// The preferences Graph honours on call-record reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preferences {
    /// `odata.maxpagesize=N`, N ≥ 1.
    pub max_page_size: Option<u32>,
    /// `include-unknown-enum-members`
    pub include_unknown_enum_members: bool,
    /// `omit-values=nulls`
    pub omit_nulls: bool,
}

/// Reads every `Prefer` header value given. Preferences are comma separated, names are
/// case-insensitive, values may be quoted, `;` parameters are ignored. Unknown preferences and
/// unusable values (`odata.maxpagesize=0`, `=abc`) are ignored, as RFC 7240 asks; when a
/// preference appears more than once the first one counts.
pub fn parse_prefer<'a>(values: impl IntoIterator<Item = &'a str>) -> Preferences {
    let mut prefs = Preferences::default();
    let mut seen_page_size = false;
    for item in values.into_iter().flat_map(|v| v.split(',')) {
        let head = item.split(';').next().unwrap_or("");
        let (name, value) = match head.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (head.trim(), None),
        };
        if name.eq_ignore_ascii_case("odata.maxpagesize") {
            if !seen_page_size {
                seen_page_size = true;
                prefs.max_page_size = value
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            }
        } else if name.eq_ignore_ascii_case("include-unknown-enum-members") {
            prefs.include_unknown_enum_members = true;
        } else if name.eq_ignore_ascii_case("omit-values")
            && value.is_some_and(|v| v.eq_ignore_ascii_case("nulls"))
        {
            prefs.omit_nulls = true;
        }
    }
    prefs
}

/// The `Preference-Applied` value for the preferences actually applied, or `None` when nothing
/// was applied (then the header is left out).
pub fn preference_applied(applied: &Preferences) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(n) = applied.max_page_size {
        parts.push(format!("odata.maxpagesize={n}"));
    }
    if applied.include_unknown_enum_members {
        parts.push("include-unknown-enum-members".to_string());
    }
    if applied.omit_nulls {
        parts.push("omit-values=nulls".to_string());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_in_one_header_case_insensitive() {
        let p = parse_prefer([
            "Odata.MaxPageSize=10, INCLUDE-unknown-enum-members , omit-values=Nulls",
        ]);
        assert_eq!(
            p,
            Preferences {
                max_page_size: Some(10),
                include_unknown_enum_members: true,
                omit_nulls: true,
            }
        );
    }

    #[test]
    fn several_headers_combine_and_unknown_ones_are_ignored() {
        let p = parse_prefer([
            "respond-async; wait=10",
            "odata.maxpagesize=\"25\"",
            "return=minimal",
        ]);
        assert_eq!(
            p,
            Preferences {
                max_page_size: Some(25),
                ..Preferences::default()
            }
        );
    }

    #[test]
    fn unusable_page_sizes_are_ignored_and_the_first_one_counts() {
        for bad in [
            "odata.maxpagesize=0",
            "odata.maxpagesize=-5",
            "odata.maxpagesize=abc",
            "odata.maxpagesize",
        ] {
            assert_eq!(parse_prefer([bad]).max_page_size, None, "{bad}");
        }
        assert_eq!(
            parse_prefer(["odata.maxpagesize=5,odata.maxpagesize=7"]).max_page_size,
            Some(5)
        );
        assert_eq!(
            parse_prefer(["odata.maxpagesize=99999999999"]).max_page_size,
            Some(u32::MAX)
        );
    }

    #[test]
    fn omit_values_needs_the_nulls_value() {
        assert!(!parse_prefer(["omit-values=defaults"]).omit_nulls);
        assert!(!parse_prefer(["omit-values"]).omit_nulls);
    }

    #[test]
    fn preference_applied_lists_what_was_applied() {
        assert_eq!(preference_applied(&Preferences::default()), None);
        assert_eq!(
            preference_applied(&Preferences {
                max_page_size: Some(60),
                include_unknown_enum_members: true,
                omit_nulls: true,
            })
            .as_deref(),
            Some("odata.maxpagesize=60, include-unknown-enum-members, omit-values=nulls")
        );
    }
}
