//! Preferences kept in Redis (`fmn prefs import|set|show|export`) and followed live by worker
//! processes: a message dispatched after `fmn prefs set` (or the web API's PUT) returned is
//! evaluated with the new preferences, on every worker, even when announcements are lost.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_transport::RedisTransport;
use fmn_transport::{PrefsStore, Registry};

use crate::cli::{configured, run, spawn, terminate, text};
use crate::reload::{all_notifications, processed, reports};
use crate::support::{RedisServer, wait_until};

/// The web service's API for alice's preferences, with an admin token.
struct Api {
    url: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    /// Replaces alice's preferences by those of `step`, as a script on the API would: read
    /// them with their version, then write them naming it; a 503 (the service's connection
    /// to Redis was cut, below) is tried again, as its answer says to.
    async fn set_alice(&self, step: usize) {
        let prefs =
            fmn_core::prefs::Preferences::from_text("step.toml", &alice(step), false).unwrap();
        let new = serde_json::to_value(&prefs.users["alice"]).unwrap();
        for _ in 0..20 {
            let read = self
                .client
                .get(&self.url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            if read.status().as_u16() == 503 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let read: serde_json::Value = read.json().await.unwrap();
            let change = serde_json::json!({"version": read["version"], "preferences": new});
            let r = self
                .client
                .put(&self.url)
                .bearer_auth(&self.token)
                .json(&change)
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                200 => return,
                503 => tokio::time::sleep(Duration::from_millis(100)).await,
                s => panic!("step {step}: {s} {}", r.text().await.unwrap()),
            }
        }
        panic!("step {step}: the API kept answering 503");
    }
}

/// Alice's preferences at `step`: one email filter matching only topic `org.test.step{step}`.
fn alice(step: usize) -> String {
    format!(
        r#"[users.alice.channels.email]
addresses = ["alice@example.org"]

[[users.alice.channels.email.filters]]
name = "step {step}"
rules = [{{ rule = "fedora::topic", args = {{ glob = "org.test.step{step}" }} }}]
"#
    )
}

/// Bob wants the steady stream of background messages, so workers are busy throughout.
const BOB: &str = r#"[users.bob.channels.irc]
addresses = ["bob"]

[[users.bob.channels.irc.filters]]
name = "noise"
rules = [{ rule = "fedora::topic", args = { glob = "org.test.noise" } }]
"#;

/// The ids of the messages alice was notified of so far (her only channel is email).
async fn alice_notified(conn: &mut redis::aio::MultiplexedConnection) -> BTreeSet<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("fmn:out:email")
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap();
    entries
        .iter()
        .flat_map(|(_, fields)| fields.iter().filter(|(k, _)| k == "d"))
        .map(|(_, d)| {
            let n: fmn_core::Notification = serde_json::from_str(d).unwrap();
            n.message.id
        })
        .collect()
}

/// Workers on preferences from Redis. Many processes share two cores here: a generous rule
/// deadline keeps CPU starvation from failing rules, which is not what these tests are about.
fn live_config(redis: &RedisServer) -> String {
    format!(
        "[redis]\nurl = \"{}\"\nreclaim_ms = 500\n\n[worker]\nprefs_from = \"redis\"\nreload_ms = 1000\ntimeout_ms = 5000\n\n[senders.email]\nbackend = \"file\"\npath = \"fmn-out/email.jsonl\"\n\n[senders.irc]\nbackend = \"file\"\npath = \"fmn-out/irc.jsonl\"\n",
        redis.url()
    )
}

/// Waits until `total` messages were processed and the queues `which` names are empty.
pub(crate) async fn drained(t: &RedisTransport, total: u64, which: impl Fn(&str) -> bool) {
    wait_until(
        Duration::from_secs(300),
        "every message processed, the queues empty",
        async || {
            processed(t).await >= total
                && t.queue_depths()
                    .await
                    .unwrap()
                    .iter()
                    .filter(|q| which(&q.name))
                    .all(|q| q.waiting == 0)
        },
    )
    .await;
}

