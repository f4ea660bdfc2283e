//! The wasm host: the bundled module loads and describes itself, and modules that misbehave
//! are refused at load or contained at run time, with errors that name the module and rule,
//! while the other modules go on deciding.

use std::sync::Arc;

use fmn_core::Preferences;
use fmn_host::{
    Evaluator, FailureKind, LoadError, LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig,
    WasmModule,
};

use crate::support::fixtures::{BUNDLED, HOSTILE};

pub(crate) fn sandbox() -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig::default()).unwrap()
}

/// The description of the WAT test modules: one rule, `spin`.
pub const DESCRIPTION: &str = r#"{"abi":1,"name":"hostile","version":"0","doc":"","rules":[{"name":"spin","doc":"","args":[],"topics":[],"key":null}],"extractors":[]}"#;

/// A module that speaks the ABI, with `eval` as its `fmn_eval` body and `abi` as its version.
pub fn hostile_with(eval: &str, abi: i32, extra: &str) -> Vec<u8> {
    module_wat(DESCRIPTION, eval, abi, extra)
}

/// A module that speaks the ABI and describes itself as `desc`.
pub fn module_wat(desc: &str, eval: &str, abi: i32, extra: &str) -> Vec<u8> {
    wat::parse_str(module_text(desc, eval, abi, extra)).unwrap()
}

/// The text of [`module_wat`]'s module.
fn module_text(desc: &str, eval: &str, abi: i32, extra: &str) -> String {
    format!(
        r#"(module
  {extra}
  (memory (export "memory") 2)
  (data (i32.const 1024) "fmn1")
  (data (i32.const 4096) "{data}")
  ;; The answer "no match" for one handle and no extractor.
  (data (i32.const 60000) "\00\01\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (func (export "fmn_abi_version") (result i32) (i32.const {abi}))
  (func (export "fmn_state") (result i32) (i32.const 1024))
  (func (export "fmn_input") (param i32) (result i32) (i32.const 65536))
  (func (export "fmn_describe") (result i64) (i64.const {describe}))
  (func (export "fmn_register") (param i32 i32) (result i64) (i64.const 0))
  (func (export "fmn_unregister") (param i32) (result i32) (i32.const 0))
  (func (export "fmn_error") (result i64) (i64.const 0))
  (func (export "fmn_eval") (param i32) (result i64)
    ;; Say "running rule 0" in the state block, as the SDK's guest does.
    (i32.store (i32.const 1028) (i32.const 2))
    (i32.store (i32.const 1032) (i32.const 0))
    {eval}))"#,
        data = desc.replace('"', "\\\""),
        describe = (4096i64 << 32) | desc.len() as i64,
    )
}

/// The bundled module and the hostile one (tests/modules/hostile), loaded.
fn bundled_and_hostile() -> Vec<LoadedModule> {
    let sb = sandbox();
    vec![
        LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
        LoadedModule::wasm(WasmModule::from_bytes(&sb, HOSTILE, "hostile.wasm").unwrap()),
    ]
}

/// An evaluator of `modules` for the preferences `prefs` (TOML), and its plan.
pub(crate) fn evaluator_for(modules: Vec<LoadedModule>, prefs: &str) -> (Evaluator, Arc<Plan>) {
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Preferences::from_text("p.toml", prefs, false).unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let e = Evaluator::new(ruleset, plan.clone(), Default::default());
    (e, plan)
}

/// The description of a module `name` with one rule, `spin`, and `samples` samples of it
/// (each: no match on topic `a.b`).
fn samples_description(name: &str, samples: usize) -> String {
    let sample = r#"{"rule":"spin","args":{},"message":{"topic":"a.b","body":{}},"matches":false}"#;
    format!(
        r#"{{"abi":1,"name":"{name}","version":"0","doc":"","rules":[{{"name":"spin","doc":"","args":[],"topics":[],"key":null}}],"extractors":[],"samples":[{}]}}"#,
        vec![sample; samples].join(",")
    )
}

/// A module `name` with `samples` samples (at most 600, to fit the template's memory), each
/// of which counts to `count` before answering "no match": its load costs as much as the
/// samples ask.
pub(crate) fn counting_module(name: &str, samples: usize, count: u32) -> Vec<u8> {
    let eval = format!(
        "(global.set $i (i32.const 0)) (loop $l (global.set $i (i32.add (global.get $i) (i32.const 1))) \
         (br_if $l (i32.lt_u (global.get $i) (i32.const {count})))) {NO_MATCH}"
    );
    let desc = samples_description(name, samples);
    module_wat(&desc, &eval, 1, "(global $i (mut i32) (i32.const 0))")
}

/// The `fmn_eval` body that answers "no match".
pub(crate) const NO_MATCH: &str = "(i64.const 257698037760021)";

fn hostile(eval: &str) -> Vec<u8> {
    hostile_with(eval, 1, "")
}

pub(crate) const SPIN: &str = "(loop $l (br $l)) (i64.const 0)";
const MEMORY_BOMB: &str =
    "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i64.const 0)";
/// Grows its table (outside linear memory) by 200 million elements at a time.
pub const TABLE_BOMB: &str = "(loop $l (br_if $l (i32.ne (table.grow $t (ref.null func) (i32.const 200000000)) (i32.const -1)))) (i64.const 0)";
const BAD_POINTER: &str = "(i64.const 0x7fff000000000010)";
const HUGE_OUTPUT: &str = "(i64.const 104857600)";

