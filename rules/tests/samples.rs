//! The module's own samples hold natively, for the functions and for what they promise the
//! host; the worker checks the same samples on the wasm build when it loads it.

#[test]
fn samples_hold_natively() {
    let n =
        fmn_rules_sdk::testing::check_samples(&fmn_rules::MODULE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, fmn_rules::MODULE.samples.len());
    assert!(n >= 20, "{n} samples");
}

/// The check is not vacuous: a sample with the wrong answer fails with its rule named.
#[test]
fn a_wrong_sample_is_reported() {
    use fmn_rules_sdk::{ModuleDef, Sample};
    static WRONG: &[Sample] = &[Sample {
        rule: "koji_build_failed",
        args: "{}",
        message: r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "x",
                     "msg": {"name": "nethack", "new": 1, "owner": "someone"}}"#,
        matches: true,
    }];
    static MODULE: ModuleDef = ModuleDef {
        samples: WRONG,
        ..fmn_rules::MODULE
    };
    let err = fmn_rules_sdk::testing::check_samples(&MODULE).unwrap_err();
    assert_eq!(
        err,
        "sample 1 (koji_build_failed): expected a match on org.fedoraproject.prod.buildsys.build.state.change, the rule's function says no match"
    );
}
