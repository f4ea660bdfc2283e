//! What happened recently, kept so people can ask why: the messages read from the bus (the
//! recent-message window) and, per user, what became of their notifications (the delivery
//! log). Both are bounded by age and by size; neither is on the delivery path, so a failure to
//! keep them costs the record, never a message or a notification.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use fmn_core::channel::ChannelKind;
use fmn_core::notification::Notification;

/// How much of the recent-message window is kept: messages younger than `age`, the newest
/// `bytes` of them (their work items' JSON as kept) when that is less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// The oldest message kept; zero keeps none.
    pub age: Duration,
    /// The most bytes kept.
    pub bytes: u64,
}

impl Default for WindowLimits {
    /// A week, within 256 MiB: about 200,000 of the corpus' messages (1,090 bytes each).
    fn default() -> Self {
        WindowLimits {
            age: Duration::from_secs(7 * 24 * 3600),
            bytes: 256 << 20,
        }
    }
}

/// How much of each user's delivery log is kept: records younger than `age`, the newest
/// `entries` of them when that is fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// The oldest record kept; zero keeps none.
    pub age: Duration,
    /// The most records kept per user.
    pub entries: u64,
}

impl Default for LogLimits {
    /// 30 days, the newest 1,000 records a user.
    fn default() -> Self {
        LogLimits {
            age: Duration::from_secs(30 * 24 * 3600),
            entries: 1000,
        }
    }
}

/// A message of the window, with the cursor that pages past it.
#[derive(Debug, Clone)]
pub struct RecentMessage {
    /// Its place in the window: pass it as `before` to read the older ones.
    pub cursor: String,
    /// The message as the workers received it.
    pub item: crate::WorkItem,
}

/// What became of one notification at one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum DeliveryOutcome {
    /// Delivered.
    Sent,
    /// Held for the user's digest.
    HeldForDigest,
    /// Delivered inside a digest.
    SentInDigest,
    /// Failed for now: tried again later.
    Retrying(String),
    /// Given up on: kept as a dead letter.
    Failed(String),
    /// Not sent: its one-shot filter had been used.
    OneshotSpent,
}

/// One record of a user's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whose.
    pub user: String,
    /// The channel.
    pub channel: ChannelKind,
    /// The address (empty for what concerns the notification as a whole).
    pub address: String,
    /// The filter that matched.
    pub filter: String,
    /// The message's id.
    pub message_id: String,
    /// The message's topic, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// The message's one-line summary, when the extractors gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
}

impl Delivery {
    /// The record of `n` at `address` with `outcome`, now. fmn's own text (a verification
    /// code, [`Notification::is_direct`]) is recorded without it: the log is read by the user
    /// who asked for the code, and the code is for whoever holds the address.
    pub fn of(n: &Notification, address: &str, outcome: DeliveryOutcome) -> Delivery {
        let summary = if n.is_direct() {
            Some("a verification code".to_owned())
        } else {
            n.meta.summary.clone()
        };
        Delivery {
            at_ms: now_ms(),
            user: n.user.clone(),
            channel: n.channel,
            address: address.to_owned(),
            filter: n.filter.clone(),
            message_id: n.message.id.clone(),
            topic: n.message.topic.clone(),
            summary,
            outcome,
        }
    }
}

/// Milliseconds since the Unix epoch by this machine's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
