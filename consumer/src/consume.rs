//! The consumer loop: read, normalise, dispatch; dead-letter what cannot be parsed.

use std::time::Duration;

use fmn_core::Backoff;
use fmn_core::envelope::{DEFAULT_MAX_MESSAGE_BYTES, Envelope, EnvelopeError};
use fmn_core::metrics::label;
use fmn_transport::{DeadLetter, Stage, Transport, TransportError, WindowLimits, WorkItem};
use tokio_util::sync::CancellationToken;

use crate::dispatch::{DispatchMode, Dispatcher};
use crate::source::{RawMessage, Source, SourceError};

/// How the consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Messages over this size are dead-lettered.
    pub max_message_bytes: usize,
    /// Whether each work item also carries the message exactly as it arrived
    /// ([`Envelope::raw`]); it doubles the bytes every message costs in Redis.
    pub keep_raw: bool,
    /// Messages dispatched in one round trip, at most.
    pub batch: usize,
    /// How long after a batch's first message it is dispatched, full or not.
    pub linger: Duration,
    /// How workers are picked.
    pub dispatch: DispatchMode,
    /// How often the list of live workers (and their queue lengths) is re-read.
    pub refresh_workers: Duration,
    /// When the live workers' queues hold this many entries in all, the consumer stops
    /// reading the bus until they drain below it: Redis stays bounded and nothing is dropped.
    pub max_backlog: u64,
    /// The same in bytes of queued work items: whichever bound is reached first stops the
    /// reading, so large messages cannot make the entry bound cost Redis without end.
    pub max_backlog_bytes: u64,
    /// The recent-message window every dispatched message is added to, for the web
    /// service's "why" answers ([`fmn_transport::History`]); `None` keeps no window.
    pub recent: Option<WindowLimits>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            keep_raw: false,
            batch: 256,
            linger: Duration::from_millis(5),
            dispatch: DispatchMode::Random,
            refresh_workers: Duration::from_millis(200),
            max_backlog: DEFAULT_MAX_BACKLOG,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
            recent: Some(WindowLimits::default()),
        }
    }
}

/// The default bound on the entries waiting in the live workers' queues.
pub const DEFAULT_MAX_BACKLOG: u64 = 100_000;

/// The default bound on the bytes waiting in the live workers' queues: 1 GiB. The entry bound
/// alone lets messages of the largest accepted size (1 MiB) hold about 100 GiB; this one stops
/// those at about a thousand, and leaves the entry bound to act first on messages of up to
/// 10 KiB, as bus messages are.
pub const DEFAULT_MAX_BACKLOG_BYTES: u64 = 1 << 30;

/// What the consumer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeReport {
    /// Messages read from the source.
    pub read: u64,
    /// Messages dispatched to workers.
    pub dispatched: u64,
    /// Messages that could not be parsed, kept as dead letters.
    pub dead_lettered: u64,
    /// Changes to ownership and group data that messages announced, applied.
    pub data_changes: u64,
    /// Times the consumer stopped reading because the workers' queues were full.
    pub backpressure_pauses: u64,
}

/// Why an input is not a message, as a dead letter.
pub fn reject(raw: &RawMessage, error: &EnvelopeError) -> DeadLetter {
    DeadLetter {
        payload_bytes: raw.oversize.unwrap_or(raw.bytes.len()),
        ..DeadLetter::new(
            Stage::Consumer,
            raw.origin.clone(),
            error.to_string(),
            &raw.bytes,
        )
    }
}

/// Normalises one raw message; `keep_raw` keeps its bytes in [`Envelope::raw`] too.
pub fn parse(
    raw: &RawMessage,
    max_bytes: usize,
    keep_raw: bool,
) -> Result<Envelope, EnvelopeError> {
    if let Some(size) = raw.oversize {
        return Err(EnvelopeError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    if keep_raw {
        Envelope::from_bus_json_keeping_raw(&raw.bytes, max_bytes)
    } else {
        Envelope::from_bus_json(&raw.bytes, max_bytes)
    }
}

/// Between attempts at a transport call: 50 ms doubling, up to 3 s.
const TRANSPORT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(3));

/// Waits `backoff`'s next delay; false when `cancel` fired meanwhile.
async fn pause(backoff: &mut Backoff, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(backoff.next_delay()) => true,
        _ = cancel.cancelled() => false,
    }
}

