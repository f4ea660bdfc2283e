//! Hot reload: modules republished through Redis while 100,000 messages stream through four
//! workers, and modules replaced in a watched directory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fmn_consumer::{ConsumerOptions, JsonLines, consume};
use fmn_core::{ChannelKind, Envelope, Notification};
use fmn_host::{
    LoadedModule, Plan, Reloader, RuleSet, RulesReport, Sandbox, SandboxConfig, Sources, Start,
    StartError, WasmModule, WorkerOptions, run_worker,
};
use fmn_transport::{DeadLetters, Registry};
use fmn_transport::{MemoryTransport, ModuleStore, PrefsStore, RedisTransport, Transport};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::pipeline::{corpus_messages, predict_per_message, preferences};
use crate::support::fixtures::{BUNDLED, HOSTILE};
use crate::support::{RedisServer, wait_until, wasm_variant};

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A consumer with default options dispatching `messages` through `t`, in a task of its own.
pub(crate) fn spawn_consumer(
    t: RedisTransport,
    messages: Vec<String>,
) -> tokio::task::JoinHandle<fmn_consumer::ConsumeReport> {
    tokio::spawn(async move {
        let input = messages.join("\n");
        let mut source = JsonLines::new(input.as_bytes(), "copies");
        consume(
            &t,
            &mut source,
            &ConsumerOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap()
    })
}

/// `copies` copies of each message, each with an id of its own: `{original id}~{copy}`.
pub(crate) fn copies(messages: &[String], copies: usize) -> (Vec<String>, HashMap<String, String>) {
    let mut out = Vec::with_capacity(messages.len() * copies);
    let mut original = HashMap::new();
    for j in 0..copies {
        for m in messages {
            let base = Envelope::from_bus_json(m.as_bytes(), 1 << 20).unwrap().id;
            let id = format!("{base}~{j}");
            let mut v: serde_json::Value = serde_json::from_str(m).unwrap();
            let field = if v.get("msg").is_some() {
                "msg_id"
            } else {
                "id"
            };
            v[field] = serde_json::Value::String(id.clone());
            out.push(v.to_string());
            original.insert(id, base);
        }
    }
    (out, original)
}

pub(crate) async fn processed<T: Transport>(t: &T) -> u64 {
    t.worker_counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.processed)
        .sum()
}

pub(crate) async fn reports(t: &RedisTransport) -> Vec<(u64, Option<RulesReport>)> {
    let fields = t
        .worker_fields()
        .await
        .unwrap_or_else(|e| panic!("reading the workers' fields: {e}"));
    fields
        .iter()
        .map(|(id, f)| {
            (
                f.get("generation")
                    .and_then(|g| g.parse().ok())
                    .unwrap_or(0),
                f.get("rules").map(|r| {
                    serde_json::from_str(r)
                        .unwrap_or_else(|e| panic!("worker {id}'s rules report {r}: {e}"))
                }),
            )
        })
        .collect()
}

pub(crate) async fn all_notifications(redis_url: &str) -> Vec<Notification> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Pages of thousands of notifications, read while other tests load both cores: the
    // client's default response timeout is too short for them.
    conn.set_response_timeout(Duration::from_secs(60));
    let mut out = Vec::new();
    for channel in [ChannelKind::Email, ChannelKind::Irc] {
        let key = format!("fmn:out:{channel}");
        let mut start = "-".to_owned();
        loop {
            let page: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(5000)
                .query_async(&mut conn)
                .await
                .unwrap();
            let Some((last, _)) = page.last() else { break };
            start = format!("({last}");
            for (_, fields) in &page {
                let (_, d) = fields.iter().find(|(k, _)| k == "d").unwrap();
                out.push(serde_json::from_str(d).unwrap());
            }
        }
    }
    out
}

