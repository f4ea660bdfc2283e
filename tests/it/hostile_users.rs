//! A failure costs only its own: 1,000 normal users beside 200 hostile ones (rules of a module
//! of their own that loop, panic, hoard memory and lie about which rule failed, a module that
//! grows its table on every call, slow regular expressions over every message, and filters of
//! 50,000 rules), a stream of real messages with valid 1 MB ones among them, two workers, and a
//! machine kept busy by other work. Every normal user gets exactly what an independent
//! evaluation predicts; the failures are charged to the hostile rules, users and module; every
//! message is acknowledged with its notifications, and kept for a retry and then as a dead
//! letter where a module failed on it as a whole.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fmn_core::{ChannelKind, Envelope, Preferences};
use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig, WasmModule};
use fmn_transport::{
    DeadLetters, MemoryTransport, Outbox, Registry, WorkItem, WorkQueue, WorkerInfo,
};

use crate::pipeline::{corpus_messages, predict, preferences};
use crate::support::fixtures::{BUNDLED, HOSTILE};
use crate::support::wait_until;

/// A valid message of about 1 MB: a bodhi comment by ralph with a very long text.
fn big_message(i: usize) -> String {
    serde_json::json!({
        "topic": "org.fedoraproject.prod.bodhi.update.comment",
        "msg_id": format!("big-{i}"),
        "msg": {"comment": {"user": {"name": "ralph"}, "text": "lorem ipsum ".repeat(80_000),
                            "karma": 0, "update_title": "nethack-3.6.6-1.fc33"},
                "agent": "ralph"},
    })
    .to_string()
}

/// 960 more normal users, each following a name no message mentions.
fn quiet_users() -> String {
    (0..960)
        .map(|i| {
            format!(
                "[users.quiet{i:04}.channels.email]\naddresses = [\"q{i}@example.org\"]\n\
                 filters = [{{ name = \"me\", rules = [{{ rule = \"fedora::user_filter\", args = {{ fasnick = \"quiet{i:04}\" }} }}] }}]\n"
            )
        })
        .collect()
}

/// 200 hostile users: 190 with, a fifth each, a rule that loops, panics, hoards memory, or
/// lies about which rule failed, or a regular expression that never matches, run over every
/// message's body; 10 following the module that grows its table.
fn hostile_users() -> String {
    (0..200)
        .map(|i| {
            let rule = match i % 5 {
                _ if i >= 190 => "{ rule = \"tables::spin\" }".to_owned(),
                0 => "{ rule = \"hostile::spins\" }".to_owned(),
                1 => "{ rule = \"hostile::panics\" }".to_owned(),
                2 => "{ rule = \"hostile::hoards\" }".to_owned(),
                3 => "{ rule = \"hostile::lies\" }".to_owned(),
                _ => format!(
                    "{{ rule = \"fedora::regex_filter\", args = {{ pattern = \"(x|y|z)+[0-9]{{3}}never{i}\" }} }}"
                ),
            };
            format!(
                "[users.hostile{i:03}.channels.email]\naddresses = [\"h{i}@example.org\"]\n\
                 filters = [{{ name = \"trouble\", rules = [{rule}] }}]\n"
            )
        })
        .collect()
}

/// The rules the workers report set aside (`fmn status` shows them), as
/// `module: rule NAME ARGS (users ...)`.
async fn set_aside_rules(t: &MemoryTransport) -> Vec<String> {
    let fields = t.worker_fields().await.unwrap();
    fields
        .values()
        .filter_map(|f| f.get("quarantined"))
        .flat_map(|q| serde_json::from_str::<Vec<String>>(q).unwrap())
        .filter(|r| r.contains(": rule "))
        .collect()
}

/// A user whose one filter holds 50,000 rules: refused by the check every import and `set`
/// makes, naming the user and the limit, before any worker sees it.
fn huge_filter_user() -> String {
    let rules: Vec<String> = (0..50_000)
        .map(|i| {
            format!("{{ rule = \"fedora::topic\", args = {{ topic = \"org.example.t{i}\" }} }}")
        })
        .collect();
    format!(
        "[users.hostile-huge.channels.email]\naddresses = [\"huge@example.org\"]\n\
         filters = [{{ name = \"all\", rules = [{}] }}]\n",
        rules.join(", ")
    )
}

