//! Copr, the community build service.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Copr: a build starts.
        copr_build_start => ["*copr.build.start"],
        /// Copr: a build ends, however it ended.
        copr_build_end => ["*copr.build.end"],
        /// Copr: a new chroot starts.
        copr_chroot_start => ["*copr.chroot.start"],
        /// Copr: a new worker is spun up.
        copr_worker_create => ["*copr.worker.create"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    copr_catchall,
    copr_build_failed,
    copr_build_success,
    copr_build_skipped
];

/// Copr: every event (builds, workers, chroots).
#[rule(topics = ["*copr.*"])]
pub fn copr_catchall(msg: &Message) -> bool {
    is(msg, "copr")
}

fn ended_with(msg: &Message, status: i64) -> bool {
    msg.topic().ends_with("copr.build.end")
        && msg.get(&["status"]).and_then(|s| s.as_i64()) == Some(status)
}

/// Copr: a build fails.
#[rule(topics = ["*copr.build.end"])]
pub fn copr_build_failed(msg: &Message) -> bool {
    ended_with(msg, 0)
}

/// Copr: a build succeeds.
#[rule(topics = ["*copr.build.end"])]
pub fn copr_build_success(msg: &Message) -> bool {
    ended_with(msg, 1)
}

/// Copr: a build is skipped.
#[rule(topics = ["*copr.build.end"])]
pub fn copr_build_skipped(msg: &Message) -> bool {
    ended_with(msg, 5)
}
