//! Release engineering's composes.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Compose: the whole compose of the branched pre-release completes.
        compose_branched_complete => ["*compose.branched.complete"],
        /// Compose: the mash phase of the branched pre-release completes.
        compose_branched_mash_complete => ["*compose.branched.mash.complete"],
        /// Compose: the mash phase of the branched pre-release starts.
        compose_branched_mash_start => ["*compose.branched.mash.start"],
        /// Compose: the pungi phase of the branched pre-release completes.
        compose_branched_pungify_complete => ["*compose.branched.pungify.complete"],
        /// Compose: the pungi phase of the branched pre-release starts.
        compose_branched_pungify_start => ["*compose.branched.pungify.start"],
        /// Compose: rsyncing the branched pre-release completes.
        compose_branched_rsync_complete => ["*compose.branched.rsync.complete"],
        /// Compose: rsyncing the branched pre-release starts.
        compose_branched_rsync_start => ["*compose.branched.rsync.start"],
        /// Compose: the compose of the branched pre-release starts.
        compose_branched_start => ["*compose.branched.start"],
        /// Compose: the whole compose of EPEL beta completes.
        compose_epelbeta_complete => ["*compose.epelbeta.complete"],
        /// Compose: the whole compose of rawhide completes.
        compose_rawhide_complete => ["*compose.rawhide.complete"],
        /// Compose: the mash phase of rawhide completes.
        compose_rawhide_mash_complete => ["*compose.rawhide.mash.complete"],
        /// Compose: the mash phase of rawhide starts.
        compose_rawhide_mash_start => ["*compose.rawhide.mash.start"],
        /// Compose: the pungi phase of rawhide completes.
        compose_rawhide_pungify_complete => ["*compose.rawhide.pungify.complete"],
        /// Compose: the pungi phase of rawhide starts.
        compose_rawhide_pungify_start => ["*compose.rawhide.pungify.start"],
        /// Compose: rsyncing rawhide completes.
        compose_rawhide_rsync_complete => ["*compose.rawhide.rsync.complete"],
        /// Compose: rsyncing rawhide starts.
        compose_rawhide_rsync_start => ["*compose.rawhide.rsync.start"],
        /// Compose: the compose of rawhide starts.
        compose_rawhide_start => ["*compose.rawhide.start"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![compose_catchall];

/// Compose: every event of the compose process.
#[rule(topics = ["*compose.*"])]
pub fn compose_catchall(msg: &Message) -> bool {
    is(msg, "compose")
}
