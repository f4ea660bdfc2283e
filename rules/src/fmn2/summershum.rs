//! summershum, which records the checksums of the contents of new upstream tarballs.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// summershum: it starts ingesting a newly uploaded tarball.
        summershum_ingest_start => ["*summershum.ingest.start"],
        /// summershum: it fails to ingest a newly uploaded tarball.
        summershum_ingest_fail => ["*summershum.ingest.fail"],
        /// summershum: it finishes ingesting a newly uploaded tarball.
        summershum_ingest_complete => ["*summershum.ingest.complete"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![summershum_catchall];

/// summershum: every event.
#[rule(topics = ["*summershum.*"])]
pub fn summershum_catchall(msg: &Message) -> bool {
    is(msg, "summershum")
}