/// A module (not the Rust one) whose every call grows its table past the sandbox's limit.
fn table_module() -> Vec<u8> {
    use crate::wasm::{DESCRIPTION, TABLE_BOMB, module_wat};
    let desc = DESCRIPTION.replace(r#""name":"hostile""#, r#""name":"tables""#);
    module_wat(&desc, TABLE_BOMB, 1, "(table $t 1 funcref)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_users_are_served_beside_two_hundred_hostile_ones() {
    let huge = Preferences::from_text("huge.toml", &huge_filter_user(), false)
        .expect_err("a 50,000-rule filter is refused")
        .to_string();
    assert!(
        huge.contains("hostile-huge") && huge.contains("over the limit of 2000 a user"),
        "{huge}"
    );

    let mut messages = corpus_messages(400);
    for i in 0..4 {
        messages.insert(50 + i * 100, big_message(i));
    }
    let normal = {
        let mut p = preferences(&messages);
        let quiet = Preferences::from_text("quiet.toml", &quiet_users(), false).unwrap();
        p.users.extend(quiet.users);
        p
    };
    assert_eq!(normal.users.len(), 1_000);
    let mut all = normal.clone();
    all.users.extend(
        Preferences::from_text("hostile.toml", &hostile_users(), false)
            .unwrap()
            .users,
    );

    // Calls get 100 ms here: the machine is kept busy on purpose, and a 1 MB message must
    // still be evaluated; a module that loops costs that long until its rule is set aside.
    let sandbox = Sandbox::new(SandboxConfig {
        timeout: Duration::from_millis(100),
        ..SandboxConfig::default()
    })
    .unwrap();
    let ruleset = Arc::new(
        RuleSet::new(
            1,
            vec![
                LoadedModule::wasm(WasmModule::from_bytes(&sandbox, HOSTILE, "hostile").unwrap()),
                LoadedModule::wasm(
                    WasmModule::from_bytes(&sandbox, &table_module(), "tables.wasm").unwrap(),
                ),
                LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap()),
            ],
        )
        .unwrap(),
    );
    let plan = Arc::new(Plan::build(&ruleset, &all).unwrap());
    let t = MemoryTransport::default();
    for w in ["w1", "w2"] {
        t.register_worker(&WorkerInfo::local(w)).await.unwrap();
    }
    let batch: Vec<(String, WorkItem)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let envelope = Envelope::from_bus_json(m.as_bytes(), 1 << 20).unwrap();
            let w = if i % 2 == 0 { "w1" } else { "w2" };
            (w.to_owned(), WorkItem::new(envelope, format!("test:{i}")))
        })
        .collect();

    // Other work on the machine: a thread that spins while the workers run.
    let busy = Arc::new(AtomicBool::new(true));
    let hog = {
        let busy = busy.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while busy.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            x
        })
    };
    t.dispatch(&batch).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let workers: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|w| {
            // Retries come quickly here: the test waits for them.
            let opts = fmn_host::WorkerOptions {
                retry: fmn_host::RetryPolicy {
                    retries: 1,
                    first: Duration::from_millis(100),
                    longest: Duration::from_secs(1),
                },
                promote_every: Duration::from_millis(20),
                ..fmn_host::WorkerOptions::new(w)
            };
            tokio::spawn(fmn_host::run_worker(
                t.clone(),
                snapshot.clone(),
                opts,
                stop.clone(),
            ))
        })
        .collect();
    let total = messages.len() as u64;
    // The table module fails every call it is in, so every message is evaluated twice (the
    // second time finds it in quarantine), then kept as a dead letter.
    wait_until(
        Duration::from_secs(300),
        "every message evaluated and kept as a dead letter",
        async || t.dead_letter_count().await.unwrap() == total,
    )
    .await;
    let set_aside = set_aside_rules(&t).await;
    stop.cancel();
    busy.store(false, Ordering::Relaxed);
    hog.join().unwrap();
    let (mut processed, mut dead_lettered) = (0, 0);
    for w in workers {
        let r = w.await.unwrap();
        processed += r.processed;
        dead_lettered += r.dead_lettered;
    }
    assert_eq!((processed, dead_lettered), (2 * total, total));
    // Every message is kept whole, and its dead letter blames the table module, the only one
    // that failed as a whole: the others' failures were found and charged to their rules.
    let dead = t.dead_letters(usize::MAX).await.unwrap();
    let kept: BTreeSet<String> = dead
        .iter()
        .map(|d| {
            let r = &d.item.reason;
            assert!(
                r.starts_with("not wholly evaluated in 2 attempts: module tables: ")
                    && !r.contains("module hostile")
                    && !r.contains("module fedora"),
                "{r}"
            );
            serde_json::from_str::<WorkItem>(&d.item.payload)
                .unwrap()
                .envelope
                .id
        })
        .collect();
    let sent: BTreeSet<String> = batch.iter().map(|(_, w)| w.envelope.id.clone()).collect();
    assert_eq!(kept, sent, "every message kept, whole");
    // The rules set aside are the hostile users' own; the lying rule is found as itself,
    // not as the rule it named.
    for rule in ["spins", "hoards", "lies"] {
        assert!(
            set_aside
                .iter()
                .any(|r| r.starts_with(&format!("hostile: rule {rule} "))),
            "{rule} not set aside: {set_aside:#?}"
        );
    }
    for r in &set_aside {
        assert!(!r.contains("rule ok ") && !r.contains("quiet"), "{r}");
        assert!(r.contains("(users hostile"), "{r}");
    }

    let mut got = BTreeSet::new();
    for channel in [ChannelKind::Email, ChannelKind::Irc] {
        loop {
            let read = t
                .read_notifications(channel, "check", 10_000, Duration::from_millis(20))
                .await
                .unwrap();
            if read.is_empty() {
                break;
            }
            for n in read {
                assert!(
                    n.item.meta.summary.as_deref() != Some("hijacked by the hostile module"),
                    "the hostile module spoke for a notification"
                );
                got.insert((n.item.message.id.clone(), n.item.user.clone(), channel));
            }
        }
    }
    let predicted: BTreeSet<(String, String, ChannelKind)> =
        predict(&normal, &messages).into_keys().collect();
    let normal_got: BTreeSet<_> = got
        .iter()
        .filter(|(_, user, _)| !user.starts_with("hostile"))
        .cloned()
        .collect();
    assert!(predicted.len() > 100, "{} predicted", predicted.len());
    assert_eq!(
        normal_got, predicted,
        "every normal user gets exactly the predicted"
    );
    // The big messages were evaluated: ralph hears of his own comments.
    assert!(
        normal_got.iter().any(|(id, _, _)| id == "big-0"),
        "a 1 MB message made its notifications"
    );
}
