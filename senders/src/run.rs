//! The loop around a sender: read the channel's queue, deliver each notification to each of
//! its addresses once, retry what failed for now, dead-letter what failed for good, and
//! acknowledge.

use std::time::Duration;

use fmn_core::metrics::{label, metrics};
use fmn_core::transport::{DeadLetter, Stage, Transport};
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
            let remember = opts.remember;
            retry_transport("recording a delivery", cancel, move || {
                transport.mark_delivered(key, remember)
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
pub async fn run_sender<T: Transport, S: Sender>(
    transport: T,
    mut sender: S,
    opts: SenderOptions,
    cancel: CancellationToken,
) -> SenderReport {
    let mut report = SenderReport::default();
    let mut attempt = 0u32;
    let channel = label("channel", opts.channel.as_str());
    'serve: while !cancel.is_cancelled() {
        // Retries that are due go back on the queue, to be read with the rest.
        if let Err(e) = transport.promote_retries(opts.channel).await {
            tracing::warn!(channel = %opts.channel, "moving due retries failed: {e}");
        }
        if digest::flush_due(
            &transport,
            &mut sender,
            &opts,
            &mut report,
            Duration::ZERO,
            &cancel,
        )
        .await
        .is_none()
        {
            break;
        }
        let entries = tokio::select! {
            r = transport.read_notifications(opts.channel, &opts.consumer, opts.batch, opts.block) => match r {
                Ok(e) => { attempt = 0; e }
                Err(e) => {
                    tracing::warn!(channel = %opts.channel, "reading notifications failed: {e}; retrying");
                    let ms = 50u64.saturating_mul(1 << attempt.min(6)).min(3_000);
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        _ = cancel.cancelled() => break 'serve,
                    }
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let mut done = Vec::with_capacity(entries.len());
        for e in &entries {
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
            if let Some(settings) = digest::wants_digest(n) {
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
                report.held += 1;
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
            for address in &n.addresses {
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
                let Some(outcome) =
                    try_once(&transport, &mut sender, &opts, n, address, &cancel).await
                else {
                    break 'serve;
                };
                match outcome {
                    Attempt::Sent => {
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
    }
    if opts.drain_digests {
        digest::drain(&transport, &mut sender, &opts, &mut report).await;
    }
    tracing::info!(channel = %opts.channel, sent = report.sent, duplicates = report.duplicates,
        dead = report.dead_lettered, "sender stopped");
    report
}
