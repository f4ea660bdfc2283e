//! The community families against their definitions (fedmsg_meta_fedora_infrastructure's
//! processors and the fedora-messaging schema packages), on cases the differential check
//! found them to disagree.

use fmn_rules::MODULE;
use fmn_rules_sdk::testing::{keys, text};
use serde_json::json;

fn fedmsg(topic: &str, body: serde_json::Value) -> String {
    json!({
        "topic": format!("org.fedoraproject.prod.{topic}"),
        "msg": body,
        "msg_id": "2024-0000",
        "timestamp": 1_500_000_000,
        "i": 1,
        "username": "apache",
    })
    .to_string()
}

fn schema(topic: &str, body: serde_json::Value) -> String {
    json!({"topic": topic, "body": body, "headers": {}}).to_string()
}

#[test]
fn wiki_edit_names_the_editor_lower_cased() {
    // mediawiki.py: `set([user.lower()])`, so a group filter names `ralph`, not `Ralph`.
    let m = fedmsg(
        "wiki.article.edit",
        json!({"user": "Ralph", "title": "Messaging SIG", "url": "http://x.org/w", "diff_url": "d"}),
    );
    assert_eq!(keys(&MODULE, "usernames", &m).unwrap(), ["ralph"]);
    assert_eq!(
        text(&MODULE, "agent", &m).unwrap().as_deref(),
        Some("ralph")
    );
    assert_eq!(
        text(&MODULE, "summary", &m).unwrap().as_deref(),
        Some("Ralph made a wiki edit to \"Messaging SIG\"")
    );
    assert_eq!(
        text(&MODULE, "link", &m).unwrap().as_deref(),
        Some("https://x.org/w")
    );
}

#[test]
fn wiki_upload_names_the_uploader_lower_cased() {
    let m = fedmsg(
        "wiki.upload.complete",
        json!({"user_text": "Ralph", "title": {"mPrefixedText": "File:a.png"}, "description": "d"}),
    );
    assert_eq!(keys(&MODULE, "usernames", &m).unwrap(), ["ralph"]);
}

#[test]
fn schema_wiki_edit_lower_cases_only_the_user_page() {
    // mediawiki-messages: the agent as written, the owner of a `User:` page lower-cased.
    let m = schema(
        "wiki.article.edit",
        json!({"title": "User:SomeUser", "summary": "s", "minor_edit": false, "user": "Dummy",
               "diff_url": "https://d", "page_url": "https://p"}),
    );
    assert_eq!(
        keys(&MODULE, "usernames", &m).unwrap(),
        ["Dummy", "someuser"]
    );
    assert_eq!(
        text(&MODULE, "long_text", &m).unwrap().as_deref(),
        Some(
            "Wiki page User:SomeUser was edited by Dummy\nSummary: s\nPage: https://p\nDiff: https://d\n"
        )
    );
}

#[test]
fn schema_elections_summary_and_link() {
    let m = schema(
        "fedora_elections.candidate.new",
        json!({"agent": "ralph", "election": {"shortdesc": "F40 FESCo", "alias": "f40-fesco",
               "url": "https://e/f40"}, "candidate": {"name": "Kevin", "fas_name": "kevin"}}),
    );
    assert_eq!(
        text(&MODULE, "summary", &m).unwrap().as_deref(),
        Some("ralph added candidate \"Kevin\" (kevin) for election \"F40 FESCo\" (f40-fesco)")
    );
    assert_eq!(keys(&MODULE, "usernames", &m).unwrap(), ["kevin", "ralph"]);
    assert_eq!(
        text(&MODULE, "link", &m).unwrap().as_deref(),
        Some("https://e/f40")
    );
}

#[test]
fn mailman_str_prints_the_date_as_python() {
    let m = schema(
        "mailman.receive",
        json!({"mlist": {"list_name": "devel", "fqdn_listname": "devel@lists.fp.org",
               "list_id": "devel.lists.fp.org"},
               "msg": {"from": "A <a@b.org>", "date": "Mon, 20 Nov 1995 19:12:08 -0500",
                       "subject": "it's"}}),
    );
    assert_eq!(
        text(&MODULE, "long_text", &m).unwrap().as_deref(),
        Some(
            "From: a@b.org\nDate: 1995-11-20 19:12:08-05:00\nList-Id: devel.lists.fp.org\nSubject: it's\n"
        )
    );
    assert_eq!(
        text(&MODULE, "summary", &m).unwrap().as_deref(),
        Some("someone wrote \"it's\" to the devel list")
    );
}
