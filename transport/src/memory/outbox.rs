//! [`Outbox`] in process: the outboxes.

use super::*;
use crate::Outbox;

impl Outbox for MemoryTransport {
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

    async fn queue_notification(&self, n: &Notification) -> Result<(), TransportError> {
        let data = encode(n);
        let mut st = self.lock();
        self.push(&mut st, out_queue_name(n.channel), data);
        Ok(())
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
}
