//! `$filter` parsing: shapes of the AST, precedence, and Microsoft.OData's error messages.

use callhook_odata::{parse_filter, CmpOp, Expr, ExprKind, LambdaOp, Literal, MAX_DEPTH};

fn parse(text: &str) -> Expr {
    parse_filter(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn error(text: &str) -> String {
    match parse_filter(text) {
        Ok(expr) => panic!("{text:?} should fail, got {expr:?}"),
        Err(e) => e.to_string(),
    }
}

fn member_names(expr: &Expr) -> Vec<&str> {
    match &expr.kind {
        ExprKind::Member(segments) => segments.iter().map(|s| s.name.as_str()).collect(),
        other => panic!("not a member: {other:?}"),
    }
}

fn literal(expr: &Expr) -> &Literal {
    match &expr.kind {
        ExprKind::Literal(l) => l,
        other => panic!("not a literal: {other:?}"),
    }
}

fn compare(expr: &Expr) -> (CmpOp, &Expr, &Expr) {
    match &expr.kind {
        ExprKind::Compare { op, left, right } => (*op, left, right),
        other => panic!("not a comparison: {other:?}"),
    }
}

#[test]
fn comparison_of_member_with_datetimeoffset() {
    let e = parse("startDateTime ge 2023-09-25T09:25:00Z");
    let (op, left, right) = compare(&e);
    assert_eq!(op, CmpOp::Ge);
    assert_eq!(member_names(left), ["startDateTime"]);
    match literal(right) {
        Literal::DateTimeOffset(t) => assert_eq!(t.to_rfc3339(), "2023-09-25T09:25:00+00:00"),
        other => panic!("{other:?}"),
    }
    assert_eq!(right.pos, 17);
}

#[test]
fn every_literal_kind() {
    let cases: [(&str, Literal); 10] = [
        ("'it''s'", Literal::String("it's".into())),
        ("''", Literal::String(String::new())),
        ("42", Literal::Int(42)),
        ("-7", Literal::Int(-7)),
        ("3.25", Literal::Decimal("3.25".into())),
        ("true", Literal::Bool(true)),
        ("false", Literal::Bool(false)),
        ("null", Literal::Null),
        (
            "821809f5-0000-0000-0000-3b5136c0e777",
            Literal::Guid("821809f5-0000-0000-0000-3b5136c0e777".into()),
        ),
        (
            "2023-09-25",
            Literal::Date(chrono::NaiveDate::from_ymd_opt(2023, 9, 25).unwrap_or_default()),
        ),
    ];
    for (text, expected) in cases {
        let e = parse(&format!("x eq {text}"));
        let (_, _, right) = compare(&e);
        assert_eq!(literal(right), &expected, "{text}");
    }
    let e = parse("x lt 2023-09-25T09:25:00.1234567+02:00");
    match literal(compare(&e).2) {
        Literal::DateTimeOffset(t) => {
            assert_eq!(t.to_rfc3339(), "2023-09-25T09:25:00.123456700+02:00")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn member_paths_keep_segment_positions() {
    let e = parse("a/b/c eq 1");
    let (_, left, _) = compare(&e);
    match &left.kind {
        ExprKind::Member(segments) => {
            let got: Vec<(&str, usize)> =
                segments.iter().map(|s| (s.name.as_str(), s.pos)).collect();
            assert_eq!(got, [("a", 0), ("b", 2), ("c", 4)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn precedence_not_then_comparison_then_and_then_or() {
    // a or (b and c)
    let e = parse("a eq 1 or b eq 2 and c eq 3");
    let ExprKind::Or(ops) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(ops.len(), 2);
    assert!(matches!(ops[0].kind, ExprKind::Compare { .. }));
    assert!(matches!(&ops[1].kind, ExprKind::And(inner) if inner.len() == 2));

    // (not a) eq true: `not` binds tighter than comparisons, as in OData.
    let e = parse("not a eq true");
    let (op, left, _) = compare(&e);
    assert_eq!(op, CmpOp::Eq);
    assert!(matches!(left.kind, ExprKind::Not(_)));

    // Parentheses override.
    let e = parse("(a eq 1 or b eq 2) and c eq 3");
    let ExprKind::And(ops) = &e.kind else {
        panic!("{e:?}")
    };
    assert!(matches!(&ops[0].kind, ExprKind::Or(inner) if inner.len() == 2));
}

#[test]
fn long_and_chains_stay_flat() {
    let text = vec!["a eq 1"; 5000].join(" and ");
    let e = parse(&text);
    assert!(matches!(&e.kind, ExprKind::And(ops) if ops.len() == 5000));
}

#[test]
fn lambdas_with_and_without_spaces_and_nested() {
    for text in [
        "participants_v2/any(p:p/id eq 'x')",
        "participants_v2/any( p : p/id eq 'x' )",
        "participants_v2/any(p: p/id eq 'x')",
    ] {
        let e = parse(text);
        let ExprKind::Lambda(l) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(l.op, LambdaOp::Any);
        assert_eq!(l.collection[0].name, "participants_v2");
        let body = l.body.as_ref().unwrap_or_else(|| panic!("no body"));
        assert_eq!(body.variable, "p");
        let (op, left, right) = compare(&body.predicate);
        assert_eq!(op, CmpOp::Eq);
        assert_eq!(member_names(left), ["p", "id"]);
        assert_eq!(literal(right), &Literal::String("x".into()));
    }

    let e = parse("sessions/all(s:s/segments/any(g:g/id eq 'x'))");
    let ExprKind::Lambda(outer) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(outer.op, LambdaOp::All);
    let inner = &outer
        .body
        .as_ref()
        .unwrap_or_else(|| panic!("no body"))
        .predicate;
    let ExprKind::Lambda(inner) = &inner.kind else {
        panic!("{inner:?}")
    };
    assert_eq!(
        inner
            .collection
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["s", "segments"]
    );

    let e = parse("participants_v2/any()");
    assert!(matches!(&e.kind, ExprKind::Lambda(l) if l.body.is_none()));
}

#[test]
fn function_calls_are_generic() {
    let e = parse("startswith(displayName,'Al') and contains(tolower(mail), 'x')");
    let ExprKind::And(ops) = &e.kind else {
        panic!("{e:?}")
    };
    match &ops[0].kind {
        ExprKind::Call { name, args } => {
            assert_eq!(name, "startswith");
            assert_eq!(args.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&ops[1].kind, ExprKind::Call { name, args } if name == "contains" && args.len() == 2)
    );
    assert!(matches!(parse("now()").kind, ExprKind::Call { ref args, .. } if args.is_empty()));
    assert!(matches!(parse("not(a)").kind, ExprKind::Not(_)));
}

#[test]
fn syntax_error_for_trailing_tokens() {
    assert_eq!(error("a eq 1)"), "Syntax error at position 6 in 'a eq 1)'.");
    assert_eq!(
        error("a eq 1 b"),
        "Syntax error at position 7 in 'a eq 1 b'."
    );
    assert_eq!(
        error("a/'x' eq 1"),
        "Syntax error at position 2 in 'a/'x' eq 1'."
    );
    assert_eq!(
        error("p/any(1:x)"),
        "Syntax error at position 6 in 'p/any(1:x)'."
    );
    assert_eq!(
        error("p/any(x x)"),
        "Syntax error at position 8 in 'p/any(x x)'."
    );
    assert_eq!(
        error("x eq 2023-13-01"),
        "Syntax error at position 5 in 'x eq 2023-13-01'."
    );
}

#[test]
fn expression_expected_for_empty_and_dangling_operators() {
    assert_eq!(error(""), "Expression expected at position 0 in ''.");
    assert_eq!(error("   "), "Expression expected at position 3 in '   '.");
    assert_eq!(
        error("startDateTime ge 2023-09-25 and"),
        "Expression expected at position 31 in 'startDateTime ge 2023-09-25 and'."
    );
    assert_eq!(
        error("a eq"),
        "Expression expected at position 4 in 'a eq'."
    );
    assert_eq!(error("not"), "Expression expected at position 3 in 'not'.");
    assert_eq!(error("()"), "Expression expected at position 1 in '()'.");
    assert_eq!(
        error("a eq ,"),
        "Expression expected at position 5 in 'a eq ,'."
    );
}

#[test]
fn unbalanced_parentheses() {
    assert_eq!(
        error("(a eq 1"),
        "')' or operator expected at position 7 in '(a eq 1'."
    );
    assert_eq!(
        error("((a eq 1)"),
        "')' or operator expected at position 9 in '((a eq 1)'."
    );
    assert_eq!(
        error("a eq 1))"),
        "Syntax error at position 6 in 'a eq 1))'."
    );
    assert_eq!(
        error("p/any(x:x eq 1"),
        "')' or operator expected at position 14 in 'p/any(x:x eq 1'."
    );
}

#[test]
fn close_paren_or_comma_in_argument_lists() {
    assert_eq!(
        error("startswith(a 'x')"),
        "')' or ',' expected at position 13 in 'startswith(a 'x')'."
    );
    assert_eq!(
        error("startswith(a,'x'"),
        "')' or ',' expected at position 16 in 'startswith(a,'x''."
    );
}

#[test]
fn unterminated_string_is_reported_at_the_end() {
    assert_eq!(
        error("a eq 'abc"),
        "Unterminated string literal at position 9 in 'a eq 'abc'."
    );
    assert_eq!(
        error("a eq 'it''s"),
        "Unterminated string literal at position 11 in 'a eq 'it''s'."
    );
}

#[test]
fn invalid_characters() {
    assert_eq!(
        error("a eq \"x\""),
        "Syntax error: character '\"' is not valid at position 5 in 'a eq \"x\"'."
    );
    assert_eq!(
        error("a eq 1 & b"),
        "Syntax error: character '&' is not valid at position 7 in 'a eq 1 & b'."
    );
}

#[test]
fn errors_are_reported_in_reading_order() {
    // The stray ')' comes before the bad character, so it is what Graph reports.
    assert_eq!(
        error("a eq 1) #"),
        "Syntax error at position 6 in 'a eq 1) #'."
    );
}

#[test]
fn nesting_is_capped_with_a_clear_error() {
    let ok = "(".repeat(MAX_DEPTH - 1) + "a eq 1" + &")".repeat(MAX_DEPTH - 1);
    assert!(parse_filter(&ok).is_ok());
    let too_deep = "(".repeat(MAX_DEPTH) + "a eq 1" + &")".repeat(MAX_DEPTH);
    assert_eq!(
        parse_filter(&too_deep).err().and_then(|e| e.position()),
        Some(MAX_DEPTH)
    );

    for deep in [
        "(".repeat(100_000) + "a" + &")".repeat(100_000),
        "not ".repeat(100_000) + "a",
        "f(".repeat(100_000),
        "p/any(x:".repeat(100_000),
        vec!["a"; 100_000].join(" eq "),
    ] {
        let err = parse_filter(&deep)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("The expression is nested more than 100 levels deep at position"),
            "{err:.80}"
        );
    }
}

#[test]
fn error_positions_are_exposed() {
    let err = parse_filter("a eq 1)").err();
    assert_eq!(err.and_then(|e| e.position()), Some(6));
}
