//! The `fmn` binary, as a user runs it: the embedded default, bad files, and the distributed
//! form with consumer, workers and sender as separate processes on Redis.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use fmn_core::ChannelKind;

use crate::bad_input::bad_lines;
use crate::pipeline::{corpus_messages, predict, preferences};
use sha2::Digest as _;

use crate::support::{RedisServer, SmtpSink, root, wait_until, wasm_variant};

pub(crate) fn fmn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fmn"));
    c.env_remove("FMN_CONFIG").env("FMN_LOG", "warn");
    c
}

/// Writes `toml` as `dir/fmn.toml`; the returned maker gives `fmn --config dir/fmn.toml ARGS`
/// run in `dir`.
pub(crate) fn configured<'a>(
    dir: &'a std::path::Path,
    toml: &str,
) -> impl Fn(&[&str]) -> Command + 'a {
    let config = dir.join("fmn.toml");
    std::fs::write(&config, toml).expect("writing fmn.toml");
    move |args: &[&str]| {
        let mut c = fmn();
        c.arg("--config").arg(&config).args(args).current_dir(dir);
        c
    }
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("fmn runs")
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_without_arguments_replays_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(fmn().arg("run").current_dir(dir.path()));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.starts_with("fmn run: 887 messages in "), "{stdout}");
    assert!(
        stdout.contains("887 dispatched, 0 dead-lettered"),
        "{stdout}"
    );
    for (channel, want_digests) in [("email", true), ("irc", false)] {
        let file = dir.path().join("fmn-out").join(format!("{channel}.jsonl"));
        // A line is one delivery, or a digest of several.
        let (mut sent, mut digests) = (0, 0);
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v.get("digest").and_then(|d| d.as_array()) {
                Some(items) => {
                    assert_eq!(v["user"], "pingou", "the sample's one digest user");
                    sent += items.len();
                    digests += 1;
                }
                None => sent += 1,
            }
        }
        assert!(sent > 0);
        // pingou collects email in digests of 20: the rest of his is sent when the run ends.
        assert_eq!(digests > 0, want_digests, "{channel}: {digests} digests");
        assert!(
            stdout.contains(&format!("{channel:<8} {sent:>6} sent ({digests} digests), 0 duplicates skipped, 0 dead-lettered -> fmn-out/{channel}.jsonl")),
            "{stdout}"
        );
    }
}

