//! fmn's senders: pure I/O. Each reads its channel's queue, delivers, and acknowledges a
//! notification only once the remote side accepted it or refused it for good (then it is kept
//! as a dead letter, with the reason).
//!
//! - [`Sender`]: one delivery to one address, transient and permanent failures told apart.
//! - [`any`]: `[senders.CHANNEL]` read and built into a sender of any kind.
//! - [`email`]: mails, composed with lettre.
//! - [`smtp`]: SMTP connections (lettre's client on sockets with `TCP_NODELAY`).
//! - [`irc`](mod@irc): IRC private messages, confirmed by the server, paced.
//! - [`push`]: Firebase Cloud Messaging HTTP v1.
//! - [`matrix`]: Matrix notices, the delivery key as transaction id.
//! - [`file`](mod@file): JSON lines, the embedded default.
//! - [`template`]: what a notification says, overridable by the operator.
//! - [`run`]: the loop around a sender: idempotency, retries, dead letters.
//! - [`digest`]: the loop's part for digests: hold, flush when due, compose.

pub mod any;
pub mod digest;
pub mod email;
pub mod file;
mod http;
pub mod irc;
pub mod matrix;
pub mod plain;
pub mod push;
pub mod run;
pub mod smtp;
pub mod template;
pub mod unsubscribe;

use std::future::Future;

use fmn_core::Notification;

pub use any::{AnySender, SenderConfig, SenderConfigError, sender_for};
pub use email::{EmailConfig, EmailSender};
pub use file::FileSender;
pub use irc::{IrcConfig, IrcSender};
pub use matrix::{MatrixConfig, MatrixSender};
pub use push::{PushConfig, PushSender};
pub use run::{RateLimit, SenderOptions, SenderReport, run_sender};
pub use smtp::TlsMode;
pub use template::Templates;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server is busy, away, or said "try later".
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help: the address is refused, the message rejected.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Worth retrying, not before `after` (the server said so: `Retry-After`).
    #[error("transient: {reason} (retry after {after:?})")]
    RetryAfter {
        /// What the server said.
        reason: String,
        /// How long it asked to wait.
        after: std::time::Duration,
    },
    /// The address no longer exists (a device token the push service dropped): permanent,
    /// and the address is removed from the user's preferences.
    #[error("permanent: address gone: {0}")]
    AddressGone(String),
    /// The remote side cannot be reached at all (connection refused or lost): no attempt is
    /// counted, the notification waits in the queue, and the sender tries
    /// [`Sender::ready`] with backoff until it can go on.
    #[error("unreachable: {0}")]
    Unreachable(String),
}

impl SendError {
    /// Retrying will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_) | SendError::AddressGone(_))
    }

    /// The least wait before trying again that the remote side asked for.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SendError::RetryAfter { after, .. } => Some(*after),
            _ => None,
        }
    }
}

/// Delivers notifications on one channel.
pub trait Sender: Send {
    /// A short name for logs: `smtp`, `file`.
    fn name(&self) -> &'static str;
    /// Delivers `n` to one of its addresses.
    fn send(
        &mut self,
        n: &Notification,
        address: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
    /// Delivers each of `batch` (at most [`Self::max_batch`] of a notification and one of
    /// its addresses), in order: result `i` is item `i`'s. It may stop early, returning fewer
    /// results than items (at least one): the rest were not attempted. The default sends them
    /// one by one with [`Self::send`] and stops after the first [`SendError::Unreachable`]; a
    /// sender that can deliver several in fewer round trips (the file sender: one write) does
    /// so.
    fn send_batch(
        &mut self,
        batch: &[(&Notification, &str)],
    ) -> impl Future<Output = Vec<Result<(), SendError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(batch.len());
            for (n, address) in batch {
                let result = self.send(n, address).await;
                let out_of_reach = matches!(result, Err(SendError::Unreachable(_)));
                results.push(result);
                if out_of_reach {
                    break;
                }
            }
            results
        }
    }
    /// The most deliveries handed to [`Self::send_batch`] at once; the loop records those
    /// made after each call, so a crash sends again at most one call's, and reads at least
    /// this many notifications per turn (up to 1,024). 1 (the default) for a sender that
    /// sends one by one: each delivery is recorded as soon as it is made.
    fn max_batch(&self) -> usize {
        1
    }
    /// Delivers a digest, the notifications `items` (oldest first, at least one) in one
    /// message, to `address`.
    fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
    /// Connects if need be: after [`SendError::Unreachable`], the loop calls this with backoff
    /// and sends nothing until it succeeds. Senders without a standing connection are ready.
    fn ready(&mut self) -> impl Future<Output = Result<(), SendError>> + Send {
        async { Ok(()) }
    }
    /// After an outage, a user with at least this many notifications waiting gets them as one
    /// digest rather than one by one (IRC: a backlog would flood, paced, for minutes). `None`:
    /// the backlog is sent as it is.
    fn fold_backlog(&self) -> Option<usize> {
        None
    }
}
