//! The consumer loop: read, normalise, dispatch; dead-letter what cannot be parsed.

use std::time::Duration;

use fmn_core::envelope::{DEFAULT_MAX_MESSAGE_BYTES, Envelope, EnvelopeError};
use fmn_core::metrics::label;
use fmn_transport::{DeadLetter, Stage, Transport, WorkItem};
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

async fn pause(attempt: &mut u32, cancel: &CancellationToken) -> bool {
    let ms = 50u64.saturating_mul(1 << (*attempt).min(6)).min(3_000);
    *attempt += 1;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
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
    let mut report = ConsumeReport::default();
    let mut dispatcher = Dispatcher::new(opts.dispatch, opts.refresh_workers);
    let max = opts.max_message_bytes;
    let mut ended = false;
    let mut throttle = Throttle::default();
    while !ended && !cancel.is_cancelled() {
        let mut batch: Vec<RawMessage> = Vec::new();
        let first = tokio::select! {
            m = source.next(max) => m,
            _ = cancel.cancelled() => break,
        };
        match first {
            None => break,
            Some(m) => batch.push(m?),
        }
        // The batch's messages count as read when its first was: latency is not understated.
        let read_at_us = fmn_core::metrics::now_us();
        // The batch closes when full or `linger` after its first message, whichever is first:
        // a steady trickle cannot hold a message back for longer than that.
        let close_at = tokio::time::Instant::now() + opts.linger;
        while batch.len() < opts.batch {
            match tokio::time::timeout_at(close_at, source.next(max)).await {
                Ok(Some(m)) => batch.push(m?),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
        report.read += batch.len() as u64;
        let metrics = fmn_core::metrics::metrics();
        metrics.messages_read.inc_by(batch.len() as u64);

        let mut items = Vec::with_capacity(batch.len());
        let mut dead = Vec::new();
        let mut changes = Vec::new();
        for raw in &batch {
            match parse(raw, max, opts.keep_raw) {
                Ok(envelope) => {
                    changes.extend(fmn_core::data_feed::changes(&envelope));
                    items.push(WorkItem {
                        read_at_us,
                        ..WorkItem::new(envelope, raw.origin.clone())
                    })
                }
                Err(e) => {
                    tracing::warn!(origin = %raw.origin, "{}: not a bus message, dead-lettered: {e}", raw.origin);
                    dead.push(reject(raw, &e));
                }
            }
        }

        let mut attempt = 0;
        while !dead.is_empty() {
            match transport.dead_letter(&dead).await {
                Ok(()) => {
                    report.dead_lettered += dead.len() as u64;
                    metrics
                        .dead_letters
                        .get_or_create(&label("stage", "consumer"))
                        .inc_by(dead.len() as u64);
                    dead.clear();
                }
                Err(e) => {
                    tracing::warn!("cannot write dead letters: {e}; retrying");
                    if !pause(&mut attempt, cancel).await {
                        return Ok(report);
                    }
                }
            }
        }

        // Ownership and membership changes go to the shared data before the batch goes on,
        // so that the messages after them are evaluated with them.
        let mut attempt = 0;
        while !changes.is_empty() {
            match transport.apply_data(&changes).await {
                Ok(version) => {
                    tracing::info!(
                        changes = changes.len(),
                        version,
                        "ownership and group data changed"
                    );
                    report.data_changes += changes.len() as u64;
                    changes.clear();
                }
                Err(e) => {
                    tracing::warn!("cannot apply data changes: {e}; retrying");
                    if !pause(&mut attempt, cancel).await {
                        return Ok(report);
                    }
                }
            }
        }

        let mut attempt = 0;
        while !items.is_empty() {
            let live = match dispatcher.refresh(transport).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("cannot read the worker registry: {e}; retrying");
                    0
                }
            };
            if live == 0 {
                if attempt == 0 {
                    tracing::warn!(
                        "no live worker; holding {} messages until one registers",
                        items.len()
                    );
                }
                dispatcher.invalidate();
                if !pause(&mut attempt, cancel).await {
                    return Ok(report);
                }
                continue;
            }
            if throttle.full(&dispatcher, opts, &mut report) {
                dispatcher.invalidate();
                // Short, steady waits: the queues drain at the workers' pace.
                let mut short = 0;
                if !pause(&mut short, cancel).await {
                    return Ok(report);
                }
                continue;
            }
            let n = items.len();
            let written = if dispatcher.mode() == DispatchMode::Shared {
                let r = transport.dispatch_shared(&items).await;
                if r.is_ok() {
                    dispatcher.sent_shared(n);
                    items.clear();
                }
                r
            } else {
                let assigned: Vec<(String, WorkItem)> = items
                    .drain(..)
                    .map(|item| (dispatcher.choose().unwrap_or_default().to_owned(), item))
                    .collect();
                let r = transport.dispatch(&assigned).await;
                if r.is_err() {
                    // Picked again on the next attempt, among the workers live then.
                    items = assigned.into_iter().map(|(_, item)| item).collect();
                }
                r
            };
            match written {
                Ok(bytes) => {
                    dispatcher.sent_bytes(bytes);
                    report.dispatched += n as u64;
                    // The family's guard is dropped at once: it must not live across an await.
                    metrics
                        .messages_dispatched
                        .get_or_create(&label("mode", dispatcher.mode().as_str()))
                        .inc_by(n as u64);
                }
                Err(e) => {
                    tracing::warn!("dispatch failed: {e}; retrying");
                    dispatcher.invalidate();
                    if !pause(&mut attempt, cancel).await {
                        return Ok(report);
                    }
                }
            }
        }
        // Only now may the bus forget them. A failed acknowledgement is not fatal: the bus
        // hands the messages out again, and the senders' delivery ids keep them from being
        // notified twice.
        if let Err(e) = source.commit().await {
            tracing::warn!("{e}; the bus will deliver those messages again");
        }
    }
    Ok(report)
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
