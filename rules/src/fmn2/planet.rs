//! The Fedora Planet, contributors' blogs.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Planet: a new blog post appears on the Fedora Planet.
        planet_post_new => ["*planet.post.new"],
    }
}
