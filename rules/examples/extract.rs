//! What the `fedora` module's extractors say about bus messages, natively: one JSON object in,
//! one out, per line. The differential check (`scripts/differential/`) compares this with
//! the schema packages' and fedmsg.meta's own answers.
//!
//! ```sh
//! cargo run -q -p fmn-rules --example extract < messages.jsonl
//! ```
//!
//! A line is a bus message (a fedmsg envelope, or a fedora-messaging `{"topic", "body",
//! "headers"?}`), or `{"bus": MESSAGE, "aliases": {"nick or address": "account", ...}}`.
//! The answer names people by account as a worker does: through the aliases given, a
//! fedoraproject.org address by its local part, another address by nobody.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use fmn_rules::MODULE;
use fmn_rules_sdk::testing::envelope;
use fmn_rules_sdk::{Extracted, ModuleState};
use serde_json::{Value, json};

const EXTRACTORS: &[&str] = &[
    "usernames",
    "packages",
    "groups",
    "agent",
    "summary",
    "link",
    "icon",
    "app_name",
    "long_text",
];

fn account(aliases: &BTreeMap<String, String>, name: &str) -> Option<String> {
    if let Some(a) = aliases.get(name) {
        return Some(a.clone());
    }
    fmn_rules::account(name).map(str::to_owned)
}

fn answer(line: &str) -> Value {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": format!("not JSON: {e}")}),
    };
    let (bus, aliases) = match v.get("bus") {
        Some(bus) => {
            let aliases = fmn_rules_sdk::testing::aliases(v.get("aliases"));
            (bus.to_string(), aliases)
        }
        None => (line.to_owned(), BTreeMap::new()),
    };
    let json = match envelope(&bus) {
        Ok(j) => j,
        Err(e) => return json!({"error": e}),
    };
    // All extractors in one call, as a worker asks them; texts keep their marked people,
    // which are named below through the aliases given.
    let indices: Vec<u32> = EXTRACTORS
        .iter()
        .filter_map(|x| MODULE.extractor_index(x).map(|i| i as u32))
        .collect();
    let mut results = ModuleState::new(&MODULE)
        .eval(json.as_bytes(), &[], &indices)
        .extracted
        .into_iter();
    let mut out = serde_json::Map::new();
    for x in EXTRACTORS {
        let result = results.next().unwrap_or_else(|| Err("no result".into()));
        let value = match result {
            Ok(Extracted::Keys(keys)) if *x == "usernames" => Value::from(
                keys.iter()
                    .filter_map(|k| account(&aliases, k))
                    .collect::<Vec<_>>(),
            ),
            Ok(Extracted::Keys(keys)) => Value::from(keys),
            Ok(Extracted::Text(Some(t))) if *x == "agent" => {
                account(&aliases, &t).map_or(Value::Null, Value::from)
            }
            Ok(Extracted::Text(Some(t))) => {
                Value::from(fmn_rules_sdk::people::resolve(&t, |n| account(&aliases, n)))
            }
            Ok(Extracted::Text(None)) => Value::Null,
            Err(e) => json!({"error": e}),
        };
        out.insert((*x).to_owned(), value);
    }
    Value::Object(out)
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // A panic is a module failure on a worker: report it on the line, and go on.
        let out = std::panic::catch_unwind(|| answer(&line))
            .unwrap_or_else(|_| json!({"panic": "the extractors panicked on this message"}));
        writeln!(stdout, "{out}")?;
    }
    stdout.flush()
}