/// While 100,000 messages stream through four workers, the module is republished ten times
/// and once broken. Every message is evaluated exactly once, wholly by one generation; the
/// broken version is refused and the one before keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishing_under_load_loses_nothing_and_mixes_no_generations() {
    const TOTAL: usize = 100_000;
    let base = corpus_messages(1000);
    let prefs = preferences(&base);
    let want = predict_per_message(&prefs, &base);
    let (messages, original) = copies(&base, TOTAL / base.len());

    let redis = RedisServer::start();
    let transport = redis.transport().await;
    // The versions to publish, compiled ahead into the disk cache as a build machine would:
    // under load a swap then takes milliseconds, and every generation sees messages.
    let cache = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..crate::support::generous_sandbox()
    })
    .unwrap();
    let versions: Vec<Vec<u8>> = (0..11)
        .map(|i| {
            if i == 5 {
                BUNDLED[..BUNDLED.len() / 2].to_vec()
            } else {
                let v = wasm_variant(BUNDLED, &format!("v{i}"));
                WasmModule::from_bytes(&sandbox, &v, "variant").unwrap();
                v
            }
        })
        .collect();
    let bundled = LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap());
    let ruleset = Arc::new(RuleSet::new(1, vec![bundled.clone()]).unwrap());
    let prefs = Arc::new(prefs);
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let ids: Vec<String> = (0..4).map(|i| format!("w{i}")).collect();

    let stop = CancellationToken::new();
    let mut reloader = Reloader::new(
        sandbox.clone(),
        Sources {
            fixed: vec![bundled],
            paths: Vec::new(),
            store: Some(transport.clone()),
        },
        prefs.clone(),
        snapshot.clone(),
        Some((transport.clone(), ids.clone())),
    )
    .with_poll(Duration::from_millis(200));
    assert!(
        !reloader.check().await,
        "nothing published yet: generation 1 stays"
    );
    let reload = tokio::spawn(reloader.run(stop.clone()));
    let mut workers = Vec::new();
    for id in &ids {
        let mut opts = WorkerOptions::new(id.clone());
        opts.batch = 64;
        workers.push(tokio::spawn(run_worker(
            transport.clone(),
            snapshot.clone(),
            opts,
            stop.clone(),
        )));
    }

    let consumer = spawn_consumer(transport.clone(), messages);

    // The publisher: after every ~4,000 messages, a new version; the sixth is broken. It waits
    // for each to be taken or refused, so that every generation evaluates messages.
    let t = transport.clone();
    let (good, broken, last_generation) = {
        let mut good = Vec::new();
        let mut broken = None;
        let mut generation = 1u64;
        for (i, bytes) in versions.iter().enumerate() {
            let from = processed(&t).await;
            wait_until(Duration::from_secs(120), "messages flowing", async || {
                processed(&t).await >= from + 4000
            })
            .await;
            let sha = sha256(bytes);
            t.publish_module("fedora", &sha, bytes).await.unwrap();
            if i == 5 {
                wait_until(
                    Duration::from_secs(60),
                    "the broken version refused",
                    async || {
                        reports(&t).await.iter().all(|(_, r)| {
                            r.as_ref()
                                .is_some_and(|r| r.refused.iter().any(|x| x.sha256 == sha))
                        })
                    },
                )
                .await;
                // The old version still runs, and the workers still serve.
                let before = processed(&t).await;
                for (g, r) in reports(&t).await {
                    let r = r.unwrap();
                    assert_eq!((g, r.generation), (generation, generation));
                    assert_eq!(r.modules[0].sha256, *good.last().unwrap());
                    assert_eq!(r.refused.len(), 1);
                    assert_eq!(r.refused[0].module, "fedora");
                    assert!(
                        r.refused[0].reason.contains("invalid wasm module"),
                        "{}",
                        r.refused[0].reason
                    );
                }
                wait_until(
                    Duration::from_secs(60),
                    "workers still serving",
                    async || processed(&t).await > before + 1000,
                )
                .await;
                broken = Some(sha);
            } else {
                generation += 1;
                let g = generation;
                wait_until(
                    Duration::from_secs(60),
                    "the new version in every worker",
                    async || {
                        reports(&t).await.iter().all(|(wg, r)| {
                            *wg == g && r.as_ref().is_some_and(|r| r.modules[0].sha256 == sha)
                        })
                    },
                )
                .await;
                good.push(sha);
            }
        }
        (good, broken.unwrap(), generation)
    };

    let report = consumer.await.unwrap();
    assert_eq!(
        (report.read, report.dispatched),
        (TOTAL as u64, TOTAL as u64)
    );
    assert_eq!((good.len(), last_generation), (10, 11));
    wait_until(
        Duration::from_secs(600),
        "every message processed",
        async || processed(&transport).await >= TOTAL as u64,
    )
    .await;
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    reload.await.unwrap();

    // Nothing lost, nothing evaluated twice.
    let counts = transport.worker_counts().await.unwrap();
    assert_eq!(
        counts.iter().map(|c| c.processed).sum::<u64>(),
        TOTAL as u64
    );
    assert_eq!(counts.iter().map(|c| c.received).sum::<u64>(), TOTAL as u64);
    assert!(counts.iter().all(|c| c.processed > 10_000), "{counts:?}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);

    let notifications = all_notifications(&redis.url()).await;
    let mut got: HashMap<String, BTreeSet<(String, ChannelKind)>> = HashMap::new();
    let mut generations: HashMap<String, BTreeSet<u64>> = HashMap::new();
    let mut delivery_ids = BTreeSet::new();
    for n in &notifications {
        assert!(
            delivery_ids.insert(n.delivery_id.clone()),
            "{} notified twice for {}",
            n.user,
            n.message.id
        );
        got.entry(n.message.id.clone())
            .or_default()
            .insert((n.user.clone(), n.channel));
        generations
            .entry(n.message.id.clone())
            .or_default()
            .insert(n.generation);
    }
    let mut expected_total = 0;
    for (id, base_id) in &original {
        let want = want.get(base_id).cloned().unwrap_or_default();
        expected_total += want.len();
        assert_eq!(
            got.get(id).cloned().unwrap_or_default(),
            want,
            "notifications of {id}"
        );
    }
    assert_eq!(notifications.len(), expected_total);
    assert!(
        expected_total > 30_000,
        "a test worth running: {expected_total}"
    );

    // Each message evaluated wholly by one generation, and every generation evaluated some.
    let mut per_generation: BTreeMap<u64, usize> = BTreeMap::new();
    for (id, g) in &generations {
        assert_eq!(g.len(), 1, "{id} was evaluated by generations {g:?}");
        *per_generation.entry(*g.first().unwrap()).or_default() += 1;
    }
    eprintln!("messages per generation: {per_generation:?}");
    assert_eq!(
        per_generation.keys().copied().collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>(),
        "messages per generation: {per_generation:?}"
    );

    // What the workers report at the end: the last good version, and the broken one refused.
    for (g, r) in reports(&transport).await {
        let r = r.unwrap();
        assert_eq!((g, r.generation), (11, 11));
        assert_eq!(r.modules.len(), 1);
        assert_eq!(r.modules[0].sha256, *good.last().unwrap());
        assert!(r.modules[0].origin.starts_with("redis:fedora@"));
        assert_eq!(
            r.refused.iter().map(|x| &x.sha256).collect::<Vec<_>>(),
            vec![&broken]
        );
    }
}

