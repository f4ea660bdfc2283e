//! The wasm host: the bundled module loads and describes itself, and modules that misbehave
//! are refused at load or contained at run time, with errors that name the module and rule,
//! while the other modules go on deciding.

use std::sync::Arc;

use fmn_core::Preferences;
use fmn_host::{
    Evaluator, FailureKind, LoadError, LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig,
    WasmModule,
};

const BUNDLED: &[u8] = include_bytes!(env!("FMN_WASM_FMN_RULES"));

fn sandbox() -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig::default()).unwrap()
}

/// A module that speaks the ABI, with `eval` as its `fmn_eval` body and `abi` as its version.
pub fn hostile_with(eval: &str, abi: i32, extra: &str) -> Vec<u8> {
    let desc = r#"{"abi":1,"name":"hostile","version":"0","doc":"","rules":[{"name":"spin","doc":"","args":[],"topics":[],"key":null}],"extractors":[]}"#;
    let wat = format!(
        r#"(module
  {extra}
  (memory (export "memory") 2)
  (data (i32.const 1024) "fmn1")
  (data (i32.const 4096) "{data}")
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
    );
    wat::parse_str(wat).unwrap()
}

fn hostile(eval: &str) -> Vec<u8> {
    hostile_with(eval, 1, "")
}

const SPIN: &str = "(loop $l (br $l)) (i64.const 0)";
const MEMORY_BOMB: &str =
    "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i64.const 0)";
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
        320,
        "FMN's catalogue and the generic rules"
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
        "m.wasm: speaks ABI version 7, this host speaks version 1"
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
fn koji() -> String {
    fmn_rules_sdk::testing::envelope(
        r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "k1",
            "msg": {"owner": "ralph", "name": "vim", "version": "9", "release": "1", "new": 3, "build_id": 1}}"#,
    )
    .unwrap()
}

/// Runs a hostile module beside the bundled one: the hostile filter fails (doing `during`,
/// with `kind` and `detail`), the bundled module's filter still matches, three times in a row.
fn contained(eval: &str, during: &str, kind: FailureKind, detail: &str) {
    let sb = sandbox();
    let modules = vec![
        LoadedModule::wasm(WasmModule::from_bytes(&sb, BUNDLED, "bundled").unwrap()),
        LoadedModule::wasm(WasmModule::from_bytes(&sb, &hostile(eval), "hostile.wasm").unwrap()),
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
    let mut e = Evaluator::new(ruleset, plan.clone(), Default::default());
    let msg = koji();
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
        assert_eq!(ev.failures.len(), 1);
        let f = &ev.failures[0];
        assert_eq!(
            (f.module.as_str(), f.during.as_str(), f.kind),
            ("hostile", during, kind)
        );
        assert!(f.detail.starts_with(detail), "{}", f.detail);
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
