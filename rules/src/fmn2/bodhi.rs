//! Bodhi, the updates system.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Bodhi: someone requests a buildroot override.
        bodhi_buildroot_override_tag => ["*bodhi.buildroot_override.tag"],
        /// Bodhi: a buildroot override is removed.
        bodhi_buildroot_override_untag => ["*bodhi.buildroot_override.untag"],
        /// Bodhi: someone comments on an update.
        bodhi_update_comment => ["*bodhi.update.comment"],
        /// Bodhi: someone asks for an update to be obsoleted.
        bodhi_update_request_obsolete => ["*bodhi.update.request.obsolete"],
        /// Bodhi: someone revokes the request on an update.
        bodhi_update_request_revoke => ["*bodhi.update.request.revoke"],
        /// Bodhi: someone asks for an update to go to stable.
        bodhi_update_request_stable => ["*bodhi.update.request.stable"],
        /// Bodhi: someone asks for an update to go to testing.
        bodhi_update_request_testing => ["*bodhi.update.request.testing"],
        /// Bodhi: someone asks for an update to be unpushed.
        bodhi_update_request_unpush => ["*bodhi.update.request.unpush"],
        /// Bodhi: new EPEL content reaches the master mirror.
        bodhi_update_epel_sync => ["*bodhi.updates.epel.sync"],
        /// Bodhi: new Fedora updates content reaches the master mirror.
        bodhi_update_fedora_sync => ["*bodhi.updates.fedora.sync"],
        /// Bodhi: an update finishes its push to stable.
        bodhi_update_complete_stable => ["*bodhi.update.complete.stable"],
        /// Bodhi: an update finishes its push to testing.
        bodhi_update_complete_testing => ["*bodhi.update.complete.testing"],
        /// Bodhi: an update is ejected from the mash (inconsistent request, failed checks).
        bodhi_update_eject => ["*bodhi.update.eject"],
        /// Bodhi: errata are published for an update, near the end of a mash.
        bodhi_errata_publish => ["*bodhi.errata.publish"],
        /// Bodhi: an admin requests a new run of the masher.
        bodhi_masher_start => ["*bodhi.masher.start"],
        /// Bodhi: the masher starts work on a repository.
        bodhi_mashtask_start => ["*bodhi.mashtask.start"],
        /// Bodhi: the masher finishes work on a repository.
        bodhi_mashtask_complete => ["*bodhi.mashtask.complete"],
        /// Bodhi: the masher enters its "mashing" phase.
        bodhi_mashtask_mashing => ["*bodhi.mashtask.mashing"],
        /// Bodhi: the masher waits for content to reach the mirrors.
        bodhi_mashtask_sync_wait => ["*bodhi.mashtask.sync.wait"],
        /// Bodhi: the masher sees its content on the master mirror.
        bodhi_mashtask_sync_done => ["*bodhi.mashtask.sync.done"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![bodhi_catchall, bodhi_critpath];

/// Bodhi: every event of the updates system (new updates, comments, overrides, ...).
#[rule(topics = ["*bodhi.*"])]
pub fn bodhi_catchall(msg: &Message) -> bool {
    is(msg, "bodhi")
}

/// Bodhi: events about critical-path updates, of any kind.
#[rule(topics = ["*bodhi.*"])]
pub fn bodhi_critpath(msg: &Message) -> bool {
    msg.get(&["update", "critpath"]).and_then(|v| v.as_bool()) == Some(true)
}
