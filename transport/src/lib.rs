//! How the consumer, the workers and the senders pass work along: role traits, two transports.
//!
//! Each role is a trait: [`WorkQueue`] (bus messages to the workers), [`Outbox`] (notifications
//! to the senders, per channel), [`DeadLetters`], [`DeliveryLedger`] (deliveries made, one-shot
//! claims, rate limits, refused addresses), [`Digests`], [`Registry`] (workers, heartbeats,
//! queue depths), [`DataStore`] (the data rules consult), [`ModuleStore`] (rule modules
//! published for every worker), [`PrefsStore`] (users' preferences, versioned, with what
//! [`prefs_store`] hands back) and [`History`] (recent messages and delivery logs, for asking
//! why). [`Transport`] combines them all.
//!
//! [`RedisTransport`] is the distributed one: Redis streams with consumer groups, so workers and
//! senders on any machine that reaches Redis take part. [`MemoryTransport`] has the same semantics
//! inside one process, for `fmn run` without Redis and for tests. The conformance suite in
//! `tests/roles` runs each role's checks against both.
//!
//! Every hop is at least once: an entry read is *pending* until acknowledged, and an entry
//! whose reader died before acknowledging it is handed out again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use fmn_core::channel::ChannelKind;
use fmn_core::envelope::Envelope;
use fmn_core::notification::Notification;
use fmn_core::prefs::Digest;

pub mod api_tokens;
mod changes;
mod expiry;
pub mod history;
pub mod memory;
pub mod prefs_store;
pub mod redis;
mod roles;

pub use api_tokens::{ApiToken, token_digest};
pub use changes::Changes;
pub use history::{Delivery, DeliveryOutcome, LogLimits, RecentMessage, WindowLimits};
pub use memory::MemoryTransport;
pub use prefs_store::{
    EDIT_ATTEMPTS, EditUserError, Edited, PrefsDelta, PrefsPages, SetUserError, edit_user_prefs,
};
pub use redis::RedisTransport;
pub use roles::{
    ApiTokens, DataStore, DeadLetters, DeliveryLedger, Digests, History, ModuleStore, Outbox,
    PrefsStore, Registry, WorkQueue,
};

/// Every role trait, unnamed: `use fmn_transport::prelude::*;` lets code holding a concrete
/// transport call any role's methods.
pub mod prelude {
    pub use crate::roles::{
        ApiTokens as _, DataStore as _, DeadLetters as _, DeliveryLedger as _, Digests as _,
        History as _, ModuleStore as _, Outbox as _, PrefsStore as _, Registry as _,
        WorkQueue as _,
    };
}

/// The id of an entry in a queue, as the transport assigned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryId(pub String);

impl EntryId {
    /// Whether the entry was read from the shared work queue (any worker may read it) rather
    /// than from the reading worker's own queue.
    pub fn is_shared(&self) -> bool {
        self.0.starts_with(SHARED_ID_PREFIX)
    }
}

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

/// What [`Registry::forget_worker`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forget {
    /// The worker and everything kept for it are gone.
    Forgotten,
    /// It was heard from more recently than asked: kept.
    Recent,
    /// Its queue still holds this many entries (the janitor hands them to live workers
    /// first): kept.
    Holds(u64),
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
/// backpressure bounds ([`WorkQueue::backlogs`]).
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

/// An address refused for good ([`DeliveryLedger::record_address_failure`]).
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

/// A digest taken for sending ([`Digests::take_digest`]).
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

/// The queues between the parts of fmn: every role at once. Implemented for every type that
/// implements all the roles, so code that uses most of them is bounded on this one.
pub trait Transport:
    WorkQueue
    + Outbox
    + DeadLetters
    + DeliveryLedger
    + Digests
    + Registry
    + DataStore
    + ModuleStore
    + PrefsStore
    + History
{
}

impl<T> Transport for T where
    T: WorkQueue
        + Outbox
        + DeadLetters
        + DeliveryLedger
        + Digests
        + Registry
        + DataStore
        + ModuleStore
        + PrefsStore
        + History
{
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
/// [`WorkQueue::complete_work`] knows which queue to acknowledge it on.
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
    entries.iter().filter(|e| e.id.is_shared()).count()
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
