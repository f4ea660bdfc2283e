//! The extractors and `pushes_to_branch` on git pushes of both eras from fmn's corpus.

use fmn_example_branch_watch::MODULE;
use fmn_rules_sdk::testing::{check, check_samples, keys, text};
use serde_json::json;

/// fedmsg: a push to ember's master branch adding a patch.
const EMBER: &str = r#"{"i": 1, "msg": {"commit": {"branch": "master", "email": "spot@fedoraproject.org", "message": "another missing patch? ridiculous.\n", "name": "Tom Callaway", "repo": "ember", "rev": "aa2df80f3d8dd217c7cbfe2d3451190028f3fe14", "stats": {"files": {"ember-0.6.3-gcc47.patch": {"deletions": 0, "insertions": 26, "lines": 26}}, "total": {"deletions": 0, "files": 1, "insertions": 26, "lines": 26}}, "summary": "another missing patch? ridiculous.", "username": "spot"}}, "msg_id": "2012-9f839bca-804c-5512-9216-b1758eb0d199", "timestamp": 1352998154.368305, "topic": "org.fedoraproject.prod.git.receive", "username": null}"#;

/// fedora-messaging: a Pagure push to the `develop` branch (no file list).
const PAGURE: &str = r#"{"topic": "org.fedoraproject.prod.pagure.git.receive", "body": {"agent": "dummy-user", "forced": false, "repo": {"fullname": "fedora-infra/fedocal-messages", "name": "fedocal-messages", "namespace": "fedora-infra"}, "old_commit": "hash_commit_old", "branch": "refs/heads/develop", "authors": [{"fullname": "Dummy User", "name": "dummy-user", "email": "dummy-user@example.com"}], "total_commits": 42, "start_commit": "hash_commit_start", "end_commit": "hash_commit_stop"}}"#;

/// A Koji build: no branch at all.
const BUILD: &str = r#"{"msg": {"attribute": "state", "build_id": 12345, "name": "ember", "new": 1, "old": 0, "owner": "spot", "release": "1.fc17", "version": "0.6.3"}, "msg_id": "2013-573a5d07-e8b8-526d-b720-500119748c7f", "timestamp": 1359604772.178867, "topic": "org.fedoraproject.prod.buildsys.build.state.change", "username": "apache"}"#;

#[test]
fn the_branch_of_both_eras() {
    assert_eq!(text(&MODULE, "branch", EMBER), Ok(Some("master".into())));
    assert_eq!(text(&MODULE, "branch", PAGURE), Ok(Some("develop".into())));
    assert_eq!(text(&MODULE, "branch", BUILD), Ok(None));
}

#[test]
fn the_files_a_push_changed() {
    assert_eq!(
        keys(&MODULE, "changed_files", EMBER),
        Ok(vec!["ember-0.6.3-gcc47.patch".into()])
    );
    assert_eq!(keys(&MODULE, "changed_files", PAGURE), Ok(vec![]));
}

#[test]
fn pushes_to_the_branch_touching_the_files() {
    let run = |args, msg| check(&MODULE, "pushes_to_branch", args, msg);
    assert_eq!(run(json!({"branch": "master"}), EMBER), Ok(true));
    assert_eq!(run(json!({"branch": "develop"}), PAGURE), Ok(true));
    assert_eq!(run(json!({"branch": "f40"}), EMBER), Ok(false));
    assert_eq!(
        run(json!({"branch": "master", "files": ["*.patch"]}), EMBER),
        Ok(true)
    );
    assert_eq!(
        run(json!({"branch": "master", "files": ["*.spec"]}), EMBER),
        Ok(false)
    );
    // Pagure's messages list no files, so a push there never matches a file glob.
    assert_eq!(
        run(json!({"branch": "develop", "files": ["*"]}), PAGURE),
        Ok(false)
    );
    assert_eq!(run(json!({"branch": "master"}), BUILD), Ok(false));
}

#[test]
fn samples_hold() {
    check_samples(&MODULE).unwrap_or_else(|e| panic!("{e}"));
}
