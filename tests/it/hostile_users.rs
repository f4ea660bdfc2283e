//! A failure costs only its own: 1,000 normal users beside 200 hostile ones (rules of a module
//! of their own that loop, panic and hoard memory, slow regular expressions over every
//! message), a stream of real messages with valid 1 MB ones among them, two workers, and a
//! machine kept busy by other work. Every normal user gets exactly what an independent
//! evaluation predicts; the failures are the hostile rules' own; every message is acknowledged
//! with its notifications, or kept as a dead letter.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fmn_core::transport::{MemoryTransport, Transport, WorkItem, WorkerInfo};
use fmn_core::{ChannelKind, Envelope, Preferences};
use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig, WasmModule};

use crate::pipeline::{corpus_messages, predict, preferences};
use crate::support::wait_until;

const BUNDLED: &[u8] = include_bytes!(env!("FMN_WASM_FMN_RULES"));
const HOSTILE: &[u8] = include_bytes!(env!("FMN_WASM_FMN_TEST_HOSTILE"));

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

/// 200 hostile users: a quarter each with a rule that loops, panics or hoards memory, and a
/// quarter with a regular expression that never matches, run over every message's body.
fn hostile_users() -> String {
    (0..200)
        .map(|i| {
            let rule = match i % 4 {
                0 => "{ rule = \"hostile::spins\" }".to_owned(),
                1 => "{ rule = \"hostile::panics\" }".to_owned(),
                2 => "{ rule = \"hostile::hoards\" }".to_owned(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_users_are_served_beside_two_hundred_hostile_ones() {
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
            tokio::spawn(fmn_host::run_worker(
                t.clone(),
                snapshot.clone(),
                fmn_host::WorkerOptions::new(w),
                stop.clone(),
            ))
        })
        .collect();
    let total = messages.len() as u64;
    wait_until(
        Duration::from_secs(300),
        "every message processed",
        async || {
            t.worker_counts()
                .await
                .unwrap()
                .iter()
                .map(|c| c.processed)
                .sum::<u64>()
                == total
        },
    )
    .await;
    stop.cancel();
    busy.store(false, Ordering::Relaxed);
    hog.join().unwrap();
    let mut module_failures = 0;
    let mut dead_lettered = 0;
    for w in workers {
        let r = w.await.unwrap();
        module_failures += r.module_failures;
        dead_lettered += r.dead_lettered;
    }
    // The failures were the hostile rules': found and charged to them, none to a module.
    let dead = t.dead_letters(100).await.unwrap();
    let reasons: Vec<&str> = dead.iter().map(|d| d.item.reason.as_str()).collect();
    assert_eq!((module_failures, dead_lettered), (0, 0), "{reasons:#?}");
    assert_eq!(t.dead_letter_count().await.unwrap(), 0);

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
