//! Ownership and group data in Redis: imported with `fmn data import`, shown with `fmn data
//! show`, kept current by the bus messages that change it, and swapped into running workers
//! without a restart.

use std::path::Path;
use std::time::Duration;

use fmn_rules_sdk::testing::keys;
use fmn_transport::RedisTransport;
use fmn_transport::Registry;

use crate::cli::{fmn, run, spawn, terminate, text};
use crate::reload::{all_notifications, processed};
use crate::support::{RedisServer, wait_until};

/// A koji build of nethack, distinct per `n`.
fn build(n: u32) -> String {
    serde_json::json!({
        "topic": "org.fedoraproject.prod.buildsys.build.state.change",
        "body": {
            "name": "nethack", "version": "3.6.7", "release": format!("{n}.fc41"),
            "build_id": 9000 + n, "task_id": 7000 + n, "owner": "someone-else",
            "instance": "primary", "old": 0, "new": 1, "epoch": null,
        }
    })
    .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// (user, message id) of every notification so far.
async fn notified(url: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all_notifications(url)
        .await
        .into_iter()
        .map(|n| (n.user, n.message.id))
        .collect();
    v.sort();
    v
}

/// The data version every live worker reports using.
async fn worker_data_versions(t: &RedisTransport) -> Vec<u64> {
    t.worker_fields()
        .await
        .unwrap()
        .values()
        .filter_map(|f| f.get("rules"))
        .map(|r| {
            serde_json::from_str::<fmn_host::RulesReport>(r)
                .unwrap()
                .data_version
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_and_bus_changed_ownership_reaches_running_workers() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        keys(&fmn_rules::MODULE, "packages", &build(1)).unwrap(),
        ["nethack"],
        "the test's build message is about nethack"
    );
    let config = write(
        d,
        "fmn.toml",
        &format!(
            "[redis]\nurl = \"{}\"\n\n[worker]\nreload_ms = 100\n",
            redis.url()
        ),
    );
    let with = |args: &[&str]| {
        let mut c = fmn();
        c.arg("--config").arg(&config).args(args).current_dir(d);
        c
    };
    let mut prefs = String::new();
    for user in ["ralph", "newu"] {
        prefs.push_str(&format!(
            "[users.{user}.channels.email]\naddresses = [\"{user}@example.org\"]\n\
             filters = [{{ name = \"my packages\", rules = [{{ rule = \"fedora::user_package_commit_filter\", args = {{ fasnick = \"{user}\" }} }}] }}]\n\n"
        ));
    }
    let prefs = write(d, "prefs.toml", &prefs);

    // Import: ralph owns nethack; the games-sig group too.
    let owners = write(
        d,
        "owners.json",
        r#"{"rpms": {"nethack": ["ralph", "@games-sig"], "vim": ["carol"]}}"#,
    );
    let groups = write(d, "groups.json", r#"{"games-sig": ["ralph", "dave"]}"#);
    let out = run(&mut with(&[
        "data", "import", "--owners", &owners, "--groups", &groups,
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("data version 1\n"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&mut with(&[
        "data",
        "show",
        "--json",
        "--package",
        "nethack",
        "--group",
        "games-sig",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["packages"]["nethack"]["committers"],
        serde_json::json!(["ralph"])
    );
    assert_eq!(
        shown["packages"]["nethack"]["group-owners"],
        serde_json::json!(["games-sig"])
    );
    assert_eq!(
        shown["groups"]["games-sig"]["members"],
        serde_json::json!(["dave", "ralph"])
    );
    assert_eq!(shown["relations"]["committers"], 2);

    // A bad file is refused before anything is written, naming the file and what is wrong.
    let bad = write(d, "bad.json", r#"{"rpms": ["nethack"]}"#);
    let out = run(&mut with(&["data", "import", "--owners", &bad]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.json: not Pagure's owner-alias JSON"),
        "{err}"
    );

    let transport = redis.transport().await;
    let worker = spawn(&mut with(&["worker", "--prefs", &prefs]));
    let consume = |name: &str, lines: &[String]| {
        let file = write(d, name, &lines.join("\n"));
        let out = run(&mut with(&["consume", "--messages", &file]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    // Build 1: ralph's package, newu not yet a committer.
    consume("b1.jsonl", &[build(1)]);
    wait_until(Duration::from_secs(60), "build 1 evaluated", async || {
        processed(&transport).await >= 1
    })
    .await;
    let after_1 = notified(&redis.url()).await;
    assert_eq!(after_1.len(), 1, "{after_1:?}");
    assert_eq!(after_1[0].0, "ralph");

    // Pagure says newu got commit access to rpms/nethack: the consumer changes the data, the
    // worker swaps it in.
    let added = serde_json::json!({
        "topic": "org.fedoraproject.prod.pagure.project.user.added",
        "body": {
            "project": {"name": "nethack", "namespace": "rpms", "fullname": "rpms/nethack"},
            "new_user": "newu", "access": "commit", "agent": "ralph",
        }
    })
    .to_string();
    let out = consume("added.jsonl", &[added]);
    assert!(
        out.trim_end()
            .ends_with("; 2 ownership and group data changes applied"),
        "{out}"
    );
    wait_until(
        Duration::from_secs(60),
        "the worker on data version 2",
        async || worker_data_versions(&transport).await == [2],
    )
    .await;
    let out = run(&mut with(&["rules", "status"]));
    assert!(
        text(&out.stdout).contains("    data version 2\n"),
        "{}",
        text(&out.stdout)
    );
    consume("b2.jsonl", &[build(2)]);
    wait_until(Duration::from_secs(60), "build 2 evaluated", async || {
        processed(&transport).await >= 3
    })
    .await;
    let id_2 = fmn_core::Envelope::from_bus_json(build(2).as_bytes(), 1 << 20)
        .unwrap()
        .id;
    // (The pagure message itself is about nethack too: ralph hears of it, and newu may,
    // depending on whether the worker had the new data by then.)
    let users: Vec<String> = notified(&redis.url())
        .await
        .into_iter()
        .filter(|(_, id)| *id == id_2)
        .map(|(u, _)| u)
        .collect();
    assert_eq!(users, ["newu", "ralph"]);

    // A new import replaces the relation whole: nobody owns nethack any more.
    let empty = write(d, "empty.json", r#"{"rpms": {"vim": ["carol"]}}"#);
    let out = run(&mut with(&["data", "import", "--owners", &empty]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until(
        Duration::from_secs(60),
        "the worker on data version 3",
        async || worker_data_versions(&transport).await == [3],
    )
    .await;
    let before = notified(&redis.url()).await.len();
    consume("b3.jsonl", &[build(3)]);
    wait_until(Duration::from_secs(60), "build 3 evaluated", async || {
        processed(&transport).await >= 4
    })
    .await;
    assert_eq!(notified(&redis.url()).await.len(), before);

    let out = terminate(worker);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The users notified by email in `fmn run`'s file output (digests unfolded).
fn emailed(out_dir: &Path) -> Vec<String> {
    let file = out_dir.join("email.jsonl");
    let mut users: Vec<String> = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["user"].as_str().map(str::to_owned))
        .collect();
    users.sort();
    users
}

/// Pagure gives packages to groups (`@python-sig`); FMN counted a group's packages as its
/// members'. A member of python-sig hears of a python-sig package's build through
/// `user_package_filter`, in the embedded mode (`fmn run --owners --groups`) and through
/// Redis (`fmn data import`), and someone outside the group does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_owners_count_for_their_members_embedded_and_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let build = serde_json::json!({
        "topic": "org.fedoraproject.prod.buildsys.build.state.change",
        "body": {
            "name": "python-requests", "version": "2.31.0", "release": "1.fc41",
            "build_id": 9001, "task_id": 7001, "owner": "someone-else",
            "instance": "primary", "old": 0, "new": 1, "epoch": null,
        }
    })
    .to_string();
    let messages = write(d, "build.jsonl", &build);
    let mut prefs = String::new();
    for user in ["alice", "bob"] {
        prefs.push_str(&format!(
            "[users.{user}.channels.email]\naddresses = [\"{user}@example.org\"]\n\
             filters = [{{ name = \"my packages\", rules = [{{ rule = \"fedora::user_package_filter\", args = {{ fasnick = \"{user}\" }} }}] }}]\n\n"
        ));
    }
    let prefs = write(d, "prefs.toml", &prefs);
    let owners = write(
        d,
        "owners.json",
        r#"{"rpms": {"python-requests": ["@python-sig"], "vim": ["bob"]}}"#,
    );
    let groups = write(d, "groups.json", r#"{"python-sig": ["alice", "carol"]}"#);

    let out = run(fmn().current_dir(d).args([
        "run",
        "--messages",
        &messages,
        "--prefs",
        &prefs,
        "--owners",
        &owners,
        "--groups",
        &groups,
        "--out",
        "embedded",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(emailed(&d.join("embedded")), ["alice"]);

    // Without the groups, alice's rule has nothing to count her in by.
    let out = run(fmn().current_dir(d).args([
        "run",
        "--messages",
        &messages,
        "--prefs",
        &prefs,
        "--owners",
        &owners,
        "--out",
        "no-groups",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(emailed(&d.join("no-groups")).is_empty());

    let redis = RedisServer::start();
    let config = write(
        d,
        "fmn.toml",
        &format!(
            "[redis]\nurl = \"{}\"\n\n[worker]\nreload_ms = 0\n",
            redis.url()
        ),
    );
    let out = run(fmn().current_dir(d).args([
        "--config", &config, "data", "import", "--owners", &owners, "--groups", &groups,
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(fmn().current_dir(d).args([
        "--config",
        &config,
        "run",
        "--redis",
        &redis.url(),
        // The namespace the data was imported into: a run's own would have none.
        "--namespace",
        "fmn",
        "--messages",
        &messages,
        "--prefs",
        &prefs,
        "--out",
        "redis",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(emailed(&d.join("redis")), ["alice"]);
}

/// Preferences that use a rule answered through data nobody loaded are warned of at start:
/// in the embedded mode, group rules would otherwise silently never match.
#[test]
fn missing_data_for_the_rules_used_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefs = write(
        d,
        "prefs.toml",
        "[users.alice.channels.email]\naddresses = [\"alice@example.org\"]\n\
         filters = [{ name = \"my group\", rules = [{ rule = \"fedora::fas_group_member_filter\", args = { group = \"python-sig\" } }] }]\n",
    );
    let messages = write(d, "none.jsonl", "");
    let out = run(fmn().current_dir(d).env("FMN_LOG", "warn").args([
        "run",
        "--messages",
        &messages,
        "--prefs",
        &prefs,
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("fedora::fas_group_member_filter")
            && err.contains("no `groups` data is loaded")
            && err.contains("--groups FILE"),
        "{err}"
    );
    let groups = write(d, "groups.json", r#"{"python-sig": ["alice"]}"#);
    let out = run(fmn().current_dir(d).args([
        "run",
        "--messages",
        &messages,
        "--prefs",
        &prefs,
        "--groups",
        &groups,
    ]));
    assert!(
        !text(&out.stderr).contains("no `groups` data"),
        "{}",
        text(&out.stderr)
    );
}
