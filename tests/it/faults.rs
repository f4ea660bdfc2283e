//! Faults on real parts: a worker process killed with SIGKILL in the middle of a run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::{Registry, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::pipeline::{PerMessage, corpus_messages, predict_per_message, preferences};
use crate::reload::{all_notifications, copies, processed, spawn_consumer};
use crate::support::{RedisServer, wait_until};

/// The notifications written so far, by message id: (user, channel) for each, repeats kept.
type Written = BTreeMap<String, Vec<(String, ChannelKind)>>;

async fn written(url: &str) -> Written {
    let mut got = Written::new();
    for n in all_notifications(url).await {
        got.entry(n.message.id)
            .or_default()
            .push((n.user, n.channel));
    }
    got
}

/// How many notifications the copies in `original` (copy id -> base id) must yield.
fn expected_total(original: &HashMap<String, String>, want: &PerMessage) -> usize {
    original
        .values()
        .map(|b| want.get(b).map_or(0, BTreeSet::len))
        .sum()
}

/// Every copy reached exactly the (user, channel) pairs predicted for its base message; a
/// pair written twice fails unless `repeats` allows it (the same delivery id, which senders
/// send once). The copies' entries are taken out of `got`.
fn assert_matches(
    original: &HashMap<String, String>,
    want: &PerMessage,
    got: &mut Written,
    repeats: bool,
) {
    let mut wrong = Vec::new();
    for (id, base_id) in original {
        let want = want.get(base_id).cloned().unwrap_or_default();
        let have = got.remove(id).unwrap_or_default();
        let n = have.len();
        let have: BTreeSet<_> = have.into_iter().collect();
        if (n != have.len() && !repeats) || have != want {
            wrong.push(format!("{id}: {n} written, got {have:?}, want {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} messages wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

/// Four worker processes share 50,000 messages; one is killed with SIGKILL a fifth of the way
/// in and a new one started. The janitor hands the killed worker's queue (what it held and
/// what it never read) to the live ones: every message yields exactly its predicted
/// notifications, each exactly once, on the channel streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing() {
    kill_a_worker_mid_run("random", 50_000).await;
}

/// The same under `shared` dispatch, where the janitor puts what the killed worker had read
/// from the shared queue back on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_under_shared_dispatch_loses_nothing() {
    kill_a_worker_mid_run("shared", 20_000).await;
}

async fn kill_a_worker_mid_run(dispatch: &str, total: usize) {
    let base = corpus_messages(1000);
    let prefs = preferences(&base);
    let want = predict_per_message(&prefs, &base);
    let (messages, original) = copies(&base, total / base.len());

    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(
        d,
        &format!(
            // Five processes share two cores here: a generous deadline per rule call keeps
            // CPU starvation from failing rules, which is not what this test is about.
            "[redis]\nurl = \"{}\"\nreclaim_ms = 500\n\n[worker]\nreload_ms = 0\ntimeout_ms = 5000\n",
            redis.url()
        ),
    );
    let prefs_file = d.join("prefs.json");
    std::fs::write(&prefs_file, serde_json::to_string(&prefs).unwrap()).unwrap();
    let messages_file = d.join("messages.jsonl");
    std::fs::write(&messages_file, messages.join("\n")).unwrap();
    let p = prefs_file.to_str().unwrap();
    let mut workers: Vec<_> = (0..4)
        .map(|_| spawn(&mut with(&["worker", "--prefs", p])))
        .collect();
    let transport = redis.transport().await;
    wait_until(Duration::from_secs(60), "four live workers", async || {
        transport.live_workers().await.unwrap().len() == 4
    })
    .await;
    let consumer = spawn(&mut with(&[
        "consume",
        "--dispatch",
        dispatch,
        "--messages",
        messages_file.to_str().unwrap(),
    ]));

    wait_until(Duration::from_secs(300), "a fifth of the run", async || {
        processed(&transport).await >= (total / 5) as u64
    })
    .await;
    let mut killed = workers.remove(0);
    killed.kill().unwrap();
    let _ = killed.wait();
    workers.push(spawn(&mut with(&["worker", "--prefs", p])));

    let out = terminate_when_done(consumer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The killed worker's queue counts until the janitor empties it (after its heartbeat's
    // 10 s TTL), so every message is processed once in all.
    wait_until(
        Duration::from_secs(600),
        "every message processed",
        async || processed(&transport).await >= total as u64,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        processed(&transport).await,
        total as u64,
        "processed once each"
    );

    let mut got = written(&redis.url()).await;
    let expected_total = expected_total(&original, &want);
    assert_matches(&original, &want, &mut got, false);
    assert!(got.is_empty(), "notifications for unknown messages");
    assert!(
        expected_total > 10_000,
        "a test worth running: {expected_total}"
    );
    let reclaimed: u64 = transport
        .worker_counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.received)
        .sum::<u64>()
        - total as u64;
    eprintln!("{dispatch}: entries reclaimed from the killed worker: {reclaimed}");

    // `fmn status` tells the story: five registered, four live, the killed one's queue empty.
    // (Under shared dispatch the run may end before the killed worker's heartbeat expires.)
    wait_until(
        Duration::from_secs(30),
        "the killed worker not live",
        async || transport.live_workers().await.unwrap().len() == 4,
    )
    .await;
    let out = crate::cli::run(&mut with(&["status", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["live_workers"], 4);
    let ws = status["workers"].as_array().unwrap();
    assert_eq!(ws.len(), 5);
    let dead: Vec<&serde_json::Value> = ws.iter().filter(|w| w["live"] == false).collect();
    assert_eq!(dead.len(), 1);
    let dead_queue = format!("work:{}", dead[0]["id"].as_str().unwrap());
    let q = status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == dead_queue.as_str())
        .unwrap();
    assert_eq!(q["waiting"], 0, "{q}");
    let processed_sum: u64 = ws.iter().map(|w| w["processed"].as_u64().unwrap()).sum();
    assert_eq!(processed_sum, total as u64);
    let out = crate::cli::run(&mut with(&["status"]));
    assert!(
        text(&out.stdout).starts_with("workers: 4 live of 5 registered\n"),
        "{}",
        text(&out.stdout)
    );
    for w in workers {
        let out = terminate(w);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// The consumer ends by itself once the file is dispatched.
fn terminate_when_done(mut child: std::process::Child) -> std::process::Output {
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the consumer did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Redis itself crashes (SIGKILL) mid-run and comes back a second later from its append-only
/// file (`appendfsync always`: what it acknowledged is on disk). Consumer, workers and
/// janitors retry with backoff and go on by themselves; every message yields its predicted
/// notifications. A write whose reply was lost in the crash is retried, so a notification
/// may be written twice: always with the same delivery id, which senders send once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crashing_mid_run_loses_nothing() {
    use std::sync::Arc;

    use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, WasmModule};
    use fmn_host::{WorkerOptions, run_worker};
    use tokio_util::sync::CancellationToken;

    const TOTAL: usize = 20_000;
    use crate::support::fixtures::BUNDLED;
    let base = corpus_messages(1000);
    let prefs = preferences(&base);
    let want = predict_per_message(&prefs, &base);
    let (messages, original) = copies(&base, TOTAL / base.len());

    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let transport = redis.transport().await;
    let sandbox = Sandbox::new(crate::support::generous_sandbox()).unwrap();
    let module = LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap());
    let ruleset = Arc::new(RuleSet::new(1, vec![module]).unwrap());
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            tokio::spawn(run_worker(
                transport.clone(),
                snapshot.clone(),
                WorkerOptions::new(format!("w{i}")),
                stop.clone(),
            ))
        })
        .collect();
    let consumer = spawn_consumer(transport.clone(), messages);
    wait_until(Duration::from_secs(300), "a fifth of the run", async || {
        processed(&transport).await >= (TOTAL / 5) as u64
    })
    .await;
    let before = processed(&transport).await;
    assert!(before < TOTAL as u64, "the crash comes mid-run");
    let redis = tokio::task::spawn_blocking(move || {
        redis.crash_and_restart(Duration::from_secs(1));
        redis
    })
    .await
    .unwrap();

    let report = consumer.await.unwrap();
    assert_eq!(report.read, TOTAL as u64);
    let url = redis.url();
    let expected_total = expected_total(&original, &want);
    let distinct = |v: &Vec<(String, ChannelKind)>| v.iter().collect::<BTreeSet<_>>().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let (complete, mut got) = loop {
        let got = written(&url).await;
        if got.values().map(distinct).sum::<usize>() >= expected_total {
            break (true, got);
        }
        if std::time::Instant::now() > deadline {
            break (false, got);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.cancel();
    let mut module_failures = 0;
    for w in workers {
        module_failures += w.await.unwrap().module_failures;
    }
    // When it fails, say whether evaluations failed (a starved rule call times out) or
    // messages went missing in the queues.
    assert!(
        complete,
        "after 300 s: {} of {expected_total} notifications; {module_failures} module failures; \
         {} processed of {TOTAL}; queues {:?}",
        got.values().map(distinct).sum::<usize>(),
        processed(&transport).await,
        transport.queue_depths().await.ok()
    );
    assert_matches(&original, &want, &mut got, true);
    let written = all_notifications(&url).await.len();
    eprintln!(
        "notifications: {expected_total} expected, {written} written ({} written twice)",
        written - expected_total
    );
}

/// What a worker that stalls (heartbeat on; it reads one batch of 16, then nothing more) is
/// left holding after 4,000 messages under `mode`; then it resumes, and every message is
/// processed once.
async fn stall(mode: fmn_consumer::DispatchMode) -> (u64, Option<u64>) {
    use std::sync::Arc;

    use fmn_consumer::{ConsumerOptions, JsonLines, consume};
    use fmn_host::{Plan, RuleSet, WorkerOptions, run_worker};
    use fmn_transport::WorkerInfo;
    use tokio_util::sync::CancellationToken;

    const TOTAL: u64 = 4000;
    let redis = RedisServer::start();
    let t = redis.transport().await;
    let ruleset = Arc::new(RuleSet::new(0, Vec::new()).unwrap());
    let snapshot = fmn_host::worker::shared(
        ruleset.clone(),
        Arc::new(Plan::empty(&ruleset)),
        Default::default(),
    );
    let stop = CancellationToken::new();
    let mut workers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(run_worker(
                t.clone(),
                snapshot.clone(),
                WorkerOptions::new(format!("w{i}")),
                stop.clone(),
            ))
        })
        .collect();
    t.register_worker(&WorkerInfo::local("stalled"))
        .await
        .unwrap();
    let beat = crate::support::keep_alive(&t, "stalled", Duration::from_millis(200));
    let in_hand = {
        let t = t.clone();
        tokio::spawn(async move {
            loop {
                let got = t
                    .read_work("stalled", 16, Duration::from_millis(100))
                    .await
                    .unwrap();
                if !got.is_empty() {
                    return got;
                }
            }
        })
    };
    wait_until(Duration::from_secs(30), "four live workers", async || {
        t.live_workers().await.unwrap().len() == 4
    })
    .await;
    let input: String = (0..TOTAL)
        .map(|i| format!("{{\"topic\": \"org.example.t\", \"id\": \"m{i}\", \"body\": {{}}}}\n"))
        .collect();
    let opts = ConsumerOptions {
        batch: 64,
        dispatch: mode,
        refresh_workers: Duration::from_millis(1),
        ..Default::default()
    };
    let mut source = JsonLines::new(input.as_bytes(), "generated");
    let report = consume(&t, &mut source, &opts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.dispatched, TOTAL);
    let in_hand = in_hand.await.unwrap();
    // Its own queue (what it read from there included), and what it read from the shared
    // queue. Not the shared queue's pending count: until the others are done, that also
    // counts the batches they have in hand.
    let from_shared = in_hand.iter().filter(|e| e.id.is_shared()).count() as u64;
    let held = async || t.backlogs(&["stalled".to_owned()]).await.unwrap()[0].entries + from_shared;
    wait_until(Duration::from_secs(60), "the others done", async || {
        processed(&t).await + held().await >= TOTAL
    })
    .await;
    let held = held().await;
    let oldest = t
        .queue_depths()
        .await
        .unwrap()
        .into_iter()
        .find(|q| (q.name == "work:stalled" || q.name == "shared-work") && q.waiting > 0)
        .and_then(|q| q.oldest_ms);

    // It resumes: finishes the batch in hand, then serves as usual; all is processed, once.
    beat.abort();
    let ids: Vec<_> = in_hand.iter().map(|e| e.id.clone()).collect();
    t.complete_work("stalled", &ids, &[]).await.unwrap();
    workers.push(tokio::spawn(run_worker(
        t.clone(),
        snapshot.clone(),
        WorkerOptions::new("stalled"),
        stop.clone(),
    )));
    wait_until(
        Duration::from_secs(60),
        "every message processed",
        async || processed(&t).await >= TOTAL,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processed(&t).await, TOTAL, "processed once each");
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    (held, oldest)
}

/// A stalled worker under random dispatch keeps its share, and its backlog shows (with the
/// age of its oldest entry); under p2c the live ones absorb nearly all of it; under shared
/// it holds only the batch it had in hand. Either way nothing is lost when it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_keeps_its_share_under_random_and_loses_it_under_p2c_and_shared() {
    use fmn_consumer::DispatchMode;
    let (random, oldest) = stall(DispatchMode::Random).await;
    assert!((700..1300).contains(&random), "random: {random} of 4000");
    assert!(oldest.is_some(), "its backlog has an age");
    let (p2c, _) = stall(DispatchMode::P2c).await;
    assert!(p2c < 400, "p2c: {p2c} of 4000");
    let (shared, oldest) = stall(DispatchMode::Shared).await;
    assert!((1..=16).contains(&shared), "shared: {shared} of 4000");
    assert!(oldest.is_some(), "what it holds has an age");
    eprintln!("held by the stalled worker: random {random}, p2c {p2c}, shared {shared} of 4000");
}

/// A worker whose batch takes seconds of CPU stays live throughout: its heartbeat goes on
/// while it evaluates, even on a runtime with a single thread for tasks (where a task woken
/// on the evaluating thread would otherwise wait for the whole batch). Had it looked dead,
/// a janitor would have handed its batch to another worker, to be evaluated twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_worker_busy_with_a_long_batch_stays_live() {
    use std::sync::Arc;

    use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, WasmModule, WorkerOptions, run_worker};
    use fmn_transport::{MemoryTransport, WorkItem};
    use tokio_util::sync::CancellationToken;

    const TTL: Duration = Duration::from_millis(1000);
    // Each call counts to four billion: about a second of CPU time here.
    let bytes = crate::wasm::counting_module("slow", 0, 4_000_000_000);
    let sandbox = Sandbox::new(fmn_host::SandboxConfig {
        timeout: Duration::from_secs(30),
        ..fmn_host::SandboxConfig::default()
    })
    .unwrap();
    let module = WasmModule::from_bytes(&sandbox, &bytes, "slow.wasm").unwrap();
    let ruleset = Arc::new(RuleSet::new(1, vec![LoadedModule::wasm(module)]).unwrap());
    let prefs = fmn_core::Preferences::from_text(
        "p.toml",
        "[users.a.channels.email]\naddresses = [\"a@x\"]\n\
         filters = [{ name = \"slow\", rules = [{ rule = \"slow::spin\" }] }]\n",
        false,
    )
    .unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());

    let t = MemoryTransport::new(TTL);
    let bus = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "k1",
        "msg": {"owner": "ralph", "name": "vim", "version": "9", "release": "1", "new": 3}}"#;
    let envelope = fmn_core::Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap();
    let batch: Vec<_> = (0..5)
        .map(|i| {
            (
                "w".to_owned(),
                WorkItem::new(envelope.clone(), format!("test:{i}")),
            )
        })
        .collect();
    let stop = CancellationToken::new();
    let opts = WorkerOptions {
        heartbeat: Duration::from_millis(50),
        ..WorkerOptions::new("w")
    };
    let worker = tokio::spawn(run_worker(t.clone(), snapshot, opts, stop.clone()));
    wait_until(Duration::from_secs(30), "the worker live", async || {
        t.live_workers().await.unwrap() == ["w"]
    })
    .await;
    t.dispatch(&batch).await.unwrap();

    // This task runs on the test's own thread, not the runtime's: it watches throughout.
    let started = std::time::Instant::now();
    let mut looked_dead = Vec::new();
    while processed(&t).await < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the batch never finished"
        );
        if t.live_workers().await.unwrap().is_empty() {
            looked_dead.push(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    stop.cancel();
    worker.await.unwrap();
    assert!(
        took > 3 * TTL,
        "the batch took {took:?}: too short to outlast the heartbeat's lifetime, the test means nothing"
    );
    assert!(
        looked_dead.is_empty(),
        "the worker looked dead {} times during its {took:?} batch, first after {:?}",
        looked_dead.len(),
        looked_dead.first()
    );
}
