//! The module build service.
//!
//! FMN defined `mbs_build_completed` twice, the second time testing for failures; here it
//! tests what its name says, and `mbs_build_failed` tests for failures.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// MBS: a module build changes state (any state).
        mbs_build_state_change => ["*mbs.module.state.change"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    mbs_catchall,
    mbs_build_started,
    mbs_build_completed,
    mbs_build_failed
];

/// MBS: every event (each module build's every state change).
#[rule(topics = ["*mbs.*"])]
pub fn mbs_catchall(msg: &Message) -> bool {
    is(msg, "mbs")
}

fn state(msg: &Message, name: &str) -> bool {
    msg.topic().ends_with("mbs.module.state.change") && msg.str_at(&["state_name"]) == Some(name)
}

/// MBS: a module build is submitted.
#[rule(topics = ["*mbs.module.state.change"])]
pub fn mbs_build_started(msg: &Message) -> bool {
    state(msg, "wait")
}

/// MBS: a module build completes.
#[rule(topics = ["*mbs.module.state.change"])]
pub fn mbs_build_completed(msg: &Message) -> bool {
    state(msg, "done")
}

/// MBS: a module build fails.
#[rule(topics = ["*mbs.module.state.change"])]
pub fn mbs_build_failed(msg: &Message) -> bool {
    state(msg, "failed")
}
