//! fedmsg-logger: admins' ad hoc messages.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Logger: an admin sends a message with `fedmsg-logger` without a topic (usually a test).
        logger_log => ["*logger.log"],
    }
}