/// Notifications name their message by default; `notification_message = "whole"` carries its
/// body too, as the bus sent it.
#[test]
fn notifications_carry_the_message_whole_only_when_asked() {
    let bodies: std::collections::HashMap<String, serde_json::Value> =
        crate::support::fixture("bench_messages.jsonl")
            .lines()
            .filter_map(|l| fmn_core::Envelope::from_bus_json(l.as_bytes(), 1 << 20).ok())
            .map(|e| (e.id, serde_json::from_str(e.body.get()).unwrap()))
            .collect();
    for (copy, whole) in [("reference", false), ("whole", true)] {
        let dir = tempfile::tempdir().unwrap();
        let with = configured(
            dir.path(),
            &format!("[worker]\nnotification_message = \"{copy}\"\n"),
        );
        let out = run(&mut with(&["run"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines = std::fs::read_to_string(dir.path().join("fmn-out/email.jsonl")).unwrap();
        let mut checked = 0;
        for line in lines.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            // A line is one notification, or a digest of several.
            let each = match v["digest"].as_array() {
                Some(held) => held.clone(),
                None => vec![v],
            };
            for n in each {
                let m = &n["message"];
                let id = m["id"].as_str().unwrap();
                assert!(m["topic"].as_str().is_some_and(|t| !t.is_empty()), "{line}");
                match whole {
                    true => assert_eq!(&m["body"], &bodies[id], "{copy}: {line}"),
                    false => assert!(m.get("body").is_none() && m.get("headers").is_none()),
                }
                checked += 1;
            }
        }
        assert!(checked > 300, "{copy}: {checked} notifications");
    }
}

#[test]
fn run_reports_malformed_lines_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = bad_lines();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    let out = run(fmn()
        .args(["run", "--messages", "input.jsonl", "--json"])
        .current_dir(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            summary["messages_in"].as_u64(),
            summary["dead_lettered"].as_u64()
        ),
        (Some(8), Some(6))
    );
    let stderr = text(&out.stderr);
    for (origin, reason) in expected {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{origin}: not a bus message, dead-lettered: ")))
            .unwrap_or_else(|| panic!("{origin} in {stderr}"));
        assert!(line.contains(&reason), "{line}");
    }
}

#[test]
fn prefs_check_lists_every_problem_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [
  { name = "mine", rules = [{ rule = "fedora::user_filter", args = { nick = "ralph" } }] },
  { name = "typo", rules = [{ rule = "fedora::pakage_filter", args = { package = "vim" } }] },
]
[users.bob.channels.irc]
filters = [{ name = "koji", rules = [{ rule = "fedora::category", args = { category = "buildsys" } }] }]
"#,
    )
    .unwrap();
    let out = run(fmn().args(["prefs", "check"]).arg(&bad));
    assert_eq!(out.status.code(), Some(2), "problems found: exit code 2");
    let stdout = text(&out.stdout);
    let name = bad.display();
    assert_eq!(
        stdout,
        format!(
            "{name}: 3 problem(s):\n  \
             user \"bob\", channel irc: the channel is enabled and has active filters, but no address\n  \
             user \"ralph\", channel email, filter #1 \"mine\", rule #1 \"fedora::user_filter\": invalid arguments {{\"nick\":\"ralph\"}}: unknown argument(s) nick (this rule takes: fasnick)\n  \
             user \"ralph\", channel email, filter #2 \"typo\", rule #1 \"fedora::pakage_filter\": module fedora has no rule \"pakage_filter\" (did you mean package_filter?)\n"
        )
    );

    let out = run(fmn().args(["prefs", "check", "--json"]).arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["ok"], false);
    let problems = found["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3);
    assert_eq!(
        problems[2]["location"],
        serde_json::json!({"user": "ralph", "channel": "email", "filter": [2, "typo"],
            "rule": [1, "fedora::pakage_filter"]})
    );

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[users.ralph\nfilters = 3\n").unwrap();
    let out = run(fmn().args(["prefs", "check"]).arg(&broken));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).starts_with(&format!(
        "{}: invalid TOML preferences: TOML parse error at line 1",
        broken.display()
    )));

    let out = run(fmn()
        .args(["prefs", "check"])
        .arg(root().join("examples/prefs.toml")));
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains(": ok: 4 users"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn rules_list_describes_the_bundled_module() {
    let out = run(fmn().args(["rules", "list"]));
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("module fedora 0.1.0 (ABI 1):"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fedora::user_filter(fasnick: string): Messages that involve a given user"),
        "{stdout}"
    );
    let md = text(&run(fmn().args(["rules", "list", "--markdown"])).stdout);
    let committed = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    assert_eq!(
        md, committed,
        "docs/rules.md is out of date: regenerate it with `fmn rules list --markdown`"
    );
}

pub(crate) fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fmn starts")
}

