//! Delivery channels (FMN called them contexts).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a notification goes. Each channel has its own queue and its own sender.
///
/// Read from its name through [`FromStr`] (so `gcm` and `fcm` name push): as a map key too,
/// a wrong name is then reported with the name, and a JSON path to it can name the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum ChannelKind {
    /// Email, through SMTP.
    Email,
    /// IRC private messages.
    Irc,
    /// Mobile push through Firebase Cloud Messaging. `gcm` and `fcm` are accepted as names:
    /// FMN called this channel GCM, whose legacy API no longer exists.
    Push,
    /// Matrix messages.
    Matrix,
}

impl ChannelKind {
    /// Every channel, in a fixed order.
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Email,
        ChannelKind::Irc,
        ChannelKind::Push,
        ChannelKind::Matrix,
    ];

    /// The channel's name as used in preferences, queue names and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Irc => "irc",
            ChannelKind::Push => "push",
            ChannelKind::Matrix => "matrix",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?} (expected one of: email, irc, push (or gcm, fcm), matrix)")]
pub struct UnknownChannel(pub String);

impl TryFrom<String> for ChannelKind {
    type Error = UnknownChannel;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for ChannelKind {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(ChannelKind::Email),
            "irc" => Ok(ChannelKind::Irc),
            "push" | "gcm" | "fcm" => Ok(ChannelKind::Push),
            "matrix" => Ok(ChannelKind::Matrix),
            other => Err(UnknownChannel(other.to_owned())),
        }
    }
}
