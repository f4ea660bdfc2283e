//! Koji, the build system (`buildsys`).

use fmn_rules_sdk::{Args, Message, RuleDef, rule, rules, topic_rules};
use serde::Deserialize;

use super::{is, list};

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Koji: any scratch build changes state (started, completed, failed, cancelled).
        koji_scratch_build_state_change => ["*buildsys.task.state.change"],
        /// Koji: any build changes state (started, completed, deleted, failed, cancelled).
        koji_build_state_change => ["*buildsys.build.state.change"],
        /// Koji: the package list of a tag changes.
        koji_package_list_change => ["*buildsys.package.list.change"],
        /// Koji: a repository has been regenerated.
        koji_repo_done => ["*buildsys.repo.done"],
        /// Koji: a repository is being regenerated.
        koji_repo_init => ["*buildsys.repo.init"],
        /// Koji: a build is added to a tag.
        koji_tag => ["*buildsys.tag"],
        /// Koji: a build is removed from a tag.
        koji_untag => ["*buildsys.untag"],
        /// Koji: an rpm's GPG signature is imported (done in bulk by the signing server).
        koji_rpm_sign => ["*buildsys.rpm.sign"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    koji_catchall,
    koji_instance,
    koji_scratch_build_started,
    koji_scratch_build_completed,
    koji_scratch_build_failed,
    koji_scratch_build_cancelled,
    koji_build_started,
    koji_build_completed,
    koji_build_deleted,
    koji_build_failed,
    koji_build_cancelled,
];

/// Koji: every event of the build system.
#[rule(topics = ["*buildsys.*"])]
pub fn koji_catchall(msg: &Message) -> bool {
    is(msg, "buildsys")
}

/// Arguments of `koji_instance`.
#[derive(Debug, Deserialize, Args)]
pub struct InstanceArgs {
    /// Koji instances, comma-separated: `primary`, `ppc`, `s390`, `arm`.
    pub instance: String,
}

/// Koji: messages from particular instances only (`primary`, or the secondary `ppc`, `s390`,
/// `arm` ones); combine it with other koji rules.
#[rule(topics = ["*buildsys.*"])]
pub fn koji_instance(msg: &Message, args: &InstanceArgs) -> bool {
    let Some(instance) = msg.str_at(&["instance"]) else {
        return false;
    };
    list(&args.instance).any(|i| i == instance)
}

fn scratch_state(msg: &Message, state: &str) -> bool {
    msg.topic().ends_with("buildsys.task.state.change") && msg.str_at(&["new"]) == Some(state)
}

fn build_state(msg: &Message, state: i64) -> bool {
    msg.topic().ends_with("buildsys.build.state.change")
        && msg.get(&["new"]).and_then(|v| v.as_i64()) == Some(state)
}

/// Koji: a scratch build starts.
#[rule(topics = ["*buildsys.task.state.change"])]
pub fn koji_scratch_build_started(msg: &Message) -> bool {
    scratch_state(msg, "OPEN")
}

/// Koji: a scratch build completes.
#[rule(topics = ["*buildsys.task.state.change"])]
pub fn koji_scratch_build_completed(msg: &Message) -> bool {
    scratch_state(msg, "CLOSED")
}

/// Koji: a scratch build fails.
#[rule(topics = ["*buildsys.task.state.change"])]
pub fn koji_scratch_build_failed(msg: &Message) -> bool {
    scratch_state(msg, "FAILED")
}

/// Koji: a scratch build is cancelled.
#[rule(topics = ["*buildsys.task.state.change"])]
pub fn koji_scratch_build_cancelled(msg: &Message) -> bool {
    scratch_state(msg, "CANCELED")
}

/// Koji: a build starts.
#[rule(topics = ["*buildsys.build.state.change"])]
pub fn koji_build_started(msg: &Message) -> bool {
    build_state(msg, 0)
}

/// Koji: a build completes.
#[rule(topics = ["*buildsys.build.state.change"])]
pub fn koji_build_completed(msg: &Message) -> bool {
    build_state(msg, 1)
}

/// Koji: a build is deleted.
#[rule(topics = ["*buildsys.build.state.change"])]
pub fn koji_build_deleted(msg: &Message) -> bool {
    build_state(msg, 2)
}

/// Koji: a build fails.
#[rule(topics = ["*buildsys.build.state.change"])]
pub fn koji_build_failed(msg: &Message) -> bool {
    build_state(msg, 3)
}

/// Koji: a build is cancelled.
#[rule(topics = ["*buildsys.build.state.change"])]
pub fn koji_build_cancelled(msg: &Message) -> bool {
    build_state(msg, 4)
}
