//! The loop around a sender as a type: each turn waits out an outage if there is one, sends
//! the digests due, reads a batch and serves it (`batch.rs`), then acknowledges it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fmn_core::metrics::{label, metrics};
use fmn_core::{Backoff, Notification};
use fmn_transport::{Entry, EntryId, Transport};
use tokio_util::sync::CancellationToken;

use super::{
    CATCH_UP_BATCH, SenderOptions, SenderReport, TRANSPORT_BACKOFF, outage_wait, pause,
    retry_transport,
};
use crate::{SendError, Sender, digest};

/// A sender, its transport, and what the loop knows between turns.
pub(super) struct Serve<T, S> {
    pub(super) transport: T,
    pub(super) sender: S,
    pub(super) opts: SenderOptions,
    pub(super) cancel: CancellationToken,
    pub(super) report: SenderReport,
    /// The metrics label of the channel.
    pub(super) channel: Vec<(&'static str, String)>,
    /// Reads that failed in a row, for the backoff.
    read_backoff: Backoff,
    /// Read, not acknowledged, not yet sent: held back while the remote side was out of reach.
    carried: Vec<Entry<Notification>>,
    /// The remote side is out of reach: nothing is sent until `Sender::ready` says otherwise.
    outage: bool,
    /// Outages and failed checks since the last delivery, for the backoff.
    pub(super) strikes: u32,
    /// The delivery that lost the connection, and how many times in a row: one that loses it
    /// each time it is sent is the problem, not the remote side.
    pub(super) suspect: Option<(String, u32)>,
    /// Back in reach after an outage, reading large batches until the queue is short.
    catching_up: bool,
    /// What became of the round's notifications, for their users' delivery logs.
    pub(super) log: super::log::RoundLog,
}

/// The most notifications read at once for a sender's [`Sender::max_batch`].
const MAX_READ: usize = 1024;

/// What a read gave.
enum Read {
    /// Entries to serve (perhaps none: nothing came within the block time).
    Entries(Vec<Entry<Notification>>),
    /// Reading failed with nothing in hand: waited, to be tried again next turn.
    Failed,
}

impl<T: Transport, S: Sender> Serve<T, S> {
    pub(super) fn new(
        transport: T,
        sender: S,
        opts: SenderOptions,
        cancel: CancellationToken,
    ) -> Self {
        Serve {
            log: super::log::RoundLog::new(opts.delivery_log),
            channel: label("channel", opts.channel.as_str()),
            transport,
            sender,
            opts,
            cancel,
            report: SenderReport::default(),
            read_backoff: TRANSPORT_BACKOFF,
            carried: Vec::new(),
            outage: false,
            strikes: 0,
            suspect: None,
            catching_up: false,
        }
    }

    /// Turns until cancelled; then drains the digests if asked to.
    pub(super) async fn run(mut self) -> SenderReport {
        while !self.cancel.is_cancelled() {
            if self.turn().await.is_none() {
                break;
            }
        }
        if self.opts.drain_digests {
            digest::drain(
                &self.transport,
                &mut self.sender,
                &self.opts,
                &mut self.report,
            )
            .await;
        }
        let r = &self.report;
        tracing::info!(channel = %self.opts.channel, sent = r.sent, duplicates = r.duplicates,
            dead = r.dead_lettered, "sender stopped");
        self.report
    }

    /// One turn of the loop; `None` when cancelled.
    async fn turn(&mut self) -> Option<()> {
        if self.outage && !self.back_in_reach().await? {
            return Some(());
        }
        // Retries that are due go back on the queue, to be read with the rest.
        if let Err(e) = self.transport.promote_retries(self.opts.channel).await {
            tracing::warn!(channel = %self.opts.channel, "moving due retries failed: {e}");
        }
        if !self.flush_digests().await? {
            return Some(());
        }
        // A sender that takes many deliveries per call gets as many to read.
        let batch = self.opts.batch.max(self.sender.max_batch().min(MAX_READ));
        let max = if self.catching_up {
            batch.max(CATCH_UP_BATCH)
        } else {
            batch
        };
        match self.read_batch(max).await? {
            Read::Entries(entries) => self.serve_batch(entries, max).await,
            Read::Failed => Some(()),
        }
    }

    /// Waits, then asks the sender whether it is back in reach; `None` when cancelled.
    async fn back_in_reach(&mut self) -> Option<bool> {
        tokio::select! {
            _ = tokio::time::sleep(outage_wait(self.strikes)) => {}
            _ = self.cancel.cancelled() => return None,
        }
        let ready = tokio::select! {
            r = self.sender.ready() => r,
            _ = self.cancel.cancelled() => return None,
        };
        match ready {
            Ok(()) => {
                tracing::info!(channel = %self.opts.channel, waiting = self.carried.len(),
                    "back in reach; catching up");
                metrics().out_of_reach.get_or_create(&self.channel).set(0);
                self.outage = false;
                self.catching_up = true;
                Some(true)
            }
            Err(e) => {
                self.strikes += 1;
                if self.strikes.is_power_of_two() {
                    tracing::warn!(channel = %self.opts.channel, "still out of reach: {e}");
                }
                Some(false)
            }
        }
    }

