//! FMN 2's own rule tests (`fmn_rules_cases.jsonl`): each case calls one rule with arguments on
//! a real message and states the answer. Run natively against our catalogue.

use std::collections::BTreeMap;

use fmn_rules::MODULE;
use fmn_rules_sdk::ModuleState;
use serde_json::{Map, Value};

const CASES: &str = include_str!("../../tests/fixtures/corpus/fmn_rules_cases.jsonl");

/// What one case gave.
#[derive(Debug, PartialEq)]
enum Outcome {
    Pass,
    Fail(String),
    /// The rule is not in the catalogue.
    Missing,
    /// The case depends on data the corpus does not include (its notes say so).
    Informative,
}

/// FMN called rules with positional arguments; ours are named, in schema order. `None` and
/// missing arguments become empty strings, which FMN's rules treat as "no match".
fn args_for(rule: usize, args: &[Value], kwargs: &Map<String, Value>) -> Value {
    let def = MODULE.rule(rule).expect("rule exists");
    let mut out = Map::new();
    for (field, value) in def.args.iter().zip(args) {
        out.insert(
            field.name.to_owned(),
            if value.is_null() {
                Value::String(String::new())
            } else {
                value.clone()
            },
        );
    }
    for (k, v) in kwargs {
        out.insert(k.clone(), v.clone());
    }
    for field in def.args {
        if field.required && !out.contains_key(field.name) {
            out.insert(field.name.to_owned(), Value::String(String::new()));
        }
    }
    Value::Object(out)
}

fn run(case: &Value) -> Outcome {
    let name = case["rule"].as_str().unwrap().rsplit(':').next().unwrap();
    let Some(idx) = MODULE.rule_index(name) else {
        return Outcome::Missing;
    };
    let notes = case
        .get("notes")
        .and_then(Value::as_array)
        .map(|n| n.len())
        .unwrap_or(0);
    if notes > 0 && case["notes"].to_string().contains("ownership") {
        return Outcome::Informative;
    }
    let args = args_for(
        idx,
        case["args"].as_array().unwrap(),
        case["kwargs"].as_object().unwrap(),
    );
    let mut state = ModuleState::new(&MODULE);
    let handle = match state.register(idx, args.to_string().as_bytes()) {
        Ok(h) => h,
        Err(e) => return Outcome::Fail(format!("{name}({args}): refused arguments: {e}")),
    };
    // FMN tested topic-only rules with messages that are only a topic: give them an empty body.
    let mut message = case["message"].clone();
    if let Some(m) = message.as_object_mut()
        && !m.contains_key("msg")
    {
        m.insert("msg".into(), Value::Object(Map::new()));
    }
    let bus = message.to_string();
    let envelope = match fmn_rules_sdk::testing::envelope(&bus) {
        Ok(e) => e,
        Err(e) => return Outcome::Fail(format!("{name}: message not accepted: {e}")),
    };
    let out = state.eval(envelope.as_bytes(), &[handle], &[]);
    if let Some((_, e)) = out.errors.first() {
        return Outcome::Fail(format!("{name}({args}): error {e}"));
    }
    let expected = case["expected"]
        .as_bool()
        .unwrap_or_else(|| !case["expected"].is_null());
    if out.is_match(0) == expected {
        Outcome::Pass
    } else {
        Outcome::Fail(format!(
            "{name}({args}) on {}: expected {expected}",
            case["topic"]
        ))
    }
}

#[test]
fn fmn2_rule_cases() {
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut missing = std::collections::BTreeSet::new();
    for line in CASES.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let outcome = run(&case);
        *tally
            .entry(match &outcome {
                Outcome::Pass => "pass",
                Outcome::Fail(_) => "fail",
                Outcome::Missing => "missing",
                Outcome::Informative => "informative",
            })
            .or_default() += 1;
        match outcome {
            Outcome::Fail(f) => failures.push(f),
            Outcome::Missing => {
                missing.insert(case["rule"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
    }
    println!("{tally:?}");
    assert!(
        missing.is_empty(),
        "FMN 2 rules the catalogue lacks: {missing:?}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// FMN 2's catalogue: the ten generic rules and 308 rules of the application families, as
/// fmn.rules 0.9.1's modules define them (a module function per rule). The issue that asked
/// for it counted 319; the one-rule difference is recorded in docs/rules-sdk.md.
const FMN2_RULES: usize = 318;

#[test]
fn catalogue_size() {
    let names: Vec<&str> = MODULE.rules().map(|r| r.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "rule names are unique");
    let ours: Vec<&str> = ["topic", "category"]
        .into_iter()
        .chain(fmn_rules::fmn3::RULES.iter().map(|r| r.name))
        .collect();
    let fmn2 = names.iter().filter(|n| !ours.contains(n)).count();
    assert_eq!(fmn2, FMN2_RULES);
    for generic in [
        "user_filter",
        "not_user_filter",
        "fas_group_member_filter",
        "user_package_filter",
        "user_package_commit_filter",
        "user_package_watch_filter",
        "package_filter",
        "package_regex_filter",
        "regex_filter",
        "trac_hosted_filter",
    ] {
        assert!(names.contains(&generic), "{generic} is in the catalogue");
    }
}
