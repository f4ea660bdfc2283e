//! Red Hat Bugzilla, for the Fedora and EPEL products.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Bugzilla: a new bug is filed against Fedora or EPEL.
        bugzilla_bug_new => ["*bugzilla.bug.new"],
        /// Bugzilla: a Fedora or EPEL bug is updated.
        bugzilla_bug_update => ["*bugzilla.bug.update"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![bugzilla_catchall];

/// Bugzilla: all activity.
#[rule(topics = ["*bugzilla.*"])]
pub fn bugzilla_catchall(msg: &Message) -> bool {
    is(msg, "bugzilla")
}