/// One of the bounds on the workers' queues, as configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Entries,
    Bytes,
}

impl Bound {
    /// The first bound the queues, as `dispatcher` sees them, have reached.
    fn reached(dispatcher: &Dispatcher, opts: &ConsumerOptions) -> Option<Bound> {
        if dispatcher.backlog() >= opts.max_backlog {
            Some(Bound::Entries)
        } else if dispatcher.backlog_bytes() >= opts.max_backlog_bytes {
            Some(Bound::Bytes)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Bound::Entries => "max_backlog",
            Bound::Bytes => "max_backlog_bytes",
        }
    }

    fn limit(self, opts: &ConsumerOptions) -> u64 {
        match self {
            Bound::Entries => opts.max_backlog,
            Bound::Bytes => opts.max_backlog_bytes,
        }
    }
}

/// Backpressure: whether the consumer must stop reading, said once when a pause starts and
/// once when it ends.
#[derive(Default)]
struct Throttle {
    paused: bool,
}

impl Throttle {
    /// Whether the workers' queues hold either bound's worth; records the bytes they hold.
    fn full(
        &mut self,
        dispatcher: &Dispatcher,
        opts: &ConsumerOptions,
        report: &mut ConsumeReport,
    ) -> bool {
        let (entries, bytes) = (dispatcher.backlog(), dispatcher.backlog_bytes());
        let metrics = fmn_core::metrics::metrics();
        metrics
            .backlog_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let Some(bound) = Bound::reached(dispatcher, opts) else {
            if std::mem::take(&mut self.paused) {
                tracing::info!(entries, bytes, "the workers' queues drained; reading again");
            }
            return false;
        };
        if !self.paused {
            tracing::warn!(
                entries,
                bytes,
                bound = bound.name(),
                limit = bound.limit(opts),
                "the workers' queues reached [consumer] {} ({}); reading nothing more from the bus until they drain",
                bound.name(),
                bound.limit(opts)
            );
            report.backpressure_pauses += 1;
            metrics.backpressure_pauses.inc();
            self.paused = true;
        }
        true
    }
}

/// Calls `call` until it succeeds, logging each failure after `what` and waiting
/// [`TRANSPORT_BACKOFF`] between attempts; `None` when `cancel` fired first.
async fn until_ok<R, F, Fut>(what: &str, cancel: &CancellationToken, mut call: F) -> Option<R>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, TransportError>>,
{
    let mut backoff = TRANSPORT_BACKOFF;
    loop {
        match call().await {
            Ok(r) => return Some(r),
            Err(e) => {
                tracing::warn!("{what}: {e}; retrying");
                if !pause(&mut backoff, cancel).await {
                    return None;
                }
            }
        }
    }
}

/// Reads `source` until it ends or `cancel` fires, dispatching every message to a live worker.
///
/// A batch is read only once the previous one is written: when Redis or the workers are
/// away, the consumer waits (retrying with backoff) and reads nothing more from the bus.
pub async fn consume<T: Transport, S: Source>(
    transport: &T,
    source: &mut S,
    opts: &ConsumerOptions,
    cancel: &CancellationToken,
) -> Result<ConsumeReport, SourceError> {
    Consume {
        transport,
        opts,
        cancel,
        report: ConsumeReport::default(),
        dispatcher: Dispatcher::new(opts.dispatch, opts.refresh_workers),
        throttle: Throttle::default(),
        ended: false,
        keeping: None,
    }
    .run(source)
    .await
}

/// The consumer loop's state, batch after batch. A method that waits returns false when
/// `cancel` fired meanwhile.
struct Consume<'a, T> {
    transport: &'a T,
    opts: &'a ConsumerOptions,
    cancel: &'a CancellationToken,
    report: ConsumeReport,
    dispatcher: Dispatcher,
    throttle: Throttle,
    /// The source has no more messages.
    ended: bool,
    /// The last batch being added to the recent-message window, beside the next dispatch.
    keeping: Option<tokio::task::JoinHandle<()>>,
}

