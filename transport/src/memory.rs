//! The in-process transport: the same queue semantics as Redis streams with consumer groups,
//! for `fmn run` without Redis and for tests.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::expiry::{DueIndex, DueQueue, Ledger};
use crate::{
    AddressFailure, Backlog, DEFAULT_WORKER_TTL, DIGEST_LONGEST_WAIT, DeadLetter, DigestBatch,
    Entry, EntryId, QueueDepth, SHARED_ID_PREFIX, SHARED_QUEUE, Stage, TransportError, WorkItem,
    WorkerCounts, WorkerInfo, count_shared, decode, digest_due_in, encode, out_queue_name,
    split_shared, work_queue_name,
};
use fmn_core::channel::ChannelKind;
use fmn_core::notification::Notification;
use fmn_core::prefs::Digest;
use module_store::Modules;
use prefs_store::Prefs;

mod api_tokens;
mod data_store;
mod dead_letters;
mod digests;
mod history;
mod ledger;
mod module_store;
mod outbox;
mod prefs_store;
mod registry;
mod work_queue;

/// An in-process transport. Clones share the same queues and the same reading session;
/// [`MemoryTransport::reconnect`] opens a new session, as a restarted process would.
#[derive(Clone)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
    session: u64,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the subscribers of module publications ([`crate::ModuleStore::module_changes`]).
    module_changes: tokio::sync::broadcast::Sender<String>,
    /// Wakes the subscribers of preference changes ([`crate::PrefsStore::prefs_announcements`]).
    prefs_changes: tokio::sync::broadcast::Sender<String>,
    worker_ttl: Duration,
    sessions: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    workers: BTreeMap<String, Instant>,
    counts: BTreeMap<String, WorkerCounts>,
    dead: Vec<(u64, DeadLetter)>,
    next_dead: u64,
    /// Delivery keys, remembered until they expire.
    delivered: Ledger,
    /// Notifications waiting for a retry, by channel, encoded.
    retries: HashMap<ChannelKind, DueQueue>,
    /// Work items waiting for a retry, encoded.
    work_retries: DueQueue,
    /// One-shot filter (user, channel, filter) -> the delivery id that used it.
    oneshots: HashMap<(String, ChannelKind, String), String>,
    /// Digests by (channel, user).
    digests: HashMap<(ChannelKind, String), HeldDigest>,
    /// The users of `digests` by channel and due time, so finding the due ones does not
    /// visit every digest held.
    digest_due: HashMap<ChannelKind, DueIndex>,
    /// Published rule modules.
    modules: Modules,
    /// Deliveries made within the rate window, by (channel, address).
    rates: HashMap<(ChannelKind, String), std::collections::VecDeque<Instant>>,
    /// Addresses refused for good, by user.
    address_failures: HashMap<String, BTreeMap<(ChannelKind, String), AddressFailure>>,
    fields: BTreeMap<String, BTreeMap<String, String>>,
    data: (u64, fmn_core::Relations),
    /// Users' preferences.
    prefs: Prefs,
    /// API tokens by digest.
    api_tokens: BTreeMap<String, crate::ApiToken>,
    /// The recent-message window.
    recent: history::Window,
    /// Delivery logs by user, oldest first.
    deliveries: HashMap<String, std::collections::VecDeque<crate::Delivery>>,
}

impl State {
    /// The counters of `worker`, created at zero.
    fn counts_of(&mut self, worker: &str) -> &mut WorkerCounts {
        self.counts
            .entry(worker.to_owned())
            .or_insert_with(|| WorkerCounts {
                id: worker.to_owned(),
                ..Default::default()
            })
    }

    /// Files the digest of (`channel`, `user`) under its due time, after it changed from `was`.
    fn reindex_digest(&mut self, channel: ChannelKind, user: &str, was: Option<Instant>) {
        let now = self
            .digests
            .get(&(channel, user.to_owned()))
            .and_then(|d| d.due);
        self.digest_due
            .entry(channel)
            .or_default()
            .set(user, was, now);
    }
}

/// The notifications held for one user's digest on one channel.
#[derive(Default)]
struct HeldDigest {
    /// As JSON, oldest first.
    items: Vec<String>,
    /// Their delivery ids.
    ids: HashSet<String>,
    due: Option<Instant>,
    /// How many of `items` were taken for sending and not finished.
    taken: Option<usize>,
    failures: u32,
    /// Who holds it, until when.
    lease: Option<(String, Instant)>,
}

impl HeldDigest {
    fn fall_due(&mut self, digest: &Digest) {
        self.due = Some(
            Instant::now() + Duration::from_millis(digest_due_in(self.items.len() as u64, digest)),
        );
    }
}

/// One queue with one consumer group: entries in order, a read cursor, and who holds what.
#[derive(Default)]
struct Queue {
    entries: BTreeMap<u64, String>,
    /// The bytes of `entries`' data, kept as they come and go.
    bytes: u64,
    /// When each entry was added.
    born: BTreeMap<u64, Instant>,
    next_id: u64,
    /// Entries with an id above this have not been handed to anyone yet.
    cursor: u64,
    /// Entries handed out and not acknowledged, by id: the consumer that holds them.
    pending: BTreeMap<u64, String>,
    /// (session, consumer) that have collected what the consumer held from an earlier session.
    caught_up: HashSet<(u64, String)>,
    notify: Arc<Notify>,
}

