//! Bodhi, greenwave and their kin say what their definitions (fedmsg.meta's processors and
//! the bodhi-messages schema classes) say, on messages written for these tests.

use fmn_rules::MODULE;
use fmn_rules_sdk::Extracted;
use fmn_rules_sdk::testing::extract;
use serde_json::{Value, json};

fn fedmsg(topic: &str, body: Value) -> String {
    json!({"i": 1, "timestamp": 1_500_000_000.0, "msg_id": "2017-x", "topic": topic, "msg": body})
        .to_string()
}

fn bus(topic: &str, body: Value) -> String {
    json!({"topic": topic, "body": body}).to_string()
}

fn keys(x: &str, msg: &str) -> Vec<String> {
    match extract(&MODULE, x, msg) {
        Ok(Extracted::Keys(k)) => k,
        other => panic!("{x}: {other:?}"),
    }
}

fn text(x: &str, msg: &str) -> Option<String> {
    match extract(&MODULE, x, msg) {
        Ok(Extracted::Text(t)) => t,
        other => panic!("{x}: {other:?}"),
    }
}

fn decision(satisfied_key: &str, satisfied: bool) -> Value {
    json!({
        "decision_context": "bodhi_update_push_stable",
        "product_version": "fedora-31",
        satisfied_key: satisfied,
        "subject": [
            {"item": "python-ops-2.4.1-3.fc31", "type": "koji_build"},
            {"item": "FEDORA-2019-0a1b2c3d4e", "type": "bodhi_update"},
        ],
        "summary": "1 of 2 required tests failed",
    })
}

#[test]
fn both_greenwave_decision_topics_name_the_package_and_link_the_results() {
    for (topic, key) in [
        (
            "org.fedoraproject.prod.greenwave.decision.update",
            "policies_satisfied",
        ),
        // The older topic, with the key as greenwave first misspelt it.
        (
            "org.fedoraproject.prod.greenwave.greenwave.decision.update",
            "policies_satisified",
        ),
    ] {
        let msg = fedmsg(topic, decision(key, false));
        assert_eq!(keys("packages", &msg), ["python-ops"], "{topic}");
        assert!(keys("usernames", &msg).is_empty(), "{topic}");
        assert_eq!(
            text("summary", &msg).as_deref(),
            Some(
                "greenwave says NO-GO on python-ops-2.4.1-3.fc31 for \
                 \"bodhi_update_push_stable\" (fedora-31)"
            ),
            "{topic}"
        );
        assert_eq!(
            text("link", &msg).as_deref(),
            Some(
                "https://taskotron.fedoraproject.org/resultsdb/results\
                 ?item=python-ops-2.4.1-3.fc31&type=koji_build"
            ),
            "{topic}"
        );
    }
}

#[test]
fn greenwave_prefers_the_subject_identifier_and_says_go() {
    let mut body = decision("policies_satisfied", true);
    body["subject_identifier"] = json!("Fedora-Rawhide-20190101.n.0");
    body["subject"] = json!([{"productmd.compose.id": "Fedora-Rawhide-20190101.n.0",
                              "type": "compose"}]);
    let msg = fedmsg("org.fedoraproject.prod.greenwave.decision.update", body);
    assert!(keys("packages", &msg).is_empty());
    assert_eq!(
        text("summary", &msg).as_deref(),
        Some(
            "greenwave is a GO on Fedora-Rawhide-20190101.n.0 for \
             \"bodhi_update_push_stable\" (fedora-31)"
        )
    );
    assert_eq!(
        text("link", &msg).as_deref(),
        Some(
            "https://taskotron.fedoraproject.org/resultsdb/results\
             ?productmd.compose.id=Fedora-Rawhide-20190101.n.0&type=compose"
        )
    );
}

fn update(user: &str, nvrs: &[&str]) -> Value {
    let builds: Vec<Value> = nvrs.iter().map(|n| json!({"nvr": n})).collect();
    json!({"alias": "FEDORA-2020-1234abcd", "builds": builds, "user": {"name": user},
           "status": "testing", "request": null, "release": {"name": "F32"}})
}

#[test]
fn bodhi_schema_comment_names_author_owner_and_mentions() {
    let msg = bus(
        "org.fedoraproject.prod.bodhi.update.comment",
        json!({"comment": {"karma": 1, "text": "works, thanks @owner2 (cc x@y)",
                           "timestamp": "2020-01-01", "user": {"name": "tester"},
                           "update": update("owner", &["pkg-a-1.0-1.fc32"])}}),
    );
    assert_eq!(keys("usernames", &msg), ["owner", "owner2", "tester"]);
    assert_eq!(keys("packages", &msg), ["pkg-a"]);
    assert_eq!(text("agent", &msg).as_deref(), Some("tester"));
    assert_eq!(
        text("summary", &msg).as_deref(),
        Some("tester commented on update pkg-a-1.0-1.fc32 (karma: 1)")
    );
    assert_eq!(
        text("link", &msg).as_deref(),
        Some("https://bodhi.fedoraproject.org/updates/FEDORA-2020-1234abcd")
    );
}

#[test]
fn bodhi_schema_complete_says_the_update_status_and_truncates_at_forty() {
    let nvr = "a-very-long-package-name-1.0-1.fc32"; // 35 characters
    let msg = bus(
        "bodhi.update.complete.testing",
        json!({"update": update("owner", &[nvr, nvr])}),
    );
    let cut: String = format!("{nvr} {nvr}").chars().take(40).collect();
    assert_eq!(
        text("summary", &msg),
        Some(format!(
            "owner's {cut}… bodhi update completed push to testing"
        ))
    );
    assert_eq!(
        text("long_text", &msg),
        Some(format!(
            "owner's Bodhi update FEDORA-2020-1234abcd completed push to testing\n\
             Builds:\n{nvr}\n{nvr} "
        ))
    );
}

#[test]
fn bodhi_schema_request_qualifies_the_owner() {
    let msg = bus(
        "org.fedoraproject.prod.bodhi.update.request.revoke",
        json!({"agent": "owner", "update": update("owner", &["b-2-1.fc32"])}),
    );
    assert_eq!(
        text("summary", &msg).as_deref(),
        Some("owner revoked their update FEDORA-2020-1234abcd (b-2-1.fc32)")
    );
    assert_eq!(
        text("long_text", &msg).as_deref(),
        Some("owner revoked their update FEDORA-2020-1234abcd.\nBuilds:\nb-2-1.fc32")
    );
}

#[test]
fn odcs_names_the_owner() {
    let msg = fedmsg(
        "org.fedoraproject.prod.odcs.compose.state-changed",
        json!({"compose": {"id": 12, "owner": "releng", "pungi_compose_id": null,
                           "state_name": "done"}}),
    );
    assert_eq!(keys("usernames", &msg), ["releng"]);
    assert_eq!(text("agent", &msg).as_deref(), Some("releng"));
    assert_eq!(
        text("summary", &msg).as_deref(),
        Some("releng's compose 12 entered the done state.")
    );
    assert_eq!(
        text("link", &msg).as_deref(),
        Some("https://odcs.fedoraproject.org/api/1/composes/12")
    );
}
