//! [`WorkQueue`] in process: the work queues.

use super::*;
use crate::WorkQueue;

impl WorkQueue for MemoryTransport {
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
}
