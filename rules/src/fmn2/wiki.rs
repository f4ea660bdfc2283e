//! The Fedora Project wiki.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Wiki: someone edits a page.
        wiki_article_edit => ["*wiki.article.edit"],
        /// Wiki: someone uploads media (a picture, a video).
        wiki_upload_complete => ["*wiki.upload.complete"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![wiki_catchall];

/// Wiki: every event (page edits, uploads, ...).
#[rule(topics = ["*wiki.*"])]
pub fn wiki_catchall(msg: &Message) -> bool {
    is(msg, "wiki")
}
