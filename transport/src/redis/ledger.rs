//! [`DeliveryLedger`] over Redis: the delivery ledger.

use super::*;
use crate::DeliveryLedger;

impl DeliveryLedger for RedisTransport {
    async fn mark_delivered(&self, keys: &[&str], ttl: Duration) -> Result<(), TransportError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("SET")
                .arg(self.key(&format!("delivered:{key}")))
                .arg(1)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn was_delivered(&self, key: &str) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("EXISTS")
            .arg(self.key(&format!("delivered:{key}")))
            .query_async(&mut conn)
            .await?;
        Ok(n > 0)
    }

    async fn was_delivered_many(&self, keys: &[&str]) -> Result<Vec<bool>, TransportError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One EXISTS per key, pipelined: EXISTS of many keys only counts them.
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("EXISTS")
                .arg(self.key(&format!("delivered:{key}")));
        }
        let mut conn = self.conn.clone();
        let found: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(found.into_iter().map(|n| n > 0).collect())
    }

    async fn claim_oneshot(&self, n: &Notification) -> Result<bool, TransportError> {
        self.claim_oneshot_use(n).await
    }

    async fn take_rate(
        &self,
        channel: ChannelKind,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, TransportError> {
        use sha2::Digest as _;
        let tag = hex::encode(&sha2::Sha256::digest(address.as_bytes())[..8]);
        let member = format!("{}-{}", fmn_core::metrics::now_us(), rand_suffix());
        let mut conn = self.conn.clone();
        let wait: i64 = Script::new(TAKE_RATE)
            .key(self.key(&format!("rate:{channel}:{tag}")))
            .arg(limit)
            .arg(window.as_millis().max(1) as u64)
            .arg(member)
            .invoke_async(&mut conn)
            .await?;
        Ok((wait >= 0).then(|| Duration::from_millis(wait as u64)))
    }

    async fn record_address_failure(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
        reason: &str,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(ADDRESS_FAILURE)
            .key(self.key(&format!("address-failures:{user}")))
            .arg(format!("{channel}:{address}"))
            .arg(reason)
            .arg(crate::ADDRESS_FAILURES_KEPT.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn disable_address(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
    ) -> Result<bool, TransportError> {
        self.remove_user_address(user, channel, address).await
    }

    async fn address_failures(&self, user: &str) -> Result<Vec<AddressFailure>, TransportError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            reason: String,
            last_ms: u64,
            count: u64,
        }
        let mut conn = self.conn.clone();
        let key = self.key(&format!("address-failures:{user}"));
        let all: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(all.len());
        for (field, value) in all {
            let bad = |reason: String| TransportError::Decode {
                queue: key.clone(),
                id: field.clone(),
                reason,
            };
            let (channel, address) = field
                .split_once(':')
                .ok_or_else(|| bad("expected CHANNEL:ADDRESS".into()))?;
            let channel: ChannelKind = channel.parse().map_err(|e| bad(format!("{e}")))?;
            let s: Stored = serde_json::from_str(&value).map_err(|e| bad(e.to_string()))?;
            out.push(AddressFailure {
                channel,
                address: address.to_owned(),
                reason: s.reason,
                last_ms: s.last_ms,
                count: s.count,
            });
        }
        out.sort_by(|a, b| (a.channel, &a.address).cmp(&(b.channel, &b.address)));
        Ok(out)
    }
}
