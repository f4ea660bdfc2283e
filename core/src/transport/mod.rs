//! How the consumer, the workers and the senders pass work along: one trait, two transports.
//!
//! [`RedisTransport`] is the distributed one: Redis streams with consumer groups, so workers and
//! senders on any machine that reaches Redis take part. [`MemoryTransport`] has the same
//! semantics inside one process, for `fmn run` without Redis and for tests. The conformance
//! suite in `tests/it/transport.rs` runs the same checks against both.
//!
//! Every hop is at least once: an entry read is *pending* until acknowledged, and an entry
//! whose reader died before acknowledging it is handed out again.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channel::ChannelKind;
use crate::envelope::Envelope;
use crate::notification::Notification;
use crate::prefs::Digest;

mod expiry;
pub mod memory;
pub mod prefs_store;
pub mod redis;

pub use memory::MemoryTransport;
pub use prefs_store::{PrefsDelta, PrefsPages, SetUserError};
pub use redis::RedisTransport;

/// A Redis pub/sub subscription, as [`RedisTransport::module_changes`] and
/// [`RedisTransport::prefs_announcements`] return.
pub type Subscription = ::redis::aio::PubSub;

/// The id of an entry in a queue, as the transport assigned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryId(pub String);

/// An entry read from a queue; pending until acknowledged.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// Its id, to acknowledge it with.
    pub id: EntryId,
    /// What it holds.
    pub item: T,
}

/// A bus message on its way to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkItem {
    /// The normalised message.
    pub envelope: Envelope,
    /// Where it came from, e.g. `messages.jsonl:12` or `amqp:queue-name`.
    pub origin: String,
    /// When the consumer read it, in microseconds since the Unix epoch by the consumer's
    /// clock (0: unknown): workers measure the message's latency from it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_at_us: u64,
    /// Evaluations of it that could not be completed so far (0: none), and why the last one
    /// could not: a worker retries it later, then keeps it as a dead letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failed>,
}

/// Evaluations of a work item that could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    /// How many.
    pub attempts: u32,
    /// Why the last one could not.
    pub reason: String,
}

impl WorkItem {
    /// A message read from `origin`, not yet evaluated.
    pub fn new(envelope: Envelope, origin: impl Into<String>) -> Self {
        WorkItem {
            envelope,
            origin: origin.into(),
            read_at_us: 0,
            failed: None,
        }
    }

    /// Evaluations of it that could not be completed so far.
    pub fn failed_attempts(&self) -> u32 {
        self.failed.as_ref().map_or(0, |f| f.attempts)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Which part of the pipeline gave up on something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The consumer: the input is not a bus message.
    Consumer,
    /// A worker: the message could not be evaluated.
    Worker,
    /// A sender: the notification could not be delivered.
    Sender,
}

impl Stage {
    /// The stage's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Consumer => "consumer",
            Stage::Worker => "worker",
            Stage::Sender => "sender",
        }
    }
}

/// Something that could not go on, kept with the reason instead of being dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Which part gave up.
    pub stage: Stage,
    /// Where the input came from, e.g. `messages.jsonl:12`.
    pub origin: String,
    /// Why.
    pub reason: String,
    /// The input, cut to [`DeadLetter::MAX_PAYLOAD`] bytes (the full size is in `payload_bytes`).
    pub payload: String,
    /// The size of the whole input.
    pub payload_bytes: usize,
}

impl DeadLetter {
    /// Payloads longer than this are cut: `origin` says where to find the whole input.
    pub const MAX_PAYLOAD: usize = 64 * 1024;

    /// A dead letter for `payload`, cut to [`Self::MAX_PAYLOAD`] at a character boundary.
    pub fn new(
        stage: Stage,
        origin: impl Into<String>,
        reason: impl Into<String>,
        payload: &[u8],
    ) -> Self {
        let mut cut = payload.len().min(Self::MAX_PAYLOAD);
        let text = loop {
            match std::str::from_utf8(&payload[..cut]) {
                Ok(t) => break t.to_owned(),
                Err(e) if e.error_len().is_none() => cut = e.valid_up_to(),
                Err(_) => break String::from_utf8_lossy(&payload[..cut]).into_owned(),
            }
        };
        DeadLetter {
            stage,
            origin: origin.into(),
            reason: reason.into(),
            payload: text,
            payload_bytes: payload.len(),
        }
    }

