//! Fedora Badges.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Badges: someone is awarded a badge.
        fedbadges_badge_award => ["*fedbadges.badge.award"],
        /// Badges: someone logs in to badges.fedoraproject.org for the first time.
        fedbadges_person_first_login => ["*fedbadges.person.login.first"],
        /// Badges: someone's rank changes.
        fedbadges_person_rank_advance => ["*fedbadges.person.rank.advance"],
    }
}
