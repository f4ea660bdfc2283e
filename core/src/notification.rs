//! What a worker writes to a channel's queue, and the delivery id that makes it idempotent.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::channel::ChannelKind;
use crate::envelope::Envelope;
use crate::prefs::Digest;

/// One message to deliver to one user on one channel.
///
/// A worker writes at most one per (message, user, channel); its `delivery_id` is the same on
/// every redelivery, so senders can recognise what they already sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// `delivery_id(message id, user, channel)`.
    pub delivery_id: String,
    /// The user's account name.
    pub user: String,
    /// The channel to deliver on.
    pub channel: ChannelKind,
    /// Where on that channel: email addresses, IRC nicks, device tokens, Matrix ids.
    pub addresses: Vec<String>,
    /// The name of the filter that matched (the first, in the user's order, when several did).
    pub filter: String,
    /// That filter is one-shot: the sender delivers this only if it is the filter's first use
    /// ([`Transport::claim_oneshot`](crate::transport::Transport::claim_oneshot)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oneshot: bool,
    /// The user's digest settings for this channel, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Delivery attempts that failed for now so far (a notification coming back from the
    /// retry set carries them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// The generation of the rule set that evaluated the message.
    pub generation: u64,
    /// The worker that evaluated it.
    pub worker: String,
    /// What the rule modules' extractors said about the message.
    pub meta: MessageMeta,
    /// The message itself.
    pub message: Envelope,
}

impl Notification {
    /// What the notification is about in one line: the extractors' summary, else the topic.
    pub fn headline(&self) -> &str {
        self.meta
            .summary
            .as_deref()
            .unwrap_or(self.message.topic.as_str())
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the extractors of the loaded rule modules said about a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// A one-line human summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A link to the thing the message is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Users involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usernames: Vec<String>,
    /// Packages involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

/// The idempotency key of a notification: a hash of message id, user and channel, hex encoded.
pub fn delivery_id(message_id: &str, user: &str, channel: ChannelKind) -> String {
    let mut h = Sha256::new();
    for part in [message_id, user, channel.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_differ_by_every_part() {
        let a = delivery_id("m1", "ralph", ChannelKind::Email);
        assert_eq!(a.len(), 32);
        assert_eq!(a, delivery_id("m1", "ralph", ChannelKind::Email));
        assert_ne!(a, delivery_id("m2", "ralph", ChannelKind::Email));
        assert_ne!(a, delivery_id("m1", "ralph2", ChannelKind::Email));
        assert_ne!(a, delivery_id("m1", "ralph", ChannelKind::Irc));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            delivery_id("ab", "c", ChannelKind::Irc),
            delivery_id("a", "bc", ChannelKind::Irc)
        );
    }
}
