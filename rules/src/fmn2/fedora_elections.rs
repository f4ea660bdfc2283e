//! Fedora Elections.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Elections: a candidate is removed from an election.
        fedora_elections_candidate_delete => ["*fedora_elections.candidate.delete"],
        /// Elections: a candidate of an election is edited.
        fedora_elections_candidate_edit => ["*fedora_elections.candidate.edit"],
        /// Elections: a candidate is added to an election.
        fedora_elections_candidate_new => ["*fedora_elections.candidate.new"],
        /// Elections: an election's metadata is edited.
        fedora_elections_election_edit => ["*fedora_elections.election.edit"],
        /// Elections: an election is created.
        fedora_elections_election_new => ["*fedora_elections.election.new"],
    }
}
