//! Nuancier, the wallpaper elections.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Nuancier: an admin approves a wallpaper candidate.
        nuancier_candidate_approved => ["*nuancier.candidate.approved"],
        /// Nuancier: an admin denies a wallpaper candidate.
        nuancier_candidate_denied => ["*nuancier.candidate.denied"],
        /// Nuancier: a contributor submits a wallpaper candidate.
        nuancier_candidate_new => ["*nuancier.candidate.new"],
        /// Nuancier: an admin creates a wallpaper election.
        nuancier_election_new => ["*nuancier.election.new"],
        /// Nuancier: an admin updates a wallpaper election.
        nuancier_election_update => ["*nuancier.election.update"],
    }
}
