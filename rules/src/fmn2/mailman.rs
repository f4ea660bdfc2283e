//! Mailman 3 mailing lists.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Mailman: an email is posted to any Fedora mailing list (subscribing to the list may
        /// serve you better).
        mailman_receive => ["*mailman.receive"],
    }
}
