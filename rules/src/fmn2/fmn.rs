//! FMN itself: changes to accounts, profiles and preferences.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// FMN: the status of a confirmation changes.
        fmn_confirmation_update => ["*fmn.confirmation.update"],
        /// FMN: someone updates one of their notification filters.
        fmn_filter_update => ["*fmn.filter.update"],
        /// FMN: someone updates their delivery details.
        fmn_preference_update => ["*fmn.preference.update"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![fmn_catchall];

/// FMN: every message about the notification service itself.
#[rule(topics = ["*fmn.*"])]
pub fn fmn_catchall(msg: &Message) -> bool {
    is(msg, "fmn")
}
