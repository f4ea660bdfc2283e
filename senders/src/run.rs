//! The loop around a sender: read the channel's queue, deliver each notification to each of
//! its addresses once, retry what failed for now, dead-letter what failed for good, and
//! acknowledge.

use std::time::Duration;

use fmn_core::metrics::{label, metrics};
use fmn_core::transport::{DeadLetter, Entry, EntryId, Stage, Transport};
use fmn_core::{ChannelKind, Notification};
use rand::RngExt;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{SendError, Sender, digest};

/// How a sender runs.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// The channel whose queue it reads.
    pub channel: ChannelKind,
    /// Its name in the queue's consumer group; a restarted sender with the same name takes back
    /// what it held.
    pub consumer: String,
    /// Notifications read at once.
    pub batch: usize,
    /// How long a read waits for a notification.
    pub block: Duration,
    /// Attempts at a delivery that keeps failing for now, before it is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles, up to `retry_max`, with jitter.
    pub retry_base: Duration,
    /// The longest delay between attempts.
    pub retry_max: Duration,
    /// How long a delivery is remembered, so a redelivered notification is not sent again.
    pub remember: Duration,
    /// On stop, send every digest held, due or not (for a replay that ends: `fmn run`).
    pub drain_digests: bool,
    /// At most this many deliveries to one address in any window; more wait their turn.
    pub rate_limit: Option<RateLimit>,
}

/// A per-address rate limit: at most `count` deliveries in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Deliveries.
    pub count: u32,
    /// Per this long.
    pub window: Duration,
}

impl SenderOptions {
    /// Defaults for `channel`.
    pub fn new(channel: ChannelKind, consumer: impl Into<String>) -> Self {
        SenderOptions {
            channel,
            consumer: consumer.into(),
            batch: 32,
            block: Duration::from_millis(500),
            max_attempts: 5,
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            remember: Duration::from_secs(7 * 24 * 3600),
            drain_digests: false,
            rate_limit: None,
        }
    }
}

/// What a sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderReport {
    /// Deliveries the remote side accepted.
    pub sent: u64,
    /// Deliveries skipped because they were made before (a redelivered notification).
    pub duplicates: u64,
    /// Deliveries given up on, kept as dead letters.
    pub dead_lettered: u64,
    /// Notifications not sent because their one-shot filter had been used by another.
    pub oneshot_spent: u64,
    /// Attempts that failed for now and were retried.
    pub retries: u64,
    /// Notifications held for a digest.
    pub held: u64,
    /// Digest messages sent (their notifications count in `sent`).
    pub digests: u64,
    /// Deliveries put off because their address reached its rate limit.
    pub deferred: u64,
    /// Notifications folded into their user's digest after an outage (see
    /// [`Sender::fold_backlog`]); they count in `sent` once the digest is.
    pub folded: u64,
    /// Times the remote side was found out of reach.
    pub outages: u64,
}

/// Notifications read at once while catching up after an outage, so that a user's backlog
/// folds into one digest.
const CATCH_UP_BATCH: usize = 500;

/// How long to wait before asking an unreachable sender again, after `strikes` outages and
/// failed checks with no delivery between: at once the first time (a dropped connection is
/// made again at once), then from 250 ms doubling to 30 s.
fn outage_wait(strikes: u32) -> Duration {
    if strikes <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(250u64.saturating_mul(1 << (strikes - 2).min(7)))
        .min(Duration::from_secs(30))
}

/// The idempotency key of one delivery: the notification's delivery id and the address.
pub fn delivery_key(n: &Notification, address: &str) -> String {
    address_key(&n.delivery_id, address)
}

/// The idempotency key of delivering `id` to `address`.
pub(crate) fn address_key(id: &str, address: &str) -> String {
    let tag = hex::encode(Sha256::digest(address.as_bytes()));
    format!("{id}:{}", &tag[..16])
}

pub(crate) fn delay(opts: &SenderOptions, attempt: u32) -> Duration {
    let exp = opts
        .retry_base
        .saturating_mul(1 << attempt.min(16))
        .min(opts.retry_max);
    // Full jitter over the upper half: spreads retries of many senders apart.
    let half = exp / 2;
    half + half.mul_f64(rand::rng().random_range(0.0..1.0))
}

