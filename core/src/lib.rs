//! The types every part of fmn speaks.
//!
//! - [`backoff`]: delays between attempts, doubling up to a cap.
//! - [`envelope`]: the one normalised message shape, parsed from either bus era.
//! - [`data`], [`data_feed`]: ownership, groups and aliases the host holds for rules, and
//!   the bus messages that change them.
//! - [`prefs`]: users' preferences (channels, filters, rules) and their file format.
//! - [`notification`]: what workers hand to senders, with its idempotent delivery id.
//! - [`metrics`] (feature `metrics`): what every part counts, for Prometheus.
//!
//! The queues between consumer, workers and senders are the crate `fmn-transport`.

pub mod backoff;
pub mod channel;
pub mod data;
pub mod data_feed;
pub mod envelope;
pub mod lenient;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod notification;
pub mod prefs;
pub mod prefs_edit;
pub mod prefs_fmn;
pub mod prefs_stream;
pub mod presets;

pub use backoff::Backoff;
pub use channel::ChannelKind;
pub use data::Relations;
pub use envelope::{BusFormat, Envelope, EnvelopeError};
pub use notification::{MessageCopy, MessageMeta, Notification, NotifiedMessage, delivery_id};
pub use prefs::Preferences;