/// A directory holding the bundled module as `fedora.wasm`, that file, and a sandbox without
/// a disk cache to load it into.
fn watched_bundled() -> (tempfile::TempDir, std::path::PathBuf, Arc<Sandbox>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fedora.wasm");
    std::fs::write(&file, BUNDLED).unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: None,
        ..crate::support::generous_sandbox()
    })
    .unwrap();
    (dir, file, sandbox)
}

/// A watched directory: a replaced file is swapped in; a broken one is refused and the
/// version before it keeps running; a new file adds a module; a removed one drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_directory_swaps_refuses_adds_and_drops() {
    let (dir, file, sandbox) = watched_bundled();
    let modules = fmn_host::ruleset::load_paths(&sandbox, &[dir.path().to_owned()]).unwrap();
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Arc::new(preferences(&corpus_messages(1000)));
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let mut reloader: Reloader<MemoryTransport> = Reloader::new(
        sandbox.clone(),
        Sources {
            fixed: Vec::new(),
            paths: vec![dir.path().to_owned()],
            store: None,
        },
        prefs,
        snapshot.clone(),
        None,
    );
    let running = || {
        let s = snapshot.load();
        let mods: Vec<(String, String)> = s
            .ruleset
            .modules()
            .iter()
            .map(|m| (m.name().to_owned(), m.version_id.clone()))
            .collect();
        (s.ruleset.generation, mods)
    };
    assert!(!reloader.check().await);
    assert_eq!(running(), (1, vec![("fedora".into(), sha256(BUNDLED))]));

    // Replaced: the new version runs.
    let v2 = wasm_variant(BUNDLED, "v2");
    std::fs::write(&file, &v2).unwrap();
    assert!(reloader.check().await);
    assert_eq!(running(), (2, vec![("fedora".into(), sha256(&v2))]));

    // Broken: refused, v2 keeps running, and the refusal names the file and the reason.
    std::fs::write(&file, b"\0asm\x01\0\0\0garbage").unwrap();
    assert!(reloader.check().await);
    assert_eq!(running(), (2, vec![("fedora".into(), sha256(&v2))]));
    let refused = reloader.refused().last().unwrap().clone();
    assert_eq!(refused.module, file.display().to_string());
    assert!(
        refused.reason.contains("invalid wasm module"),
        "{}",
        refused.reason
    );
    // Checked again unchanged: nothing new, no second refusal.
    assert!(!reloader.check().await);
    assert_eq!(reloader.refused().len(), 1);

    // A second module with the same name as the first is refused as a duplicate.
    std::fs::write(&file, &v2).unwrap();
    let copy = dir.path().join("copy.wasm");
    std::fs::write(&copy, wasm_variant(BUNDLED, "copy")).unwrap();
    assert!(reloader.check().await);
    assert_eq!(running(), (2, vec![("fedora".into(), sha256(&v2))]));
    assert!(
        reloader.refused().last().unwrap().reason.contains("fedora"),
        "{:?}",
        reloader.refused().last()
    );
    std::fs::remove_file(&copy).unwrap();

    // A module of another name is added; then removed again.
    let other = dir.path().join("hostile.wasm");
    std::fs::write(&other, HOSTILE).unwrap();
    assert!(reloader.check().await);
    let (g, mods) = running();
    assert_eq!(g, 3);
    assert_eq!(
        mods.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["fedora", "hostile"]
    );
    std::fs::remove_file(&other).unwrap();
    assert!(reloader.check().await);
    assert_eq!(running(), (4, vec![("fedora".into(), sha256(&v2))]));
}

