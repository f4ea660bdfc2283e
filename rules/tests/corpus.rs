//! The first-cut extractors against the real corpus, for the families the foundation covers:
//! koji (buildsys), bodhi and pagure, in both bus eras.

use std::collections::BTreeSet;

use fmn_rules::MODULE;
use fmn_rules_sdk::testing::{keys, text};
use serde_json::Value;

const FEDMSG: &str = include_str!("../../tests/fixtures/corpus/fedmsg.jsonl");
const FEDORA_MESSAGING: &str = include_str!("../../tests/fixtures/corpus/fedora_messaging.jsonl");

/// (family, bus message, expected) for every corpus line of the three families.
fn cases() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for line in FEDMSG.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        out.push((
            v["topic"].as_str().unwrap().to_owned(),
            v["envelope"].to_string(),
            v["expected"].clone(),
        ));
    }
    for line in FEDORA_MESSAGING.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let bus = serde_json::json!({"topic": v["topic"], "body": v["body"]});
        out.push((
            v["topic"].as_str().unwrap().to_owned(),
            bus.to_string(),
            v["expected"].clone(),
        ));
    }
    out.into_iter()
        .filter_map(|(topic, bus, exp)| {
            let cat = fmn_rules_sdk::topic_parts(&topic).0.to_owned();
            ["buildsys", "bodhi", "pagure"]
                .contains(&cat.as_str())
                .then_some((cat, bus, exp))
        })
        .collect()
}

fn set(v: &Value) -> Option<BTreeSet<String>> {
    Some(
        v.as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Share of lines stating `field` where our extractor agrees exactly (as sets).
fn score(extractor: &str, field: &str) -> (usize, usize, Vec<String>) {
    let (mut stated, mut matched, mut misses) = (0, 0, Vec::new());
    for (_, bus, exp) in cases() {
        let Some(want) = exp.get(field).and_then(set) else {
            continue;
        };
        stated += 1;
        let got: BTreeSet<String> = keys(&MODULE, extractor, &bus)
            .unwrap()
            .into_iter()
            .collect();
        if got == want {
            matched += 1;
        } else {
            misses.push(format!(
                "{}: want {want:?} got {got:?}",
                &bus[..bus.len().min(90)]
            ));
        }
    }
    (stated, matched, misses)
}

#[test]
fn usernames_and_packages_of_koji_bodhi_pagure() {
    for (extractor, field, bar) in [
        ("usernames", "usernames", 0.95),
        ("packages", "packages", 0.90),
    ] {
        let (stated, matched, misses) = score(extractor, field);
        let rate = matched as f64 / stated as f64;
        println!("{extractor}: {matched}/{stated} = {rate:.3}");
        for m in &misses {
            println!("  miss {m}");
        }
        assert!(
            stated > 50,
            "{extractor}: only {stated} lines state {field}"
        );
        assert!(
            rate >= bar,
            "{extractor}: {matched}/{stated} = {rate:.3} < {bar}"
        );
    }
}

#[test]
fn summaries_and_links_exist_for_every_message() {
    for (_, bus, _) in cases() {
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
    assert_eq!(
        text(&MODULE, "link", bus).unwrap().as_deref(),
        Some("https://koji.fedoraproject.org/koji/buildinfo?buildID=42")
    );
    assert_eq!(keys(&MODULE, "usernames", bus).unwrap(), ["ralph"]);
    assert_eq!(keys(&MODULE, "packages", bus).unwrap(), ["nethack"]);
}