    /// The dead letter of a work item that was waiting for a retry (`encoded`, as queued) when
    /// `why`.
    pub fn waiting_work(encoded: &str, why: &str) -> Self {
        match serde_json::from_str::<WorkItem>(encoded) {
            Ok(item) => {
                let last = item.failed.as_ref().map_or("", |f| f.reason.as_str());
                Self::work(
                    item.origin.clone(),
                    format!("{why}; last failure: {last}"),
                    &item,
                )
            }
            Err(e) => Self::new(
                Stage::Worker,
                "work retries",
                format!("{why}; not a work item: {e}"),
                encoded.as_bytes(),
            ),
        }
    }

    /// A worker's dead letter: the whole work item (bounded by the consumer's message size
    /// limit), so that `fmn dead replay` can queue it again as it was.
    pub fn work(origin: impl Into<String>, reason: impl Into<String>, item: &WorkItem) -> Self {
        let payload = serde_json::to_string(item).unwrap_or_default();
        DeadLetter {
            stage: Stage::Worker,
            origin: origin.into(),
            reason: reason.into(),
            payload_bytes: payload.len(),
            payload,
        }
    }
}

/// What a worker says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Unique among all workers, e.g. `host-1234-0`.
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
}

impl WorkerInfo {
    /// Info for a worker `id` of this process on this machine.
    pub fn local(id: impl Into<String>) -> Self {
        WorkerInfo {
            id: id.into(),
            host: hostname(),
            pid: std::process::id(),
        }
    }
}

/// This machine's name, as the kernel knows it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Per-worker counters kept by the transport: the original experiment's table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCounts {
    /// The worker's id.
    pub id: String,
    /// Messages dispatched to it.
    pub received: u64,
    /// Messages it evaluated and acknowledged.
    pub processed: u64,
    /// Notifications it wrote.
    pub notifications: u64,
}

/// The depth of one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    /// The queue's name, e.g. `work:host-1234-0` or `out:email`.
    pub name: String,
    /// Entries not yet acknowledged: read-but-pending plus not yet read.
    pub waiting: u64,
    /// Of those, read by someone and not yet acknowledged.
    pub pending: u64,
    /// How long the oldest of them has waited, in milliseconds; none when the queue is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_ms: Option<u64>,
}

/// What a work queue holds that is not yet acknowledged (read or not): what the consumer's
/// backpressure bounds ([`Transport::backlogs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Entries.
    pub entries: u64,
    /// Bytes of those entries' work items as queued (their JSON), counted as they are written
    /// and removed; what the queue costs its store, less the store's own overhead per entry.
    pub bytes: u64,
}

impl std::ops::Add for Backlog {
    type Output = Backlog;

    fn add(self, other: Backlog) -> Backlog {
        Backlog {
            entries: self.entries + other.entries,
            bytes: self.bytes + other.bytes,
        }
    }
}

impl std::iter::Sum for Backlog {
    fn sum<I: Iterator<Item = Backlog>>(iter: I) -> Backlog {
        iter.fold(Backlog::default(), |a, b| a + b)
    }
}

/// A transport failed; the caller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Redis refused or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// An entry in a queue could not be decoded.
    #[error("undecodable entry {id} in {queue}: {reason}")]
    Decode {
        /// The queue.
        queue: String,
        /// The entry's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A compare-and-set kept losing to other writers; trying again later may succeed.
    #[error("{0}")]
    Contended(String),
}

/// How long an address failure is remembered after the last one.
pub const ADDRESS_FAILURES_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// An address refused for good ([`Transport::record_address_failure`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFailure {
    /// The channel.
    pub channel: ChannelKind,
    /// The address.
    pub address: String,
    /// The last refusal's reason.
    pub reason: String,
    /// When it was last refused, in milliseconds since the Unix epoch.
    pub last_ms: u64,
    /// How many times it was refused.
    pub count: u64,
}