/// The dead letter of a delivery given up on.
pub(crate) fn give_up(
    n: &Notification,
    address: &str,
    error: &SendError,
    attempts: u32,
    sender: &str,
) -> DeadLetter {
    tracing::warn!(
        channel = %n.channel, user = %n.user, address, delivery = %n.delivery_id,
        "giving up after {attempts} attempt(s): {error}"
    );
    let payload = serde_json::to_vec(&Notification {
        attempts: 0,
        ..n.clone()
    })
    .unwrap_or_default();
    DeadLetter::new(
        Stage::Sender,
        format!("{}:{}:{address}", n.channel, n.user),
        format!(
            "{} via {sender} after {attempts} attempt(s): {error}",
            n.channel
        ),
        &payload,
    )
}

/// Records an address refused for good, for `fmn prefs show`; best effort: the dead letter
/// keeps the failure whatever happens here.
pub(crate) async fn flag_address<T: Transport>(
    transport: &T,
    n: &Notification,
    address: &str,
    error: &SendError,
) {
    let reason = match error {
        SendError::Permanent(r) | SendError::AddressGone(r) => r,
        _ => return,
    };
    if let Err(e) = transport
        .record_address_failure(&n.user, n.channel, address, reason)
        .await
    {
        tracing::warn!(user = %n.user, address, "recording the address failure failed: {e}");
    }
    if matches!(error, SendError::AddressGone(_)) {
        match transport.disable_address(&n.user, n.channel, address).await {
            Ok(true) => tracing::info!(
                user = %n.user, channel = %n.channel, address,
                "address removed from the user's preferences: {reason}"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(user = %n.user, address, "removing the address failed: {e}"),
        }
    }
}

pub(crate) async fn retry_transport<R, F, Fut>(
    what: &str,
    cancel: &CancellationToken,
    mut op: F,
) -> Option<R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, fmn_core::transport::TransportError>>,
{
    let mut attempt = 0u32;
    loop {
        match op().await {
            Ok(r) => return Some(r),
            Err(e) => {
                tracing::warn!("{what} failed: {e}; retrying");
                let ms = 50u64.saturating_mul(1 << attempt.min(6)).min(3_000);
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    _ = cancel.cancelled() => return None,
                }
            }
        }
    }
}

/// What one attempt at one address came to.
enum Attempt {
    /// The remote side accepted it.
    Sent,
    /// It was delivered before (a notification read again).
    Duplicate,
    /// It failed; `permanent` failures are not tried again.
    Failed(SendError),
}

fn out_of_reach(opts: &SenderOptions, report: &mut SenderReport, error: &SendError) {
    report.outages += 1;
    let channel = label("channel", opts.channel.as_str());
    metrics().outages.get_or_create(&channel).inc();
    metrics().out_of_reach.get_or_create(&channel).set(1);
    tracing::warn!(channel = %opts.channel, "out of reach: {error}; sending nothing until it is back");
}

/// One attempt at delivering `n` to `address`; `None` when cancelled.
async fn try_once<T: Transport, S: Sender>(
    transport: &T,
    sender: &mut S,
    opts: &SenderOptions,
    n: &Notification,
    address: &str,
    cancel: &CancellationToken,
) -> Option<Attempt> {
    let key = delivery_key(n, address);
    let key = key.as_str();
    if retry_transport("checking a delivery", cancel, move || {
        transport.was_delivered(key)
    })
    .await?
    {
        return Some(Attempt::Duplicate);
    }
    match sender.send(n, address).await {
        Ok(()) => {
            let (keys, remember) = (&[key], opts.remember);
            retry_transport("recording a delivery", cancel, move || {
                transport.mark_delivered(keys, remember)
            })
            .await?;
            Some(Attempt::Sent)
        }
        Err(e) => Some(Attempt::Failed(e)),
    }
}