/// A batch as read: what goes to the workers, what is dead-lettered, and the data changes
/// the messages carry.
struct Parsed {
    items: Vec<WorkItem>,
    dead: Vec<DeadLetter>,
    changes: Vec<fmn_core::data::Change>,
}

impl<T: Transport> Consume<'_, T> {
    async fn run<S: Source>(mut self, source: &mut S) -> Result<ConsumeReport, SourceError> {
        while !self.ended && !self.cancel.is_cancelled() {
            let Some((batch, read_at_us)) = self.read(source).await? else {
                break;
            };
            let Parsed {
                items,
                dead,
                changes,
            } = self.parse(&batch, read_at_us);
            // Ownership and membership changes go to the shared data before the batch goes
            // on, so that the messages after them are evaluated with them.
            if !(self.write_dead(dead).await
                && self.apply(changes).await
                && self.dispatch(items).await)
            {
                self.kept().await;
                return Ok(self.report);
            }
            // Only now may the bus forget them. A failed acknowledgement is not fatal: the
            // bus hands the messages out again, and the senders' delivery ids keep them from
            // being notified twice.
            if let Err(e) = source.commit().await {
                tracing::warn!("{e}; the bus will deliver those messages again");
            }
        }
        self.kept().await;
        Ok(self.report)
    }

    /// The next batch: it closes when full or `linger` after its first message, whichever is
    /// first, so a steady trickle cannot hold a message back for longer than that. `None`
    /// when the source ended or `cancel` fired before a first message. With the batch, when
    /// its first message was read (µs): they all count as read then, so latency is not
    /// understated.
    async fn read<S: Source>(
        &mut self,
        source: &mut S,
    ) -> Result<Option<(Vec<RawMessage>, u64)>, SourceError> {
        let max = self.opts.max_message_bytes;
        let first = tokio::select! {
            m = source.next(max) => m,
            _ = self.cancel.cancelled() => return Ok(None),
        };
        let Some(first) = first else {
            return Ok(None);
        };
        let mut batch = vec![first?];
        let read_at_us = fmn_core::metrics::now_us();
        let close_at = tokio::time::Instant::now() + self.opts.linger;
        while batch.len() < self.opts.batch {
            match tokio::time::timeout_at(close_at, source.next(max)).await {
                Ok(Some(m)) => batch.push(m?),
                Ok(None) => {
                    self.ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
        self.report.read += batch.len() as u64;
        fmn_core::metrics::metrics()
            .messages_read
            .inc_by(batch.len() as u64);
        Ok(Some((batch, read_at_us)))
    }

    /// Normalises `batch`: work items, dead letters for what is not a bus message.
    fn parse(&self, batch: &[RawMessage], read_at_us: u64) -> Parsed {
        let mut parsed = Parsed {
            items: Vec::with_capacity(batch.len()),
            dead: Vec::new(),
            changes: Vec::new(),
        };
        for raw in batch {
            match parse(raw, self.opts.max_message_bytes, self.opts.keep_raw) {
                Ok(envelope) => {
                    parsed
                        .changes
                        .extend(fmn_core::data_feed::changes(&envelope));
                    parsed.items.push(WorkItem {
                        read_at_us,
                        ..WorkItem::new(envelope, raw.origin.clone())
                    })
                }
                Err(e) => {
                    tracing::warn!(origin = %raw.origin, "{}: not a bus message, dead-lettered: {e}", raw.origin);
                    parsed.dead.push(reject(raw, &e));
                }
            }
        }
        parsed
    }

    /// Writes the dead letters, retrying until it can.
    async fn write_dead(&mut self, dead: Vec<DeadLetter>) -> bool {
        if dead.is_empty() {
            return true;
        }
        let t = self.transport;
        let written = until_ok("cannot write dead letters", self.cancel, || {
            t.dead_letter(&dead)
        });
        if written.await.is_none() {
            return false;
        }
        self.report.dead_lettered += dead.len() as u64;
        fmn_core::metrics::metrics()
            .dead_letters
            .get_or_create(&label("stage", "consumer"))
            .inc_by(dead.len() as u64);
        true
    }

    /// Applies the data changes, retrying until it can.
    async fn apply(&mut self, changes: Vec<fmn_core::data::Change>) -> bool {
        if changes.is_empty() {
            return true;
        }
        let t = self.transport;
        let Some(version) = until_ok("cannot apply data changes", self.cancel, || {
            t.apply_data(&changes)
        })
        .await
        else {
            return false;
        };
        tracing::info!(
            changes = changes.len(),
            version,
            "ownership and group data changed"
        );
        self.report.data_changes += changes.len() as u64;
        true
    }

    /// Dispatches `items` to live workers, waiting while there is none or their queues are
    /// full, and retrying until it can.
    async fn dispatch(&mut self, mut items: Vec<WorkItem>) -> bool {
        let recent = self.opts.recent.map(|limits| (limits, items.clone()));
        let mut backoff = TRANSPORT_BACKOFF;
        while !items.is_empty() {
            let Some(ready) = self.room(&mut backoff, items.len()).await else {
                return false;
            };
            if !ready {
                continue;
            }
            let n = items.len();
            match self.write(&mut items).await {
                Ok(bytes) => {
                    self.dispatcher.sent_bytes(bytes);
                    self.report.dispatched += n as u64;
                    // The family's guard is dropped at once: it must not live across an await.
                    fmn_core::metrics::metrics()
                        .messages_dispatched
                        .get_or_create(&label("mode", self.dispatcher.mode().as_str()))
                        .inc_by(n as u64);
                }
                Err(e) => {
                    tracing::warn!("dispatch failed: {e}; retrying");
                    self.dispatcher.invalidate();
                    if !pause(&mut backoff, self.cancel).await {
                        return false;
                    }
                }
            }
        }
        if let Some((limits, dispatched)) = recent {
            self.keep_recent(dispatched, limits).await;
        }
        true
    }

    /// Adds what was dispatched to the recent-message window, beside the next batch's
    /// dispatch: one batch at a time, in order (the one before is waited for first). The window
    /// only answers "why"; a failure to keep it is logged, and the messages go on all the same.
    async fn keep_recent(&mut self, items: Vec<WorkItem>, limits: WindowLimits) {
        self.kept().await;
        let transport = self.transport.clone();
        self.keeping = Some(tokio::spawn(async move {
            if let Err(e) = transport.keep_recent(&items, limits).await {
                tracing::warn!(
                    "{} messages not kept in the recent-message window: {e}",
                    items.len()
                );
            }
        }));
    }

    /// Waits for the batch being added to the window, if any.
    async fn kept(&mut self) {
        if let Some(task) = self.keeping.take()
            && let Err(e) = task.await
        {
            tracing::warn!("keeping messages in the recent-message window stopped: {e}");
        }
    }

    /// Whether `waiting` items may be written now: `Some(false)` after waiting for a live
    /// worker, or for the workers' queues to drain; `None` when cancelled.
    async fn room(&mut self, backoff: &mut Backoff, waiting: usize) -> Option<bool> {
        let live = match self.dispatcher.refresh(self.transport).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot read the worker registry: {e}; retrying");
                0
            }
        };
        if live == 0 {
            if backoff.attempts() == 0 {
                tracing::warn!("no live worker; holding {waiting} messages until one registers");
            }
            self.dispatcher.invalidate();
            return pause(backoff, self.cancel).await.then_some(false);
        }
        if self
            .throttle
            .full(&self.dispatcher, self.opts, &mut self.report)
        {
            self.dispatcher.invalidate();
            // Short, steady waits: the queues drain at the workers' pace.
            let mut short = TRANSPORT_BACKOFF;
            return pause(&mut short, self.cancel).await.then_some(false);
        }
        Some(true)
    }

    /// Writes `items` to the workers' queues in one round trip; the bytes written. On
    /// failure, `items` are kept, to be picked for again among the workers live then.
    async fn write(&mut self, items: &mut Vec<WorkItem>) -> Result<u64, TransportError> {
        let n = items.len();
        if self.dispatcher.mode() == DispatchMode::Shared {
            let r = self.transport.dispatch_shared(items).await;
            if r.is_ok() {
                self.dispatcher.sent_shared(n);
                items.clear();
            }
            return r;
        }
        let assigned: Vec<(String, WorkItem)> = items
            .drain(..)
            .map(|item| {
                (
                    self.dispatcher.choose().unwrap_or_default().to_owned(),
                    item,
                )
            })
            .collect();
        let r = self.transport.dispatch(&assigned).await;
        if r.is_err() {
            items.extend(assigned.into_iter().map(|(_, item)| item));
        }
        r
    }
}
#[cfg(test)]
mod tests {
    use fmn_transport::{MemoryTransport, Registry, WorkQueue, WorkerInfo};