    /// Sends the digests due; false when that found the remote side out of reach. `None`
    /// when cancelled.
    async fn flush_digests(&mut self) -> Option<bool> {
        let digests = self.report.digests;
        let flushed = digest::flush_due(
            &self.transport,
            &mut self.sender,
            &self.opts,
            &mut self.report,
            Duration::ZERO,
            &self.cancel,
        )
        .await?;
        if self.report.digests > digests {
            self.strikes = 0;
        }
        if let Some(e) = flushed.unreachable {
            self.found_out_of_reach(&e);
            return Some(false);
        }
        Some(true)
    }

    /// What is carried over, then read up to `max` in all; `None` when cancelled.
    async fn read_batch(&mut self, max: usize) -> Option<Read> {
        let mut entries = std::mem::take(&mut self.carried);
        if entries.len() >= max {
            return Some(Read::Entries(entries));
        }
        // With entries in hand, only what is there already is added.
        let block = if entries.is_empty() {
            self.opts.block
        } else {
            Duration::ZERO
        };
        let (ch, consumer) = (self.opts.channel, self.opts.consumer.as_str());
        let read = tokio::select! {
            r = self.transport.read_notifications(ch, consumer, max - entries.len(), block) => r,
            _ = self.cancel.cancelled() => return None,
        };
        match read {
            Ok(more) => {
                self.read_backoff.reset();
                // A reader that lost its connection reads what it holds again.
                let held: HashSet<EntryId> = entries.iter().map(|e| e.id.clone()).collect();
                entries.extend(more.into_iter().filter(|e| !held.contains(&e.id)));
            }
            Err(e) if entries.is_empty() => {
                tracing::warn!(channel = %ch, "reading notifications failed: {e}; retrying");
                if !pause(&mut self.read_backoff, &self.cancel).await {
                    return None;
                }
                return Some(Read::Failed);
            }
            Err(e) => {
                tracing::warn!(channel = %ch, "reading notifications failed: {e}; going on with those in hand");
            }
        }
        Some(Read::Entries(entries))
    }

    /// Serves the entries read, in rounds of distinct deliveries, acknowledges those done, and
    /// carries the rest over if the remote side went out of reach; `None` when cancelled.
    async fn serve_batch(
        &mut self,
        mut entries: Vec<Entry<Notification>>,
        max: usize,
    ) -> Option<()> {
        let whole = entries.len() >= max;
        let fold = self.backlog_to_fold(&entries);
        let mut done = Vec::with_capacity(entries.len());
        let mut carry = None;
        let mut start = 0;
        while start < entries.len() {
            let end = start + distinct_prefix(&entries[start..]);
            if let Some((from, error)) = self.round(&entries[start..end], &fold, &mut done).await? {
                carry = Some((start + from, error));
                break;
            }
            start = end;
        }
        self.acknowledge(&done).await?;
        if let Some((from, error)) = carry {
            self.carried = entries.split_off(from.min(entries.len()));
            self.found_out_of_reach(&error);
            self.catching_up = false;
        } else if self.catching_up && !whole {
            tracing::info!(channel = %self.opts.channel, "caught up");
            self.catching_up = false;
        }
        Some(())
    }

    /// The users whose backlog, in `entries`, is folded into one digest: only while catching
    /// up, for a sender that folds.
    fn backlog_to_fold(&self, entries: &[Entry<Notification>]) -> HashSet<String> {
        let Some(min) = self.sender.fold_backlog().filter(|_| self.catching_up) else {
            return HashSet::new();
        };
        let mut per_user: HashMap<&str, usize> = HashMap::new();
        for e in entries
            .iter()
            .filter(|e| digest::wants_digest(&e.item).is_none() && !e.item.is_direct())
        {
            *per_user.entry(e.item.user.as_str()).or_default() += 1;
        }
        per_user
            .into_iter()
            .filter(|(_, count)| *count >= min)
            .map(|(user, _)| user.to_owned())
            .collect()
    }

    /// Acknowledges `done` in one round trip; `None` when cancelled.
    async fn acknowledge(&self, done: &[EntryId]) -> Option<()> {
        let (t, ch) = (&self.transport, self.opts.channel);
        retry_transport("acknowledging", &self.cancel, move || {
            t.ack_notifications(ch, done)
        })
        .await
    }

    /// The remote side is out of reach: nothing is sent until [`Sender::ready`] says it is
    /// back.
    fn found_out_of_reach(&mut self, error: &SendError) {
        self.report.outages += 1;
        metrics().outages.get_or_create(&self.channel).inc();
        metrics().out_of_reach.get_or_create(&self.channel).set(1);
        tracing::warn!(channel = %self.opts.channel, "out of reach: {error}; sending nothing until it is back");
        self.outage = true;
        self.strikes += 1;
    }
}

/// How many of `entries`, from the first, make no delivery twice: a round checks its
/// deliveries all at once before sending any, so a delivery read twice (the same message
/// evaluated again) waits for the next round, which finds it made. At least one.
fn distinct_prefix(entries: &[Entry<Notification>]) -> usize {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let n = &e.item;
        let pairs = || {
            n.addresses
                .iter()
                .map(|a| (n.delivery_id.as_str(), a.as_str()))
        };
        if i > 0 && pairs().any(|p| seen.contains(&p)) {
            return i;
        }
        seen.extend(pairs());
    }
    entries.len().max(1)
}
