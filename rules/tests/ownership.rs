//! Rules answered through ownership data count the packages of a user's groups, as FMN did
//! with Pagure's `@group` owners; and `git_receive` is dist-git's pushes only.

use std::collections::HashMap;

use fmn_rules::MODULE;
use fmn_rules_sdk::data::set_relation;
use fmn_rules_sdk::testing::check;
use serde_json::json;

const BUILD: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "x",
    "msg": {"old": 0, "name": "python-requests", "version": "2.31.0", "release": "1.fc40",
            "new": 1, "owner": "someone", "build_id": 42}}"#;

fn relation(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

fn python_sig_owns_python_requests() {
    set_relation("packagers", relation(&[("python-requests", &["ralph"])]));
    set_relation("committers", relation(&[("python-requests", &["ralph"])]));
    set_relation("watchers", HashMap::new());
    set_relation(
        "group-owners",
        relation(&[("python-requests", &["python-sig"])]),
    );
    set_relation(
        "groups",
        relation(&[("alice", &["python-sig"]), ("carol", &["qa"])]),
    );
}

#[test]
fn a_group_member_hears_of_the_groups_packages() {
    python_sig_owns_python_requests();
    for rule in ["user_package_filter", "user_package_commit_filter"] {
        for (user, expected) in [("ralph", true), ("alice", true), ("carol", false)] {
            let got = check(&MODULE, rule, json!({"fasnick": user}), BUILD).unwrap();
            assert_eq!(got, expected, "{rule} for {user}");
        }
    }
    // Watching is personal: a group's packages are not watched by its members.
    let got = check(
        &MODULE,
        "user_package_watch_filter",
        json!({"fasnick": "alice"}),
        BUILD,
    );
    assert_eq!(got, Ok(false));
    let got = check(
        &MODULE,
        "artifacts_owned",
        json!({"users": ["alice"]}),
        BUILD,
    );
    assert_eq!(got, Ok(true));
}

#[test]
fn git_receive_is_dist_git_only() {
    let push = |topic: &str| {
        json!({"topic": topic, "msg_id": "y", "msg": {"commit": {"repo": "nethack"}}}).to_string()
    };
    for (topic, expected) in [
        ("org.fedoraproject.prod.git.receive", true),
        ("org.fedoraproject.stg.git.receive", true),
        ("io.pagure.prod.pagure.git.receive", false),
        ("org.fedoraproject.prod.pagure.git.receive", false),
        ("org.fedoraproject.prod.trac.git.receive", false),
    ] {
        let got = check(&MODULE, "git_receive", json!({}), &push(topic)).unwrap();
        assert_eq!(got, expected, "{topic}");
    }
}