/// A digest with no `max_delay` still goes out once its oldest notification is this old.
pub const DIGEST_LONGEST_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A digest taken for sending ([`Transport::take_digest`]).
#[derive(Debug, Clone)]
pub struct DigestBatch {
    /// Its notifications, oldest first.
    pub notifications: Vec<Notification>,
    /// How many times sending it failed for now so far.
    pub failures: u32,
}

/// The due time of a digest holding `held` notifications, in milliseconds from now (0: due).
pub(crate) fn digest_due_in(held: u64, digest: &Digest) -> u64 {
    if digest.max_count.is_some_and(|c| held >= u64::from(c)) {
        return 0;
    }
    digest
        .max_delay
        .unwrap_or(DIGEST_LONGEST_WAIT)
        .as_millis()
        .min(DIGEST_LONGEST_WAIT.as_millis()) as u64
}

/// How long a worker's heartbeat counts: a worker silent for longer is not dispatched to.
pub const DEFAULT_WORKER_TTL: Duration = Duration::from_secs(10);

/// The queues between the parts of fmn. Every method may be called from many tasks at once.
pub trait Transport: Clone + Send + Sync + 'static {
    /// Adds a worker to the registry, creating its queue, and marks it alive.
    fn register_worker(
        &self,
        info: &WorkerInfo,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Marks a worker alive now.
    fn heartbeat(&self, worker: &str) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Removes a worker from the set of live workers (its queue and counters stay).
    fn deregister_worker(
        &self,
        worker: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// The workers whose last heartbeat is younger than the worker TTL, sorted.
    fn live_workers(&self) -> impl Future<Output = Result<Vec<String>, TransportError>> + Send;

    /// Appends each item to its worker's queue, in one round trip. Returns the bytes written:
    /// what the queues' [`Backlog::bytes`] grew by.
    fn dispatch(
        &self,
        batch: &[(String, WorkItem)],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// Appends items to the shared work queue, which every worker pulls from (the `shared`
    /// dispatch mode), in one round trip. A worker's `received` counter grows when it reads.
    /// Returns the bytes written, as [`Self::dispatch`] does.
    fn dispatch_shared(
        &self,
        items: &[WorkItem],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// What the shared work queue holds (read or not, not yet acknowledged).
    fn shared_backlog(&self) -> impl Future<Output = Result<Backlog, TransportError>> + Send;
    /// Reads up to `max` entries from a worker's own queue and from the shared queue, waiting
    /// up to `block` for the first. Entries this worker read before and did not acknowledge
    /// come first.
    fn read_work(
        &self,
        worker: &str,
        max: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<Entry<WorkItem>>, TransportError>> + Send;
    /// Writes the notifications to their channels' queues, then acknowledges `done`: both or
    /// neither, so an acknowledged message always has its notifications written.
    fn complete_work(
        &self,
        worker: &str,
        done: &[EntryId],
        notifications: &[Notification],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Reads up to `max` notifications from a channel's queue as sender `consumer`.
    /// Entries this consumer read before and did not acknowledge come first.
    fn read_notifications(
        &self,
        channel: ChannelKind,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<Entry<Notification>>, TransportError>> + Send;
    /// Acknowledges notifications: delivered, or refused for good and dead-lettered.
    fn ack_notifications(
        &self,
        channel: ChannelKind,
        ids: &[EntryId],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Keeps things that could not go on, with the reason.
    fn dead_letter(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Keeps work items whose evaluation could not be completed, each to be queued again on
    /// the shared work queue once its delay has passed. The caller acknowledges them
    /// afterwards, as it does after keeping dead letters: a failure in between makes a message
    /// evaluated once more, never zero times.
    fn retry_work(
        &self,
        items: &[(WorkItem, Duration)],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Queues on the shared work queue the work items whose retry is due; returns how many.
    fn promote_work(&self) -> impl Future<Output = Result<usize, TransportError>> + Send;
    /// Work items waiting for a retry.
    fn work_retries_waiting(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// Moves up to `max` work items waiting for a retry, due or not, soonest first, to the dead
    /// letters (stage worker, the reason `why` and the last failure's): a run that ends keeps
    /// them there rather than leave them behind. Returns how many moved.
    fn dead_letter_work_retries(
        &self,
        max: usize,
        why: &str,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;
    /// The oldest `max` dead letters.
    fn dead_letters(
        &self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Entry<DeadLetter>>, TransportError>> + Send;

    /// Remembers for `ttl` that the deliveries `keys` were made, so a redelivered
    /// notification is not sent twice; in one round trip (a digest records hundreds).
    fn mark_delivered(
        &self,
        keys: &[&str],
        ttl: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Whether a delivery was made within its remembered window.
    fn was_delivered(&self, key: &str)
    -> impl Future<Output = Result<bool, TransportError>> + Send;

    /// Acknowledges notification `id` of `channel`, which failed for now, and schedules `n`
    /// (its attempts counted) to be queued again `delay` from now: both or neither. Until then
    /// it waits in a due-time set, not in the queue, so the sender goes on with the others.
    fn retry_later(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Queues again the notifications of `channel` whose retry is due; returns how many.
    fn promote_retries(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;
    /// Notifications of `channel` waiting for a retry.
    fn retries_waiting(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Claims the one use of the one-shot filter that made `n`: true for the first
    /// notification of that filter to claim it (and again for that same notification, so a
    /// sender restarted after claiming still delivers it), false for every other. Where the
    /// user's preferences are in Redis the claim also deactivates the filter there, in the same
    /// step, so workers stop matching it; `fmn prefs set --activate` gives it a new use.
    fn claim_oneshot(
        &self,
        n: &Notification,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;

    /// Acknowledges notification `id` of `channel` and keeps `n` in its user's digest on that
    /// channel: both or neither. A notification already held (same delivery id) is not held
    /// twice. The digest falls due when it holds `digest.max_count` notifications or its
    /// oldest is `digest.max_delay` old, by the transport's clock; with no delay, after
    /// [`DIGEST_LONGEST_WAIT`].
    fn hold_for_digest(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        digest: &Digest,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Users whose digest on `channel` is due within `within` from now (zero: due now), at
    /// most `max`, soonest first.
    fn due_digests(
        &self,
        channel: ChannelKind,
        within: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, TransportError>> + Send;
    /// Takes `user`'s digest on `channel` for sending, leased to `owner` for `lease` (other
    /// senders leave it alone meanwhile): its oldest notifications, at most `max` and at most
    /// the newest one's `digest.max_count`. A digest
    /// taken and not finished gives the same notifications again, to any taker, so sending it
    /// is idempotent. `None` when another sender holds it or it is empty.
    fn take_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Option<DigestBatch>, TransportError>> + Send;
    /// The `count` notifications taken were delivered or given up on: removes them and
    /// releases the digest. Notifications held meanwhile fall due by `digest`, counted from now.
    fn finish_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        count: usize,
        digest: &Digest,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Sending the digest taken failed for now: counts the failure, releases the digest and
    /// makes it due again `delay` from now.
    fn postpone_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Notifications held in the digests of `channel`.
    fn digests_waiting(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Takes one delivery to `address` on `channel` from its rate limit, at most `limit` in any
    /// `window` (a sliding window, by the transport's clock): `None` when taken, else how long
    /// until one is free (nothing taken).
    fn take_rate(
        &self,
        channel: ChannelKind,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> impl Future<Output = Result<Option<Duration>, TransportError>> + Send;

    /// Records that `address` of `user` on `channel` was refused for good (a bounced mail, an
    /// unregistered device), so `fmn prefs show` can say so. The newest failure per address is
    /// kept, with a count, for [`ADDRESS_FAILURES_KEPT`] after the last one.
    fn record_address_failure(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Removes `address` from `user`'s `channel` in the preferences kept by the transport (a
    /// device token the push service no longer knows), so workers stop notifying it. True when
    /// it was removed; false when it was not there or preferences are not kept here.
    fn disable_address(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;
    /// The failures recorded for `user`'s addresses, by channel then address.
    fn address_failures(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<AddressFailure>, TransportError>> + Send;

    /// Counters of every worker ever registered, sorted by id.
    fn worker_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<WorkerCounts>, TransportError>> + Send;
    /// Depths of every worker queue and every channel queue.
    fn queue_depths(&self) -> impl Future<Output = Result<Vec<QueueDepth>, TransportError>> + Send;
    /// How many dead letters are kept.
    fn dead_letter_count(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Records a fact about a worker for status tools (e.g. `rules`: the modules it runs).
    fn set_worker_field(
        &self,
        worker: &str,
        field: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// The fields recorded for every worker ever registered, by worker id.
    fn worker_fields(
        &self,
    ) -> impl Future<
        Output = Result<
            std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
            TransportError,
        >,
    > + Send;

    /// What each of `workers`' queues holds (read or not, not yet acknowledged), in the order
    /// given, in one round trip. Every way an entry leaves a work queue (acknowledged by
    /// [`Self::complete_work`], moved by [`Self::reclaim`], dead-lettered as undecodable)
    /// takes its bytes off, and every way one arrives adds them.
    fn backlogs(
        &self,
        workers: &[String],
    ) -> impl Future<Output = Result<Vec<Backlog>, TransportError>> + Send;

    /// Moves up to `max` of the entries `dead`'s work queue still owes (read and not
    /// acknowledged, or not read at all) to the queues of `targets`, spread evenly, each
    /// atomically: an entry is on exactly one queue at any time. Then puts the entries `dead`
    /// read from the shared queue and did not acknowledge back at its end, for any worker to
    /// read. Returns how many moved in all.
    /// For a worker whose heartbeat stopped; if it comes back, it finds its queue emptied, and
    /// an entry it was evaluating when it was reclaimed is evaluated twice, which the
    /// senders' delivery ids make harmless.
    fn reclaim(
        &self,
        dead: &str,
        targets: &[String],
        max: usize,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;

    /// The version of the shared data (ownership, groups, aliases): 0 when none was ever
    /// stored; it grows with every import and change.
    fn data_version(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// The shared data and its version.
    fn load_data(
        &self,
    ) -> impl Future<Output = Result<(u64, crate::Relations), TransportError>> + Send;
    /// Replaces each relation `data` holds, whole; returns the new version.
    fn import_data(
        &self,
        data: &crate::Relations,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// Applies changes, each atomically; returns the new version.
    fn apply_data(
        &self,
        changes: &[crate::data::Change],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

/// Queue names as [`QueueDepth`] reports them.
pub fn work_queue_name(worker: &str) -> String {
    format!("work:{worker}")
}

/// The shared work queue's name, as [`QueueDepth`] reports it. Not of the `work:{id}` form,
/// so that no worker's name can collide with it.
pub const SHARED_QUEUE: &str = "shared-work";

/// Queue names as [`QueueDepth`] reports them.
pub fn out_queue_name(channel: ChannelKind) -> String {
    format!("out:{channel}")
}

/// The id of an entry read from the shared queue carries this prefix, so that
/// [`Transport::complete_work`] knows which queue to acknowledge it on.
pub(crate) const SHARED_ID_PREFIX: &str = "shared/";

/// Splits acknowledged work ids into (shared queue's, own queue's), prefixes removed.
pub(crate) fn split_shared(ids: &[EntryId]) -> (Vec<EntryId>, Vec<EntryId>) {
    let mut shared = Vec::new();
    let mut own = Vec::new();
    for id in ids {
        match id.0.strip_prefix(SHARED_ID_PREFIX) {
            Some(rest) => shared.push(EntryId(rest.to_owned())),
            None => own.push(id.clone()),
        }
    }
    (shared, own)
}

/// How many of `entries` came from the shared queue: a worker's `received` grows by that
/// when it reads them.
pub(crate) fn count_shared<T>(entries: &[Entry<T>]) -> usize {
    entries
        .iter()
        .filter(|e| e.id.0.starts_with(SHARED_ID_PREFIX))
        .count()
}

pub(crate) fn encode<T: Serialize>(item: &T) -> String {
    // Our own types hold only strings, numbers and raw JSON: serialising them cannot fail.
    serde_json::to_string(item).unwrap_or_default()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    queue: &str,
    id: &str,
    data: &[u8],
) -> Result<T, TransportError> {
    serde_json::from_slice(data).map_err(|e| TransportError::Decode {
        queue: queue.to_owned(),
        id: id.to_owned(),
        reason: e.to_string(),
    })
}
