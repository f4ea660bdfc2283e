//! Digests: a notification whose user collects them on its channel is held in Redis instead of
//! sent; once the digest falls due (FMN's `batch_count` notifications, or its oldest
//! `batch_delta` old) one message carries them all.
//!
//! Nothing is lost across a sender restart: holding acknowledges the notification in the same
//! step ([`Digests::hold_for_digest`](fmn_transport::Digests::hold_for_digest)), and a digest taken for sending stays in Redis until it
//! was delivered or given up on. Sending it is idempotent: a digest taken again after a crash
//! holds the same notifications, so the same digest id, and its delivery key was recorded.

use std::time::Duration;

use fmn_core::Notification;
use fmn_core::metrics::{label, metrics};
use fmn_core::prefs::Digest;
use fmn_transport::{DeadLetter, Transport};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use crate::run::{
    SenderOptions, SenderReport, address_key, delay, give_up, keep_dead_letters, retry_transport,
};
use crate::{SendError, Sender};

/// The most notifications one digest message carries; more wait for the next.
pub const DIGEST_MAX_ITEMS: usize = 500;

/// How long a sender holds a digest it took before another may take it.
pub const DIGEST_LEASE: Duration = Duration::from_secs(60);

/// Due digests looked at per turn of the sender's loop.
const DUE_PER_TURN: usize = 16;

/// The settings a backlog is folded with: due at once, whatever the user's own.
pub(crate) const FOLD: Digest = Digest {
    max_count: Some(1),
    max_delay: None,
};

/// What a turn of [`flush_due`] came to.
pub(crate) struct Flushed {
    /// Users whose digest was due.
    pub due: usize,
    /// The remote side could not be reached: the digest being sent stays taken by this sender
    /// (no attempt counted), to be taken again once the sender is ready.
    pub unreachable: Option<SendError>,
}

