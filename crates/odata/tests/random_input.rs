//! Random inputs never panic: every parser returns Ok or Err.

use callhook_odata::{
    call_records_filter, parse_expand, parse_filter, parse_function_call, parse_prefer,
    parse_select, split_query,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Characters that matter to the grammars, so random strings reach deep into the parsers.
const ALPHABET: &[&str] = &[
    "(",
    ")",
    ",",
    "/",
    ":",
    ";",
    "=",
    "'",
    "''",
    " ",
    "$",
    "&",
    "%",
    "+",
    "-",
    ".",
    "a",
    "p",
    "id",
    "eq",
    "ge",
    "lt",
    "and",
    "or",
    "not",
    "any",
    "all",
    "true",
    "null",
    "startDateTime",
    "participants_v2",
    "2023-09-25",
    "T09:25:00",
    "Z",
    "+02:00",
    "1",
    "42",
    "e",
    "é",
    "\u{1F600}",
    "821809f5-0000-0000-0000-3b5136c0e777",
    "$expand",
    "$select",
    "sessions",
    "%27",
    "%2",
];

fn exercise(text: &str) {
    if let Ok(expr) = parse_filter(text) {
        let _ = call_records_filter(&expr);
    }
    let _ = parse_select(text, &["id", "a"], "t");
    let _ = parse_expand(text);
    let _ = parse_prefer([text]);
    let _ = split_query(text);
    if let Ok(call) = parse_function_call(&format!("f({text})")) {
        let _ = call.required_datetime("a");
    }
    let _ = parse_function_call(text);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x0DA7A);
    for _ in 0..5_000 {
        let len = rng.gen_range(0..64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        exercise(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = rng.gen_range(0..24);
        let text: String = (0..len)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
            .collect();
        if parse_filter(&text).is_ok() {
            parsed += 1;
        }
        exercise(&text);
    }
    // The soup is not all garbage: some of it is valid filter syntax.
    assert!(parsed > 0);
}
