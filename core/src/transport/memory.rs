//! The in-process transport: the same queue semantics as Redis streams with consumer groups,
//! for `fmn run` without Redis and for tests.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::expiry::{DueIndex, DueQueue, Ledger};
use super::{
    AddressFailure, Backlog, DEFAULT_WORKER_TTL, DIGEST_LONGEST_WAIT, DeadLetter, DigestBatch,
    Entry, EntryId, QueueDepth, SHARED_ID_PREFIX, SHARED_QUEUE, Stage, Transport, TransportError,
    WorkItem, WorkerCounts, WorkerInfo, count_shared, decode, digest_due_in, encode,
    out_queue_name, split_shared, work_queue_name,
};
use crate::channel::ChannelKind;
use crate::notification::Notification;
use crate::prefs::Digest;

/// An in-process transport. Clones share the same queues and the same reading session;
/// [`MemoryTransport::reconnect`] opens a new session, as a restarted process would.
#[derive(Clone)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
    session: u64,
}

struct Inner {
    state: Mutex<State>,
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
    /// Deliveries made within the rate window, by (channel, address).
    rates: HashMap<(ChannelKind, String), std::collections::VecDeque<Instant>>,
    /// Addresses refused for good, by user.
    address_failures: HashMap<String, BTreeMap<(ChannelKind, String), AddressFailure>>,
    fields: BTreeMap<String, BTreeMap<String, String>>,
    data: (u64, crate::Relations),
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

impl Transport for MemoryTransport {
    async fn register_worker(&self, info: &WorkerInfo) -> Result<(), TransportError> {
        let mut st = self.lock();
        st.queues.entry(work_queue_name(&info.id)).or_default();
        st.counts_of(&info.id);
        st.workers.insert(info.id.clone(), Instant::now());
        Ok(())
    }

    async fn heartbeat(&self, worker: &str) -> Result<(), TransportError> {
        self.lock()
            .workers
            .insert(worker.to_owned(), Instant::now());
        Ok(())
    }

    async fn deregister_worker(&self, worker: &str) -> Result<(), TransportError> {
        self.lock().workers.remove(worker);
        Ok(())
    }

