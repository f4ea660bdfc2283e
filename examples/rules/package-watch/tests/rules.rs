//! `package_builds` on Koji messages from fmn's corpus of bus messages (tests/fixtures).

use fmn_example_package_watch::MODULE;
use fmn_rules_sdk::testing::{check, check_samples};
use serde_json::json;

/// A failed build of eclipse-ptp for Fedora 19.
const FAILED: &str = r#"{"msg": {"attribute": "state", "build_id": 12345, "name": "eclipse-ptp", "new": 3, "old": 0, "owner": "rmattes", "release": "1.fc19", "version": "6.0.3"}, "msg_id": "2013-573a5d07-e8b8-526d-b720-500119748c7f", "timestamp": 1359604772.178867, "topic": "org.fedoraproject.prod.buildsys.build.state.change", "username": "apache"}"#;

/// A completed EPEL 7 build of ansible.
const ANSIBLE_EL7: &str = r#"{"i": 1, "msg": {"attribute": "state", "build_id": 612324, "instance": "primary", "name": "ansible", "new": 1, "old": 0, "owner": "kevin", "release": "1.el7", "task_id": 8973154, "version": "1.8.3"}, "msg_id": "2015-6395fb7a-e5a7-4b95-858a-ff7b80410e7f", "timestamp": 1424216566.0, "topic": "org.fedoraproject.prod.buildsys.build.state.change", "username": null}"#;

/// A dist-git push to valgrind: another topic.
const PUSH: &str = r#"{"i": 1, "msg": {"commit": {"branch": "master", "email": "mjw@redhat.com", "message": "Clear CFLAGS CXXFLAGS LDFLAGS.\n                This is a bit of a hammer.", "name": "Mark Wielaard", "repo": "valgrind", "rev": "7a98f80d9b61ce167e4ef8129c81ed9284ecf4e1", "seen": true, "stats": {"files": {"valgrind.spec": {"deletions": 2, "insertions": 1, "lines": 3}}, "total": {"deletions": 2, "files": 1, "insertions": 1, "lines": 3}}, "summary": "Clear CFLAGS CXXFLAGS LDFLAGS.", "username": "mjw"}}, "msg_id": "2012-175b3410-48a7-571d-8f1a-e96208556ac5", "timestamp": 1344350850.886738, "topic": "org.fedoraproject.prod.git.receive", "username": null}"#;

fn builds(args: serde_json::Value, msg: &str) -> Result<bool, String> {
    check(&MODULE, "package_builds", args, msg)
}

#[test]
fn watched_packages_by_name_or_glob() {
    assert_eq!(
        builds(json!({"packages": ["eclipse-ptp"]}), FAILED),
        Ok(true)
    );
    assert_eq!(builds(json!({"packages": ["eclipse-*"]}), FAILED), Ok(true));
    assert_eq!(builds(json!({"packages": ["vim"]}), FAILED), Ok(false));
    assert_eq!(builds(json!({"packages": ["valgrind"]}), PUSH), Ok(false));
}

#[test]
fn exclusions_win_over_the_watch() {
    let except = json!({"packages": ["eclipse-*"], "except": ["*-ptp"]});
    assert_eq!(builds(except, FAILED), Ok(false));
    let not_epel = json!({"packages": ["eclipse-ptp", "ansible"], "except_dists": ["el7"]});
    assert_eq!(builds(not_epel.clone(), FAILED), Ok(true));
    assert_eq!(builds(not_epel, ANSIBLE_EL7), Ok(false));
}

#[test]
fn only_the_states_asked_for() {
    let failures = json!({"packages": ["eclipse-ptp", "ansible"], "states": ["failed"]});
    assert_eq!(builds(failures.clone(), FAILED), Ok(true));
    assert_eq!(builds(failures, ANSIBLE_EL7), Ok(false));
}

#[test]
fn unknown_arguments_are_refused() {
    let typo = builds(json!({"packages": ["vim"], "exclude": ["x"]}), FAILED);
    assert!(typo.is_err_and(|e| e.contains("exclude")));
}

#[test]
fn samples_hold() {
    check_samples(&MODULE).unwrap_or_else(|e| panic!("{e}"));
}
