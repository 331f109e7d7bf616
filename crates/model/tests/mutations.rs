//! Every single-value mutation of a published record either fails with a located error or
//! parses into something that serializes to a fixed point; nothing panics.

use callhook_model::{from_value, CallRecord};
use serde_json::{json, Value};

fn fixture() -> Value {
    let path = format!(
        "{}/tests/data/callrecord-full-expanded.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}

/// JSON pointers of every value in the tree.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[test]
fn single_value_mutations_never_panic_and_stay_fixed_points() {
    let original = fixture();
    let mut targets = Vec::new();
    pointers(&original, String::new(), &mut targets);
    let replacements = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("NaN"),
        json!("PT1S"),
        json!("2024-01-01T00:00:00Z"),
        json!([]),
        json!({}),
        json!({"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint"}),
    ];
    let (mut accepted, mut refused) = (0, 0);
    for target in &targets {
        for replacement in &replacements {
            let mut doc = original.clone();
            match doc.pointer_mut(target) {
                Some(slot) => *slot = replacement.clone(),
                None => continue,
            }
            match from_value::<CallRecord>(doc) {
                Ok(record) => {
                    accepted += 1;
                    let first = serde_json::to_value(&record).expect("serialize");
                    let again: CallRecord = from_value(first.clone())
                        .unwrap_or_else(|e| panic!("{target} <- {replacement}: reparse: {e}"));
                    assert_eq!(serde_json::to_value(&again).ok(), Some(first), "{target}");
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.message.is_empty(), "{target}");
                }
            }
        }
    }
    assert!(
        accepted > 100 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}