#[test]
fn the_bundled_module_loads_and_describes_itself() {
    let m = WasmModule::from_bytes(&sandbox(), BUNDLED, "bundled").unwrap();
    assert_eq!(m.name(), "fedora");
    assert_eq!(m.sha256.len(), 64);
    let rule = |name: &str| m.description.rules.iter().find(|r| r.name == name).unwrap();
    assert_eq!(
        m.description.rules.len(),
        2 + 318 + 8,
        "topic and category, FMN 2's catalogue, FMN 3's rules"
    );
    let user = rule("user_filter");
    let key = user.key.as_ref().unwrap();
    assert_eq!(
        (key.extractor.as_str(), key.arg.as_str(), key.via.as_deref()),
        ("usernames", "fasnick", None)
    );
    assert_eq!(user.args[0].name, "fasnick");
    assert!(user.args[0].required);
    let owned = rule("user_package_filter").key.clone().unwrap();
    assert_eq!(
        (owned.extractor.as_str(), owned.via.as_deref()),
        ("packages", Some("packagers"))
    );
    let tag = rule("koji_tag");
    assert!(tag.exact);
    assert_eq!(tag.topics, ["*buildsys.tag"]);
    assert!(!rule("koji_build_failed").exact);
    assert!(user.doc.starts_with("Messages that involve a given user"));
    let group_owned = rule("artifacts_group_owned").key.clone().unwrap();
    assert_eq!(
        (group_owned.arg.as_str(), group_owned.via.as_deref()),
        ("groups", Some("group-owners"))
    );
}

#[test]
fn bad_module_files_are_refused_with_the_reason() {
    let sb = sandbox();
    let err = |bytes: &[u8]| WasmModule::from_bytes(&sb, bytes, "m.wasm").err().unwrap();
    assert!(matches!(
        err(b"hello, I am not wasm"),
        LoadError::NotWasm { .. }
    ));
    assert_eq!(
        err(b"hello").to_string(),
        "m.wasm: not a wasm module (it does not start with the wasm magic bytes `\\0asm`)"
    );
    let imports = hostile_with(
        SPIN,
        1,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
    );
    assert_eq!(
        err(&imports).to_string(),
        "m.wasm: imports `wasi_snapshot_preview1::fd_write`; a rule module may import nothing (no WASI, no host functions)"
    );
    assert_eq!(
        err(&hostile_with(SPIN, 7, "")).to_string(),
        "m.wasm: speaks ABI version 7; this host loads version 1 only: the module was built with a newer fmn-rules-sdk; upgrade the workers to an fmn that loads ABI 7, or build the module with fmn-rules-sdk 0.1.0"
    );
    let no_exports = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    assert!(
        err(&no_exports)
            .to_string()
            .contains("no export `fmn_abi_version` of type func() -> i32")
    );
    let mut big = b"\0asm\x01\0\0\0".to_vec();
    big.resize(17 << 20, 0);
    assert_eq!(
        err(&big).to_string(),
        format!(
            "m.wasm: {} bytes, over the limit of 16777216 bytes for a rule module",
            17 << 20
        )
    );
    assert!(matches!(
        err(b"\0asm\x01\0\0\0\x05garbage"),
        LoadError::Invalid { .. }
    ));
}

/// A koji build failure of `vim` by ralph, normalised.
pub(crate) fn koji() -> String {
    fmn_rules_sdk::testing::envelope(
        r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "k1",
            "msg": {"owner": "ralph", "name": "vim", "version": "9", "release": "1", "new": 3, "build_id": 1}}"#,
    )
    .unwrap()
}

/// Runs a hostile module beside the bundled one: the hostile filter fails (doing `during`,
/// with `kind` and `detail`), the bundled module's filter still matches, three times in a row.
fn contained(eval: &str, during: &str, kind: FailureKind, detail: &str) {
    contained_in(&hostile(eval), "spin", during, kind, detail);
}

/// Runs rule `rule` of the hostile module `bytes` beside the bundled one, as [`contained`].
fn contained_in(bytes: &[u8], rule: &str, during: &str, kind: FailureKind, detail: &str) {
    let sb = sandbox();
    let modules = vec![
        LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
        LoadedModule::wasm(WasmModule::from_bytes(&sb, bytes, "hostile.wasm").unwrap()),
    ];
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Preferences::from_text(
        "p.toml",
        &r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "hostile", rules = [{ rule = "hostile::RULE" }] }]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{ name = "ralph", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
"#
        .replace("RULE", rule),
        false,
    )
    .unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let mut e = Evaluator::new(ruleset, plan.clone(), Default::default());
    let msg = koji();
    // A call stopped for time is stopped by its CPU-time limit, or, when a loaded machine
    // starves its thread, by the wall-clock cap: contained either way (tests/it/cpu_time.rs
    // tells the two apart).
    let expected = |d: &str| {
        d.starts_with(detail)
            || (kind == FailureKind::Timeout && d.starts_with("ran past its wall-clock cap"))
    };
    for _ in 0..3 {
        let ev = e.evaluate(
            msg.as_bytes(),
            "org.fedoraproject.prod.buildsys.build.state.change",
        );
        let users: Vec<&str> = ev
            .matches
            .iter()
            .map(|m| plan.users[m.user as usize].name.as_str())
            .collect();
        assert_eq!(users, ["b"], "the other module still decides");
        assert_eq!(ev.meta.usernames, ["ralph"]);
        // A module that fails whatever it is asked fails as a whole; one that fails only with
        // the rule is answered, and the failure is that rule's.
        match (ev.failures.as_slice(), ev.rule_errors.as_slice()) {
            ([f], []) => {
                assert_eq!(
                    (f.module.as_str(), f.during.as_str(), f.kind),
                    ("hostile", during, kind)
                );
                assert!(expected(&f.detail), "{}", f.detail);
            }
            ([], [e]) => {
                assert_eq!(
                    (e.module.as_str(), format!("rule {}", e.rule)),
                    ("hostile", during.to_owned())
                );
                let (k, d) = e.error.split_once(": ").unwrap();
                assert_eq!(k, kind.as_str());
                assert!(expected(d), "{d}");
            }
            other => panic!("one failure expected: {other:?}"),
        }
    }
}

