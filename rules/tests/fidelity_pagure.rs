//! Pagure's metadata where it once went wrong: who pushed, when the push names its pusher by
//! an address only aliases can turn into an account.

use fmn_rules::MODULE;
use fmn_rules_sdk::testing::{keys, text};
use serde_json::json;

/// A fedmsg-era pagure.io push (`_git_receive_v1`: one commit, by its committer's address).
fn push_by(email: &str) -> String {
    json!({
        "topic": "io.pagure.prod.pagure.git.receive",
        "msg_id": "2015-push",
        "timestamp": 1434213042.0,
        "msg": {"commit": {
            "agent": "git",
            "branch": "refs/heads/bleach",
            "email": email,
            "message": "Use the default attributes for bleach\n\nand then add our own",
            "summary": "Use the default attributes for bleach",
            "rev": "131e07ed2538839d509880a011cd7d55c0967171",
            "username": null,
            "repo": {"name": "pagure", "parent": null,
                     "user": {"fullname": "Pierre-Yves Chibon", "name": "pingou"}}
        }}
    })
    .to_string()
}

/// An address other than fedoraproject.org's stays a username, for the worker's aliases to
/// name; fedmsg.meta named it through its FAS cache the same way.
#[test]
fn a_push_by_another_address_names_it() {
    let msg = push_by("rbean@redhat.com");
    assert_eq!(
        keys(&MODULE, "usernames", &msg).unwrap(),
        ["rbean@redhat.com"]
    );
    assert_eq!(
        text(&MODULE, "agent", &msg).unwrap().as_deref(),
        Some("rbean@redhat.com")
    );
    assert_eq!(
        text(&MODULE, "summary", &msg).unwrap().as_deref(),
        Some(
            "rbean@redhat.com pushed to pagure (bleach). \"Use the default attributes for bleach (..more)\""
        )
    );
    assert_eq!(
        text(&MODULE, "link", &msg).unwrap().as_deref(),
        Some("https://pagure.io/pagure/131e07ed2538839d509880a011cd7d55c0967171")
    );
}

/// A fedoraproject.org address is its account.
#[test]
fn a_push_by_a_fedora_address_names_the_account() {
    let msg = push_by("pingou@fedoraproject.org");
    assert_eq!(keys(&MODULE, "usernames", &msg).unwrap(), ["pingou"]);
    assert_eq!(
        text(&MODULE, "agent", &msg).unwrap().as_deref(),
        Some("pingou")
    );
}

/// A push that names its agent is the agent's, whatever the committer's address.
#[test]
fn a_push_with_an_agent_is_the_agents() {
    let msg = json!({
        "topic": "io.pagure.prod.pagure.git.receive",
        "msg_id": "2018-push",
        "msg": {"agent": "pingou", "branch": "refs/heads/master", "total_commits": 2,
                "repo": {"name": "pagure", "namespace": null, "parent": null,
                         "user": {"name": "pingou"}}}
    })
    .to_string();
    assert_eq!(keys(&MODULE, "usernames", &msg).unwrap(), ["pingou"]);
    assert_eq!(
        text(&MODULE, "summary", &msg).unwrap().as_deref(),
        Some("pingou pushed 2 commits to pagure (master)")
    );
    assert_eq!(
        text(&MODULE, "link", &msg).unwrap().as_deref(),
        Some("https://pagure.io/pagure/tree/master")
    );
}

/// fedora-messaging's pull requests involve their author and assignee, not only the agent.
#[test]
fn a_pull_request_involves_its_author_and_assignee() {
    let msg = json!({
        "topic": "org.fedoraproject.prod.pagure.pull-request.new",
        "body": {"agent": "pingou", "pullrequest": {
            "id": 7, "title": "Fix it", "full_url": "https://pagure.io/fedora-infra/fmn/pull-request/7",
            "user": {"name": "ralph"}, "assignee": {"name": "abompard"},
            "project": {"fullname": "fedora-infra/fmn"}}}
    })
    .to_string();
    assert_eq!(
        keys(&MODULE, "usernames", &msg).unwrap(),
        ["abompard", "pingou", "ralph"]
    );
    assert_eq!(
        text(&MODULE, "summary", &msg).unwrap().as_deref(),
        Some("pingou opened a pull-request fedora-infra/fmn#7: Fix it")
    );
    assert_eq!(
        text(&MODULE, "app_name", &msg).unwrap().as_deref(),
        Some("Pagure")
    );
}

/// 2012's dist-git branches named the package and the branch in the topic only
/// (`git.branch.PACKAGE.BRANCH`): fedmsg.meta's SCMProcessor reads them from there.
#[test]
fn a_2012_branch_names_its_package_from_the_topic() {
    let msg = json!({
        "topic": "org.fedoraproject.prod.git.branch.valgrind.master", "msg_id": "b",
        "msg": {"agent": "limburgher"},
    })
    .to_string();
    assert_eq!(keys(&MODULE, "packages", &msg).unwrap(), ["valgrind"]);
    assert_eq!(keys(&MODULE, "usernames", &msg).unwrap(), ["limburgher"]);
    assert_eq!(
        text(&MODULE, "summary", &msg).unwrap().as_deref(),
        Some("limburgher created branch 'master' for the 'valgrind' package")
    );
    assert_eq!(
        text(&MODULE, "link", &msg).unwrap().as_deref(),
        Some("https://src.fedoraproject.org/rpms/valgrind/commits/master")
    );
}
