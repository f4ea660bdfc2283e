//! `koschei_group` and its extractor on Koschei messages of both eras from fmn's corpus.

use fmn_example_sig_watch::MODULE;
use fmn_rules_sdk::testing::{check, check_samples, keys};
use serde_json::json;

/// fedmsg: rnv started failing to build on the ARM Koji.
const RNV_FAILING: &str = r#"{"i": 2, "msg": {"collection": "f22", "collection_name": "Fedora 22", "groups": ["c", "xml"], "koji_instance": "arm", "name": "rnv", "new": "failing", "old": "ok", "repo": "f22"}, "msg_id": "2014-45d99116-f93e-45ef-8611-04fa2eabbb82-dup1", "timestamp": 1412260063, "topic": "org.fedoraproject.dev.koschei.package.state.change", "username": "msimacek"}"#;

/// fedora-messaging: rust-tokio builds again in f37.
const TOKIO_OK: &str = r#"{"topic": "org.fedoraproject.prod.koschei.package.state.change", "body": {"name": "rust-tokio", "new": "ok", "old": "failing", "collection": "f37", "collection_name": "Fedora 37", "groups": ["rust-sig"], "koji_instance": "primary"}}"#;

/// A Koschei collection message: it has no package, and no groups.
const COLLECTION: &str = r#"{"topic": "org.fedoraproject.prod.koschei.collection.state.change", "body": {"repo_id": "f37", "collection": "f37", "collection_name": "Fedora 37", "new": "ok", "old": "failing", "koji_instance": "primary"}}"#;

#[test]
fn the_extractor_gives_the_packages_groups() {
    assert_eq!(
        keys(&MODULE, "koschei_groups", RNV_FAILING),
        Ok(vec!["c".to_owned(), "xml".to_owned()])
    );
    assert_eq!(
        keys(&MODULE, "koschei_groups", TOKIO_OK),
        Ok(vec!["rust-sig".to_owned()])
    );
    assert_eq!(keys(&MODULE, "koschei_groups", COLLECTION), Ok(vec![]));
}

#[test]
fn the_rule_matches_its_groups_packages() {
    let rust = json!({"group": "rust-sig"});
    assert_eq!(
        check(&MODULE, "koschei_group", rust.clone(), TOKIO_OK),
        Ok(true)
    );
    assert_eq!(
        check(&MODULE, "koschei_group", rust.clone(), RNV_FAILING),
        Ok(false)
    );
    assert_eq!(check(&MODULE, "koschei_group", rust, COLLECTION), Ok(false));
}

#[test]
fn the_rule_is_keyed_on_its_extractor() {
    let rule = MODULE
        .rule(MODULE.rule_index("koschei_group").unwrap())
        .unwrap();
    let key = rule.key.expect("a keyed rule");
    assert_eq!(
        (key.extractor, key.arg, key.via),
        ("koschei_groups", "group", None)
    );
}

#[test]
fn samples_hold() {
    check_samples(&MODULE).unwrap_or_else(|e| panic!("{e}"));
}
