//! What a worker writes to a channel's queue, and the delivery id that makes it idempotent.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::channel::ChannelKind;
use crate::envelope::{BusFormat, Envelope};
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
    /// (the transport's `claim_oneshot`).
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
    /// The message it is about: by reference unless the worker was asked for the whole of it
    /// ([`MessageCopy`]).
    pub message: NotifiedMessage,
}

/// The topic of a [`Notification::direct`]: fmn's own text, about no bus message.
pub const DIRECT_TOPIC: &str = "fmn.direct";

impl Notification {
    /// What the notification is about in one line: the extractors' summary, else the topic.
    pub fn headline(&self) -> &str {
        self.meta
            .summary
            .as_deref()
            .unwrap_or(self.message.topic.as_str())
    }

    /// A notification that fmn itself sends to one `address` of `user` on `channel`, saying
    /// `text` (a verification code), written by `from` rather than by a worker. Its delivery
    /// id comes from `key`, so the same `key` is delivered once. It has no digest and no
    /// one-shot filter, so the sender delivers it on its own, and senders render it as
    /// `text` alone ([`Self::is_direct`]), without the operator's templates.
    pub fn direct(
        user: &str,
        channel: ChannelKind,
        address: &str,
        key: &str,
        text: &str,
        from: &str,
    ) -> Notification {
        let id = format!("{DIRECT_TOPIC}:{key}");
        Notification {
            delivery_id: delivery_id(&id, user, channel),
            user: user.to_owned(),
            channel,
            addresses: vec![address.to_owned()],
            filter: String::new(),
            oneshot: false,
            digest: None,
            attempts: 0,
            generation: 0,
            worker: from.to_owned(),
            meta: MessageMeta {
                summary: Some(text.to_owned()),
                ..MessageMeta::default()
            },
            message: NotifiedMessage {
                id,
                topic: DIRECT_TOPIC.to_owned(),
                timestamp: None,
                format: BusFormat::FedoraMessaging,
                headers: None,
                body: None,
                raw: None,
            },
        }
    }

    /// Whether this is fmn's own text ([`Self::direct`]) rather than a bus message's
    /// notification: no rule writes the topic [`DIRECT_TOPIC`], which no bus message has
    /// (fedora-messaging and fedmsg topics start with their environment's prefix).
    pub fn is_direct(&self) -> bool {
        self.message.topic == DIRECT_TOPIC && self.filter.is_empty()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How much of the message a worker puts in each notification.
///
/// A message that notifies many users is written once per (user, channel): its body, a
/// kilobyte or more, would be most of every notification's bytes in the channel queues, and
/// no bundled sender reads it (they render from [`MessageMeta`], the topic and the id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageCopy {
    /// Id, topic, timestamp and bus format: what the senders use.
    #[default]
    Reference,
    /// Also headers and body (and `raw`, when the consumer keeps it), for a sender or a file
    /// sink's reader that wants the message itself.
    Whole,
}

/// The message a notification is about: always what names it, its headers and body only when
/// the worker was asked for them ([`MessageCopy::Whole`]).
///
/// A notification written whole by an earlier version reads as one of these, body included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifiedMessage {
    /// The message id.
    pub id: String,
    /// The topic.
    pub topic: String,
    /// Seconds since the Unix epoch, when the message said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Which bus shape the message arrived in.
    pub format: BusFormat,
    /// The message's headers, with [`MessageCopy::Whole`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Box<RawValue>>,
    /// The message's body, with [`MessageCopy::Whole`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Box<RawValue>>,
    /// The message as it arrived, with [`MessageCopy::Whole`] when the consumer kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Box<RawValue>>,
}

impl NotifiedMessage {
    /// As much of `envelope` as `copy` asks for.
    pub fn of(envelope: &Envelope, copy: MessageCopy) -> NotifiedMessage {
        let whole = copy == MessageCopy::Whole;
        NotifiedMessage {
            id: envelope.id.clone(),
            topic: envelope.topic.clone(),
            timestamp: envelope.timestamp,
            format: envelope.format,
            headers: whole.then(|| envelope.headers.clone()),
            body: whole.then(|| envelope.body.clone()),
            raw: envelope.raw.clone().filter(|_| whole),
        }
    }
}

impl From<&Envelope> for NotifiedMessage {
    /// The reference to `envelope`.
    fn from(envelope: &Envelope) -> NotifiedMessage {
        NotifiedMessage::of(envelope, MessageCopy::Reference)
    }
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

    #[test]
    fn a_direct_notification_says_its_text_to_its_one_address() {
        let n = Notification::direct("ralph", ChannelKind::Irc, "ralph_", "k1", "hi", "web");
        assert!(n.is_direct());
        assert_eq!(n.headline(), "hi");
        assert_eq!(n.addresses, ["ralph_"]);
        assert!(n.digest.is_none() && !n.oneshot);
        let again = Notification::direct("ralph", ChannelKind::Irc, "ralph_", "k1", "hi", "web");
        assert_eq!(n.delivery_id, again.delivery_id, "one key, one delivery");
        let other = Notification::direct("ralph", ChannelKind::Irc, "ralph_", "k2", "hi", "web");
        assert_ne!(n.delivery_id, other.delivery_id);
        let json = serde_json::to_string(&n).unwrap_or_default();
        let read: Notification = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            read.is_direct(),
            "still direct once through a queue: {json}"
        );
        let mut matched = n.clone();
        matched.filter = "a filter".into();
        assert!(
            !matched.is_direct(),
            "a rule's notification is never direct"
        );
    }

    fn envelope() -> Envelope {
        let line = br#"{"id": "m1", "topic": "org.fedoraproject.prod.a.b", "headers": {"sent-at": "2026-12-07T12:00:00+00:00"}, "body": {"agent": "ralph"}}"#;
        match Envelope::from_bus_json_keeping_raw(line, 1 << 20) {
            Ok(e) => e,
            Err(e) => panic!("the sample is a bus message: {e}"),
        }
    }

    #[test]
    fn a_reference_names_the_message_without_its_body() {
        let env = envelope();
        let r = NotifiedMessage::of(&env, MessageCopy::Reference);
        assert_eq!(
            (r.id.as_str(), r.topic.as_str()),
            ("m1", env.topic.as_str())
        );
        assert_eq!(r.timestamp, env.timestamp);
        assert!(r.timestamp.is_some());
        assert_eq!(r.format, BusFormat::FedoraMessaging);
        assert!(r.headers.is_none() && r.body.is_none() && r.raw.is_none());
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(!json.contains("ralph"), "{json}");
    }

    #[test]
    fn the_whole_copy_keeps_headers_body_and_raw() {
        let env = envelope();
        let w = NotifiedMessage::of(&env, MessageCopy::Whole);
        assert_eq!(w.body.as_ref().map(|b| b.get()), Some(env.body.get()));
        assert_eq!(w.headers.as_ref().map(|h| h.get()), Some(env.headers.get()));
        assert!(w.raw.is_some());
    }

    #[test]
    fn a_whole_envelope_written_before_reads_as_a_notified_message() {
        let env = envelope();
        let old = serde_json::to_string(&env).unwrap_or_default();
        let read: NotifiedMessage = match serde_json::from_str(&old) {
            Ok(m) => m,
            Err(e) => panic!("{old}: {e}"),
        };
        assert_eq!(read.id, "m1");
        assert_eq!(read.body.as_ref().map(|b| b.get()), Some(env.body.get()));
    }
}