#[test]
fn an_endless_loop_is_interrupted_by_the_epoch_deadline() {
    contained(
        SPIN,
        "rule spin",
        FailureKind::Timeout,
        "ran past its time limit (20 ms)",
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    contained(
        MEMORY_BOMB,
        "rule spin",
        FailureKind::OutOfMemory,
        "exceeded its memory limit",
    );
}

#[test]
fn a_table_bomb_hits_the_table_limit() {
    contained_in(
        &hostile_with(TABLE_BOMB, 1, "(table $t 1 funcref)"),
        "spin",
        "rule spin",
        FailureKind::OutOfMemory,
        "exceeded its table limit",
    );
}

#[test]
fn a_pointer_outside_memory_is_refused() {
    contained(
        BAD_POINTER,
        "evaluating a message",
        FailureKind::BadOutput,
        "returned 16 bytes at 0x7fff0000, outside its 131072-byte memory",
    );
}

#[test]
fn a_huge_output_claim_is_refused() {
    contained(
        HUGE_OUTPUT,
        "evaluating a message",
        FailureKind::BadOutput,
        "claims a 104857600-byte output, over the limit of 4194304 bytes",
    );
}

#[test]
fn a_module_that_keeps_failing_is_quarantined_then_retried() {
    let sb = sandbox();
    let modules = vec![
        LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
        LoadedModule::wasm(WasmModule::from_bytes(&sb, &hostile(SPIN), "hostile.wasm").unwrap()),
    ];
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Preferences::from_text(
        "p.toml",
        r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "hostile", rules = [{ rule = "hostile::spin" }] }]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{ name = "ralph", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
"#,
        false,
    )
    .unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let policy = fmn_host::QuarantinePolicy {
        after: 3,
        first: std::time::Duration::from_millis(300),
        max: std::time::Duration::from_secs(10),
    };
    let mut e =
        Evaluator::new(ruleset.clone(), plan.clone(), Default::default()).with_quarantine(policy);
    let msg = koji();
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    for i in 1..=3 {
        let ev = e.evaluate(msg.as_bytes(), topic);
        assert_eq!(ev.failures.len(), 1);
        assert_eq!(
            ev.newly_quarantined.is_empty(),
            i < 3,
            "quarantined after the third failure"
        );
    }
    // In quarantine: not called (no failure, no 20 ms spin), the other module still decides.
    let ev = e.evaluate(msg.as_bytes(), topic);
    assert!(ev.failures.is_empty());
    assert_eq!(ev.quarantined, ["hostile"]);
    assert_eq!(ev.matches.len(), 1);
    assert_eq!(e.quarantined()[0].0, "hostile");
    // New preferences or data make a new evaluator: the quarantine of the same module
    // version carries over.
    let mut again = Evaluator::new(ruleset, plan.clone(), Default::default());
    again.keep_quarantines_of(&e);
    assert_eq!(again.quarantined_modules(), ["hostile"]);
    // After the quarantine it is tried again; failing at once, it goes back for twice as long.
    std::thread::sleep(std::time::Duration::from_millis(350));
    let ev = e.evaluate(msg.as_bytes(), topic);
    assert_eq!(ev.failures.len(), 1);
    assert_eq!(
        ev.newly_quarantined,
        [("hostile".to_owned(), std::time::Duration::from_millis(600))]
    );
}

#[test]
fn unreachable_is_a_trap() {
    contained(
        "unreachable",
        "rule spin",
        FailureKind::Trap,
        "wasm trap: wasm `unreachable` instruction executed",
    );
}

#[test]
fn a_rust_panic_is_reported_with_its_message() {
    contained_in(
        HOSTILE,
        "panics",
        "rule panics",
        FailureKind::Panic,
        "panicked: panicked at ",
    );
    let sb = sandbox();
    let m = WasmModule::from_bytes(&sb, HOSTILE, "hostile.wasm").unwrap();
    let mut inst = m.instantiate().unwrap();
    let idx = m
        .description
        .rules
        .iter()
        .position(|r| r.name == "panics")
        .unwrap();
    let h = inst.register(idx, b"{}").unwrap().unwrap();
    let err = inst.eval(koji().as_bytes(), &[h], &[]).unwrap_err();
    assert!(
        err.detail.contains(
            "rule panics deliberately on org.fedoraproject.prod.buildsys.build.state.change"
        ),
        "{err}"
    );
    assert!(inst.is_poisoned());
}

