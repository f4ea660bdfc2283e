//! Git repositories of the Fedora Infrastructure team.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Infrastructure: every commit to the team's configuration repositories.
        all_infragit => ["*.infragit.*"],
    }
}
