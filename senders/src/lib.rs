//! fmn's senders: pure I/O. Each reads its channel's queue, delivers, and acknowledges a
//! notification only once the remote side accepted it or refused it for good (then it is kept
//! as a dead letter, with the reason).
//!
//! - [`Sender`]: one delivery to one address, transient and permanent failures told apart.
//! - [`email`]: mails, composed with lettre.
//! - [`smtp`]: SMTP connections (lettre's client on sockets with `TCP_NODELAY`).
//! - [`irc`](mod@irc): IRC private messages, confirmed by the server, paced.
//! - [`file`](mod@file): JSON lines, the embedded default.
//! - [`run`]: the loop around a sender: idempotency, retries, dead letters.
//! - [`digest`]: the loop's part for digests: hold, flush when due, compose.

pub mod digest;
pub mod email;
pub mod file;
pub mod irc;
pub mod run;
pub mod smtp;

use std::future::Future;

use fmn_core::Notification;

pub use email::{EmailConfig, EmailSender, TlsMode};
pub use file::FileSender;
pub use irc::{IrcConfig, IrcSender};
pub use run::{SenderOptions, SenderReport, run_sender};

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server is busy, away, or said "try later".
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help: the address is refused, the message rejected.
    #[error("permanent: {0}")]
    Permanent(String),
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
    /// Delivers a digest, the notifications `items` (oldest first, at least one) in one
    /// message, to `address`.
    fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}