#[test]
fn deep_recursion_overflows_the_stack_cap() {
    contained_in(
        HOSTILE,
        "recurses",
        "rule recurses",
        FailureKind::StackOverflow,
        "overflowed its stack",
    );
}

#[test]
fn a_rust_endless_loop_is_interrupted() {
    contained_in(
        HOSTILE,
        "spins",
        "rule spins",
        FailureKind::Timeout,
        "ran past its time limit",
    );
}

#[test]
fn a_rust_memory_hoarder_hits_the_memory_limit() {
    contained_in(
        HOSTILE,
        "hoards",
        "rule hoards",
        FailureKind::OutOfMemory,
        "exceeded its memory limit",
    );
}

#[test]
fn a_rule_error_fails_only_its_filter() {
    let modules = bundled_and_hostile();
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Preferences::from_text(
        "p.toml",
        r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "errs", rules = [{ rule = "hostile::errs" }] }, { name = "ok", rules = [{ rule = "hostile::ok" }] }]
"#,
        false,
    )
    .unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let mut e = Evaluator::new(ruleset, plan.clone(), Default::default());
    let ev = e.evaluate(
        koji().as_bytes(),
        "org.fedoraproject.prod.buildsys.build.state.change",
    );
    assert!(
        ev.failures.is_empty(),
        "an Err is the rule's answer, not a module failure"
    );
    assert_eq!(ev.rule_errors.len(), 1);
    assert_eq!(
        (
            ev.rule_errors[0].rule.as_str(),
            ev.rule_errors[0].error.as_str()
        ),
        ("errs", "this rule refuses every message")
    );
    assert_eq!(ev.matches.len(), 1);
    assert_eq!(
        plan.filter_name(
            ev.matches[0].user,
            ev.matches[0].channel,
            ev.matches[0].filter
        ),
        "ok"
    );
}

#[test]
fn a_50_mb_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.wasm");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(50 << 20).unwrap();
    let err = WasmModule::from_file(&sandbox(), &path).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: 52428800 bytes, over the limit of 16777216 bytes for a rule module",
            path.display()
        )
    );
}

/// `n` koji builds of ralph's queued for worker `w`, beside a module (the bytes given) whose
/// rule `rule` user a follows (user b follows ralph).
struct Beside {
    t: fmn_transport::MemoryTransport,
    snapshot: fmn_host::SharedSnapshot,
    prefs: Preferences,
    items: Vec<fmn_transport::WorkItem>,
}

/// What a worker run beside a module came to: its report, the dead letters, and the email
/// notifications written.
type Outcome = (
    fmn_host::WorkerReport,
    Vec<fmn_transport::Entry<fmn_transport::DeadLetter>>,
    Vec<fmn_transport::Entry<fmn_core::Notification>>,
);

impl Beside {
    async fn new(hostile_bytes: &[u8], rule: &str, n: usize) -> Beside {
        use fmn_core::Envelope;
        use fmn_transport::{MemoryTransport, Registry, WorkItem, WorkQueue, WorkerInfo};

        let prefs = Preferences::from_text(
            "p.toml",
            &format!(
                r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{{ name = "hostile", rules = [{{ rule = "hostile::{rule}" }}] }}]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{{ name = "ralph", rules = [{{ rule = "fedora::user_filter", args = {{ fasnick = "ralph" }} }}] }}]
"#
            ),
            false,
        )
        .unwrap();
        let (ruleset, plan) = Self::compile(hostile_bytes, &prefs, 1);
        let t = MemoryTransport::default();
        t.register_worker(&WorkerInfo::local("w")).await.unwrap();
        let items: Vec<WorkItem> = (0..n)
            .map(|i| {
                let bus = format!(
                    r#"{{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "k{i}",
                     "msg": {{"owner": "ralph", "name": "vim", "version": "9", "release": "{i}", "new": 3, "build_id": {i}}}}}"#
                );
                let envelope = Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap();
                WorkItem::new(envelope, format!("test:{i}"))
            })
            .collect();
        let batch: Vec<(String, WorkItem)> =
            items.iter().map(|i| ("w".to_owned(), i.clone())).collect();
        t.dispatch(&batch).await.unwrap();
        let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
        Beside {
            t,
            snapshot,
            prefs,
            items,
        }
    }

    /// The bundled module and `hostile_bytes`, and the preferences compiled against them.
    fn compile(
        hostile_bytes: &[u8],
        prefs: &Preferences,
        generation: u64,
    ) -> (Arc<RuleSet>, Arc<Plan>) {
        let sb = sandbox();
        let modules = vec![
            LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
            LoadedModule::wasm(WasmModule::from_bytes(&sb, hostile_bytes, "hostile.wasm").unwrap()),
        ];
        let ruleset = Arc::new(RuleSet::new(generation, modules).unwrap());
        let plan = Arc::new(Plan::build(&ruleset, prefs).unwrap());
        (ruleset, plan)
    }

    /// Replaces the hostile module by `bytes`, as a reload would.
    fn swap(&self, bytes: &[u8]) {
        let (ruleset, plan) = Self::compile(bytes, &self.prefs, 2);
        self.snapshot.store(Arc::new(fmn_host::Snapshot::new(
            ruleset,
            plan,
            Default::default(),
            0,
        )));
    }

    /// Runs worker `w` with `opts` until `done` says so.
    async fn run(
        &self,
        opts: fmn_host::WorkerOptions,
        what: &str,
        done: impl AsyncFn(&fmn_transport::MemoryTransport) -> bool,
    ) -> Outcome {
        use fmn_core::ChannelKind;
        use fmn_transport::{DeadLetters, Outbox};

        let stop = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(fmn_host::run_worker(
            self.t.clone(),
            self.snapshot.clone(),
            opts,
            stop.clone(),
        ));
        crate::support::wait_until(std::time::Duration::from_secs(60), what, async || {
            done(&self.t).await
        })
        .await;
        stop.cancel();
        let report = worker.await.unwrap();
        let dead = self.t.dead_letters(100).await.unwrap();
        let out = self
            .t
            .read_notifications(
                ChannelKind::Email,
                "s",
                100,
                std::time::Duration::from_millis(50),
            )
            .await
            .unwrap();
        (report, dead, out)
    }
}

