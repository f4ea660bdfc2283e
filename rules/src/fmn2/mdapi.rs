//! mdapi, the JSON API over the package repositories.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// mdapi: a repository changes (best combined with rules about your packages).
        mdapi_repo_update => ["*.mdapi.repo.update"],
    }
}
