//! The example rule modules of examples/rules, as build.rs builds them to wasm, in a real
//! worker process: each is the one module of the worker's rules directory, a user's filter
//! uses its rule, and two corpus messages go through Redis: the one the rule matches reaches
//! the user through the email sender, the other notifies nobody.

use std::path::Path;

use fmn_core::Envelope;

use crate::cli::{configured, run, spawn, terminate, text};
use crate::prefs_live::drained;
use crate::support::fixtures::{EXAMPLE_BRANCH_WATCH, EXAMPLE_PACKAGE_WATCH, EXAMPLE_SIG_WATCH};
use crate::support::{RedisServer, fixture};

/// An example module and the messages it is tried on.
struct Example {
    /// The module's wasm.
    wasm: &'static [u8],
    /// The rule, as preferences name it.
    rule: &'static str,
    /// Its arguments, an inline TOML table.
    args: &'static str,
    /// The `msg_id` of a corpus message (tests/fixtures/corpus/bench_messages.jsonl) the rule
    /// matches, and of one it does not.
    matching: &'static str,
    other: &'static str,
}

/// The only user: one email filter, the example's rule.
fn preferences(e: &Example) -> String {
    format!(
        r#"[users.packager.channels.email]
addresses = ["packager@example.org"]
filters = [{{ name = "example", rules = [{{ rule = "{}", args = {} }}] }}]
"#,
        e.rule, e.args
    )
}

/// The corpus message whose `msg_id` is `id`.
fn corpus_message(id: &str) -> String {
    let needle = format!(r#""msg_id": "{id}""#);
    fixture("bench_messages.jsonl")
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no message {id} in the corpus"))
        .to_owned()
}

/// Workers and sender on `redis`, email to a file; no module cache, a generous rule deadline
/// (the processes share two cores with other tests).
fn config(redis: &RedisServer) -> String {
    format!(
        "[redis]\nurl = \"{}\"\n\n[worker]\ntimeout_ms = 5000\ncache_dir = \"\"\n\n[senders.email]\nbackend = \"file\"\npath = \"fmn-out/email.jsonl\"\n",
        redis.url()
    )
}

/// The lines of the email sender's file: (user, address, message id).
fn emailed(file: &Path) -> Vec<(String, String, String)> {
    let Ok(all) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    all.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |x: &serde_json::Value| x.as_str().unwrap().to_owned();
            (s(&v["user"]), s(&v["address"]), s(&v["message"]["id"]))
        })
        .collect()
}

async fn notifies_the_match_only(e: Example) {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("rules")).unwrap();
    std::fs::write(d.join("rules/example.wasm"), e.wasm).unwrap();
    std::fs::write(d.join("prefs.toml"), preferences(&e)).unwrap();
    let (matching, other) = (corpus_message(e.matching), corpus_message(e.other));
    std::fs::write(d.join("messages.jsonl"), format!("{matching}\n{other}\n")).unwrap();
    let id = Envelope::from_bus_json(matching.as_bytes(), 1 << 20)
        .unwrap()
        .id;

    let with = configured(d, &config(&redis));
    let worker = spawn(&mut with(&[
        "worker",
        "--prefs",
        "prefs.toml",
        "--rules",
        "rules",
    ]));
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let out = run(&mut with(&["consume", "--messages", "messages.jsonl"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Delivered notifications are deleted from the out queue, so the queue says nothing of
    // them; once both messages are evaluated and the queue is empty, the sender's file holds
    // every notification there was.
    let t = redis.transport().await;
    drained(&t, 2, |q| q == "out:email").await;
    assert_eq!(
        emailed(&d.join("fmn-out/email.jsonl")),
        [("packager".into(), "packager@example.org".into(), id)],
        "{}",
        e.rule
    );
    let out = terminate(worker);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("fmn worker: processed 2 messages, wrote 1 notifications"),
        "{said}"
    );
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Builds of watched packages, EPEL excluded: eclipse-ptp's Fedora 19 build is sent, the
/// EPEL 7 build of ansible (watched too) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_watch_sends_watched_builds_but_not_the_excluded() {
    notifies_the_match_only(Example {
        wasm: EXAMPLE_PACKAGE_WATCH,
        rule: "package_watch::package_builds",
        args: r#"{ packages = ["eclipse-*", "ansible"], except_dists = ["el7"] }"#,
        matching: "2013-573a5d07-e8b8-526d-b720-500119748c7f",
        other: "2015-6395fb7a-e5a7-4b95-858a-ff7b80410e7f",
    })
    .await;
}

/// A keyed rule, answered from the worker's index of its extractor's keys: Koschei's news of
/// rnv reaches the `xml` group's member; the same news without groups does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sig_watch_notifies_a_group_member_through_its_keyed_rule() {
    notifies_the_match_only(Example {
        wasm: EXAMPLE_SIG_WATCH,
        rule: "sig_watch::koschei_group",
        args: r#"{ group = "xml" }"#,
        matching: "2014-45d99116-f93e-45ef-8611-04fa2eabbb82-dup1",
        other: "2014-45d99116-f93e-45ef-8611-04fa2eabbb82-dup3",
    })
    .await;
}

/// A rule on the module's own extractors: valgrind's spec change on master is sent, ember's
/// patch-only push to master is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_watch_uses_its_own_extractors() {
    notifies_the_match_only(Example {
        wasm: EXAMPLE_BRANCH_WATCH,
        rule: "branch_watch::pushes_to_branch",
        args: r#"{ branch = "master", files = ["*.spec"] }"#,
        matching: "2012-175b3410-48a7-571d-8f1a-e96208556ac5",
        other: "2012-9f839bca-804c-5512-9216-b1758eb0d199",
    })
    .await;
}