/// Worker `w`'s options, with retries `first` apart.
fn retrying(retries: u32, first_ms: u64) -> fmn_host::WorkerOptions {
    fmn_host::WorkerOptions {
        retry: fmn_host::RetryPolicy {
            retries,
            first: std::time::Duration::from_millis(first_ms),
            longest: std::time::Duration::from_secs(5),
        },
        promote_every: std::time::Duration::from_millis(10),
        ..fmn_host::WorkerOptions::new("w")
    }
}

async fn processed(t: &fmn_transport::MemoryTransport, n: u64) -> bool {
    use fmn_transport::Registry;
    t.worker_counts()
        .await
        .unwrap()
        .iter()
        .any(|c| c.processed >= n)
}

/// Whether no message waits for a worker: none queued, none waiting for a retry.
async fn no_work(t: &fmn_transport::MemoryTransport) -> bool {
    use fmn_transport::{Registry, WorkQueue};
    let queued = t.queue_depths().await.unwrap();
    let idle = queued
        .iter()
        .filter(|q| q.name.starts_with("work") || q.name.starts_with("shared"))
        .all(|q| q.waiting == 0);
    idle && t.work_retries_waiting().await.unwrap() == 0
}

/// Through a real worker: a rule that panics on every message makes no message lost, and the
/// other module's notifications all go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_keeps_serving_beside_a_panicking_module() {
    let b = Beside::new(HOSTILE, "panics", 20).await;
    let opts = fmn_host::WorkerOptions::new("w");
    let (report, dead, out) = b
        .run(opts, "every message processed", async |t| {
            processed(t, 20).await
        })
        .await;
    assert_eq!(report.processed, 20, "every message acknowledged");
    // The panic is the rule's, found by calling the module without it: the module answers,
    // nothing is left unevaluated, and the rule is set aside after failing 5 times in a row.
    assert_eq!(report.module_failures, 0);
    assert_eq!((report.retried, report.dead_lettered), (0, 0));
    assert!(dead.is_empty());
    assert_eq!(out.len(), 20);
    assert!(out.iter().all(|n| n.item.user == "b"));
}

#[test]
fn a_module_whose_own_sample_fails_is_refused() {
    let desc = DESCRIPTION.replace(
        r#""extractors":[]"#,
        r#""extractors":[],"samples":[{"rule":"spin","args":{},"message":{"topic":"a.b","msg":{}},"matches":true}]"#,
    );
    let err = WasmModule::from_bytes(
        &sandbox(),
        &module_wat(&desc, NO_MATCH, 1, ""),
        "sampled.wasm",
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        "sampled.wasm: sample #1 of rule spin: expected a match on a.b, got no match"
    );
    // The same module without the sample loads, and answers "no match" as its sample said it
    // would not.
    WasmModule::from_bytes(
        &sandbox(),
        &module_wat(DESCRIPTION, NO_MATCH, 1, ""),
        "plain.wasm",
    )
    .unwrap();
}

#[test]
fn the_bundled_module_checks_its_samples() {
    let m = WasmModule::from_bytes(&sandbox(), BUNDLED, "bundled").unwrap();
    assert!(m.description.samples.len() >= 20);
    assert!(
        m.description.samples.iter().any(|s| !s.matches),
        "samples say what must not match too"
    );
}

