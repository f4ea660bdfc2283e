//! [`Registry`] in process: the worker registry.

use super::*;
use crate::{Forget, Registry};

impl Registry for MemoryTransport {
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

    async fn forget_worker(
        &self,
        worker: &str,
        silent: std::time::Duration,
    ) -> Result<Forget, TransportError> {
        let mut st = self.lock();
        if st
            .workers
            .get(worker)
            .is_some_and(|beat| beat.elapsed() < silent)
        {
            return Ok(Forget::Recent);
        }
        let queue = work_queue_name(worker);
        let held = st.queues.get(&queue).map_or(0, |q| q.entries.len() as u64);
        if held > 0 {
            return Ok(Forget::Holds(held));
        }
        st.workers.remove(worker);
        st.counts.remove(worker);
        st.fields.remove(worker);
        st.queues.remove(&queue);
        Ok(Forget::Forgotten)
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
}
