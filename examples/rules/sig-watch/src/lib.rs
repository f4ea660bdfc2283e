//! `sig_watch`: what Koschei says of the packages of a special interest group.
//!
//! Koschei rebuilds packages continuously against rawhide and announces when one starts to
//! fail to build or is fixed; each message lists the Koschei groups the package is in
//! (`rust-sig`, `python-sig`, ...). A SIG member wants those of their group:
//!
//! ```toml
//! { rule = "sig_watch::koschei_group", args = { group = "rust-sig" } }
//! ```
//!
//! The rule is **keyed**: `key(extractor = "koschei_groups", arg = "group")` promises it
//! matches exactly when its `group` is among the keys `koschei_groups` gives. A worker then
//! runs the extractor once per message and looks each key up in an index of every user's
//! `group`: a million SIG subscriptions cost one extractor call and a few hash lookups, and
//! the module's rule function is never called for them.

use fmn_rules_sdk::{Args, Keys, Message, Sample, extractor, module, rule};
use serde::Deserialize;

/// Arguments of `koschei_group`.
#[derive(Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    /// The Koschei group, e.g. `rust-sig`.
    pub group: String,
}

/// The Koschei groups of the package a Koschei message is about.
#[extractor]
pub fn koschei_groups(msg: &Message) -> Keys {
    let mut keys = Keys::new();
    if let Some(groups) = msg.get(&["groups"]).and_then(|g| g.as_array()) {
        for g in groups {
            keys.insert_value(Some(g));
        }
    }
    keys
}

/// Koschei: a package of the group `group` started to fail to build, or was fixed.
///
/// Answered by workers from the `koschei_groups` index; this function is what native tests
/// and `fmn rules test` run, and `check_samples` holds it to the same answer.
#[rule(topics = ["*.koschei.package.state.change"], key(extractor = "koschei_groups", arg = "group"))]
pub fn koschei_group(msg: &Message, args: &GroupArgs) -> bool {
    koschei_groups(msg).contains(&args.group)
}

/// rnv started failing to build on the ARM Koji (from fmn's corpus of bus messages).
const RNV_FAILING: &str = r#"{"i": 2, "msg": {"collection": "f22", "collection_name": "Fedora 22",
  "groups": ["c", "xml"], "koji_instance": "arm", "name": "rnv", "new": "failing", "old": "ok",
  "repo": "f22"}, "msg_id": "2014-45d99116-f93e-45ef-8611-04fa2eabbb82-dup1",
  "timestamp": 1412260063, "topic": "org.fedoraproject.dev.koschei.package.state.change",
  "username": "msimacek"}"#;

/// Messages the rule must (or must not) match; a worker checks them, through the key index,
/// when it loads the module.
pub const SAMPLES: &[Sample] = &[
    Sample {
        rule: "koschei_group",
        args: r#"{"group": "xml"}"#,
        message: RNV_FAILING,
        matches: true,
    },
    Sample {
        rule: "koschei_group",
        args: r#"{"group": "rust-sig"}"#,
        message: RNV_FAILING,
        matches: false,
    },
];

module! {
    name: "sig_watch",
    doc: "Koschei's news of the packages of a group, answered from the worker's key index.",
    rules: [koschei_group],
    extractors: [koschei_groups],
    samples: SAMPLES,
}