/// The bundled module compiled to wasm says what the same code says natively, on every corpus
/// line (every extractor) and every FMN rule case: the conformance scores measured natively
/// hold for what workers run.
#[test]
fn wasm_and_native_agree_on_every_corpus_line_and_case() {
    use fmn_host::conformance::{extract, parse_cases, parse_corpus, run_case};
    let wasm = [LoadedModule::wasm(
        WasmModule::from_bytes(&sandbox(), BUNDLED, "bundled").unwrap(),
    )];
    let native = [LoadedModule::native(&fmn_rules::MODULE)];
    let relations = fmn_core::Relations::new();
    let mut compared = 0;
    for file in ["fedmsg.jsonl", "fedora_messaging.jsonl"] {
        let (lines, _) = parse_corpus(file, &crate::support::fixture(file));
        for line in &lines {
            let env = fmn_core::Envelope::from_bus_json(line.bus.as_bytes(), usize::MAX).unwrap();
            let json = env.rules_json();
            let a = extract(&native, &relations, json.as_bytes()).map_err(|e| e.to_string());
            let b = extract(&wasm, &relations, json.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(a, b, "{}", line.place);
            compared += 1;
        }
    }
    assert!(compared > 550, "{compared} lines compared");
    let cases = parse_cases(
        "fmn_rules_cases.jsonl",
        &crate::support::fixture("fmn_rules_cases.jsonl"),
    )
    .unwrap();
    for case in &cases {
        assert_eq!(
            run_case(&native, &relations, case),
            run_case(&wasm, &relations, case),
            "{}",
            case.place
        );
    }
    assert!(cases.len() > 250);
}

/// A module that fails on every message whatever it is asked (no rule to blame) leaves the
/// messages it was needed for not wholly evaluated: each is evaluated again later, with a
/// growing wait, and once its retries are spent kept whole as a worker dead letter naming the
/// module and why, to replay once the module is fixed; the other module's users still get
/// their notifications. Nothing is acknowledged without one or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_failed_module_was_needed_for_are_retried_then_dead_lettered() {
    use fmn_transport::{DeadLetters, Stage, WorkItem};

    let b = Beside::new(&hostile("unreachable"), "spin", 8).await;
    let (report, dead, out) = b
        .run(retrying(2, 20), "every message dead-lettered", async |t| {
            t.dead_letters(100).await.unwrap().len() == 8 && no_work(t).await
        })
        .await;
    // Three evaluations of each: the first and two retries.
    assert_eq!(
        (report.processed, report.retried, report.dead_lettered),
        (24, 16, 8)
    );
    let mut dead: Vec<_> = dead.into_iter().map(|d| d.item).collect();
    dead.sort_by(|x, y| x.origin.cmp(&y.origin));
    for (d, sent) in dead.iter().zip(&b.items) {
        assert_eq!(d.stage, Stage::Worker);
        assert_eq!(d.origin, sent.origin);
        // Failing 5 times in a row puts the module in quarantine: the last attempts find it
        // there, and the reason says so.
        assert!(
            d.reason
                .starts_with("not wholly evaluated in 3 attempts: module hostile: ")
                && d.reason.contains("quarantined"),
            "{}",
            d.reason
        );
        let item: WorkItem = serde_json::from_str(&d.payload).unwrap();
        assert_eq!(
            item.envelope.id, sent.envelope.id,
            "the whole message is kept"
        );
        assert_eq!(item.failed_attempts(), 2);
    }
    // User b's notifications went out on the first evaluation, and again on each retry (the
    // senders skip a delivery made before): eight deliveries.
    let ids: std::collections::BTreeSet<_> =
        out.iter().map(|n| n.item.delivery_id.clone()).collect();
    assert_eq!(ids.len(), 8);
    assert!(out.iter().all(|n| n.item.user == "b"));
}

/// Messages a module failed on are held, not dropped: once a fixed version of the module is
/// loaded, their retries are evaluated with it, and nothing becomes a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_failed_module_was_needed_for_are_evaluated_again_once_it_is_fixed() {
    let b = Beside::new(&hostile("unreachable"), "spin", 8).await;
    let fixed = hostile(NO_MATCH);
    let (report, dead, _) = b
        .run(
            retrying(5, 200),
            "every message evaluated with the fixed module",
            async |t| {
                // The fix arrives once every message failed once.
                if processed(t, 8).await && b.snapshot.load().ruleset.generation == 1 {
                    b.swap(&fixed);
                }
                processed(t, 16).await && no_work(t).await
            },
        )
        .await;
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(report.dead_lettered, 0);
    // Each message failed at least once, and every evaluation after its last failure
    // completed (a retry that ran before the fix failed again and was retried once more).
    assert!(report.retried >= 8, "{report:?}");
    assert_eq!(report.processed, 8 + report.retried);
}

/// One call carries every user's rules of a module. When one rule fails the call, the rule is
/// found by calling without it, and only the filters that contain it fail: another user's rule
/// of the same module still matches, and the failure is reported against the rule at fault.
#[test]
fn a_failing_rule_costs_only_the_filters_that_contain_it() {
    let modules = bundled_and_hostile();
    let (mut e, plan) = evaluator_for(
        modules,
        r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "hostile", rules = [{ rule = "hostile::spins" }] }]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{ name = "ralph", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
[users.c.channels.email]
addresses = ["c@x"]
filters = [{ name = "same module", rules = [{ rule = "hostile::ok" }] }]
"#,
    );
    let ev = e.evaluate(
        koji().as_bytes(),
        "org.fedoraproject.prod.buildsys.build.state.change",
    );
    let users: Vec<&str> = ev
        .matches
        .iter()
        .map(|m| plan.users[m.user as usize].name.as_str())
        .collect();
    assert_eq!(users, ["b", "c"]);
    assert!(ev.failures.is_empty(), "{:?}", ev.failures);
    assert_eq!(ev.rule_errors.len(), 1);
    let err = &ev.rule_errors[0];
    assert_eq!(
        (err.module.as_str(), err.rule.as_str()),
        ("hostile", "spins")
    );
    assert_eq!(err.users, ["a"], "the failure is user a's");
    assert!(
        err.error.starts_with("timeout: ran past its time limit"),
        "{}",
        err.error
    );
    // Failing five messages in a row, it is set aside, and said so with whose it is.
    for _ in 0..4 {
        e.evaluate(
            koji().as_bytes(),
            "org.fedoraproject.prod.buildsys.build.state.change",
        );
    }
    assert_eq!(e.set_aside_rules(), ["hostile: rule spins {} (users a)"]);
}