    async fn live_workers(&self) -> Result<Vec<String>, TransportError> {
        let ttl = self.inner.worker_ttl;
        Ok(self
            .lock()
            .workers
            .iter()
            .filter(|(_, beat)| beat.elapsed() < ttl)
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn dispatch(&self, batch: &[(String, WorkItem)]) -> Result<u64, TransportError> {
        let encoded: Vec<(String, String)> = batch
            .iter()
            .map(|(w, item)| (w.clone(), encode(item)))
            .collect();
        let mut bytes = 0;
        let mut st = self.lock();
        for (worker, data) in encoded {
            st.counts_of(&worker).received += 1;
            bytes += data.len() as u64;
            self.push(&mut st, work_queue_name(&worker), data);
        }
        Ok(bytes)
    }

    async fn dispatch_shared(&self, items: &[WorkItem]) -> Result<u64, TransportError> {
        let encoded: Vec<String> = items.iter().map(encode).collect();
        let bytes = encoded.iter().map(|d| d.len() as u64).sum();
        let mut st = self.lock();
        for data in encoded {
            self.push(&mut st, SHARED_QUEUE.to_owned(), data);
        }
        Ok(bytes)
    }

    async fn shared_backlog(&self) -> Result<Backlog, TransportError> {
        Ok(self
            .lock()
            .queues
            .get(SHARED_QUEUE)
            .map_or_else(Backlog::default, Queue::backlog))
    }

    async fn read_work(
        &self,
        worker: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Entry<WorkItem>>, TransportError> {
        let own = work_queue_name(worker);
        let entries: Vec<Entry<WorkItem>> = self
            .read(
                &[(&own, ""), (SHARED_QUEUE, SHARED_ID_PREFIX)],
                worker,
                max,
                block,
            )
            .await;
        let shared = count_shared(&entries);
        if shared > 0 {
            self.lock().counts_of(worker).received += shared as u64;
        }
        Ok(entries)
    }

    async fn complete_work(
        &self,
        worker: &str,
        done: &[EntryId],
        notifications: &[Notification],
    ) -> Result<(), TransportError> {
        let encoded: Vec<(ChannelKind, String)> = notifications
            .iter()
            .map(|n| (n.channel, encode(n)))
            .collect();
        let mut st = self.lock();
        for (channel, data) in encoded {
            self.push(&mut st, out_queue_name(channel), data);
        }
        let (shared, own) = split_shared(done);
        if let Some(q) = st.queues.get_mut(&work_queue_name(worker)) {
            q.ack(&own);
        }
        if let Some(q) = st.queues.get_mut(SHARED_QUEUE) {
            q.ack(&shared);
        }
        let c = st.counts_of(worker);
        c.processed += done.len() as u64;
        c.notifications += notifications.len() as u64;
        Ok(())
    }

    async fn read_notifications(
        &self,
        channel: ChannelKind,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Entry<Notification>>, TransportError> {
        Ok(self
            .read(&[(&out_queue_name(channel), "")], consumer, max, block)
            .await)
    }

    async fn ack_notifications(
        &self,
        channel: ChannelKind,
        ids: &[EntryId],
    ) -> Result<(), TransportError> {
        if let Some(q) = self.lock().queues.get_mut(&out_queue_name(channel)) {
            q.ack(ids);
        }
        Ok(())
    }

    async fn retry_later(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let data = encode(n);
        let mut st = self.lock();
        if let Some(q) = st.queues.get_mut(&out_queue_name(channel)) {
            q.ack(std::slice::from_ref(id));
        }
        st.retries
            .entry(channel)
            .or_default()
            .push(Instant::now() + delay, data);
        Ok(())
    }

    async fn promote_retries(&self, channel: ChannelKind) -> Result<usize, TransportError> {
        let mut st = self.lock();
        let now = Instant::now();
        let due = st
            .retries
            .get_mut(&channel)
            .map(|q| q.pop_due(now))
            .unwrap_or_default();
        let n = due.len();
        for data in due {
            self.push(&mut st, out_queue_name(channel), data);
        }
        Ok(n)
    }

    async fn retries_waiting(&self, channel: ChannelKind) -> Result<u64, TransportError> {
        Ok(self.lock().retries.get(&channel).map_or(0, DueQueue::len) as u64)
    }

    async fn retry_work(&self, items: &[(WorkItem, Duration)]) -> Result<(), TransportError> {
        let encoded: Vec<(Duration, String)> = items.iter().map(|(i, d)| (*d, encode(i))).collect();
        let now = Instant::now();
        let mut st = self.lock();
        for (delay, data) in encoded {
            st.work_retries.push(now + delay, data);
        }
        Ok(())
    }

    async fn promote_work(&self) -> Result<usize, TransportError> {
        let mut st = self.lock();
        let now = Instant::now();
        let due = st.work_retries.pop_due(now);
        let n = due.len();
        for data in due {
            self.push(&mut st, SHARED_QUEUE.to_owned(), data);
        }
        Ok(n)
    }

    async fn work_retries_waiting(&self) -> Result<u64, TransportError> {
        Ok(self.lock().work_retries.len() as u64)
    }

    async fn dead_letter_work_retries(
        &self,
        max: usize,
        why: &str,
    ) -> Result<usize, TransportError> {
        let mut st = self.lock();
        let mut n = 0;
        while n < max {
            let Some(data) = st.work_retries.pop_first() else {
                break;
            };
            st.next_dead += 1;
            let id = st.next_dead;
            st.dead.push((id, DeadLetter::waiting_work(&data, why)));
            n += 1;
        }
        Ok(n)
    }

    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), TransportError> {
        let mut st = self.lock();
        for l in letters {
            st.next_dead += 1;
            let n = st.next_dead;
            st.dead.push((n, l.clone()));
        }
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<Entry<DeadLetter>>, TransportError> {
        Ok(self
            .lock()
            .dead
            .iter()
            .take(max)
            .map(|(n, l)| Entry {
                id: EntryId(n.to_string()),
                item: l.clone(),
            })
            .collect())
    }

    async fn mark_delivered(&self, keys: &[&str], ttl: Duration) -> Result<(), TransportError> {
        let mut st = self.lock();
        let now = Instant::now();
        st.delivered.expire(now);
        for key in keys {
            st.delivered.mark(key, now + ttl);
        }
        Ok(())
    }

    async fn was_delivered(&self, key: &str) -> Result<bool, TransportError> {
        Ok(self.lock().delivered.contains(key, Instant::now()))
    }

    async fn was_delivered_many(&self, keys: &[&str]) -> Result<Vec<bool>, TransportError> {
        let st = self.lock();
        let now = Instant::now();
        Ok(keys.iter().map(|k| st.delivered.contains(k, now)).collect())
    }

    async fn claim_oneshot(&self, n: &Notification) -> Result<bool, TransportError> {
        let mut st = self.lock();
        let winner = st
            .oneshots
            .entry((n.user.clone(), n.channel, n.filter.clone()))
            .or_insert_with(|| n.delivery_id.clone());
        Ok(*winner == n.delivery_id)
    }

    async fn hold_for_digest(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        digest: &Digest,
    ) -> Result<(), TransportError> {
        let data = encode(n);
        let mut st = self.lock();
        if let Some(q) = st.queues.get_mut(&out_queue_name(channel)) {
            q.ack(std::slice::from_ref(id));
        }
        let d = st.digests.entry((channel, n.user.clone())).or_default();
        if d.ids.insert(n.delivery_id.clone()) {
            d.items.push(data);
        }
        let was = d.due;
        d.fall_due(digest);
        // An earlier due time stands: the oldest notification's delay counts.
        if let (Some(was), Some(now)) = (was, d.due) {
            d.due = Some(was.min(now));
        }
        st.reindex_digest(channel, &n.user, was);
        Ok(())
    }

    async fn due_digests(
        &self,
        channel: ChannelKind,
        within: Duration,
        max: usize,
    ) -> Result<Vec<String>, TransportError> {
        let now = Instant::now() + within.min(DIGEST_LONGEST_WAIT * 2);
        Ok(self
            .lock()
            .digest_due
            .get(&channel)
            .map(|ix| ix.due(now, max))
            .unwrap_or_default())
    }

    async fn take_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Option<DigestBatch>, TransportError> {
        let mut st = self.lock();
        let Some(d) = st.digests.get_mut(&(channel, user.to_owned())) else {
            return Ok(None);
        };
        let now = Instant::now();
        if d.items.is_empty()
            || d.lease
                .as_ref()
                .is_some_and(|(who, until)| who != owner && *until > now)
        {
            return Ok(None);
        }
        d.lease = Some((owner.to_owned(), now + lease));
        let newest = d
            .items
            .last()
            .and_then(|i| serde_json::from_str::<Notification>(i).ok());
        let limit = newest
            .and_then(|n| n.digest?.max_count)
            .filter(|c| *c > 0)
            .map_or(max, |c| max.min(c as usize));
        let count = *d.taken.get_or_insert(d.items.len().min(limit.max(1)));
        let mut notifications = Vec::with_capacity(count);
        for (i, item) in d.items[..count].iter().enumerate() {
            notifications.push(decode::<Notification>(
                &format!("digest:{channel}:{user}"),
                &i.to_string(),
                item.as_bytes(),
            )?);
        }
        Ok(Some(DigestBatch {
            notifications,
            failures: d.failures,
        }))
    }

    async fn finish_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        count: usize,
        digest: &Digest,
    ) -> Result<(), TransportError> {
        let mut st = self.lock();
        let key = (channel, user.to_owned());
        let Some(d) = st.digests.get_mut(&key) else {
            return Ok(());
        };
        let gone: Vec<String> = d.items.drain(..count.min(d.items.len())).collect();
        for item in gone {
            if let Ok(n) = serde_json::from_str::<Notification>(&item) {
                d.ids.remove(&n.delivery_id);
            }
        }
        d.taken = None;
        d.failures = 0;
        d.lease = None;
        let was = d.due;
        if d.items.is_empty() {
            st.digests.remove(&key);
        } else {
            d.fall_due(digest);
        }
        st.reindex_digest(channel, user, was);
        Ok(())
    }

    async fn postpone_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let mut st = self.lock();
        if let Some(d) = st.digests.get_mut(&(channel, user.to_owned())) {
            let was = d.due;
            d.failures += 1;
            d.lease = None;
            d.due = Some(Instant::now() + delay);
            st.reindex_digest(channel, user, was);
        }
        Ok(())
    }

    async fn digests_waiting(&self, channel: ChannelKind) -> Result<u64, TransportError> {
        Ok(self
            .lock()
            .digests
            .iter()
            .filter(|((c, _), _)| *c == channel)
            .map(|(_, d)| d.items.len() as u64)
            .sum())
    }

    async fn take_rate(
        &self,
        channel: ChannelKind,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, TransportError> {
        let now = Instant::now();
        let mut st = self.lock();
        let made = st.rates.entry((channel, address.to_owned())).or_default();
        while made
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            made.pop_front();
        }
        if made.len() < limit as usize {
            made.push_back(now);
            return Ok(None);
        }
        Ok(Some(match made.front() {
            Some(oldest) => (*oldest + window).saturating_duration_since(now),
            None => window,
        }))
    }

    async fn record_address_failure(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
        reason: &str,
    ) -> Result<(), TransportError> {
        let mut st = self.lock();
        let f = st
            .address_failures
            .entry(user.to_owned())
            .or_default()
            .entry((channel, address.to_owned()))
            .or_insert_with(|| AddressFailure {
                channel,
                address: address.to_owned(),
                reason: String::new(),
                last_ms: 0,
                count: 0,
            });
        f.reason = reason.to_owned();
        f.last_ms = crate::metrics::now_us() / 1000;
        f.count += 1;
        Ok(())
    }

    async fn disable_address(
        &self,
        _user: &str,
        _channel: ChannelKind,
        _address: &str,
    ) -> Result<bool, TransportError> {
        // Preferences of an in-process run come from a file, which is not rewritten.
        Ok(false)
    }

    async fn address_failures(&self, user: &str) -> Result<Vec<AddressFailure>, TransportError> {
        Ok(self
            .lock()
            .address_failures
            .get(user)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn worker_counts(&self) -> Result<Vec<WorkerCounts>, TransportError> {
        Ok(self.lock().counts.values().cloned().collect())
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, TransportError> {
        let st = self.lock();
        let mut names: Vec<String> = st.counts.keys().map(|w| work_queue_name(w)).collect();
        names.push(SHARED_QUEUE.to_owned());
        names.extend(ChannelKind::ALL.iter().map(|c| out_queue_name(*c)));
        Ok(names
            .into_iter()
            .map(|name| {
                let (waiting, pending, oldest_ms) = st
                    .queues
                    .get(&name)
                    .map(|q| {
                        let oldest = q
                            .born
                            .values()
                            .next()
                            .map(|t| t.elapsed().as_millis() as u64);
                        (q.entries.len() as u64, q.pending.len() as u64, oldest)
                    })
                    .unwrap_or_default();
                QueueDepth {
                    name,
                    waiting,
                    pending,
                    oldest_ms,
                }
            })
            .collect())
    }

    async fn dead_letter_count(&self) -> Result<u64, TransportError> {
        Ok(self.lock().dead.len() as u64)
    }

    async fn set_worker_field(
        &self,
        worker: &str,
        field: &str,
        value: &str,
    ) -> Result<(), TransportError> {
        self.lock()
            .fields
            .entry(worker.to_owned())
            .or_default()
            .insert(field.to_owned(), value.to_owned());
        Ok(())
    }

    async fn worker_fields(
        &self,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, TransportError> {
        let st = self.lock();
        let mut out = st.fields.clone();
        for id in st.counts.keys() {
            out.entry(id.clone()).or_default();
        }
        Ok(out)
    }

    async fn backlogs(&self, workers: &[String]) -> Result<Vec<Backlog>, TransportError> {
        let st = self.lock();
        Ok(workers
            .iter()
            .map(|w| {
                st.queues
                    .get(&work_queue_name(w))
                    .map_or_else(Backlog::default, Queue::backlog)
            })
            .collect())
    }

    async fn reclaim(
        &self,
        dead: &str,
        targets: &[String],
        max: usize,
    ) -> Result<usize, TransportError> {
        if targets.is_empty() {
            return Ok(0);
        }
        let mut st = self.lock();
        let moved: Vec<String> = match st.queues.get_mut(&work_queue_name(dead)) {
            Some(q) => {
                let ids: Vec<u64> = q.entries.keys().copied().take(max).collect();
                q.remove(&ids)
            }
            None => Vec::new(),
        };
        let mut n = moved.len();
        for (i, data) in moved.into_iter().enumerate() {
            let target = &targets[i % targets.len()];
            self.push(&mut st, work_queue_name(target), data);
            st.counts_of(target).received += 1;
        }
        let requeued: Vec<String> = match st.queues.get_mut(SHARED_QUEUE) {
            Some(q) => {
                let ids: Vec<u64> = q
                    .pending
                    .iter()
                    .filter(|(_, c)| c.as_str() == dead)
                    .map(|(id, _)| *id)
                    .take(max.saturating_sub(n))
                    .collect();
                q.remove(&ids)
            }
            None => Vec::new(),
        };
        n += requeued.len();
        for data in requeued {
            self.push(&mut st, SHARED_QUEUE.to_owned(), data);
        }
        Ok(n)
    }

    async fn data_version(&self) -> Result<u64, TransportError> {
        Ok(self.lock().data.0)
    }

    async fn load_data(&self) -> Result<(u64, crate::Relations), TransportError> {
        Ok(self.lock().data.clone())
    }

    async fn import_data(&self, data: &crate::Relations) -> Result<u64, TransportError> {
        let mut st = self.lock();
        st.data.1 = st.data.1.overlaid(data);
        st.data.0 += 1;
        Ok(st.data.0)
    }

    async fn apply_data(&self, changes: &[crate::data::Change]) -> Result<u64, TransportError> {
        let mut st = self.lock();
        for c in changes {
            st.data.1.apply(c);
        }
        st.data.0 += 1;
        Ok(st.data.0)
    }
}
