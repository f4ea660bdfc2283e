//! Ready-made filter sets.
//!
//! [`fmn_defaults`] is the set FMN gave every new user: events on the packages I own, events
//! referring to my username, and failed release-critical tests of my packages, each with FMN's
//! list of noisy message types left out.

use crate::prefs::{Filter, RuleRef};

/// Left out of "Events on packages that I own".
pub const EXCLUDED_FOR_PACKAGES: &[&str] = &[
    // Taskotron has its own filter below.
    "taskotron_result_new",
    // Batch runs of the SCM admins.
    "git_pkgdb2branch_start",
    "git_pkgdb2branch_complete",
    "fedoratagger_catchall",
    // The most frequent, least interesting crash reports.
    "faf_report_threshold1",
    "faf_problem_threshold1",
    // Admins asking for a new mash.
    "bodhi_masher_start",
    // Very noisy for the rawhide repository.
    "mdapi_repo_update",
    // Successful CI steps (failures still come through).
    "ci_step_complete",
];

/// Left out of "Events referring to my username": mostly one's own activity.
pub const EXCLUDED_FOR_USERNAME: &[&str] = &[
    "askbot_catchall",
    "bodhi_catchall",
    "bugzilla_catchall",
    "trac_catchall",
    "git_catchall",
    "github_catchall",
    "fmn_catchall",
    "meetbot_catchall",
    "fedocal_catchall",
    "pkgdb_catchall",
    "fedoratagger_catchall",
    "wiki_catchall",
    "fedbadges_person_first_login",
    "fedbadges_person_rank_advance",
    "mailman_receive",
];

/// Left out of both: starts rather than results, and behind-the-scenes messages.
pub const EXCLUDED_FOR_BOTH: &[&str] = &[
    "copr_build_start",
    "copr_chroot_start",
    "copr_worker_create",
    "koji_scratch_build_started",
    "koji_build_started",
    "koji_rpm_sign",
    "koji_tag",
    "koji_untag",
    "koji_repo_done",
    "koji_repo_init",
    "koji_package_list_change",
    "summershum_catchall",
    "anitya_catchall",
];

/// The module FMN's rules live in.
const MODULE: &str = "fedora";

fn rule(name: &str, args: serde_json::Value, negated: bool) -> RuleRef {
    RuleRef {
        rule: format!("{MODULE}::{name}"),
        args,
        negated,
    }
}

fn none() -> serde_json::Value {
    serde_json::json!({})
}

/// Only the primary koji, not the ppc, s390 and arm secondary ones.
fn not_secondary_koji() -> RuleRef {
    rule(
        "koji_instance",
        serde_json::json!({"instance": "ppc,s390,arm"}),
        true,
    )
}

/// FMN's default filters for user `nick`.
pub fn fmn_defaults(nick: &str) -> Vec<Filter> {
    let me = serde_json::json!({ "fasnick": nick });
    let excluding = |lists: &[&[&str]]| -> Vec<RuleRef> {
        lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|name| rule(name, none(), true))
            .collect()
    };

    let mut packages = vec![
        rule("user_package_filter", me.clone(), false),
        // Messages about my packages *and* me are the next filter's.
        rule("user_filter", me.clone(), true),
        not_secondary_koji(),
    ];
    packages.extend(excluding(&[EXCLUDED_FOR_PACKAGES, EXCLUDED_FOR_BOTH]));

    let mut username = vec![rule("user_filter", me.clone(), false), not_secondary_koji()];
    username.extend(excluding(&[EXCLUDED_FOR_USERNAME, EXCLUDED_FOR_BOTH]));

    let taskotron = vec![
        rule("user_package_filter", me, false),
        rule("taskotron_release_critical_task", none(), false),
        rule(
            "taskotron_task_particular_or_changed_outcome",
            serde_json::json!({"outcome": "FAILED"}),
            false,
        ),
    ];

    [
        ("Events on packages that I own", packages),
        ("Events referring to my username", username),
        ("Critical taskotron tasks on my packages", taskotron),
    ]
    .into_iter()
    .map(|(name, rules)| Filter {
        name: name.into(),
        active: true,
        oneshot: false,
        rules,
    })
    .collect()
}

/// The names of the presets [`by_name`] knows.
pub const NAMES: &[&str] = &["fmn-defaults"];

/// A preset by name, for user `nick`.
pub fn by_name(name: &str, nick: &str) -> Option<Vec<Filter>> {
    match name {
        "fmn-defaults" => Some(fmn_defaults(nick)),
        _ => None,
    }
}
