//! Examples of what the extractors say, natively. The scores against the whole corpus, with
//! their bars, are in `host/tests/conformance.rs` (`fmn rules conformance` prints them).

use fmn_rules::MODULE;
use fmn_rules_sdk::testing::{keys, text};

const FEDMSG: &str = include_str!("../../tests/fixtures/corpus/fedmsg.jsonl");
const FEDORA_MESSAGING: &str = include_str!("../../tests/fixtures/corpus/fedora_messaging.jsonl");

/// Every message of the corpus, as it came off the bus.
fn bus_messages() -> Vec<String> {
    let mut out = Vec::new();
    for line in FEDMSG.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        out.push(v["envelope"].to_string());
    }
    for line in FEDORA_MESSAGING.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["topic"].as_str().is_some_and(|t| !t.is_empty()) {
            out.push(serde_json::json!({"topic": v["topic"], "body": v["body"]}).to_string());
        }
    }
    out
}

#[test]
fn every_message_gets_a_summary() {
    for bus in bus_messages() {
        let s = text(&MODULE, "summary", &bus).unwrap();
        assert!(s.is_some_and(|s| !s.is_empty()), "no summary for {bus}");
    }
}

#[test]
fn koji_build_summary_and_link() {
    let bus = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "x",
        "msg": {"old": 0, "name": "nethack", "version": "3.6.6", "release": "1.fc33", "new": 3,
                "owner": "ralph", "build_id": 42}}"#;
    assert_eq!(
        text(&MODULE, "summary", bus).unwrap().as_deref(),
        Some("ralph's nethack-3.6.6-1.fc33 failed to build")
    );
    // fedmsg-era links are what fedmsg.meta made them: http, on the instance's host.
    assert_eq!(
        text(&MODULE, "link", bus).unwrap().as_deref(),
        Some("http://koji.fedoraproject.org/koji/buildinfo?buildID=42")
    );
    assert_eq!(keys(&MODULE, "usernames", bus).unwrap(), ["ralph"]);
    assert_eq!(keys(&MODULE, "packages", bus).unwrap(), ["nethack"]);
}
