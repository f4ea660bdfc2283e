//! Fedora Tagger, tags and ratings of packages.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Tagger: someone changes the rating of a package.
        fedoratagger_rating_update => ["*fedoratagger.rating.update"],
        /// Tagger: someone adds a new tag to a package.
        fedoratagger_tag_create => ["*fedoratagger.tag.create"],
        /// Tagger: someone votes on a package's tag.
        fedoratagger_tag_update => ["*fedoratagger.tag.update"],
        /// Tagger: someone toggles their use of a package.
        fedoratagger_usage_toggle => ["*fedoratagger.usage.toggle"],
        /// Tagger: a user's rank on the leaderboard changes.
        fedoratagger_user_rank_update => ["*fedoratagger.user.rank.update"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![fedoratagger_catchall];

/// Tagger: every event (votes on tags, usage counts, ...).
#[rule(topics = ["*fedoratagger.*"])]
pub fn fedoratagger_catchall(msg: &Message) -> bool {
    is(msg, "fedoratagger")
}
