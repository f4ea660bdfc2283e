//! The delivery log a sender writes as it goes: what became of each notification at each
//! address, for the person it was for ([`fmn_transport::History`]). It is a record, not a
//! step of delivery: written after the round's outcomes are settled, and a failure to write
//! it is logged and costs only the record.

use fmn_core::Notification;
use fmn_transport::{Delivery, DeliveryOutcome, History, LogLimits};

/// The records of one round, written together.
#[derive(Debug, Default)]
pub(crate) struct RoundLog {
    limits: Option<LogLimits>,
    records: Vec<Delivery>,
}

impl RoundLog {
    /// A log kept within `limits`; `None` keeps nothing.
    pub(crate) fn new(limits: Option<LogLimits>) -> Self {
        RoundLog {
            limits,
            records: Vec::new(),
        }
    }

    /// Notes what became of `n` at `address`.
    pub(crate) fn note(&mut self, n: &Notification, address: &str, outcome: DeliveryOutcome) {
        if self.limits.is_some() {
            self.records.push(Delivery::of(n, address, outcome));
        }
    }

    /// Writes the notes taken so far.
    pub(crate) async fn flush<T: History>(&mut self, transport: &T) {
        let Some(limits) = self.limits else { return };
        if self.records.is_empty() {
            return;
        }
        if let Err(e) = transport.log_deliveries(&self.records, limits).await {
            tracing::warn!(
                "{} delivery records not kept in the users' logs: {e}",
                self.records.len()
            );
        }
        self.records.clear();
    }
}
