//! [`Digests`] over Redis: the digests.

use super::*;
use crate::Digests;

impl Digests for RedisTransport {
    async fn hold_for_digest(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        digest: &Digest,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let k = |what: &str| self.key(&format!("{what}:{channel}:{}", n.user));
        let _: i64 = Script::new(HOLD_DIGEST)
            .key(k("digest"))
            .key(k("digest-ids"))
            .key(self.key(&format!("digests:{channel}")))
            .key(self.key(&out_queue_name(channel)))
            .key(self.key(&format!("digest-held:{channel}")))
            .arg(OUT_GROUP)
            .arg(&id.0)
            .arg(encode(n))
            .arg(&n.delivery_id)
            .arg(&n.user)
            .arg(digest.max_count.unwrap_or(0))
            .arg(digest_due_in(0, digest))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn due_digests(
        &self,
        channel: ChannelKind,
        within: Duration,
        max: usize,
    ) -> Result<Vec<String>, TransportError> {
        let mut conn = self.conn.clone();
        Ok(Script::new(DUE_DIGESTS)
            .key(self.key(&format!("digests:{channel}")))
            .arg(max)
            .arg(within.min(DIGEST_LONGEST_WAIT * 2).as_millis() as u64)
            .invoke_async(&mut conn)
            .await?)
    }

    async fn take_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Option<DigestBatch>, TransportError> {
        let mut conn = self.conn.clone();
        let k = |what: &str| self.key(&format!("{what}:{channel}:{user}"));
        let taken: Option<(u32, Vec<Vec<u8>>)> = Script::new(TAKE_DIGEST)
            .key(k("digest-lease"))
            .key(k("digest"))
            .key(k("digest-taken"))
            .arg(owner)
            .arg(lease.as_millis().max(1) as u64)
            .arg(max.max(1))
            .invoke_async(&mut conn)
            .await?;
        let Some((failures, items)) = taken else {
            return Ok(None);
        };
        let queue = k("digest");
        let notifications = items
            .iter()
            .enumerate()
            .map(|(i, item)| decode(&queue, &i.to_string(), item))
            .collect::<Result<_, _>>()?;
        Ok(Some(DigestBatch {
            notifications,
            failures,
        }))
    }

    async fn finish_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        count: usize,
        digest: &Digest,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let k = |what: &str| self.key(&format!("{what}:{channel}:{user}"));
        let _: i64 = Script::new(FINISH_DIGEST)
            .key(k("digest-lease"))
            .key(k("digest"))
            .key(k("digest-ids"))
            .key(k("digest-taken"))
            .key(self.key(&format!("digests:{channel}")))
            .key(self.key(&format!("digest-held:{channel}")))
            .arg(user)
            .arg(count)
            .arg(digest.max_count.unwrap_or(0))
            .arg(digest_due_in(0, digest))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn postpone_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let k = |what: &str| self.key(&format!("{what}:{channel}:{user}"));
        let _: i64 = Script::new(POSTPONE_DIGEST)
            .key(k("digest-lease"))
            .key(k("digest-taken"))
            .key(self.key(&format!("digests:{channel}")))
            .arg(user)
            .arg(delay.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn digests_waiting(&self, channel: ChannelKind) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let n: Option<i64> = redis::cmd("GET")
            .arg(self.key(&format!("digest-held:{channel}")))
            .query_async(&mut conn)
            .await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}