/// A worker process's first snapshot comes from the reloader: generation 1 of the watched
/// files with the preferences compiled whole, which the reloader then goes on from as from any
/// later one; preferences that do not compile stop the start, every problem listed; without a
/// poll there is no reloader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reloader_builds_the_first_snapshot_and_goes_on_from_it() {
    let (dir, file, sandbox) = watched_bundled();
    let start = |prefs: Arc<fmn_core::Preferences>, poll| Start {
        sandbox: sandbox.clone(),
        sources: Sources {
            fixed: Vec::new(),
            paths: vec![dir.path().to_owned()],
            store: None,
        },
        prefs: prefs.into(),
        base_data: Default::default(),
        meta_module: "fedora".into(),
        poll,
    };
    let prefs = Arc::new(preferences(&corpus_messages(200)));
    let poll = Some(Duration::from_millis(100));
    let (snapshot, reloader) = Reloader::<MemoryTransport>::start(start(prefs.clone(), poll), None)
        .await
        .unwrap();
    let first = snapshot.load_full();
    assert_eq!(first.ruleset.generation, 1);
    assert_eq!(first.ruleset.modules()[0].version_id, sha256(BUNDLED));
    assert_eq!(first.prefs_version, 0);
    let users = first.plan.stats().users;
    assert!(users > 0);
    let mut reloader = reloader.expect("a reloader, with a poll");
    assert!(!reloader.check().await, "nothing changed since the start");
    let v2 = wasm_variant(BUNDLED, "v2");
    std::fs::write(&file, &v2).unwrap();
    assert!(reloader.check().await);
    let second = snapshot.load_full();
    assert_eq!(second.ruleset.generation, 2);
    assert_eq!(second.ruleset.modules()[0].version_id, sha256(&v2));
    assert_eq!(second.plan.stats().users, users);

    let (_, none) = Reloader::<MemoryTransport>::start(start(prefs, None), None)
        .await
        .unwrap();
    assert!(none.is_none(), "no poll, no reloader");

    let typo = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [{ name = "typo", rules = [{ rule = "fedora::pakage_filter", args = { package = "vim" } }] }]
"#;
    let bad = Arc::new(fmn_core::Preferences::from_text("typo.toml", typo, false).unwrap());
    let Err(e) = Reloader::<MemoryTransport>::start(start(bad, poll), None).await else {
        panic!("preferences that do not compile started a worker");
    };
    assert!(matches!(e, StartError::Problems { .. }), "{e}");
    let said = e.to_string();
    assert!(
        said.starts_with("the preferences given: 1 problem(s):\n  user \"ralph\"")
            && said.contains("module fedora has no rule \"pakage_filter\""),
        "{said}"
    );
}

/// The rules report the reloader keeps for worker `id` (read directly: the test registers no
/// worker).
async fn rules_of(redis_url: &str, id: &str) -> Option<RulesReport> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let json: Option<String> = redis::cmd("HGET")
        .arg(format!("fmn:worker:{id}"))
        .arg("rules")
        .query_async(&mut conn)
        .await
        .unwrap();
    json.map(|j| serde_json::from_str(&j).unwrap())
}