    use super::*;
    use crate::source::JsonLines;

    /// JSON lines that count commits, and how many messages were read at each.
    struct Counting {
        inner: JsonLines<&'static [u8]>,
        read: usize,
        commits: Vec<usize>,
    }

    impl Source for Counting {
        async fn next(&mut self, max: usize) -> Option<Result<RawMessage, SourceError>> {
            let m = self.inner.next(max).await;
            self.read += usize::from(m.is_some());
            m
        }

        async fn commit(&mut self) -> Result<(), SourceError> {
            self.commits.push(self.read);
            Ok(())
        }
    }

    const INPUT: &[u8] = b"{\"topic\": \"t\", \"id\": \"a\", \"body\": {}}\nnot json\n{\"topic\": \"t\", \"id\": \"b\", \"body\": {}}\n";

    #[tokio::test]
    async fn the_bus_is_acknowledged_only_after_dispatch() {
        let t = MemoryTransport::default();
        let mut source = Counting {
            inner: JsonLines::new(INPUT, "test"),
            read: 0,
            commits: Vec::new(),
        };
        // No live worker: the batch is held, and nothing is acknowledged.
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.cancel();
        });
        let report = consume(&t, &mut source, &ConsumerOptions::default(), &cancel)
            .await
            .unwrap();
        assert_eq!((report.read, report.dispatched), (3, 0));
        assert!(source.commits.is_empty(), "{:?}", source.commits);

        // A worker comes: the same messages go out (the bus would hand them out again), then
        // the acknowledgement.
        t.register_worker(&WorkerInfo::local("w")).await.unwrap();
        let mut source = Counting {
            inner: JsonLines::new(INPUT, "test"),
            read: 0,
            commits: Vec::new(),
        };
        let report = consume(
            &t,
            &mut source,
            &ConsumerOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!((report.dispatched, report.dead_lettered), (2, 1));
        assert_eq!(
            source.commits,
            [3],
            "one commit, after the batch was written"
        );
        assert_eq!(t.backlogs(&["w".to_owned()]).await.unwrap()[0].entries, 2);
    }

    #[tokio::test]
    async fn raw_travels_only_when_kept() {
        let t = MemoryTransport::default();
        t.register_worker(&WorkerInfo::local("w")).await.unwrap();
        for keep_raw in [false, true] {
            let opts = ConsumerOptions {
                keep_raw,
                ..Default::default()
            };
            let mut source = JsonLines::new(INPUT, "test");
            consume(&t, &mut source, &opts, &CancellationToken::new())
                .await
                .unwrap();
            let work = t.read_work("w", 10, Duration::ZERO).await.unwrap();
            assert_eq!(work.len(), 2);
            for entry in &work {
                let raw = entry.item.envelope.raw.as_ref().map(|r| r.get());
                if keep_raw {
                    assert!(
                        raw.is_some_and(|r| r.starts_with("{\"topic\": \"t\"")),
                        "{raw:?}"
                    );
                } else {
                    assert_eq!(raw, None);
                }
            }
            let ids: Vec<_> = work.iter().map(|e| e.id.clone()).collect();
            t.complete_work("w", &ids, &[]).await.unwrap();
        }
    }
}