impl Queue {
    fn push(&mut self, data: String) {
        self.next_id += 1;
        self.bytes += data.len() as u64;
        self.entries.insert(self.next_id, data);
        self.born.insert(self.next_id, Instant::now());
    }

    /// Hands out first what `consumer` held before it last (re)started, then new entries.
    fn take(&mut self, session: u64, consumer: &str, max: usize) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let me = (session, consumer.to_owned());
        if !self.caught_up.contains(&me) {
            out = self
                .pending
                .iter()
                .filter(|(_, c)| c.as_str() == consumer)
                .filter_map(|(id, _)| self.entries.get(id).map(|d| (*id, d.clone())))
                .take(max)
                .collect();
            if !out.is_empty() {
                return out;
            }
            self.caught_up.insert(me);
        }
        let fresh: Vec<u64> = self
            .entries
            .range(self.cursor + 1..)
            .map(|(id, _)| *id)
            .take(max)
            .collect();
        for id in fresh {
            self.cursor = id;
            self.pending.insert(id, consumer.to_owned());
            if let Some(d) = self.entries.get(&id) {
                out.push((id, d.clone()));
            }
        }
        out
    }

    /// Takes entries out, whoever holds them; returns their data.
    fn remove(&mut self, ids: &[u64]) -> Vec<String> {
        ids.iter()
            .filter_map(|id| {
                self.pending.remove(id);
                self.drop_entry(*id)
            })
            .collect()
    }

    fn ack(&mut self, ids: &[EntryId]) {
        for id in ids.iter().filter_map(|i| i.0.parse::<u64>().ok()) {
            if self.pending.remove(&id).is_some() {
                self.drop_entry(id);
            }
        }
    }

    /// Forgets an entry and its bytes; returns its data.
    fn drop_entry(&mut self, id: u64) -> Option<String> {
        self.born.remove(&id);
        let data = self.entries.remove(&id)?;
        self.bytes -= data.len() as u64;
        Some(data)
    }

    fn backlog(&self) -> Backlog {
        Backlog {
            entries: self.entries.len() as u64,
            bytes: self.bytes,
        }
    }
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new(DEFAULT_WORKER_TTL)
    }
}

impl MemoryTransport {
    /// A new, empty transport; workers count as live for `worker_ttl` after each heartbeat.
    pub fn new(worker_ttl: Duration) -> Self {
        MemoryTransport {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                module_changes: tokio::sync::broadcast::channel(16).0,
                prefs_changes: tokio::sync::broadcast::channel(16).0,
                worker_ttl,
                sessions: std::sync::atomic::AtomicU64::new(1),
            }),
            session: 0,
        }
    }

    /// The same queues, seen by a new session: a consumer reading through it first gets back
    /// the entries it held and did not acknowledge, as after a process restart.
    pub fn reconnect(&self) -> Self {
        MemoryTransport {
            inner: self.inner.clone(),
            session: self
                .inner
                .sessions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads from `queues` in order, each entry's id prefixed with its queue's prefix, until
    /// `max` entries or `block` has passed.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        queues: &[(&str, &str)],
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Vec<Entry<T>> {
        let deadline = Instant::now() + block;
        loop {
            let mut notifies = Vec::with_capacity(queues.len());
            let mut out = Vec::new();
            {
                let mut st = self.lock();
                for (queue, prefix) in queues {
                    let want = max.max(1).saturating_sub(out.len());
                    if want == 0 {
                        break;
                    }
                    let q = st.queues.entry((*queue).to_owned()).or_default();
                    notifies.push(q.notify.clone());
                    let taken = q.take(self.session, consumer, want);
                    let mut bad = Vec::new();
                    for (id, data) in taken {
                        match decode::<T>(queue, &id.to_string(), data.as_bytes()) {
                            Ok(item) => out.push(Entry {
                                id: EntryId(format!("{prefix}{id}")),
                                item,
                            }),
                            Err(e) => bad.push((id, data, e.to_string())),
                        }
                    }
                    // An undecodable entry would block its queue forever: keep it aside.
                    let ids: Vec<EntryId> = bad
                        .iter()
                        .map(|(id, _, _)| EntryId(id.to_string()))
                        .collect();
                    q.ack(&ids);
                    for (_, data, reason) in bad {
                        let letter =
                            DeadLetter::new(Stage::Worker, *queue, reason, data.as_bytes());
                        st.next_dead += 1;
                        let n = st.next_dead;
                        st.dead.push((n, letter));
                    }
                }
            }
            if !out.is_empty() {
                return out;
            }
            let now = Instant::now();
            if now >= deadline {
                return Vec::new();
            }
            // A push between our check and this wait is not lost: `notify_one` stores a permit.
            let wait = async {
                match notifies.as_slice() {
                    [a, b, ..] => tokio::select! {
                        _ = a.notified() => {}
                        _ = b.notified() => {}
                    },
                    [a] => a.notified().await,
                    [] => {}
                }
            };
            let _ = tokio::time::timeout(deadline - now, wait).await;
        }
    }

    fn push(&self, st: &mut State, queue: String, data: String) {
        let q = st.queues.entry(queue).or_default();
        q.push(data);
        q.notify.notify_one();
    }
}