/// Waits until the rules report for worker `w0` says `done`.
async fn report_until(redis_url: &str, what: &str, done: impl Fn(&RulesReport) -> bool) {
    wait_until(Duration::from_secs(60), what, async || {
        rules_of(redis_url, "w0").await.is_some_and(|r| done(&r))
    })
    .await;
}

/// A module that takes seconds to load (600 samples counting to two million each) does not
/// hold back preferences: while it loads, a `prefs set` reaches the workers' batch gate, which
/// lets their batches go with the new preferences and the old rules. Nor does it hold back
/// another module published meanwhile. It is swapped in when its load ends, compiled against
/// the new preferences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_catch_up_while_a_slow_module_loads() {
    let redis = RedisServer::start();
    let t = redis.transport().await;
    let prefs_of = |fasnick: &str| {
        fmn_core::Preferences::from_text(
            "p.toml",
            &format!(
                r#"
[users.alice.channels.email]
addresses = ["alice@x"]
filters = [{{ name = "mine", rules = [{{ rule = "fedora::user_filter", args = {{ fasnick = "{fasnick}" }} }}] }}]
"#
            ),
            false,
        )
        .unwrap()
    };
    let prefs = Arc::new(prefs_of("alice"));
    let first = t.import_prefs(&prefs).await.unwrap();

    let cache = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.path().to_owned()),
        load_budget: Duration::from_secs(600),
        ..crate::support::generous_sandbox()
    })
    .unwrap();
    WasmModule::from_bytes(&sandbox, HOSTILE, "hostile.wasm").unwrap();
    let bundled = LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap());
    let (snapshot, reloader) = following_redis_prefs(&t, sandbox, bundled, prefs, first);
    let gate = reloader.prefs_gate().unwrap();
    let stop = CancellationToken::new();
    let reload = tokio::spawn(reloader.run(stop.clone()));
    let has_slow = || {
        let s = snapshot.load();
        s.ruleset.modules().iter().any(|m| m.name() == "slow")
    };

    report_until(&redis.url(), "the reloader running", |r| r.generation == 1).await;

    let slow = crate::wasm::counting_module("slow", 600, 2_000_000);
    let sha = sha256(&slow);
    t.publish_module("slow", &sha, &slow).await.unwrap();
    report_until(&redis.url(), "the slow module loading", |r| {
        r.loading.iter().any(|l| l.sha256 == sha)
    })
    .await;

    let user = prefs_of("bob").users.remove("alice").unwrap();
    let second = t.set_user_prefs("alice", Some(&user), None).await.unwrap();
    assert!(second > first);
    assert!(gate.wait_current(&snapshot, &stop).await);
    let s = snapshot.load_full();
    assert_eq!(
        s.prefs_version, second,
        "the gate waits for the new preferences"
    );
    assert!(
        !has_slow(),
        "the batch went before the load ended, with the rules it had"
    );
    assert_eq!(s.ruleset.generation, 1);
    let loading = rules_of(&redis.url(), "w0").await.unwrap().loading;
    assert_eq!(loading.len(), 1, "{loading:?}");

    // A module published meanwhile (compiled before, into the disk cache: it loads in
    // milliseconds) does not wait for the slow one either.
    t.publish_module("hostile", &sha256(HOSTILE), HOSTILE)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        "the other module swapped in",
        async || {
            snapshot
                .load()
                .ruleset
                .modules()
                .iter()
                .any(|m| m.name() == "hostile")
        },
    )
    .await;
    assert!(!has_slow(), "the other module went first");

    // Then the load ends: the module joins, under the new preferences.
    wait_until(
        Duration::from_secs(300),
        "the slow module swapped in",
        async || has_slow(),
    )
    .await;
    let s = snapshot.load_full();
    assert_eq!((s.ruleset.generation, s.prefs_version), (3, second));
    report_until(&redis.url(), "the report up to date", |r| {
        r.loading.is_empty() && r.modules.iter().any(|m| m.sha256 == sha)
    })
    .await;
    stop.cancel();
    reload.await.unwrap();
}