/// Runs a sender until `cancel` fires. A notification is acknowledged once every address was
/// delivered or given up on; on cancellation, what is in hand is left unacknowledged (it will
/// be read again, and its deliveries already made are skipped).
///
/// When the remote side is out of reach ([`SendError::Unreachable`]), the loop stops sending:
/// what it holds stays unacknowledged, in order, no attempt counted, and it asks
/// [`Sender::ready`] again with backoff. Back in reach, it catches up in large batches, and a
/// user with a backlog of at least [`Sender::fold_backlog`] notifications gets one digest.
pub async fn run_sender<T: Transport, S: Sender>(
    transport: T,
    mut sender: S,
    opts: SenderOptions,
    cancel: CancellationToken,
) -> SenderReport {
    let mut report = SenderReport::default();
    let mut attempt = 0u32;
    let channel = label("channel", opts.channel.as_str());
    // Read, not acknowledged, not yet sent: held back while the remote side was out of reach.
    let mut carried: Vec<Entry<Notification>> = Vec::new();
    // The remote side is out of reach: nothing is sent until `Sender::ready` says otherwise.
    let mut outage = false;
    // Outages and failed checks since the last delivery, for the backoff.
    let mut strikes = 0u32;
    // The delivery that lost the connection, and how many times in a row: one that loses it
    // each time it is sent is the problem, not the remote side.
    let mut suspect: Option<(String, u32)> = None;
    let mut catching_up = false;
    'serve: while !cancel.is_cancelled() {
        if outage {
            tokio::select! {
                _ = tokio::time::sleep(outage_wait(strikes)) => {}
                _ = cancel.cancelled() => break,
            }
            let ready = tokio::select! {
                r = sender.ready() => r,
                _ = cancel.cancelled() => break,
            };
            match ready {
                Ok(()) => {
                    tracing::info!(channel = %opts.channel, waiting = carried.len(),
                        "back in reach; catching up");
                    metrics().out_of_reach.get_or_create(&channel).set(0);
                    outage = false;
                    catching_up = true;
                }
                Err(e) => {
                    strikes += 1;
                    if strikes.is_power_of_two() {
                        tracing::warn!(channel = %opts.channel, "still out of reach: {e}");
                    }
                    continue;
                }
            }
        }
        // Retries that are due go back on the queue, to be read with the rest.
        if let Err(e) = transport.promote_retries(opts.channel).await {
            tracing::warn!(channel = %opts.channel, "moving due retries failed: {e}");
        }
        let digests = report.digests;
        let flushed = digest::flush_due(
            &transport,
            &mut sender,
            &opts,
            &mut report,
            Duration::ZERO,
            &cancel,
        )
        .await;
        if report.digests > digests {
            strikes = 0;
        }
        match flushed {
            None => break,
            Some(digest::Flushed {
                unreachable: Some(e),
                ..
            }) => {
                out_of_reach(&opts, &mut report, &e);
                outage = true;
                strikes += 1;
                continue;
            }
            Some(_) => {}
        }
        let max = if catching_up {
            opts.batch.max(CATCH_UP_BATCH)
        } else {
            opts.batch
        };
        let mut entries = std::mem::take(&mut carried);
        if entries.len() < max {
            // With entries in hand, only what is there already is added.
            let block = if entries.is_empty() {
                opts.block
            } else {
                Duration::ZERO
            };
            tokio::select! {
                r = transport.read_notifications(opts.channel, &opts.consumer, max - entries.len(), block) => match r {
                    Ok(more) => {
                        attempt = 0;
                        // A reader that lost its connection reads what it holds again.
                        let held: std::collections::HashSet<EntryId> =
                            entries.iter().map(|e| e.id.clone()).collect();
                        entries.extend(more.into_iter().filter(|e| !held.contains(&e.id)));
                    }
                    Err(e) if entries.is_empty() => {
                        tracing::warn!(channel = %opts.channel, "reading notifications failed: {e}; retrying");
                        let ms = 50u64.saturating_mul(1 << attempt.min(6)).min(3_000);
                        attempt += 1;
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                            _ = cancel.cancelled() => break 'serve,
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(channel = %opts.channel, "reading notifications failed: {e}; going on with those in hand");
                    }
                },
                _ = cancel.cancelled() => break,
            };
        }
        let whole = entries.len() >= max;
        // Users whose backlog is folded into one digest.
        let fold: std::collections::HashSet<&str> = match sender.fold_backlog() {
            Some(min) if catching_up => {
                let mut per_user: std::collections::HashMap<&str, usize> = Default::default();
                for e in entries
                    .iter()
                    .filter(|e| digest::wants_digest(&e.item).is_none())
                {
                    *per_user.entry(e.item.user.as_str()).or_default() += 1;
                }
                per_user
                    .into_iter()
                    .filter(|(_, count)| *count >= min)
                    .map(|(user, _)| user)
                    .collect()
            }
            _ => Default::default(),
        };
        let mut done = Vec::with_capacity(entries.len());
        let mut carry_from: Option<(usize, SendError)> = None;
        for (i, e) in entries.iter().enumerate() {
            let n = &e.item;
            if n.oneshot {
                let t = &transport;
                let Some(first) =
                    retry_transport("claiming a one-shot filter", &cancel, move || {
                        t.claim_oneshot(n)
                    })
                    .await
                else {
                    break 'serve;
                };
                if !first {
                    tracing::info!(
                        channel = %opts.channel, user = %n.user, filter = %n.filter, delivery = %n.delivery_id,
                        "not sent: the one-shot filter was used already"
                    );
                    report.oneshot_spent += 1;
                    done.push(e.id.clone());
                    continue;
                }
            }
            let folding = fold.contains(n.user.as_str());
            if let Some(settings) = digest::wants_digest(n).or(folding.then_some(&digest::FOLD)) {
                let mut seen = !n.addresses.is_empty();
                for address in &n.addresses {
                    let key = delivery_key(n, address);
                    let k = key.as_str();
                    let t = &transport;
                    let Some(was) =
                        retry_transport("checking a delivery", &cancel, move || t.was_delivered(k))
                            .await
                    else {
                        break 'serve;
                    };
                    seen &= was;
                }
                if seen {
                    report.duplicates += 1;
                    done.push(e.id.clone());
                    continue;
                }
                let (t, id, ch) = (&transport, &e.id, opts.channel);
                if retry_transport("holding for a digest", &cancel, || {
                    t.hold_for_digest(ch, id, n, settings)
                })
                .await
                .is_none()
                {
                    break 'serve;
                }
                if folding {
                    report.folded += 1;
                } else {
                    report.held += 1;
                }
                metrics().held_for_digest.get_or_create(&channel).inc();
                continue;
            }
            let mut dead = Vec::new();
            if n.addresses.is_empty() {
                dead.push(DeadLetter::new(
                    Stage::Sender,
                    format!("{}:{}", n.channel, n.user),
                    "the notification has no address",
                    n.delivery_id.as_bytes(),
                ));
            }
            let attempts = n.attempts + 1;
            let mut for_now: Vec<(&str, SendError)> = Vec::new();
            let mut later: Vec<(&str, Duration)> = Vec::new();
            let mut unreachable: Option<SendError> = None;
            for (j, address) in n.addresses.iter().enumerate() {
                if let Some(limit) = opts.rate_limit {
                    let t = &transport;
                    let Some(wait) = retry_transport("taking a rate slot", &cancel, move || {
                        t.take_rate(n.channel, address, limit.count, limit.window)
                    })
                    .await
                    else {
                        break 'serve;
                    };
                    if let Some(wait) = wait {
                        later.push((address, wait));
                        continue;
                    }
                }
                let Some(mut outcome) =
                    try_once(&transport, &mut sender, &opts, n, address, &cancel).await
                else {
                    break 'serve;
                };
                if let Attempt::Failed(SendError::Unreachable(reason)) = &outcome {
                    let key = delivery_key(n, address);
                    let times = match &suspect {
                        Some((k, times)) if *k == key => times + 1,
                        _ => 1,
                    };
                    if times > opts.max_attempts {
                        // From now on each is an attempt that counts, toward a dead letter.
                        outcome = Attempt::Failed(SendError::Transient(format!(
                            "{reason} (each of the last {times} times it was sent)"
                        )));
                    }
                    suspect = Some((key, times));
                }
                match outcome {
                    Attempt::Sent => {
                        strikes = 0;
                        suspect = None;
                        report.sent += 1;
                        metrics().delivered.get_or_create(&channel).inc();
                    }
                    Attempt::Duplicate => {
                        report.duplicates += 1;
                        metrics()
                            .duplicates_suppressed
                            .get_or_create(&channel)
                            .inc();
                    }
                    Attempt::Failed(error @ SendError::Unreachable(_)) => {
                        if dead.is_empty() && for_now.is_empty() && later.is_empty() {
                            // Held back, in order: the addresses delivered are skipped when it
                            // is read again.
                            carry_from = Some((i, error));
                            break;
                        }
                        // Part of it is done or retried: the rest goes with it, no attempt
                        // counted for it.
                        later.extend(
                            n.addresses[j..]
                                .iter()
                                .map(|a| (a.as_str(), Duration::ZERO)),
                        );
                        unreachable = Some(error);
                        break;
                    }
                    Attempt::Failed(error) => {
                        metrics().delivery_failures.get_or_create(&channel).inc();
                        flag_address(&transport, n, address, &error).await;
                        if error.is_permanent() || attempts >= opts.max_attempts {
                            dead.push(give_up(n, address, &error, attempts, sender.name()));
                        } else {
                            for_now.push((address, error));
                        }
                    }
                }
            }
            if carry_from.is_some() {
                break;
            }
            if !dead.is_empty() {
                let count = dead.len() as u64;
                let (t, letters) = (&transport, &dead);
                if retry_transport("writing dead letters", &cancel, move || {
                    t.dead_letter(letters)
                })
                .await
                .is_none()
                {
                    break 'serve;
                }
                report.dead_lettered += count;
                metrics()
                    .dead_letters
                    .get_or_create(&label("stage", "sender"))
                    .inc_by(count);
            }
            if !for_now.is_empty() || !later.is_empty() {
                // Tried again later, through the due-time set, for the addresses that failed
                // for now or wait for their rate limit only: the sender goes on with the others
                // meanwhile. Waiting for the rate limit is not an attempt.
                let asked = for_now.iter().filter_map(|(_, e)| e.retry_after()).max();
                let turn = later.iter().map(|(_, w)| *w).max().unwrap_or_default();
                let (attempts, wait) = if for_now.is_empty() {
                    (n.attempts, turn)
                } else {
                    (
                        attempts,
                        delay(&opts, attempts - 1)
                            .max(asked.unwrap_or_default())
                            .max(turn),
                    )
                };
                for (address, w) in &later {
                    tracing::info!(
                        channel = %opts.channel, user = %n.user, address, delivery = %n.delivery_id,
                        "rate limit reached; trying again in {} ms", w.as_millis()
                    );
                }
                report.deferred += later.len() as u64;
                for (address, error) in &for_now {
                    tracing::info!(
                        channel = %opts.channel, user = %n.user, address, delivery = %n.delivery_id,
                        "attempt {attempts} failed: {error}; retrying in {} ms", wait.as_millis()
                    );
                }
                let again = Notification {
                    attempts,
                    addresses: for_now
                        .iter()
                        .map(|(a, _)| *a)
                        .chain(later.iter().map(|(a, _)| *a))
                        .map(str::to_owned)
                        .collect(),
                    ..n.clone()
                };
                let (t, id, ch) = (&transport, &e.id, opts.channel);
                if retry_transport("scheduling a retry", &cancel, || {
                    t.retry_later(ch, id, &again, wait)
                })
                .await
                .is_none()
                {
                    break 'serve;
                }
                if !for_now.is_empty() {
                    report.retries += 1;
                }
                if let Some(error) = unreachable {
                    carry_from = Some((i + 1, error));
                    break;
                }
                continue;
            }
            done.push(e.id.clone());
        }
        let (t, ids, channel) = (&transport, &done, opts.channel);
        if retry_transport("acknowledging", &cancel, move || {
            t.ack_notifications(channel, ids)
        })
        .await
        .is_none()
        {
            break;
        }
        if let Some((from, error)) = carry_from {
            carried = entries.split_off(from.min(entries.len()));
            out_of_reach(&opts, &mut report, &error);
            outage = true;
            strikes += 1;
            catching_up = false;
        } else if catching_up && !whole {
            tracing::info!(channel = %opts.channel, "caught up");
            catching_up = false;
        }
    }
    if opts.drain_digests {
        digest::drain(&transport, &mut sender, &opts, &mut report).await;
    }
    tracing::info!(channel = %opts.channel, sent = report.sent, duplicates = report.duplicates,
        dead = report.dead_lettered, "sender stopped");
    report
}

#[cfg(test)]
mod tests;