/// Only the configured module speaks for a notification's metadata: a module loaded first,
/// with a `summary` extractor of its own, does not rewrite what everyone receives, unless the
/// operator makes it the metadata module.
#[test]
fn only_the_configured_module_speaks_for_the_metadata() {
    let sb = sandbox();
    let modules = || {
        vec![
            LoadedModule::wasm(WasmModule::from_bytes(&sb, HOSTILE, "hostile.wasm").unwrap()),
            LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
        ]
    };
    let prefs = Preferences::from_text(
        "p.toml",
        r#"
[users.b.channels.email]
addresses = ["b@x"]
filters = [{ name = "ralph", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
"#,
        false,
    )
    .unwrap();
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    for (meta, expected) in [
        (None, "ralph's vim-9-1 failed to build"),
        (Some("hostile"), "hijacked by the hostile module"),
    ] {
        let mut set = RuleSet::new(1, modules()).unwrap();
        if let Some(m) = meta {
            set = set.with_meta_module(m);
        }
        let ruleset = Arc::new(set);
        let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
        let mut e = Evaluator::new(ruleset, plan, Default::default());
        let ev = e.evaluate(koji().as_bytes(), topic);
        assert_eq!(ev.matches.len(), 1);
        assert_eq!(ev.meta.summary.as_deref(), Some(expected), "{meta:?}");
    }
}

/// Loading runs beside a worker's own work: a module with more samples than a module may
/// carry is refused before any of them runs, and one whose samples take too long is refused
/// when its budget is spent, each naming the module and the limit.
#[test]
fn a_module_whose_samples_cost_too_much_is_refused() {
    let sb = sandbox();
    // Its description does not fit below the template's canned answer: put it in memory of
    // its own (the module is refused before any call).
    let d = samples_description("hostile", 1001);
    let too_many = wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 4)
  (data (i32.const 1024) "fmn1")
  (data (i32.const 4096) "{data}")
  (func (export "fmn_abi_version") (result i32) (i32.const 1))
  (func (export "fmn_state") (result i32) (i32.const 1024))
  (func (export "fmn_input") (param i32) (result i32) (i32.const 200000))
  (func (export "fmn_describe") (result i64) (i64.const {describe}))
  (func (export "fmn_register") (param i32 i32) (result i64) (i64.const 0))
  (func (export "fmn_unregister") (param i32) (result i32) (i32.const 0))
  (func (export "fmn_error") (result i64) (i64.const 0))
  (func (export "fmn_eval") (param i32) (result i64) (i64.const 0)))"#,
        data = d.replace('"', "\\\""),
        describe = (4096i64 << 32) | d.len() as i64,
    ))
    .unwrap();
    let e = WasmModule::from_bytes(&sb, &too_many, "many.wasm")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "many.wasm: sample #1001 of rule spin: 1001 samples, over the limit of 1000 a module"
    );
    // Each sample counts to a million, well under its 20 ms deadline; 600 of them take far
    // longer than a load budget of 50 ms: refused before the last.
    let slow = counting_module("hostile", 600, 1_000_000);
    let e = WasmModule::from_bytes(&tight_budget(), &slow, "slow.wasm")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("slow.wasm: the load budget of 50 ms (instantiation, description, checks and samples together) ran out ")
            && e.ends_with("; the module is refused")
            && !e.contains("after its last sample"),
        "{e}"
    );
}

/// A sandbox whose loads may take 50 ms once compiled, and whose calls may each take 5 s.
fn tight_budget() -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig {
        load_budget: std::time::Duration::from_millis(50),
        timeout: std::time::Duration::from_secs(5),
        ..SandboxConfig::default()
    })
    .unwrap()
}

/// The budget covers the whole load, not only the samples: a module without samples whose
/// start function runs long (each call within its own deadline) is refused once instantiated.
#[test]
fn a_module_slow_to_instantiate_is_refused_by_the_load_budget() {
    let start = "(global $i (mut i32) (i32.const 0)) \
        (func $count (loop $l (global.set $i (i32.add (global.get $i) (i32.const 1))) \
        (br_if $l (i32.lt_u (global.get $i) (i32.const 200000000))))) (start $count)";
    let module = hostile_with(NO_MATCH, 1, start);
    // 200 million rounds take tens of milliseconds on any machine: ten times this budget.
    let five_ms = Sandbox::new(SandboxConfig {
        load_budget: std::time::Duration::from_millis(5),
        timeout: std::time::Duration::from_secs(5),
        ..SandboxConfig::default()
    })
    .unwrap();
    let e = WasmModule::from_bytes(&five_ms, &module, "start.wasm")
        .err()
        .expect("the start function outlasts the budget")
        .to_string();
    assert_eq!(
        e,
        "start.wasm: the load budget of 5 ms (instantiation, description, checks and samples together) ran out after instantiating it; the module is refused"
    );
    // The same module under a budget of a minute loads: what refused it was the budget.
    let minute = Sandbox::new(SandboxConfig {
        load_budget: std::time::Duration::from_secs(60),
        ..crate::support::generous_sandbox()
    })
    .unwrap();
    let ok = WasmModule::from_bytes(&minute, &module, "start.wasm");
    assert!(ok.is_ok(), "{:?}", ok.err());
}

