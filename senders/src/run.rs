//! The loop around a sender: read the channel's queue, deliver each notification to each of
//! its addresses once, retry what failed for now, dead-letter what failed for good, and
//! acknowledge.

use std::time::Duration;

use fmn_core::{Backoff, ChannelKind, Notification};
use fmn_transport::{DeadLetter, DeliveryLedger, Stage, Transport};
use rand::RngExt;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{SendError, Sender};

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
    /// The users' delivery logs it writes to ([`fmn_transport::History`]); `None` writes none.
    pub delivery_log: Option<fmn_transport::LogLimits>,
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
            delivery_log: Some(fmn_transport::LogLimits::default()),
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
pub(crate) const CATCH_UP_BATCH: usize = 500;

/// How long to wait before asking an unreachable sender again, after `strikes` outages and
/// failed checks with no delivery between: at once the first time (a dropped connection is
/// made again at once), then from 250 ms doubling to 30 s.
pub(crate) fn outage_wait(strikes: u32) -> Duration {
    const OUTAGE: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    if strikes <= 1 {
        return Duration::ZERO;
    }
    OUTAGE.delay(strikes - 2)
}

/// Between attempts at a transport call: 50 ms doubling, up to 3 s.
pub(crate) const TRANSPORT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(50), Duration::from_secs(3));

/// Waits `backoff`'s next delay; false when `cancel` fired meanwhile.
pub(crate) async fn pause(backoff: &mut Backoff, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(backoff.next_delay()) => true,
        _ = cancel.cancelled() => false,
    }
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
    let exp = Backoff::new(opts.retry_base, opts.retry_max).delay(attempt);
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
pub(crate) async fn flag_address<T: DeliveryLedger>(
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
    Fut: std::future::Future<Output = Result<R, fmn_transport::TransportError>>,
{
    let mut backoff = TRANSPORT_BACKOFF;
    loop {
        match op().await {
            Ok(r) => return Some(r),
            Err(e) => {
                tracing::warn!("{what} failed: {e}; retrying");
                if !pause(&mut backoff, cancel).await {
                    return None;
                }
            }
        }
    }
}

/// Keeps `dead` as dead letters in one round trip, counted in `report`; `None` when
/// cancelled.
pub(crate) async fn keep_dead_letters<T: Transport>(
    transport: &T,
    dead: &[DeadLetter],
    report: &mut SenderReport,
    cancel: &CancellationToken,
) -> Option<()> {
    if dead.is_empty() {
        return Some(());
    }
    retry_transport("writing dead letters", cancel, move || {
        transport.dead_letter(dead)
    })
    .await?;
    let count = dead.len() as u64;
    report.dead_lettered += count;
    fmn_core::metrics::metrics()
        .dead_letters
        .get_or_create(&fmn_core::metrics::label("stage", "sender"))
        .inc_by(count);
    Some(())
}

/// Runs a sender until `cancel` fires. A notification is acknowledged once every address was
/// delivered or given up on; on cancellation, what is in hand is left unacknowledged (it will
/// be read again, and its deliveries already made are skipped).
///
/// The notifications read at once are served as a batch: one round trip to ask which of
/// their deliveries were made before, one [`Sender::send_batch`] for the rest, one round trip
/// to record those made, one to acknowledge (see `docs/architecture.md`, "Senders").
///
/// When the remote side is out of reach ([`SendError::Unreachable`]), the loop stops sending:
/// what it holds stays unacknowledged, in order, no attempt counted, and it asks
/// [`Sender::ready`] again with backoff. Back in reach, it catches up in large batches, and a
/// user with a backlog of at least [`Sender::fold_backlog`] notifications gets one digest.
pub async fn run_sender<T: Transport, S: Sender>(
    transport: T,
    sender: S,
    opts: SenderOptions,
    cancel: CancellationToken,
) -> SenderReport {
    serve::Serve::new(transport, sender, opts, cancel)
        .run()
        .await
}

mod batch;
mod log;
pub(crate) use log::RoundLog;
mod serve;
#[cfg(test)]
mod tests;
