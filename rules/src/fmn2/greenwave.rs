//! Greenwave, the gating service.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Greenwave: a new gating decision.
        greenwave_decision_update => ["*.greenwave.decision.update"],
    }
}
