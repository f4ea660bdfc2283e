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

use crate::run::{SenderOptions, SenderReport, address_key, delay, give_up, retry_transport};
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
    let users = match transport
        .due_digests(opts.channel, within, DUE_PER_TURN)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(channel = %opts.channel, "looking for due digests failed: {e}");
            return Some(Flushed {
                due: 0,
                unreachable: None,
            });
        }
    };
    let due = users.len();
    for user in users {
        let (t, u) = (transport, user.as_str());
        let batch = retry_transport("taking a digest", cancel, move || {
            t.take_digest(
                opts.channel,
                u,
                &opts.consumer,
                DIGEST_LEASE,
                DIGEST_MAX_ITEMS,
            )
        })
        .await?;
        let Some(batch) = batch else { continue };
        let items = &batch.notifications;
        let Some(last) = items.last() else { continue };
        // The newest notification carries the user's current settings and addresses; a
        // folded backlog's (no settings) leaves what is left due at once.
        let settings = last.digest.unwrap_or(FOLD);
        let id = digest_id(items);
        let attempts = batch.failures + 1;
        let mut dead: Vec<DeadLetter> = Vec::new();
        let mut for_now: Option<SendError> = None;
        let mut unreachable: Option<SendError> = None;
        let keys: Vec<String> = last
            .addresses
            .iter()
            .map(|a| address_key(&format!("digest-{id}"), a))
            .collect();
        let asked: Vec<&str> = keys.iter().map(String::as_str).collect();
        let asked = &asked;
        let made = retry_transport("checking deliveries", cancel, move || {
            t.was_delivered_many(asked)
        })
        .await?;
        for (i, (address, key)) in last.addresses.iter().zip(&keys).enumerate() {
            let k = key.as_str();
            // The same address twice is one delivery.
            if made.get(i).copied().unwrap_or(false) || last.addresses[..i].contains(address) {
                report.duplicates += 1;
                continue;
            }
            match sender.send_digest(items, address).await {
                Err(error @ SendError::Unreachable(_)) if attempts < opts.max_attempts => {
                    unreachable = Some(error);
                    break;
                }
                Ok(()) => {
                    report.digests += 1;
                    report.sent += items.len() as u64;
                    let ch = label("channel", opts.channel.as_str());
                    metrics().digests_sent.get_or_create(&ch).inc();
                    metrics()
                        .delivered
                        .get_or_create(&ch)
                        .inc_by(items.len() as u64);
                    // Each notification counts as delivered to this address too, so one
                    // evaluated again later is not held a second time.
                    let each: Vec<String> = items
                        .iter()
                        .map(|n| crate::run::delivery_key(n, address))
                        .collect();
                    let keys: Vec<&str> = std::iter::once(k)
                        .chain(each.iter().map(String::as_str))
                        .collect();
                    let (keys, remember) = (&keys, opts.remember);
                    retry_transport("recording a delivery", cancel, move || {
                        t.mark_delivered(keys, remember)
                    })
                    .await?;
                }
                Err(error) if error.is_permanent() || attempts >= opts.max_attempts => {
                    crate::run::flag_address(t, last, address, &error).await;
                    dead.extend(
                        items
                            .iter()
                            .map(|n| give_up(n, address, &error, attempts, sender.name())),
                    );
                    // Given up on for this address: a retry for the others skips it.
                    let (keys, remember) = (&[k], opts.remember);
                    retry_transport("recording a delivery", cancel, move || {
                        t.mark_delivered(keys, remember)
                    })
                    .await?;
                }
                Err(error) => {
                    metrics()
                        .delivery_failures
                        .get_or_create(&label("channel", opts.channel.as_str()))
                        .inc();
                    for_now = Some(error);
                }
            }
        }
        if !dead.is_empty() {
            let (count, letters) = (dead.len() as u64, &dead);
            retry_transport("writing dead letters", cancel, move || {
                t.dead_letter(letters)
            })
            .await?;
            report.dead_lettered += count;
            metrics()
                .dead_letters
                .get_or_create(&label("stage", "sender"))
                .inc_by(count);
        }
        if let Some(error) = unreachable {
            // Counted, unlike a notification's send: a digest that loses the connection each
            // time is dead-lettered after the last attempt rather than tried forever.
            tracing::info!(channel = %opts.channel, user = %user, "digest waits: {error}");
            retry_transport("postponing a digest", cancel, move || {
                t.postpone_digest(opts.channel, u, Duration::ZERO)
            })
            .await?;
            return Some(Flushed {
                due,
                unreachable: Some(error),
            });
        }
        if let Some(error) = for_now {
            let wait = delay(opts, attempts - 1).max(error.retry_after().unwrap_or_default());
            tracing::info!(
                channel = %opts.channel, user = %user, notifications = items.len(),
                "digest attempt {attempts} failed: {error}; retrying in {} ms", wait.as_millis()
            );
            retry_transport("postponing a digest", cancel, move || {
                t.postpone_digest(opts.channel, u, wait)
            })
            .await?;
            report.retries += 1;
            continue;
        }
        let (count, settings) = (items.len(), &settings);
        retry_transport("finishing a digest", cancel, move || {
            t.finish_digest(opts.channel, u, count, settings)
        })
        .await?;
        tracing::info!(channel = %opts.channel, user = %user, notifications = count, "digest sent");
    }
    Some(Flushed {
        due,
        unreachable: None,
    })
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
