//! `fmn rules test --prefs`: a module tried with real preferences, beside the bundled modules,
//! reports whom each message would notify and which preferences could not be tried.

use std::path::Path;

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::cli::{fmn, run, text};
use crate::support::fixtures::{BUNDLED, HOSTILE};
use crate::support::wasm_variant;

/// A Koji build of ralph's, and a Bodhi comment of pingou's.
const MESSAGES: &[&str] = &[
    r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "a", "msg": {"owner": "ralph", "name": "nethack", "new": 3}}"#,
    r#"{"topic": "org.fedoraproject.prod.bodhi.update.comment", "msg_id": "b", "msg": {"comment": {"user": {"name": "pingou"}}}}"#,
];

/// alice: everything by email (the hostile module's control rule), Bodhi on IRC; bob: what
/// refers to ralph.
const GOOD_USERS: &str = r#"
[users.alice.channels.email]
addresses = ["alice@example.org"]
filters = [{ name = "everything", rules = [{ rule = "hostile::ok" }] }]

[users.alice.channels.irc]
addresses = ["alice"]
filters = [{ name = "bodhi", rules = [{ rule = "fedora::topic", args = { glob = "*.bodhi.update.*" } }] }]

[users.bob.channels.email]
addresses = ["bob@example.org"]
filters = [{ name = "ralph's", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
"#;

/// carol names a rule the hostile module lacks; dave gives `fedora::topic` a number for its
/// glob. Each has a good filter too, which a worker leaves out with the bad one.
const BAD_USERS: &str = r#"
[users.carol.channels.email]
addresses = ["carol@example.org"]
filters = [
  { name = "typo", rules = [{ rule = "hostile::nope" }] },
  { name = "all", rules = [{ rule = "hostile::ok" }] },
]

[users.dave.channels.irc]
addresses = ["dave"]
filters = [
  { name = "numbers", rules = [{ rule = "fedora::topic", args = { glob = 3 } }] },
  { name = "all", rules = [{ rule = "hostile::ok" }] },
]
"#;

/// `fmn rules test MODULE --messages M --prefs P --json` in `dir`: its exit code and report.
fn trial(dir: &Path, module: &[u8], prefs: &str) -> (Option<i32>, Value) {
    let (wasm, messages, prefs_file) = (
        dir.join("module.wasm"),
        dir.join("m.jsonl"),
        dir.join("prefs.toml"),
    );
    std::fs::write(&wasm, module).unwrap();
    std::fs::write(&messages, MESSAGES.join("\n")).unwrap();
    std::fs::write(&prefs_file, prefs).unwrap();
    let out = run(fmn()
        .args(["rules", "test"])
        .arg(&wasm)
        .arg("--messages")
        .arg(&messages)
        .arg("--prefs")
        .arg(&prefs_file)
        .arg("--json")
        .current_dir(dir));
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), report)
}

/// Each message's (id, notifications).
fn notified(report: &Value) -> Vec<(String, Value)> {
    let results = report["results"].as_array().unwrap();
    results
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_owned(), m["notify"].clone()))
        .collect()
}

#[test]
fn rules_test_with_prefs_names_who_is_notified_and_what_was_not_tried() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = trial(dir.path(), HOSTILE, &format!("{GOOD_USERS}{BAD_USERS}"));
    assert_eq!(code, Some(2), "{r:#}");
    assert_eq!(
        notified(&r),
        vec![
            (
                "a".to_owned(),
                json!([
                    {"user": "alice", "channel": "email", "filter": "everything"},
                    {"user": "bob", "channel": "email", "filter": "ralph's"},
                ])
            ),
            (
                "b".to_owned(),
                json!([
                    {"user": "alice", "channel": "email", "filter": "everything"},
                    {"user": "alice", "channel": "irc", "filter": "bodhi"},
                ])
            ),
        ]
    );
    assert_eq!(r["notified"], json!({"alice": 3, "bob": 1}));
    assert_eq!(r["users"], 2);
    let not_tried = r["not_tried"].as_array().unwrap();
    let places: Vec<Value> = not_tried
        .iter()
        .map(|n| json!([n["user"], n["channel"], n["filter"], n["rule"]]))
        .collect();
    assert_eq!(
        places,
        vec![
            json!(["carol", "email", "typo", "hostile::nope"]),
            json!(["dave", "irc", "numbers", "fedora::topic"]),
        ]
    );
    assert!(
        not_tried
            .iter()
            .all(|n| !n["why"].as_str().unwrap().is_empty()),
        "{not_tried:?}"
    );
    // Beside the bundled module, not instead of it.
    let modules: Vec<&str> = r["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["fedora", "hostile"]);
}

#[test]
fn rules_test_with_good_prefs_exits_0_and_replaces_the_bundled_module_of_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let variant = wasm_variant(BUNDLED, "rules-test");
    let prefs = GOOD_USERS.replace(
        r#"rule = "hostile::ok""#,
        r#"rule = "fedora::topic", args = { glob = "*" }"#,
    );
    let (code, r) = trial(dir.path(), &variant, &prefs);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(r["not_tried"], json!([]));
    assert_eq!(r["notified"], json!({"alice": 3, "bob": 1}));
    let sha = hex::encode(sha2::Sha256::digest(&variant));
    assert_eq!(r["sha256"], sha);
    let modules = r["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1, "{modules:?}");
    assert_eq!(modules[0]["sha256"], sha);
}
