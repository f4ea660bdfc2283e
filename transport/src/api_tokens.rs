//! API tokens: what a script presents to the web service instead of a signed-in session.
//!
//! A store keeps each token's SHA-256, never the token: whoever reads the store cannot act as
//! anyone. A token is looked up by its digest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One API token as stored: whose it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its public id: the first 12 hex digits of its digest; what lists show and revoking
    /// names.
    pub id: String,
    /// The hex SHA-256 of the token.
    pub digest: String,
    /// The account it acts for.
    pub user: String,
    /// What its holder called it (e.g. "my backup script").
    pub label: String,
    /// It may read and change every user's preferences, not only its user's.
    pub admin: bool,
    /// When it was made, in seconds since the Unix epoch.
    pub created: u64,
}

impl ApiToken {
    /// The record of `token`, for `user`.
    pub fn new(token: &str, user: &str, label: &str, admin: bool, created: u64) -> ApiToken {
        let digest = token_digest(token);
        ApiToken {
            id: digest[..12].to_owned(),
            digest,
            user: user.to_owned(),
            label: label.to_owned(),
            admin,
            created,
        }
    }
}

/// The hex SHA-256 of `token`: the key it is stored and looked up under.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
