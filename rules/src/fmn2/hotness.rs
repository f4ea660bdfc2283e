//! the-new-hotness, which follows upstream releases for packagers.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Hotness: a Bugzilla bug is filed for a new upstream release.
        hotness_bug_file => ["*hotness.update.bug.file"],
        /// Hotness: a follow-up on such a bug (an automatic scratch build, a real build).
        hotness_bug_followup => ["*hotness.update.bug.followup"],
        /// Hotness: a new upstream release is not acted upon (unknown project, Bugzilla down,
        /// the packager opted out).
        hotness_update_drop => ["*hotness.update.drop"],
    }
}
