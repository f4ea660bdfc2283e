//! Git repositories of the Fedora Infrastructure team.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    pub const TOPIC: {
        /// Infrastructure: every commit to the team's configuration repositories.
        all_infragit => ["*.infragit.*"],
    }
}
