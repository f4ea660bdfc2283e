//! Which modules a host loads: the SDK/ABI compatibility matrix. A module built with an older
//! SDK (same ABI) loads and runs as it did; a module speaking an ABI version outside the
//! host's range is refused with the versions and what to do.

use fmn_core::Envelope;
use fmn_host::{LoadedModule, WasmModule};

use crate::support::fixtures::BUNDLED;
use crate::wasm::{SPIN, evaluator_for, hostile_with, sandbox};

/// The bundled rule module as built by the SDK of 27 November 2026 (commit 1251c44, the first
/// with `fmn rules new`): its description has no `sdk` field, and no samples.
const OLD_SDK_MODULE: &[u8] =
    include_bytes!("../fixtures/modules/fedora-rules-sdk-2026-11-27.wasm");

#[test]
fn a_module_of_an_older_sdk_loads_and_runs_on_this_host() {
    let m = WasmModule::from_bytes(&sandbox(), OLD_SDK_MODULE, "old.wasm").unwrap();
    assert_eq!(m.description.abi, 1);
    assert_eq!(m.description.sdk, None, "built before modules said");
    let prefs = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [{ name = "mine", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]
"#;
    let (mut e, plan) = evaluator_for(vec![LoadedModule::wasm(m)], prefs);
    let bus = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "m1",
        "msg": {"owner": "ralph", "name": "nethack", "new": 1, "instance": "primary"}}"#;
    let env = Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap();
    let ev = e.evaluate(env.rules_json().as_bytes(), &env.topic);
    assert!(ev.failures.is_empty(), "{:?}", ev.failures);
    let users: Vec<&str> = ev
        .matches
        .iter()
        .map(|m| plan.users[m.user as usize].name.as_str())
        .collect();
    assert_eq!(users, ["ralph"]);
}

#[test]
fn modules_of_this_sdk_say_which_sdk_built_them() {
    let m = WasmModule::from_bytes(&sandbox(), BUNDLED, "bundled.wasm").unwrap();
    assert_eq!(
        m.description.sdk.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(m.description.abi, fmn_rules_sdk::abi::ABI_VERSION);
}

#[test]
fn a_module_speaking_an_abi_outside_the_hosts_range_is_refused_with_the_fix() {
    let refused = |abi: i32| {
        WasmModule::from_bytes(&sandbox(), &hostile_with(SPIN, abi, ""), "m.wasm")
            .err()
            .expect("refused")
            .to_string()
    };
    assert_eq!(
        refused(2),
        "m.wasm: speaks ABI version 2; this host loads version 1 only: the module was built with \
         a newer fmn-rules-sdk; upgrade the workers to an fmn that loads ABI 2, or build the \
         module with fmn-rules-sdk 0.1.0"
    );
    assert_eq!(
        refused(0),
        "m.wasm: speaks ABI version 0; this host loads version 1 only: the module is too old; \
         rebuild it with fmn-rules-sdk 0.1.0"
    );
}
