//! [`Digests`] in process: the digests.

use super::*;
use crate::Digests;

impl Digests for MemoryTransport {
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
}