fn message(topic: &str, id: &str) -> String {
    format!(r#"{{"topic": "{topic}", "msg_id": "{id}", "timestamp": 1700000000, "msg": {{}}}}"#)
}

/// The coherence test of issue 7: four worker processes, a steady stream of messages, and
/// alice's filter changed 100 times in a row, each change followed at once by a message only
/// the new filter matches and one only the previous filter matched. Halfway, every client
/// connection to Redis is cut (announcements included) just before a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_evaluates_with_the_preferences_set_before_dispatch() {
    const STEPS: usize = 100;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(d, &live_config(&redis));
    std::fs::write(d.join("prefs.toml"), format!("{BOB}\n{}", alice(0))).unwrap();
    let out = run(&mut with(&["prefs", "import", "prefs.toml"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("imported 2 users from prefs.toml; preferences version 1"),
        "{}",
        text(&out.stdout)
    );

    let workers: Vec<_> = (0..4).map(|_| spawn(&mut with(&["worker"]))).collect();
    // Half the changes are made on the web service's API, half with `fmn prefs set`.
    let web = crate::support::free_port();
    let serve = spawn(&mut with(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{web}"),
    ]));
    let out = run(&mut with(&["tokens", "create", "ops", "--admin"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let api = Api {
        url: format!("http://127.0.0.1:{web}/api/v1/users/alice/preferences"),
        token: text(&out.stdout).trim().to_owned(),
        client: reqwest::Client::new(),
    };
    wait_until(Duration::from_secs(60), "the web service", async || {
        reqwest::get(format!("http://127.0.0.1:{web}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let mut transport = redis.transport().await;
    wait_until(Duration::from_secs(60), "four live workers", async || {
        transport.live_workers().await.unwrap().len() == 4
    })
    .await;
    let mut consumer = with(&["consume", "--messages", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = Arc::new(Mutex::new(consumer.stdin.take().unwrap()));
    let sent = Arc::new(AtomicU64::new(0));
    let send = {
        let (stdin, sent) = (stdin.clone(), sent.clone());
        move |line: String| {
            let mut s = stdin.lock().unwrap();
            writeln!(s, "{line}").unwrap();
            s.flush().unwrap();
            sent.fetch_add(1, Ordering::Relaxed);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let noise = {
        let (send, stop) = (send.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                send(message("org.test.noise", &format!("noise-{i}")));
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let mut took = Vec::new();
    for step in 1..=STEPS {
        if step == STEPS / 2 {
            // Every connection but this one: the workers' reads, their subscriptions, the
            // consumer's writes. They reconnect; what the announcement would have said is
            // read from the version instead.
            for kind in ["pubsub", "normal"] {
                let _: u64 = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg(kind)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
            }
            transport = transport.reconnect().await.unwrap();
        }
        let started = Instant::now();
        if step % 2 == 1 {
            api.set_alice(step).await;
        } else {
            let file = format!("step{step}.toml");
            std::fs::write(d.join(&file), alice(step)).unwrap();
            let out = run(&mut with(&["prefs", "set", "alice", "--file", &file]));
            assert!(out.status.success(), "step {step}: {}", text(&out.stderr));
        }
        took.push(started.elapsed());
        send(message(
            &format!("org.test.step{step}"),
            &format!("new-{step}"),
        ));
        send(message(
            &format!("org.test.step{}", step - 1),
            &format!("old-{step}"),
        ));
        // Preferences at least as new as those set before dispatch is the guarantee: the next
        // change waits for this step's message, so that exactly this step's filter applies.
        let id = format!("new-{step}");
        let started = Instant::now();
        while !alice_notified(&mut admin).await.contains(&id) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "step {step}: {id} not notified within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    noise.join().unwrap();
    drop(send);
    drop(stdin);
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let total = sent.load(Ordering::Relaxed);
    // A message may be dispatched twice after the cut (the consumer cannot know whether its
    // write went through), so the count alone does not say that all are done: the work
    // queues must be empty too.
    drained(&transport, total, |q| !q.starts_with("out:")).await;

    // Alice got each step's new message, from the filter of that step, and never the message
    // only her previous filter matched. (A message dispatched twice after the cut would give
    // the same delivery id twice; senders send it once.)
    let mut alice_got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bob_got = 0;
    for n in all_notifications(&redis.url()).await {
        match n.user.as_str() {
            "alice" => {
                alice_got.entry(n.message.id).or_default().insert(n.filter);
            }
            "bob" => bob_got += 1,
            other => panic!("a notification for {other}"),
        }
    }
    let mut wrong = Vec::new();
    for step in 1..=STEPS {
        let want = BTreeSet::from([format!("step {step}")]);
        if alice_got.get(&format!("new-{step}")) != Some(&want) {
            wrong.push(format!(
                "new-{step}: {:?}",
                alice_got.get(&format!("new-{step}"))
            ));
        }
        if let Some(f) = alice_got.get(&format!("old-{step}")) {
            wrong.push(format!("old-{step} notified by {f:?}"));
        }
    }
    if !wrong.is_empty() {
        let status = run(&mut with(&["status", "--json"]));
        panic!(
            "{} wrong: {wrong:?}\nstatus: {}\nprocessed {} of {total}",
            wrong.len(),
            text(&status.stdout),
            processed(&transport).await
        );
    }
    assert_eq!(alice_got.len(), STEPS);
    assert!(bob_got > 100, "the background stream ran: {bob_got}");

    // Every worker converges on the last version (announcement or poll), even with no
    // message to make it look.
    let version = transport.prefs_version().await.unwrap();
    assert_eq!(version, 1 + STEPS as u64);
    wait_until(
        Duration::from_secs(10),
        "every worker at the last version",
        async || {
            let r = reports(&transport).await;
            r.len() == 4
                && r.iter()
                    .all(|(_, rep)| rep.as_ref().is_some_and(|rep| rep.prefs_version == version))
        },
    )
    .await;
    took.sort();
    eprintln!(
        "a change (fmn prefs set or the API): median {:?}, max {:?} over {STEPS} changes; {total} messages",
        took[STEPS / 2],
        took[STEPS - 1]
    );

    // What Redis holds reads back as a file `fmn prefs import` takes.
    let out = run(&mut with(&["prefs", "show", "alice"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("org.test.step100"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&mut with(&["prefs", "export"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(d.join("exported.toml"), &out.stdout).unwrap();
    let reimported = fmn_core::Preferences::from_path(&d.join("exported.toml")).unwrap();
    assert_eq!(
        reimported.users.keys().collect::<Vec<_>>(),
        ["alice", "bob"]
    );

    terminate(serve);
    for w in workers {
        let out = terminate(w);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// Bad preferences are refused whole, with every problem named, and Redis keeps what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_preferences_are_refused_whole_and_change_nothing() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(d, &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    std::fs::write(d.join("good.toml"), format!("{BOB}\n{}", alice(1))).unwrap();
    let out = run(&mut with(&["prefs", "import", "good.toml"]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let bad = format!(
        "{}\n{}",
        alice(2),
        r#"[users.carol.channels.email]
addresses = ["carol@example.org"]

[[users.carol.channels.email.filters]]
name = "typo"
rules = [{ rule = "fedora::no_such_rule" }, { rule = "fedora::topic", args = { pattern = "x" } }]
"#
    );
    std::fs::write(d.join("bad.toml"), bad).unwrap();
    let out = run(&mut with(&["prefs", "import", "bad.toml"]));
    assert_eq!(out.status.code(), Some(2), "problems found: exit code 2");
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml: ") && err.contains(" problem(s), nothing stored"),
        "{err}"
    );
    assert!(err.contains("user \"carol\""), "{err}");
    assert!(err.contains("fedora::no_such_rule"), "{err}");
    assert!(err.contains("fedora::topic"), "{err}");
    let out = run(&mut with(&["prefs", "import", "--json", "bad.toml"]));
    assert_eq!(out.status.code(), Some(2));
    let refused: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refused["stored"], false);
    let problems = refused["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems.iter().all(|p| p["location"]["user"] == "carol"),
        "{refused}"
    );

    // One user's edit is checked the same way.
    std::fs::write(
        d.join("carol.toml"),
        text(&std::fs::read(d.join("bad.toml")).unwrap()),
    )
    .unwrap();
    let out = run(&mut with(&[
        "prefs",
        "set",
        "carol",
        "--file",
        "carol.toml",
    ]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing stored"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&mut with(&[
        "prefs",
        "set",
        "alice",
        "--deactivate",
        "email:nope",
    ]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "an edit that cannot apply is a failure"
    );
    assert!(
        text(&out.stderr).contains("user \"alice\" has no filter \"nope\" on email"),
        "{}",
        text(&out.stderr)
    );

    let transport = redis.transport().await;
    assert_eq!(transport.prefs_version().await.unwrap(), 1);
    let (_, prefs) = transport.load_prefs().await.unwrap();
    assert_eq!(prefs.users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    let out = run(&mut with(&["prefs", "show", "alice"]));
    assert!(
        text(&out.stdout).contains("org.test.step1\""),
        "{}",
        text(&out.stdout)
    );

    // The common edits.
    let out = run(&mut with(&[
        "prefs",
        "set",
        "alice",
        "--deactivate",
        "email:step 1",
        "--add-address",
        "email=a2@example.org",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "user \"alice\" stored; preferences version 2"
    );
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    let email = &alice.channels[&fmn_core::ChannelKind::Email];
    assert_eq!(email.addresses, ["alice@example.org", "a2@example.org"]);
    assert!(!email.filters[0].active);
    let out = run(&mut with(&[
        "prefs",
        "set",
        "alice",
        "--add-filter",
        "email:nethack",
        "--rule",
        r#"fedora::package_filter={"package": "nethack"}"#,
        "--rule",
        r#"!fedora::category={"category": "bodhi"}"#,
        "--oneshot",
        "--digest",
        "email=10,1h",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    let email = &alice.channels[&fmn_core::ChannelKind::Email];
    let added = &email.filters[1];
    assert_eq!(added.name, "nethack");
    assert!(added.oneshot && added.active);
    assert_eq!(added.rules[0].rule, "fedora::package_filter");
    assert_eq!(
        added.rules[0].args,
        serde_json::json!({"package": "nethack"})
    );
    assert!(!added.rules[0].negated && added.rules[1].negated);
    assert_eq!(
        email.digest,
        Some(fmn_core::prefs::Digest {
            max_count: Some(10),
            max_delay: Some(Duration::from_secs(3600)),
        })
    );
    // A rule with the wrong arguments is refused, naming it; nothing changes.
    let out = run(&mut with(&[
        "prefs",
        "set",
        "alice",
        "--add-filter",
        "email:typo",
        "--rule",
        r#"fedora::package_filter={"pkg": "x"}"#,
    ]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("nothing stored")
            && err.contains("filter #3 \"typo\", rule #1 \"fedora::package_filter\""),
        "{err}"
    );
    let out = run(&mut with(&[
        "prefs",
        "set",
        "--json",
        "alice",
        "--no-digest",
        "email",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"stored": true, "user": "alice", "change": "stored", "version": 4})
    );
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    assert_eq!(alice.channels[&fmn_core::ChannelKind::Email].digest, None);
    let out = run(&mut with(&["prefs", "set", "bob", "--disable", "irc"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bob = transport.user_prefs("bob").await.unwrap().unwrap();
    assert!(!bob.channels[&fmn_core::ChannelKind::Irc].enabled);
    let out = run(&mut with(&["prefs", "set", "bob", "--remove"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(transport.user_prefs("bob").await.unwrap().is_none());
    let out = run(&mut with(&["prefs", "show", "bob"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no preferences for user \"bob\""));
}

/// A one-shot filter across four worker processes and two sender processes: of the 200
/// messages it matches, one is sent, and the filter is inactive in Redis afterwards; activated
/// again, it sends one more. The same messages on a channel without a one-shot filter all go
/// out, and a channel turned off sends nothing dispatched after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_oneshot_filter_sends_once_across_workers_and_senders() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(d, &live_config(&redis));
    let once = r#"[users.alice.channels.email]
addresses = ["alice@example.org"]

[[users.alice.channels.email.filters]]
name = "once"
oneshot = true
rules = [{ rule = "fedora::topic", args = { glob = "org.test.once" } }]

[users.alice.channels.irc]
addresses = ["alice"]

[[users.alice.channels.irc.filters]]
name = "always"
rules = [{ rule = "fedora::topic", args = { glob = "org.test.once" } }]
"#;
    std::fs::write(d.join("prefs.toml"), once).unwrap();
    let out = run(&mut with(&["prefs", "import", "prefs.toml"]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let workers: Vec<_> = (0..4).map(|_| spawn(&mut with(&["worker"]))).collect();
    let senders: Vec<_> = ["s1", "s2"]
        .iter()
        .flat_map(|name| {
            ["email", "irc"].map(|channel| {
                spawn(&mut with(&[
                    "send",
                    "--channel",
                    channel,
                    "--consumer",
                    name,
                ]))
            })
        })
        .collect();
    let transport = redis.transport().await;
    wait_until(Duration::from_secs(60), "four live workers", async || {
        transport.live_workers().await.unwrap().len() == 4
    })
    .await;

    let sent = |channel: &str| {
        std::fs::read_to_string(d.join("fmn-out").join(format!("{channel}.jsonl")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let mut total = 0u64;
    for (round, (count, want_email)) in [(200, 1), (50, 2), (50, 2)].into_iter().enumerate() {
        match round {
            1 => {
                let out = run(&mut with(&[
                    "prefs",
                    "set",
                    "alice",
                    "--activate",
                    "email:once",
                ]));
                assert!(out.status.success(), "{}", text(&out.stderr));
            }
            2 => {
                let out = run(&mut with(&["prefs", "set", "alice", "--disable", "email"]));
                assert!(out.status.success(), "{}", text(&out.stderr));
            }
            _ => {}
        }
        let lines: Vec<String> = (0..count)
            .map(|i| message("org.test.once", &format!("once-{round}-{i}")))
            .collect();
        let file = format!("round{round}.jsonl");
        std::fs::write(d.join(&file), lines.join("\n")).unwrap();
        let out = run(&mut with(&["consume", "--messages", &file]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        total += count;
        drained(&transport, total, |_| true).await;
        assert_eq!(sent("email"), want_email, "round {round}");
        assert_eq!(sent("irc") as u64, total, "round {round}");
        if round == 0 {
            let out = run(&mut with(&["prefs", "show", "alice"]));
            let shown = text(&out.stdout);
            assert!(shown.contains("active = false"), "{shown}");
        }
    }
    for child in workers.into_iter().chain(senders) {
        let out = terminate(child);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// One user's preferences as FMN 2's API exported them.
fn fmn_export(nick: &str, code_path: &str) -> String {
    format!(
        r#"[{{"batch_delta": 3600, "batch_count": 10, "enabled": true, "verbose": true,
            "context": {{"name": "email", "detail_name": "email address"}},
            "user": {{"openid": "{nick}.id.fedoraproject.org"}},
            "filters": [{{"id": 1, "name": "Events on packages that I own", "oneshot": false,
                          "rules": [{{"code_path": "{code_path}", "arguments": {{"fasnick": "{nick}"}}, "negated": false}},
                                    {{"code_path": "fmn.rules:user_filter", "arguments": {{"fasnick": "{nick}"}}, "negated": true}}]}}],
            "detail_values": ["{nick}@example.org"]}},
           {{"enabled": true, "context": {{"name": "sse"}}, "user": {{"openid": "{nick}.id.fedoraproject.org"}},
            "filters": [], "detail_values": []}}]"#
    )
}

/// FMN 2's per-user exports move over: converted, checked as a whole, stored beside the
/// users already there; an export naming a rule that does not exist stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fmn2_exports_are_imported_beside_the_users_already_there() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(d, &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    std::fs::write(d.join("prefs.toml"), BOB).unwrap();
    assert!(
        run(&mut with(&["prefs", "import", "prefs.toml"]))
            .status
            .success()
    );

    std::fs::write(
        d.join("ralph.json"),
        fmn_export("ralph", "fmn.rules:user_package_filter"),
    )
    .unwrap();
    std::fs::write(
        d.join("pingou.json"),
        fmn_export("pingou", "fmn.rules:user_package_filter"),
    )
    .unwrap();
    let out = run(&mut with(&[
        "prefs",
        "import",
        "--from-fmn",
        "ralph.json",
        "pingou.json",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "left out: ralph.json (user \"ralph\"): sse: no such channel here\n\
         left out: pingou.json (user \"pingou\"): sse: no such channel here\n\
         imported 2 users from FMN 2 exports; preferences version 2\n"
    );
    let transport = redis.transport().await;
    let (_, prefs) = transport.load_prefs().await.unwrap();
    assert_eq!(
        prefs.users.keys().collect::<Vec<_>>(),
        ["bob", "pingou", "ralph"]
    );
    let out = run(&mut with(&["prefs", "show", "ralph"]));
    let shown = text(&out.stdout);
    for want in [
        "addresses = [\"ralph@example.org\"]",
        "max_count = 10",
        "max_delay = \"1h\"",
        "rule = \"fedora::user_package_filter\"",
        "negated = true",
    ] {
        assert!(shown.contains(want), "{want} in {shown}");
    }

    std::fs::write(
        d.join("typo.json"),
        fmn_export("carol", "fmn.rules:user_pakage_filter"),
    )
    .unwrap();
    let out = run(&mut with(&["prefs", "import", "--from-fmn", "typo.json"]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the FMN 2 exports: 1 problem(s), nothing stored")
            && err.contains("user \"carol\", channel email, filter #1 \"Events on packages that I own\", rule #1 \"fedora::user_pakage_filter\""),
        "{err}"
    );
    assert!(transport.user_prefs("carol").await.unwrap().is_none());
    assert_eq!(transport.prefs_version().await.unwrap(), 2);
}
