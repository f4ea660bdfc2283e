//! The janitor: hands the work of workers whose heartbeat stopped to live ones.
//!
//! A worker that dies (or is stopped, or cut off from Redis longer than the heartbeat TTL)
//! leaves entries in its queue: some it read and never acknowledged, some it never read. Any
//! process may sweep: the consumer and every worker run a janitor, and concurrent sweeps are
//! safe because each entry moves atomically, only if it is still there. Nothing is lost;
//! an entry the dead worker was evaluating when it was moved may be evaluated twice, and the
//! senders' delivery ids keep that from sending anything twice.

use std::time::Duration;

use fmn_transport::{Registry, TransportError, WorkQueue};
use tokio_util::sync::CancellationToken;

/// Entries moved per round trip.
const BATCH: usize = 500;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Workers whose queues were emptied, with how many entries each gave up.
    pub reclaimed: Vec<(String, usize)>,
}

impl Sweep {
    /// Entries moved in all.
    pub fn total(&self) -> usize {
        self.reclaimed.iter().map(|(_, n)| n).sum()
    }
}

/// Moves every entry owed by a registered worker that is not live to the live workers, spread
/// evenly. Does nothing while no worker is live: the entries wait where they are.
pub async fn sweep<T: Registry + WorkQueue>(transport: &T) -> Result<Sweep, TransportError> {
    let live = transport.live_workers().await?;
    let mut out = Sweep::default();
    if live.is_empty() {
        return Ok(out);
    }
    for w in transport.worker_counts().await? {
        if live.binary_search(&w.id).is_ok() {
            continue;
        }
        let mut moved = 0;
        loop {
            let n = transport.reclaim(&w.id, &live, BATCH).await?;
            moved += n;
            if n < BATCH {
                break;
            }
        }
        if moved > 0 {
            fmn_core::metrics::metrics().reclaimed.inc_by(moved as u64);
            tracing::warn!(
                worker = %w.id,
                entries = moved,
                to = ?live,
                "reclaimed the work of a worker that is not live"
            );
            out.reclaimed.push((w.id, moved));
        }
    }
    Ok(out)
}

/// Sweeps every `every` until `cancel` fires; failures are logged and retried next time.
pub async fn run_janitor<T: Registry + WorkQueue>(
    transport: T,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep(&transport).await {
            tracing::warn!("janitor: cannot sweep: {e}");
        }
    }
}