/// Compiling cannot be interrupted: a module shaped to cost the compiler more than the limits
/// allow is refused before it is compiled, with the limit it is over.
#[test]
fn a_module_too_costly_to_compile_is_refused_unread_by_the_compiler() {
    let many = wat::parse_str(format!("(module {})", "(func)".repeat(20_001))).unwrap();
    let e = WasmModule::from_bytes(&sandbox(), &many, "many.wasm")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "many.wasm: too costly to compile: 20001 functions, over the limit of 20000; the module is refused"
    );
    // 50,000 locals (declared in a few bytes) in a function of 3,000 bytes.
    let locals = format!(
        "(module (func (local {}) {}))",
        "i32 ".repeat(50_000),
        "nop ".repeat(3_000)
    );
    let e = WasmModule::from_bytes(&sandbox(), &wat::parse_str(locals).unwrap(), "locals.wasm")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("locals.wasm: too costly to compile: ")
            && e.ends_with(
                " function bytes times locals, over the limit of 134217728; the module is refused"
            ),
        "{e}"
    );
}

/// Every resource of the sandbox has its limit: a module that declares more memories or tables
/// than one, or starts with a memory or table larger than a call may grow, is refused when it
/// is loaded, named with what it declares. (Time, memory and table growth, stack and output
/// are each contained at run time by the tests above; a module cannot make instances.)
#[test]
fn a_module_declaring_more_memories_or_tables_than_the_sandbox_allows_is_refused() {
    let sb = sandbox();
    let refused = |wat: String| {
        let bytes = wat::parse_str(wat).unwrap();
        match WasmModule::from_bytes(&sb, &bytes, "m.wasm") {
            Err(e @ LoadError::Resources { .. }) => e.to_string(),
            other => panic!("refused for its resources expected: {:?}", other.err()),
        }
    };
    let text = |extra: &str| module_text(DESCRIPTION, NO_MATCH, 1, extra);
    assert_eq!(
        refused(text("(memory $second 1)")),
        "m.wasm: defines 2 memories; a rule module may have one"
    );
    assert_eq!(
        refused(text("(table $a 1 funcref) (table $b 1 funcref)")),
        "m.wasm: defines 2 tables; a rule module may have one"
    );
    assert_eq!(
        refused(text("(table $a 100000 funcref)")),
        "m.wasm: starts with a table of 100000 elements, over the limit of 65536"
    );
    // 1,025 pages of 64 KiB: one page over the 64 MiB limit.
    let memory = r#"(memory (export "memory") 2)"#;
    assert_eq!(
        refused(text("").replace(memory, r#"(memory (export "memory") 1025)"#)),
        "m.wasm: starts with a memory of 67174400 bytes, over the limit of 67108864 bytes"
    );
    // At the limits, the same module loads.
    let fits =
        text("(table $a 65536 funcref)").replace(memory, r#"(memory (export "memory") 1024)"#);
    WasmModule::from_bytes(&sb, &wat::parse_str(fits).unwrap(), "m.wasm").unwrap();
}

/// A rule set aside stays aside when the preferences change: another user's edit makes a new
/// plan and a new evaluator, which takes over the health of the rules that are the same
/// (module version, rule, arguments).
#[test]
fn a_rule_set_aside_stays_aside_when_another_user_changes_their_preferences() {
    let modules = bundled_and_hostile();
    let ruleset = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = |fasnick: &str| {
        let text = format!(
            r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{{ name = "hostile", rules = [{{ rule = "hostile::spins" }}] }}]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{{ name = "follow", rules = [{{ rule = "fedora::user_filter", args = {{ fasnick = "{fasnick}" }} }}] }}, {{ name = "ok", rules = [{{ rule = "hostile::ok" }}] }}]
"#
        );
        let prefs = Preferences::from_text("p.toml", &text, false).unwrap();
        Arc::new(Plan::build(&ruleset, &prefs).unwrap())
    };
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    let mut e = Evaluator::new(ruleset.clone(), prefs("ralph"), Default::default());
    for _ in 0..5 {
        e.evaluate(koji().as_bytes(), topic);
    }
    let aside = ["hostile: rule spins {} (users a)"];
    assert_eq!(e.set_aside_rules(), aside);
    // User b follows someone else now: a new plan, in which user a's rule is the same.
    let mut next = Evaluator::new(ruleset.clone(), prefs("someone"), Default::default());
    next.keep_quarantines_of(&e);
    assert_eq!(next.set_aside_rules(), aside);
    let ev = next.evaluate(koji().as_bytes(), topic);
    assert!(
        ev.rule_errors.is_empty() && ev.failures.is_empty(),
        "the rule set aside is not called: {:?} {:?}",
        ev.rule_errors,
        ev.failures
    );
    let filters: Vec<(u32, u32, u32)> = ev
        .matches
        .iter()
        .map(|m| (m.user, m.channel, m.filter))
        .collect();
    let plan = next.plan();
    let names: Vec<String> = filters
        .iter()
        .map(|&(u, c, f)| {
            format!(
                "{}: {}",
                plan.users[u as usize].name,
                plan.filter_name(u, c, f)
            )
        })
        .collect();
    assert_eq!(
        names,
        ["b: ok"],
        "a's filter fails without a call, b's others answer"
    );
}
