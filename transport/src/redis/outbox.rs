//! [`Outbox`] over Redis: the outboxes.

use super::*;
use crate::Outbox;

impl Outbox for RedisTransport {
    async fn read_notifications(
        &self,
        channel: ChannelKind,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Entry<Notification>>, TransportError> {
        self.read(
            &[(&self.key(&out_queue_name(channel)), "")],
            OUT_GROUP,
            consumer,
            max,
            block,
        )
        .await
    }

    async fn queue_notification(&self, n: &Notification) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        redis::cmd("XADD")
            .arg(self.key(&out_queue_name(n.channel)))
            .arg("*")
            .arg("d")
            .arg(encode(n))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn ack_notifications(
        &self,
        channel: ChannelKind,
        ids: &[EntryId],
    ) -> Result<(), TransportError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        self.ack_into(
            &self.key(&out_queue_name(channel)),
            OUT_GROUP,
            ids,
            &mut pipe,
        );
        self.exec(&mut pipe).await
    }

    async fn retry_later(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(RETRY_LATER)
            .key(self.key(&format!("retry:{channel}")))
            .key(self.key(&out_queue_name(channel)))
            .arg(OUT_GROUP)
            .arg(&id.0)
            .arg(encode(n))
            .arg(delay.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn promote_retries(&self, channel: ChannelKind) -> Result<usize, TransportError> {
        let mut conn = self.conn.clone();
        let n: usize = Script::new(PROMOTE)
            .key(self.key(&format!("retry:{channel}")))
            .key(self.key(&out_queue_name(channel)))
            .invoke_async(&mut conn)
            .await?;
        Ok(n)
    }

    async fn retries_waiting(&self, channel: ChannelKind) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(self.key(&format!("retry:{channel}")))
            .query_async(&mut conn)
            .await?)
    }
}
