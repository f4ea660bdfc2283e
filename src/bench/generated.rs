//! A bus of real messages: the bundled corpus, cycled with fresh ids, optionally paced.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::source::{RawMessage, Source, SourceError};

use crate::setup;

/// Real messages from the bundled corpus, cycled with fresh ids.
pub(crate) struct Generated {
    /// Each corpus message as JSON without its `msg_id` and opening brace: a message is
    /// `{"msg_id":"bench-N",` and this (or `}` after the id, for an empty object), so that
    /// making one costs what reading a line of a file would, not a parse and a serialisation.
    rests: Vec<Vec<u8>>,
    total: u64,
    next: u64,
    /// Messages per second to pace to; 0: as fast as the consumer reads.
    rate: u64,
    started: Option<Instant>,
}

impl Generated {
    pub(crate) fn new(total: u64, rate: u64) -> Result<Self> {
        let rests = setup::bundled::SAMPLE_MESSAGES
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(l)?;
                v.remove("msg_id");
                let text = serde_json::to_vec(&v)?;
                Ok(text[1..].to_vec())
            })
            .collect::<Result<Vec<Vec<u8>>, serde_json::Error>>()
            .context("the bundled sample is not JSON lines of objects")?;
        Ok(Generated {
            rests,
            total,
            next: 0,
            rate,
            started: None,
        })
    }

    /// One of each corpus message, as text.
    pub(crate) fn one_cycle(&self) -> Vec<String> {
        (0..self.rests.len() as u64)
            .map(|i| String::from_utf8_lossy(&self.message(i)).into_owned())
            .collect()
    }

    /// Message `i`: corpus message `i` modulo the corpus, with id `bench-{i}`.
    fn message(&self, i: u64) -> Vec<u8> {
        use std::io::Write as _;
        let rest = &self.rests[(i % self.rests.len() as u64) as usize];
        let mut bytes = Vec::with_capacity(rest.len() + 32);
        // Writing to a Vec cannot fail.
        let _ = write!(bytes, "{{\"msg_id\":\"bench-{i}\"");
        if rest.as_slice() != b"}" {
            bytes.push(b',');
        }
        bytes.extend_from_slice(rest);
        bytes
    }
}

impl Source for Generated {
    async fn next(&mut self, _max: usize) -> Option<Result<RawMessage, SourceError>> {
        if self.next >= self.total || self.rests.is_empty() {
            return None;
        }
        let i = self.next;
        if self.rate > 0 {
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = started + Duration::from_secs_f64(i as f64 / self.rate as f64);
            // Timers are coarse: wait only when more than a millisecond ahead.
            if due > Instant::now() + Duration::from_millis(1) {
                // Sources are cancel-safe: nothing is counted before the wait is over.
                tokio::time::sleep_until(due.into()).await;
            }
        }
        self.next += 1;
        Some(Ok(RawMessage {
            bytes: self.message(i),
            origin: format!("bench:{i}"),
            oversize: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generated message is its corpus message with the id `bench-N` in place of its own.
    #[test]
    fn generated_messages_are_the_corpus_with_fresh_ids() {
        let corpus: Vec<serde_json::Value> = setup::bundled::SAMPLE_MESSAGES
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("the sample is JSON"))
            .collect();
        let source = Generated::new(0, 0).expect("the sample loads");
        for i in [
            0,
            1,
            corpus.len() as u64 - 1,
            corpus.len() as u64,
            3 * corpus.len() as u64 + 7,
        ] {
            let made: serde_json::Value =
                serde_json::from_slice(&source.message(i)).expect("a generated message is JSON");
            let mut want = corpus[(i % corpus.len() as u64) as usize].clone();
            want["msg_id"] = serde_json::Value::String(format!("bench-{i}"));
            assert_eq!(made, want, "message {i}");
        }
    }
}
