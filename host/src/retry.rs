//! Trying again: the backoff between attempts at a transport call, and when a message whose
//! evaluation could not be completed is evaluated again.

use std::future::Future;
use std::time::Duration;

use fmn_core::Backoff;
use fmn_transport::{DeadLetter, Failed, TransportError, WorkItem};
use tokio_util::sync::CancellationToken;

/// Between attempts at a transport call: 50 ms doubling, up to 5 s.
pub const TRANSPORT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(50), Duration::from_secs(5));

/// Waits `backoff`'s next delay; false when `cancel` fired meanwhile.
pub async fn pause(backoff: &mut Backoff, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(backoff.next_delay()) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Calls `call` until it succeeds, with [`TRANSPORT_BACKOFF`] between attempts, logging each
/// failure as `what` failed; false when `cancel` fired first.
pub async fn until_ok<F, Fut>(what: &str, cancel: &CancellationToken, mut call: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), TransportError>>,
{
    let mut backoff = TRANSPORT_BACKOFF;
    loop {
        match call().await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!("{what} failed: {e}; retrying");
                if !pause(&mut backoff, cancel).await {
                    return false;
                }
            }
        }
    }
}

/// When a message whose evaluation could not be completed (a module failed on it as a whole,
/// or was in quarantine) is evaluated again, before it is kept as a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Evaluations after the first; 0 makes such a message a dead letter at once.
    pub retries: u32,
    /// The wait before the first retry; each next one waits four times longer.
    pub first: Duration,
    /// The longest wait between two evaluations.
    pub longest: Duration,
}

impl Default for RetryPolicy {
    /// 5 retries after 30 s, 2 min, 8 min, 30 min and 30 min: a module quarantine (30 s,
    /// doubling up to 30 min) is outlasted before a message becomes a dead letter.
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            first: Duration::from_secs(30),
            longest: Duration::from_secs(30 * 60),
        }
    }
}

/// What becomes of a message whose evaluation could not be completed.
#[derive(Debug)]
pub enum Later {
    /// Evaluated again after the delay.
    Retry(WorkItem, Duration),
    /// Its retries are spent.
    Dead(DeadLetter),
}

impl RetryPolicy {
    /// The wait before retry `n` (1 for the first).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 4u32.saturating_pow(n.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.longest)
    }

    /// What becomes of `item`, whose evaluation just could not be completed because `why`.
    pub fn after_failure(&self, item: &WorkItem, why: String) -> Later {
        let attempts = item.failed_attempts() + 1;
        if attempts > self.retries {
            let reason = format!("not wholly evaluated in {attempts} attempts: {why}");
            return Later::Dead(DeadLetter::work(&item.origin, reason, item));
        }
        let again = WorkItem {
            failed: Some(Failed {
                attempts,
                reason: why,
            }),
            ..item.clone()
        };
        Later::Retry(again, self.delay(attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> WorkItem {
        let bus = br#"{"topic": "a.b", "msg_id": "m1", "msg": {}}"#;
        WorkItem::new(
            fmn_core::Envelope::from_bus_json(bus, 1 << 20).unwrap(),
            "t:1",
        )
    }

    #[test]
    fn waits_grow_fourfold_up_to_the_longest() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(secs, [30, 120, 480, 1800, 1800, 1800]);
        assert_eq!(p.delay(u32::MAX), p.longest);
    }

    #[test]
    fn a_message_is_retried_then_dead_lettered_with_every_reason() {
        let p = RetryPolicy {
            retries: 2,
            ..RetryPolicy::default()
        };
        let Later::Retry(once, d1) = p.after_failure(&item(), "module m: trap".into()) else {
            panic!("the first failure is retried");
        };
        assert_eq!((once.failed_attempts(), d1), (1, p.first));
        let Later::Retry(twice, _) = p.after_failure(&once, "module m: quarantined".into()) else {
            panic!("the second failure is retried");
        };
        assert_eq!(twice.failed_attempts(), 2);
        let Later::Dead(letter) = p.after_failure(&twice, "module m: quarantined".into()) else {
            panic!("the third failure is a dead letter");
        };
        assert_eq!(letter.origin, "t:1");
        assert_eq!(
            letter.reason,
            "not wholly evaluated in 3 attempts: module m: quarantined"
        );
        let kept: WorkItem = serde_json::from_str(&letter.payload).unwrap();
        assert_eq!(kept.envelope.id, "m1");
    }

    #[test]
    fn no_retries_makes_a_dead_letter_at_once() {
        let p = RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        };
        assert!(matches!(
            p.after_failure(&item(), "x".into()),
            Later::Dead(_)
        ));
    }
}
