//! Messages are hostile: every field of every corpus message replaced, one at a time, by a
//! value of another type. No extractor may panic on any of them (on a worker a panic traps the
//! module for that message); each answers or says nothing.

use fmn_rules::MODULE;
use fmn_rules_sdk::ModuleState;
use fmn_rules_sdk::testing::envelope;
use serde_json::{Value, json};

const BENCH: &str = include_str!("../../tests/fixtures/corpus/bench_messages.jsonl");
const FEDORA_MESSAGING: &str = include_str!("../../tests/fixtures/corpus/fedora_messaging.jsonl");

/// Every message of the corpora as it came off the bus, with the key its body is under.
fn messages() -> Vec<(Value, &'static str)> {
    let mut out = Vec::new();
    for line in BENCH.lines() {
        out.push((serde_json::from_str(line).unwrap(), "msg"));
    }
    for line in FEDORA_MESSAGING.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["topic"].as_str().is_some_and(|t| !t.is_empty()) {
            out.push((json!({"topic": v["topic"], "body": v["body"]}), "body"));
        }
    }
    out
}

/// The paths of the body's fields, two levels deep.
fn paths(body: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Value::Object(o) = body {
        for (k, v) in o {
            out.push(vec![k.clone()]);
            if let Value::Object(inner) = v {
                out.extend(inner.keys().map(|k2| vec![k.clone(), k2.clone()]));
            }
        }
    }
    out
}

fn replaced(body: &Value, path: &[String], with: &Value) -> Value {
    let mut b = body.clone();
    let mut at = &mut b;
    for p in path {
        at = &mut at[p.as_str()];
    }
    *at = with.clone();
    b
}

#[test]
fn no_extractor_panics_on_a_field_of_another_type() {
    let others = [
        json!(null),
        json!(7),
        json!(-1.5e300),
        json!("x"),
        json!([]),
        json!({}),
    ];
    let all: Vec<u32> = (0..MODULE.extractors.len() as u32).collect();
    let mut tried = 0;
    for (message, key) in messages() {
        for path in paths(&message[key]) {
            for other in &others {
                let mut m = message.clone();
                m[key] = replaced(&message[key], &path, other);
                let Ok(json) = envelope(&m.to_string()) else {
                    continue;
                };
                let out = ModuleState::new(&MODULE).eval(json.as_bytes(), &[], &all);
                assert!(
                    out.message_error.is_none(),
                    "{:?} on {m}",
                    out.message_error
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 10_000, "only {tried} messages tried");
}
