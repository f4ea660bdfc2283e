//! Ask Fedora (askbot).

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Ask Fedora: a question or an answer is deleted.
        askbot_post_deleted => ["*askbot.post.delete"],
        /// Ask Fedora: a question or an answer is edited.
        askbot_post_edited => ["*askbot.post.edit"],
        /// Ask Fedora: a post is flagged as offensive.
        askbot_post_flagged_offensive => ["*askbot.post.flag_offensive.add"],
        /// Ask Fedora: an offensive flag is removed from a post.
        askbot_post_unflagged_offensive => ["*askbot.post.flag_offensive.delete"],
        /// Ask Fedora: the tags of a post change.
        askbot_tag_update => ["*askbot.tag.update"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![askbot_catchall];

/// Ask Fedora: every event (answers, tag changes, moderation flags, ...).
#[rule(topics = ["*askbot.*"])]
pub fn askbot_catchall(msg: &Message) -> bool {
    is(msg, "askbot")
}