pub(crate) fn terminate(mut child: Child) -> Output {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "fmn did not stop within 30 s of SIGTERM; its stderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_workers_and_sender_as_separate_processes_on_redis() {
    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let messages = corpus_messages(300);
    let prefs = preferences(&messages);
    let expected: BTreeSet<String> = predict(&prefs, &messages)
        .into_keys()
        .filter(|k| k.2 == ChannelKind::Email)
        .map(|k| fmn_core::delivery_id(&k.0, &k.1, k.2))
        .collect();
    assert!(expected.len() > 50);
    let prefs_file = dir.path().join("prefs.json");
    std::fs::write(&prefs_file, serde_json::to_string(&prefs).unwrap()).unwrap();
    let messages_file = dir.path().join("messages.jsonl");
    std::fs::write(&messages_file, messages.join("\n")).unwrap();
    let config = dir.path().join("fmn.toml");
    std::fs::write(
        &config,
        format!(
            // Generous rule deadlines: this test shares two cores with the others, and a
            // starved rule call that times out would count as no match (see the guarantees).
            "[redis]\nurl = \"{}\"\nnamespace = \"it\"\n\n[worker]\ntimeout_ms = 5000\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"fmn <fmn@example.org>\"\n",
            redis.url(),
            smtp.port
        ),
    )
    .unwrap();
    let with = |args: &[&str]| {
        let mut c = fmn();
        c.arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(dir.path());
        c
    };
    let p = prefs_file.to_str().unwrap();
    let workers = [
        spawn(&mut with(&["worker", "--prefs", p, "--threads", "2"])),
        spawn(&mut with(&["worker", "--prefs", p])),
    ];
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    // The consumer holds messages until workers are live, so no wait is needed here.
    let out = run(&mut with(&[
        "consume",
        "--messages",
        messages_file.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "fmn consume: {}: 300 messages read, 300 dispatched, 0 dead-lettered",
            messages_file.display()
        )
    );
    wait_until(
        Duration::from_secs(120),
        "every email delivered",
        async || smtp.mails().len() >= expected.len(),
    )
    .await;
    std::thread::sleep(Duration::from_millis(500));

    let mut processed = 0;
    for w in workers {
        let out = terminate(w);
        assert!(out.status.success(), "{}", text(&out.stderr));
        for line in text(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("fmn worker: processed "))
        {
            processed += line["fmn worker: processed ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
    }
    assert_eq!(
        processed, 300,
        "three worker loops in two processes shared the 300 messages"
    );
    let out = terminate(sender);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains(&format!(
        "fmn send: {} sent, 0 duplicates skipped, 0 retries scheduled, 0 dead-lettered, 0 spent one-shot",
        expected.len()
    )));

    let got: BTreeSet<String> = smtp
        .mails()
        .iter()
        .map(|m| {
            m.header("Message-ID")
                .unwrap()
                .trim_start_matches('<')
                .split('.')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(smtp.mails().len(), expected.len(), "no duplicates");
    assert_eq!(got, expected);
    assert!(
        !Path::new(&dir.path().join("fmn-out")).exists(),
        "email went to SMTP, not to a file"
    );
}

/// `fmn worker` given no preferences (no `--prefs`, no `[worker] prefs`, preferences not from
/// Redis) refuses to start, naming the flag and the keys, rather than run the bundled example
/// (whose users are real people); `fmn run` alone falls back to the example.
#[test]
fn worker_without_preferences_refuses_to_start() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    for args in [&["worker"][..], &["worker", "--prefs-from", "file"]] {
        let out = run(&mut with(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        let named = [
            "no preferences to evaluate with: give --prefs FILE",
            "[worker] prefs ",
            "[worker] prefs_from = \"redis\"",
        ];
        for wanted in named {
            assert!(stderr.contains(wanted), "{args:?}: {stderr}");
        }
    }
}

/// `fmn send` for a channel with no `[senders.CHANNEL]` refuses to start, naming the table to
/// add, before it connects anywhere (the Redis configured here listens nowhere) and without
/// writing a file in place of the deliveries; `fmn run` alone falls back to files.
#[test]
fn send_without_a_configured_sender_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), "[redis]\nurl = \"redis://127.0.0.1:1\"\n");
    let out = run(&mut with(&["send", "--channel", "email"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "no sender configured for channel email: add [senders.email] to the configuration"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Redis"), "{stderr}");
    assert!(!dir.path().join("fmn-out").exists());
}

/// `fmn rules publish`, `status` and `unpublish` against two worker processes on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_publish_status_and_unpublish_reach_every_worker() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bundled = crate::support::fixtures::BUNDLED;
    let variant = dir.path().join("fedora-v2.wasm");
    std::fs::write(&variant, wasm_variant(bundled, "v2")).unwrap();
    let variant_sha = hex::encode(sha2::Sha256::digest(wasm_variant(bundled, "v2")));
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, &bundled[..1000]).unwrap();
    let with = |args: &[&str]| {
        let mut c = fmn();
        c.env("FMN__REDIS__URL", redis.url())
            .env("FMN__WORKER__CACHE_DIR", dir.path().join("cache"))
            .env("FMN__WORKER__RELOAD_MS", "200")
            .args(args);
        c
    };
    let status = || -> serde_json::Value {
        let out = run(&mut with(&["rules", "status", "--json"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // `fmn worker` needs preferences: the example's, as `fmn run` would take.
    let example = root().join("examples/prefs.toml");
    let example = example.to_str().unwrap();
    let workers = [
        spawn(&mut with(&["worker", "--prefs", example])),
        spawn(&mut with(&["worker", "--prefs", example, "--threads", "2"])),
    ];
    wait_until(Duration::from_secs(60), "three live workers", async || {
        status()["workers"].as_array().unwrap().len() == 3
    })
    .await;

    let out = run(&mut with(&["rules", "publish", variant.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("published fedora@{} ", &variant_sha[..12])),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(": runs it (generation 2)").count(),
        3,
        "{stdout}"
    );
    let s = status();
    assert_eq!(s["published"]["fedora"], variant_sha.as_str());
    for w in s["workers"].as_array().unwrap() {
        assert_eq!(w["generation"], 2);
        assert_eq!(w["rules"]["modules"][0]["sha256"], variant_sha.as_str());
    }
    // A worker started now begins with the published version.
    let late = spawn(&mut with(&["worker", "--prefs", example, "--workers", "1"]));
    wait_until(
        Duration::from_secs(60),
        "a fourth live worker",
        async || status()["workers"].as_array().unwrap().len() == 4,
    )
    .await;
    let late_status = status();
    let late_worker = late_status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["generation"] == 1)
        .expect("the late worker, at generation 1");
    assert_eq!(
        late_worker["rules"]["modules"][0]["sha256"],
        variant_sha.as_str()
    );
    assert!(terminate(late).status.success());
    wait_until(
        Duration::from_secs(30),
        "the late worker gone",
        async || status()["workers"].as_array().unwrap().len() == 3,
    )
    .await;

    // A broken module is not published, unless forced; then every worker refuses it.
    let out = run(&mut with(&["rules", "publish", broken.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1), "not published: a failure");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: invalid wasm module", broken.display()))
            && stderr.contains("not published"),
        "{stderr}"
    );
    let out = run(&mut with(&[
        "rules",
        "publish",
        broken.to_str().unwrap(),
        "--force",
        "--name",
        "fedora",
        "--json",
    ]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "refused by workers: problems found"
    );
    let rollout: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rollout["module"], "fedora");
    let uptake = rollout["workers"].as_array().unwrap();
    assert_eq!(uptake.len(), 3, "{rollout}");
    assert!(
        uptake
            .iter()
            .all(|u| u["outcome"] == "refused" && u["reason"].as_str().is_some()),
        "{rollout}"
    );
    for w in status()["workers"].as_array().unwrap() {
        assert_eq!(w["generation"], 2, "the previous version keeps running");
        assert_eq!(w["rules"]["modules"][0]["sha256"], variant_sha.as_str());
    }
    let out = run(&mut with(&["rules", "status"]));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("refused fedora@"), "{stdout}");

    // Withdrawn: back to the bundled module.
    let out = run(&mut with(&["rules", "unpublish", "fedora"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until(
        Duration::from_secs(30),
        "the bundled module back",
        async || {
            status()["workers"].as_array().unwrap().iter().all(|w| {
                w["generation"] == 3
                    && w["rules"]["modules"][0]["origin"] == "bundled:fmn_rules.wasm"
            })
        },
    )
    .await;
    let out = run(&mut with(&["rules", "unpublish", "fedora"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("fedora is not published"));
    for w in workers {
        assert!(terminate(w).status.success());
    }
}

/// A rule author's path: `fmn rules new`, `cargo test`, `fmn rules build`, `fmn rules test`;
/// then a change that breaks the module's own samples is refused at build.
#[test]
fn rules_new_build_and_test_a_scaffolded_crate() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("probe");
    let out = run(fmn()
        .args(["rules", "new", "probe-rules", "--path"])
        .arg(&krate));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The workspace's lock pins the versions, so the build needs no network.
    std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let env = [
        ("CARGO_NET_OFFLINE", "true".to_owned()),
        (
            "CARGO_TARGET_DIR",
            dir.path().join("target").display().to_string(),
        ),
    ];
    let out = Command::new(&cargo)
        .args(["test", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .envs(env.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("test result: ok. 2 passed"));

    let wasm = dir.path().join("probe.wasm");
    let out = run(fmn()
        .args(["rules", "build"])
        .arg(&krate)
        .arg("-o")
        .arg(&wasm)
        .envs(env.clone()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("module probe_rules with 2 rules, 1 extractors; 4 samples hold"),
        "{}",
        text(&out.stdout)
    );

    let messages = dir.path().join("m.jsonl");
    std::fs::write(
        &messages,
        [
            r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "a", "msg": {"owner": "ralph", "name": "nethack", "new": 3}}"#,
            r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "b", "msg": {"owner": "ralph", "name": "nethack", "new": 1}}"#,
            r#"{"topic": "org.fedoraproject.prod.bodhi.update.comment", "msg_id": "c", "msg": {"new": 3}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let test = |extra: &[&str]| -> serde_json::Value {
        let out = run(fmn()
            .args(["rules", "test"])
            .arg(&wasm)
            .arg("--messages")
            .arg(&messages)
            .args(extra)
            .arg("--json"));
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = test(&[]);
    assert_eq!(r["messages"], 3);
    assert_eq!(r["matches"], serde_json::json!({"build_failed": 1}));
    assert_eq!(r["untested"], serde_json::json!(["package_build_failed"]));
    assert_eq!(r["results"][0]["id"], "a");
    assert_eq!(
        r["results"][0]["extracted"]["owners"],
        serde_json::json!(["ralph"])
    );
    let r = test(&[
        "--rule",
        "package_build_failed",
        "--args",
        r#"{"package": "nethack"}"#,
    ]);
    assert_eq!(r["matches"], serde_json::json!({"package_build_failed": 1}));
    let r = test(&[
        "--rule",
        "package_build_failed",
        "--args",
        r#"{"package": "other"}"#,
    ]);
    assert_eq!(r["matches"], serde_json::json!({"package_build_failed": 0}));
    // A line that is not a bus message is a problem found: exit code 2, the line named.
    let with_bad = dir.path().join("with-bad.jsonl");
    std::fs::write(
        &with_bad,
        format!(
            "{}\nnot json\n",
            std::fs::read_to_string(&messages).unwrap()
        ),
    )
    .unwrap();
    let out = run(fmn()
        .args(["rules", "test"])
        .arg(&wasm)
        .arg("--messages")
        .arg(&with_bad)
        .arg("--json"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["messages"], 3);
    let unreadable = r["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(
        unreadable[0]
            .as_str()
            .unwrap()
            .contains("with-bad.jsonl:4: "),
        "{r}"
    );
    let out = run(fmn()
        .args(["rules", "test"])
        .arg(&wasm)
        .arg("--messages")
        .arg(&messages)
        .args([
            "--rule",
            "package_build_failed",
            "--args",
            r#"{"pkg": "x"}"#,
        ]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("rule package_build_failed: invalid arguments"),
        "{}",
        text(&out.stderr)
    );

    // The rule changes, its samples no longer hold: the module is refused.
    let lib = krate.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, code.replace("== Some(3)", "== Some(4)")).unwrap();
    // Given as a relative path this time, as a user in the crate's parent directory would.
    let out = run(fmn()
        .args(["rules", "build", "probe"])
        .current_dir(dir.path())
        .envs(env));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "probe_rules.wasm: sample #1 of rule build_failed: expected a match on org.fedoraproject.prod.buildsys.build.state.change, got no match"
        ),
        "{stderr}"
    );
}

/// `fmn bench pipeline --json` with `--keep` in `dir`; its report.
fn bench_pipeline(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run(fmn()
        .args(["bench", "pipeline", "--users", "200", "--messages", "2000"])
        .args(["--json", "--keep", "inputs"])
        .args(extra)
        .current_dir(dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Its stages are reported in order, and its notifications are those `fmn run` makes of the
/// same generated inputs, and the lines the senders wrote.
fn check_bench_pipeline(dir: &Path, report: &serde_json::Value) {
    let secs = |k: &str| report[k].as_f64().unwrap_or(-1.0);
    for stage in ["startup_seconds", "evaluated_seconds", "peak_rss_mib"] {
        assert!(secs(stage) > 0.0, "{stage}: {report}");
    }
    assert!(
        secs("evaluated_seconds") <= secs("written_seconds"),
        "{report}"
    );
    assert!(
        secs("written_seconds") <= secs("drained_seconds"),
        "{report}"
    );
    assert!(secs("drained_seconds") < secs("total_seconds"), "{report}");
    let n = report["notifications"].as_u64().unwrap();
    assert!(n > 100, "{report}");
    assert_eq!(report["sent"].as_u64(), Some(n), "{report}");
    assert!(secs("notifications_per_second") > 0.0, "{report}");
    assert!(secs("rss_after_startup_mib") > 0.0, "{report}");
    // The sample's notifications, against the prediction made without the pipeline.
    let sample = &report["prediction"];
    assert!(sample["users"].as_u64() > Some(50), "{report}");
    assert!(sample["predicted"].as_u64() > Some(100), "{report}");
    assert_eq!(sample["delivered"], sample["predicted"], "{report}");

    let inputs = dir.join("inputs");
    let written: usize = ["email", "irc"]
        .iter()
        .map(|c| std::fs::read_to_string(inputs.join(format!("out/{c}.jsonl"))).unwrap())
        .map(|t| t.lines().count())
        .sum();
    assert_eq!(written as u64, n, "lines the senders wrote");

    let out = run(fmn()
        .args([
            "run",
            "--messages",
            "messages.jsonl",
            "--prefs",
            "prefs.json",
        ])
        .args(["--owners", "owners.json", "--out", "run-out", "--json"])
        .current_dir(&inputs));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["messages_in"].as_u64(), report["messages"].as_u64());
    let sent: u64 = summary["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, n, "fmn run on the same inputs: {summary}");
}

#[test]
fn bench_pipeline_in_memory_reports_stages_and_the_notifications_fmn_run_makes() {
    let dir = tempfile::tempdir().unwrap();
    let report = bench_pipeline(dir.path(), &[]);
    assert_eq!(report["transport"], "in-memory");
    check_bench_pipeline(dir.path(), &report);
}

#[test]
fn bench_pipeline_on_redis_reports_stages_and_the_notifications_fmn_run_makes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let report = bench_pipeline(dir.path(), &["--redis", &redis.url()]);
    assert_eq!(report["transport"], "redis");
    check_bench_pipeline(dir.path(), &report);
}

/// Operator conventions: a command that would act on a default the operator did not choose
/// refuses, naming what to give, before it connects anywhere (Redis on port 1 would fail).
#[test]
fn consume_without_a_source_refuses_before_connecting() {
    let out = run(fmn().args(["consume", "--redis", "redis://127.0.0.1:1"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no source of messages: give --messages FILE")
            && stderr.contains("[amqp] url"),
        "{stderr}"
    );
}

/// Values with a closed set are listed in `--help` and refused before connecting.
#[test]
fn closed_values_are_listed_and_checked_first() {
    let out = run(fmn().args([
        "consume",
        "--dispatch",
        "roundrobin",
        "--messages",
        "-",
        "--redis",
        "redis://127.0.0.1:1",
    ]));
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid value 'roundrobin' for '--dispatch")
            && stderr.contains("[possible values: random, p2c, shared]"),
        "{stderr}"
    );
    for (args, listed) in [
        (
            &["consume", "--help"][..],
            "[possible values: random, p2c, shared]",
        ),
        (
            &["dead", "list", "--help"],
            "[possible values: consumer, worker, sender]",
        ),
        (
            &["prefs", "set", "--help"],
            "[possible values: email, irc, push, matrix]",
        ),
    ] {
        let help = text(&run(fmn().args(args)).stdout);
        assert!(help.contains(listed), "{args:?}: {help}");
    }
    // An old name of a channel still reads.
    let out = run(fmn().args([
        "prefs",
        "set",
        "alice",
        "--enable",
        "gcm",
        "--redis",
        "redis://127.0.0.1:1",
    ]));
    assert!(
        !text(&out.stderr).contains("invalid value"),
        "{}",
        text(&out.stderr)
    );
}

/// `FMN__...` overrides are text read as their key's type: a numeric password stays a
/// password, a port written as text is a port.
#[test]
fn environment_overrides_take_the_type_of_their_key() {
    // `fmn prefs check` with an SMTP sender configured from the environment alone.
    let check = |extra: &[(&str, &str)]| {
        let mut c = fmn();
        c.env("FMN__SENDERS__EMAIL__BACKEND", "smtp")
            .env("FMN__SENDERS__EMAIL__HOST", "mail.example.org")
            .env("FMN__SENDERS__EMAIL__FROM", "fmn <fmn@example.org>")
            .envs(extra.iter().copied())
            .args(["prefs", "check"])
            .arg(root().join("examples/prefs.toml"));
        run(&mut c)
    };
    let out = check(&[
        ("FMN__SENDERS__EMAIL__PORT", "2525"),
        ("FMN__SENDERS__EMAIL__PASSWORD", "123456"),
        ("FMN__WORKER__RELOAD_MS", "0"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = check(&[("FMN__SENDERS__EMAIL__PORT", "smtp")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("\"smtp\" is not a number"),
        "{}",
        text(&out.stderr)
    );
}

/// `fmn run --redis` twice on one Redis delivers twice: each run has a namespace of its own
/// unless `--namespace` names one, and then the second run's are the first's duplicates.
#[test]
fn run_on_redis_takes_a_fresh_namespace_unless_told() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sent = |extra: &[&str]| {
        let out = run(fmn()
            .args(["run", "--json", "--redis", &redis.url()])
            .args(extra)
            .current_dir(dir.path()));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sent: u64 = summary["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sent"].as_u64().unwrap())
            .sum();
        (sent, text(&out.stderr))
    };
    let (first, said) = sent(&[]);
    assert!(first > 0);
    assert!(said.contains(", namespace fmn-run-"), "{said}");
    let (second, _) = sent(&[]);
    assert_eq!(
        second, first,
        "a fresh namespace: nothing taken for a duplicate"
    );
    let (named, _) = sent(&["--namespace", "mine"]);
    assert_eq!(named, first);
    let (again, _) = sent(&["--namespace", "mine"]);
    assert_eq!(
        again, 0,
        "the same namespace: the first run's deliveries are remembered"
    );
}

/// `fmn status --forget` drops the workers that are not live and hold nothing; a dead worker
/// still holding work stays listed until the janitor has handed that work over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_forgets_dead_workers_that_hold_nothing() {
    use fmn_transport::prelude::*;
    let redis = RedisServer::start();
    let t = redis.transport().await;
    for id in ["alive", "gone", "holding"] {
        t.register_worker(&fmn_transport::WorkerInfo::local(id))
            .await
            .unwrap();
    }
    t.dispatch(&[("holding".to_owned(), crate::transport::item("m1"))])
        .await
        .unwrap();
    t.deregister_worker("gone").await.unwrap();
    t.deregister_worker("holding").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let listed = |out: &Output| -> Vec<String> {
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        s["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let out = run(&mut with(&["status", "--json"]));
    assert_eq!(listed(&out), ["alive", "gone", "holding"]);
    let out = run(&mut with(&["status", "--json", "--forget"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("forgot 1 worker(s): gone"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(listed(&out), ["alive", "holding"]);
    assert_eq!(
        t.backlogs(&["holding".to_owned()]).await.unwrap()[0].entries,
        1
    );
}

/// Long runs draw progress on a terminal (here a pseudo-terminal made by util-linux's
/// `script`) and nothing when stderr is a pipe or a file.
#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let bench = format!(
        "{} bench dispatch --in-memory --messages 20000 --workers 2 --stall-messages 0 \
         --paced-messages 0 --dispatch random",
        env!("CARGO_BIN_EXE_fmn")
    );
    let on_tty = run(Command::new("script")
        .args(["-qec", &bench, "/dev/null"])
        .env("FMN_LOG", "warn"));
    assert!(on_tty.status.success(), "{}", text(&on_tty.stderr));
    assert!(
        text(&on_tty.stdout).contains("/20,000 messages dispatched"),
        "{}",
        text(&on_tty.stdout)
    );
    let piped = run(fmn().args(bench.split_whitespace().skip(1)));
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert!(
        !text(&piped.stderr).contains("messages dispatched"),
        "{}",
        text(&piped.stderr)
    );
    assert!(text(&piped.stdout).contains("random dispatch, 20000 messages"));
}

/// `RUST_LOG` sets the log filter when `FMN_LOG` is unset; `FMN_LOG` wins when both are.
#[test]
fn rust_log_is_honoured_and_fmn_log_wins() {
    let dir = tempfile::tempdir().unwrap();
    let logs = |fmn_log: Option<&str>| {
        let mut c = fmn();
        c.env_remove("FMN_LOG").env("RUST_LOG", "info");
        if let Some(f) = fmn_log {
            c.env("FMN_LOG", f);
        }
        let out = run(c.arg("run").current_dir(dir.path()));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let with_rust_log = logs(None);
    assert!(
        with_rust_log.contains(" INFO fmn_host::worker: worker registered"),
        "{with_rust_log}"
    );
    let with_both = logs(Some("warn"));
    assert!(!with_both.contains(" INFO "), "{with_both}");
}
