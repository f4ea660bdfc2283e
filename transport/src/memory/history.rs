//! [`History`] in process: the window as a queue of encoded work items with their byte count,
//! and a queue of records per user.

use std::collections::VecDeque;

use super::*;
use crate::history::now_ms;
use crate::{Delivery, History, LogLimits, RecentMessage, WindowLimits};

/// The recent-message window: (sequence number, when kept in ms, message id, encoded item).
#[derive(Debug, Default)]
pub(super) struct Window {
    entries: VecDeque<(u64, u64, String, String)>,
    bytes: u64,
    next: u64,
}

impl Window {
    fn push(&mut self, id: &str, json: String) {
        self.next += 1;
        self.bytes += json.len() as u64;
        self.entries
            .push_back((self.next, now_ms(), id.to_owned(), json));
    }

    /// Drops the oldest entries until the rest is within `limits`.
    fn trim(&mut self, limits: WindowLimits) {
        let cutoff = now_ms().saturating_sub(limits.age.as_millis() as u64);
        while let Some((_, at, _, json)) = self.entries.front() {
            let keep = limits.age > Duration::ZERO && *at >= cutoff && self.bytes <= limits.bytes;
            if keep {
                break;
            }
            self.bytes -= json.len() as u64;
            self.entries.pop_front();
        }
    }
}

fn decoded(seq: u64, json: &str) -> Result<crate::WorkItem, TransportError> {
    serde_json::from_str(json).map_err(|e| TransportError::Decode {
        queue: "recent".into(),
        id: seq.to_string(),
        reason: e.to_string(),
    })
}

impl History for MemoryTransport {
    async fn keep_recent(
        &self,
        items: &[crate::WorkItem],
        limits: WindowLimits,
    ) -> Result<(), TransportError> {
        let mut state = self.lock();
        for item in items {
            state.recent.push(&item.envelope.id, encode(item));
        }
        state.recent.trim(limits);
        Ok(())
    }

    async fn recent_messages(
        &self,
        before: Option<&str>,
        max: usize,
    ) -> Result<Vec<RecentMessage>, TransportError> {
        let before: u64 = before.and_then(|b| b.parse().ok()).unwrap_or(u64::MAX);
        let state = self.lock();
        state
            .recent
            .entries
            .iter()
            .rev()
            .filter(|(seq, ..)| *seq < before)
            .take(max)
            .map(|(seq, _, _, json)| {
                Ok(RecentMessage {
                    cursor: seq.to_string(),
                    item: decoded(*seq, json)?,
                })
            })
            .collect()
    }

    async fn recent_message(&self, id: &str) -> Result<Option<crate::WorkItem>, TransportError> {
        let state = self.lock();
        let found = state
            .recent
            .entries
            .iter()
            .rev()
            .find(|(_, _, i, _)| i == id);
        found
            .map(|(seq, _, _, json)| decoded(*seq, json))
            .transpose()
    }

    async fn log_deliveries(
        &self,
        records: &[Delivery],
        limits: LogLimits,
    ) -> Result<(), TransportError> {
        let cutoff = now_ms().saturating_sub(limits.age.as_millis() as u64);
        let mut state = self.lock();
        for r in records {
            let log = state.deliveries.entry(r.user.clone()).or_default();
            log.push_back(r.clone());
            while log.front().is_some_and(|f| {
                limits.age.is_zero() || f.at_ms < cutoff || log.len() as u64 > limits.entries
            }) {
                log.pop_front();
            }
        }
        Ok(())
    }

    async fn deliveries(&self, user: &str, max: usize) -> Result<Vec<Delivery>, TransportError> {
        let state = self.lock();
        let log: Option<&VecDeque<Delivery>> = state.deliveries.get(user);
        Ok(log.map_or_else(Vec::new, |l| l.iter().rev().take(max).cloned().collect()))
    }
}
