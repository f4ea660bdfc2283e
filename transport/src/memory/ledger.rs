//! [`DeliveryLedger`] in process: the delivery ledger.

use super::*;
use crate::DeliveryLedger;

impl DeliveryLedger for MemoryTransport {
    async fn mark_delivered(&self, keys: &[&str], ttl: Duration) -> Result<(), TransportError> {
        let mut st = self.lock();
        let now = Instant::now();
        st.delivered.expire(now);
        for key in keys {
            st.delivered.mark(key, now + ttl);
        }
        Ok(())
    }

    async fn was_delivered(&self, key: &str) -> Result<bool, TransportError> {
        Ok(self.lock().delivered.contains(key, Instant::now()))
    }

    async fn was_delivered_many(&self, keys: &[&str]) -> Result<Vec<bool>, TransportError> {
        let st = self.lock();
        let now = Instant::now();
        Ok(keys.iter().map(|k| st.delivered.contains(k, now)).collect())
    }

    async fn claim_oneshot(&self, n: &Notification) -> Result<bool, TransportError> {
        let mut st = self.lock();
        let winner = st
            .oneshots
            .entry((n.user.clone(), n.channel, n.filter.clone()))
            .or_insert_with(|| n.delivery_id.clone());
        Ok(*winner == n.delivery_id)
    }

    async fn take_rate(
        &self,
        channel: ChannelKind,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, TransportError> {
        let now = Instant::now();
        let mut st = self.lock();
        let made = st.rates.entry((channel, address.to_owned())).or_default();
        while made
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            made.pop_front();
        }
        if made.len() < limit as usize {
            made.push_back(now);
            return Ok(None);
        }
        Ok(Some(match made.front() {
            Some(oldest) => (*oldest + window).saturating_duration_since(now),
            None => window,
        }))
    }

    async fn record_address_failure(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
        reason: &str,
    ) -> Result<(), TransportError> {
        let mut st = self.lock();
        let f = st
            .address_failures
            .entry(user.to_owned())
            .or_default()
            .entry((channel, address.to_owned()))
            .or_insert_with(|| AddressFailure {
                channel,
                address: address.to_owned(),
                reason: String::new(),
                last_ms: 0,
                count: 0,
            });
        f.reason = reason.to_owned();
        f.last_ms = fmn_core::metrics::now_us() / 1000;
        f.count += 1;
        Ok(())
    }

    async fn disable_address(
        &self,
        _user: &str,
        _channel: ChannelKind,
        _address: &str,
    ) -> Result<bool, TransportError> {
        // Preferences of an in-process run come from a file, which is not rewritten.
        Ok(false)
    }

    async fn address_failures(&self, user: &str) -> Result<Vec<AddressFailure>, TransportError> {
        Ok(self
            .lock()
            .address_failures
            .get(user)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }
}