/// A snapshot of `prefs` (at `version`) compiled against `bundled`, and a reloader (worker
/// `w0`) that follows the preferences in Redis through `t`, polling every 100 ms.
fn following_redis_prefs(
    t: &RedisTransport,
    sandbox: Arc<Sandbox>,
    bundled: LoadedModule,
    prefs: Arc<fmn_core::Preferences>,
    version: u64,
) -> (fmn_host::SharedSnapshot, Reloader<RedisTransport>) {
    let ruleset = Arc::new(RuleSet::new(1, vec![bundled.clone()]).unwrap());
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let snapshot = fmn_host::worker::shared(ruleset.clone(), plan.clone(), Default::default());
    snapshot.store(Arc::new(fmn_host::Snapshot::new(
        ruleset,
        plan,
        Default::default(),
        version,
    )));
    let reloader = Reloader::new(
        sandbox,
        Sources {
            fixed: vec![bundled],
            paths: Vec::new(),
            store: Some(t.clone()),
        },
        prefs,
        snapshot.clone(),
        Some((t.clone(), vec!["w0".to_owned()])),
    )
    .with_redis_prefs()
    .with_poll(Duration::from_millis(100));
    (snapshot, reloader)
}

/// Who a Koji build failure of `owner`'s package notifies, by the worker's current plan.
fn notified_for(snapshot: &fmn_host::SharedSnapshot, owner: &str) -> Vec<String> {
    let s = snapshot.load_full();
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    let msg = fmn_rules_sdk::testing::envelope(&format!(
        r#"{{"topic": "{topic}", "msg_id": "{owner}", "msg": {{"owner": "{owner}", "name": "nethack", "new": 3}}}}"#
    ))
    .unwrap();
    let ev = s.evaluator().evaluate(msg.as_bytes(), topic);
    let mut users: Vec<String> = ev
        .matches
        .iter()
        .map(|m| s.plan.users[m.user as usize].name.clone())
        .collect();
    users.sort();
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_compile_here_keeps_its_user_and_the_others_apply() {
    let redis = RedisServer::start();
    let t = redis.transport().await;
    let user = |rule: &str, fasnick: &str| {
        let text = format!(
            r#"
[users.x.channels.email]
addresses = ["x@example.org"]
filters = [{{ name = "mine", rules = [{{ rule = "fedora::{rule}", args = {{ fasnick = "{fasnick}" }} }}] }}]
"#
        );
        let mut p = fmn_core::Preferences::from_text("p.toml", &text, false).unwrap();
        p.users.remove("x").unwrap()
    };
    let mut prefs = fmn_core::Preferences::default();
    prefs
        .users
        .insert("alice".into(), user("user_filter", "alice"));
    prefs.users.insert("bob".into(), user("user_filter", "bob"));
    let prefs = Arc::new(prefs);
    let first = t.import_prefs(&prefs).await.unwrap();

    let sandbox = Sandbox::new(crate::support::generous_sandbox()).unwrap();
    let bundled = LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap());
    let (snapshot, reloader) = following_redis_prefs(&t, sandbox, bundled, prefs, first);
    let gate = reloader.prefs_gate().unwrap();
    let stop = CancellationToken::new();
    let reload = tokio::spawn(reloader.run(stop.clone()));
    assert_eq!(notified_for(&snapshot, "bob"), ["bob"]);

    // Bob's new rule does not exist here (it was never checked: written straight to Redis);
    // Alice now follows Carol, and Dave is new.
    t.set_user_prefs("alice", Some(&user("user_filter", "carol")), None)
        .await
        .unwrap();
    t.set_user_prefs("bob", Some(&user("no_such_rule", "bob")), None)
        .await
        .unwrap();
    let last = t
        .set_user_prefs("dave", Some(&user("user_filter", "dave")), None)
        .await
        .unwrap();
    assert!(gate.wait_current(&snapshot, &stop).await);
    assert_eq!(snapshot.load().prefs_version, last);
    assert_eq!(notified_for(&snapshot, "carol"), ["alice"]);
    assert!(notified_for(&snapshot, "alice").is_empty());
    assert_eq!(
        notified_for(&snapshot, "bob"),
        ["bob"],
        "bob keeps his previous preferences"
    );
    assert_eq!(notified_for(&snapshot, "dave"), ["dave"]);

    // A user removed leaves; the others stay as they are.
    let later = t.set_user_prefs("dave", None, None).await.unwrap();
    assert!(gate.wait_current(&snapshot, &stop).await);
    assert_eq!(snapshot.load().prefs_version, later);
    assert_eq!(notified_for(&snapshot, "bob"), ["bob"]);
    assert!(notified_for(&snapshot, "dave").is_empty());
    stop.cancel();
    reload.await.unwrap();
}