/// The id of a digest: a hash of its notifications' delivery ids, in order.
pub fn digest_id(items: &[Notification]) -> String {
    let mut h = Sha256::new();
    for n in items {
        h.update((n.delivery_id.len() as u64).to_le_bytes());
        h.update(n.delivery_id.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The digest settings `n` asks for, if they collect anything.
pub(crate) fn wants_digest(n: &Notification) -> Option<&Digest> {
    n.digest
        .as_ref()
        .filter(|d| d.max_count.is_some() || d.max_delay.is_some())
}

/// Sends the digests of `opts.channel` that are due within `within` (zero: due now), at
/// most [`DUE_PER_TURN`]; `None` when cancelled.
pub(crate) async fn flush_due<T: Transport, S: Sender>(
    transport: &T,
    sender: &mut S,
    opts: &SenderOptions,
    report: &mut SenderReport,
    within: Duration,
    cancel: &CancellationToken,
) -> Option<Flushed> {
    let mut flush = Flush {
        transport,
        sender,
        opts,
        report,
        cancel,
        log: crate::run::RoundLog::new(opts.delivery_log),
    };
    let flushed = flush.due(within).await;
    flush.log.flush(transport).await;
    flushed
}

/// A turn of sending due digests: each user's taken, sent to each address, and finished,
/// postponed or kept as dead letters. A method returns `None` when cancelled.
struct Flush<'a, T, S> {
    transport: &'a T,
    sender: &'a mut S,
    opts: &'a SenderOptions,
    report: &'a mut SenderReport,
    cancel: &'a CancellationToken,
    /// What became of the digests' notifications, for their users' delivery logs.
    log: crate::run::RoundLog,
}

/// A digest taken for sending.
struct Taken<'a> {
    user: &'a str,
    /// Its notifications, oldest first.
    items: &'a [Notification],
    /// The newest: its settings and addresses are the user's current ones.
    last: &'a Notification,
    /// Sends of this digest so far, this one included.
    attempts: u32,
}

/// What sending a digest to its addresses came to.
#[derive(Default)]
struct Sent {
    /// The deliveries given up on.
    dead: Vec<DeadLetter>,
    /// The last failure worth retrying later.
    for_now: Option<SendError>,
    /// The remote side could not be reached: the addresses after it were not tried.
    unreachable: Option<SendError>,
}

impl<T: Transport, S: Sender> Flush<'_, T, S> {
    async fn due(&mut self, within: Duration) -> Option<Flushed> {
        let ch = self.opts.channel;
        let users = match self.transport.due_digests(ch, within, DUE_PER_TURN).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(channel = %ch, "looking for due digests failed: {e}");
                return Some(Flushed {
                    due: 0,
                    unreachable: None,
                });
            }
        };
        let due = users.len();
        for user in &users {
            if let Some(error) = self.user(user).await? {
                return Some(Flushed {
                    due,
                    unreachable: Some(error),
                });
            }
        }
        Some(Flushed {
            due,
            unreachable: None,
        })
    }

    /// Takes `user`'s digest and sends it; the error when the remote side is out of reach.
    async fn user(&mut self, user: &str) -> Option<Option<SendError>> {
        let (t, opts) = (self.transport, self.opts);
        let batch = retry_transport("taking a digest", self.cancel, move || {
            t.take_digest(
                opts.channel,
                user,
                &opts.consumer,
                DIGEST_LEASE,
                DIGEST_MAX_ITEMS,
            )
        })
        .await?;
        let Some(batch) = batch else {
            return Some(None);
        };
        let Some(last) = batch.notifications.last() else {
            return Some(None);
        };
        let taken = Taken {
            user,
            items: &batch.notifications,
            last,
            attempts: batch.failures + 1,
        };
        let sent = self.send(&taken).await?;
        keep_dead_letters(self.transport, &sent.dead, self.report, self.cancel).await?;
        if let Some(error) = sent.unreachable {
            // Counted, unlike a notification's send: a digest that loses the connection each
            // time is dead-lettered after the last attempt rather than tried forever.
            tracing::info!(channel = %opts.channel, user = %user, "digest waits: {error}");
            self.postpone(user, Duration::ZERO).await?;
            return Some(Some(error));
        }
        match sent.for_now {
            Some(error) => self.retry_later(&taken, error).await?,
            None => self.finish(&taken).await?,
        }
        Some(None)
    }

    /// Sends the digest to each of its addresses not already served.
    async fn send(&mut self, d: &Taken<'_>) -> Option<Sent> {
        let id = digest_id(d.items);
        let keys: Vec<String> = d
            .last
            .addresses
            .iter()
            .map(|a| address_key(&format!("digest-{id}"), a))
            .collect();
        let asked: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (t, asked) = (self.transport, &asked);
        let made = retry_transport("checking deliveries", self.cancel, move || {
            t.was_delivered_many(asked)
        })
        .await?;
        let mut sent = Sent::default();
        for (i, (address, key)) in d.last.addresses.iter().zip(&keys).enumerate() {
            // The same address twice is one delivery.
            if made.get(i).copied().unwrap_or(false) || d.last.addresses[..i].contains(address) {
                self.report.duplicates += 1;
                continue;
            }
            match self.sender.send_digest(d.items, address).await {
                Err(error @ SendError::Unreachable(_)) if d.attempts < self.opts.max_attempts => {
                    sent.unreachable = Some(error);
                    break;
                }
                Ok(()) => self.delivered(d.items, address, key).await?,
                Err(error) if error.is_permanent() || d.attempts >= self.opts.max_attempts => {
                    self.give_up(d, address, key, &error, &mut sent.dead)
                        .await?;
                }
                Err(error) => {
                    metrics()
                        .delivery_failures
                        .get_or_create(&label("channel", self.opts.channel.as_str()))
                        .inc();
                    sent.for_now = Some(error);
                }
            }
        }
        Some(sent)
    }

    /// Counts a digest delivered to `address` and records it under `key`.
    async fn delivered(&mut self, items: &[Notification], address: &str, key: &str) -> Option<()> {
        for n in items {
            self.log
                .note(n, address, fmn_transport::DeliveryOutcome::SentInDigest);
        }
        self.report.digests += 1;
        self.report.sent += items.len() as u64;
        let ch = label("channel", self.opts.channel.as_str());
        metrics().digests_sent.get_or_create(&ch).inc();
        metrics()
            .delivered
            .get_or_create(&ch)
            .inc_by(items.len() as u64);
        // Each notification counts as delivered to this address too, so one evaluated again
        // later is not held a second time.
        let each: Vec<String> = items
            .iter()
            .map(|n| crate::run::delivery_key(n, address))
            .collect();
        let keys: Vec<&str> = std::iter::once(key)
            .chain(each.iter().map(String::as_str))
            .collect();
        self.mark_delivered(&keys).await
    }

    /// Gives the digest up for `address`: its notifications become dead letters in `dead`.
    async fn give_up(
        &mut self,
        d: &Taken<'_>,
        address: &str,
        key: &str,
        error: &SendError,
        dead: &mut Vec<DeadLetter>,
    ) -> Option<()> {
        crate::run::flag_address(self.transport, d.last, address, error).await;
        for n in d.items {
            let why = fmn_transport::DeliveryOutcome::Failed(format!("in a digest: {error}"));
            self.log.note(n, address, why);
        }
        let name = self.sender.name();
        dead.extend(
            d.items
                .iter()
                .map(|n| give_up(n, address, error, d.attempts, name)),
        );
        // Given up on for this address: a retry for the others skips it.
        self.mark_delivered(&[key]).await
    }

    async fn mark_delivered(&self, keys: &[&str]) -> Option<()> {
        let (t, remember) = (self.transport, self.opts.remember);
        retry_transport("recording a delivery", self.cancel, move || {
            t.mark_delivered(keys, remember)
        })
        .await
    }

    /// Puts the digest off after a failure worth retrying.
    async fn retry_later(&mut self, d: &Taken<'_>, error: SendError) -> Option<()> {
        let wait = delay(self.opts, d.attempts - 1).max(error.retry_after().unwrap_or_default());
        tracing::info!(
            channel = %self.opts.channel, user = %d.user, notifications = d.items.len(),
            "digest attempt {} failed: {error}; retrying in {} ms", d.attempts, wait.as_millis()
        );
        self.postpone(d.user, wait).await?;
        self.report.retries += 1;
        Some(())
    }

    async fn postpone(&self, user: &str, wait: Duration) -> Option<()> {
        let (t, ch) = (self.transport, self.opts.channel);
        retry_transport("postponing a digest", self.cancel, move || {
            t.postpone_digest(ch, user, wait)
        })
        .await
    }

    /// Removes what was sent from the user's held notifications.
    async fn finish(&self, d: &Taken<'_>) -> Option<()> {
        // A folded backlog's (no settings) leaves what is left due at once.
        let settings = d.last.digest.unwrap_or(FOLD);
        let (t, ch, count, settings) =
            (self.transport, self.opts.channel, d.items.len(), &settings);
        retry_transport("finishing a digest", self.cancel, move || {
            t.finish_digest(ch, d.user, count, settings)
        })
        .await?;
        tracing::info!(channel = %ch, user = %d.user, notifications = count, "digest sent");
        Some(())
    }
}

/// Sends every digest of `opts.channel` held now, due or not: for a replay that ends
/// (`fmn run`), where waiting for the due time would keep the process up for nothing. One
/// pass per digest; what fails stays held.
pub(crate) async fn drain<T: Transport, S: Sender>(
    transport: &T,
    sender: &mut S,
    opts: &SenderOptions,
    report: &mut SenderReport,
) {
    let cancel = CancellationToken::new();
    // Stops at a pass that finished no digest: what failed for now, or is held by another
    // sender, stays held for a later one.
    loop {
        let before = (report.digests, report.dead_lettered, report.retries);
        match flush_due(transport, sender, opts, report, Duration::MAX, &cancel).await {
            Some(f) if f.due > 0 && f.unreachable.is_none() => {}
            _ => break,
        }
        let after = (report.digests, report.dead_lettered, report.retries);
        if after.0 == before.0 && after.1 == before.1 || after.2 > before.2 {
            break;
        }
    }
}
