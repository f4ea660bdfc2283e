//! `package_watch`: Koji builds of the packages I maintain, with exclusions.
//!
//! A packager who maintains many packages wants to hear of their builds, but not of every
//! one: not of a noisy package family (`rust-*` crates rebuilt by a bot), not of the EPEL
//! builds somebody else takes care of, and perhaps only of failures. One rule with arguments
//! says all that:
//!
//! ```toml
//! { rule = "package_watch::package_builds", args = {
//!     packages = ["eclipse-ptp", "rust-*"], except = ["rust-*-devel"],
//!     except_dists = ["el7"], states = ["failed"] } }
//! ```

use fmn_rules_sdk::{Args, Message, Sample, glob, module, rule};
use serde::Deserialize;

/// Arguments of `package_builds`.
#[derive(Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct WatchArgs {
    /// The packages to watch: names or globs (`rust-*`).
    pub packages: Vec<String>,
    /// Packages (names or globs) not to hear of, even when `packages` names them.
    #[serde(default)]
    pub except: Vec<String>,
    /// Distributions not to hear of: the dist tag ending a build's release (`fc40`, `el7`).
    #[serde(default)]
    pub except_dists: Vec<String>,
    /// The build states to hear of (`building`, `complete`, `deleted`, `failed`,
    /// `canceled`); every state when empty.
    #[serde(default)]
    pub states: Vec<String>,
}

/// Koji's build states, by the number its messages carry (`new`).
const STATES: [&str; 5] = ["building", "complete", "deleted", "failed", "canceled"];

/// The state a Koji build message announces, in words.
fn state(msg: &Message) -> Option<&'static str> {
    let n = msg.get(&["new"])?.as_u64()?;
    STATES.get(usize::try_from(n).ok()?).copied()
}

/// The dist tag of a Koji build: the last dot-separated part of its release (`1.fc19` gives
/// `fc19`).
fn dist<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["release"])?.rsplit('.').next()
}

/// Koji build state changes of the packages `packages` names, except those `except` names,
/// builds for the distributions `except_dists` names, and states `states` leaves out.
#[rule(topics = ["*.buildsys.build.state.change"])]
pub fn package_builds(msg: &Message, args: &WatchArgs) -> bool {
    let Some(name) = msg.str_at(&["name"]) else {
        return false;
    };
    let any = |globs: &[String]| globs.iter().any(|g| glob::matches(g, name));
    let state_wanted =
        args.states.is_empty() || state(msg).is_some_and(|s| args.states.iter().any(|w| w == s));
    let dist_excluded = dist(msg).is_some_and(|d| args.except_dists.iter().any(|e| e == d));
    any(&args.packages) && !any(&args.except) && state_wanted && !dist_excluded
}

/// A failed build of eclipse-ptp for Fedora 19 (from fmn's corpus of bus messages).
const FAILED_FC19: &str = r#"{"msg": {"attribute": "state", "build_id": 12345, "name": "eclipse-ptp",
  "new": 3, "old": 0, "owner": "rmattes", "release": "1.fc19", "version": "6.0.3"},
  "msg_id": "2013-573a5d07-e8b8-526d-b720-500119748c7f", "timestamp": 1359604772.178867,
  "topic": "org.fedoraproject.prod.buildsys.build.state.change", "username": "apache"}"#;

/// Messages the rule must (or must not) match; a worker checks them when it loads the module.
pub const SAMPLES: &[Sample] = &[
    Sample {
        rule: "package_builds",
        args: r#"{"packages": ["eclipse-*"]}"#,
        message: FAILED_FC19,
        matches: true,
    },
    Sample {
        rule: "package_builds",
        args: r#"{"packages": ["eclipse-*"], "except": ["eclipse-ptp"]}"#,
        message: FAILED_FC19,
        matches: false,
    },
    Sample {
        rule: "package_builds",
        args: r#"{"packages": ["eclipse-ptp"], "except_dists": ["fc19"]}"#,
        message: FAILED_FC19,
        matches: false,
    },
    Sample {
        rule: "package_builds",
        args: r#"{"packages": ["eclipse-ptp"], "states": ["complete"]}"#,
        message: FAILED_FC19,
        matches: false,
    },
];

module! {
    name: "package_watch",
    doc: "Koji builds of my packages, except some packages, distributions or states.",
    rules: [package_builds],
    samples: SAMPLES,
}
