//! The janitor: hands the work of workers whose heartbeat stopped to live ones.
//!
//! A worker that dies (or is stopped, or cut off from Redis longer than the heartbeat TTL)
//! leaves entries in its queue: some it read and never acknowledged, some it never read. Any
//! process may sweep: the consumer and every worker run a janitor, and concurrent sweeps are
//! safe because each entry moves atomically, only if it is still there. Nothing is lost;
//! an entry the dead worker was evaluating when it was moved may be evaluated twice, and the
//! senders' delivery ids keep that from sending anything twice.

use std::time::Duration;

use fmn_transport::{Forget, Registry, TransportError, WorkQueue};
use tokio_util::sync::CancellationToken;

/// Entries moved per round trip.
const BATCH: usize = 500;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Workers whose queues were emptied, with how many entries each gave up.
    pub reclaimed: Vec<(String, usize)>,
    /// Workers forgotten once emptied (see [`sweep_forgetting`]).
    pub forgotten: Vec<String>,
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
    sweep_forgetting(transport, None).await
}

/// [`sweep`], forgetting each worker it empties that has been silent for `forget_after` (see
/// [`Registry::forget_worker`]), in the same pass. Without it the registry, and the janitor's
/// round trips, would grow with every restart of a worker under a new id.
pub async fn sweep_forgetting<T: Registry + WorkQueue>(
    transport: &T,
    forget_after: Option<Duration>,
) -> Result<Sweep, TransportError> {
    let live = transport.live_workers().await?;
    let mut out = Sweep::default();
    if live.is_empty() {
        return Ok(out);
    }
    for w in transport.worker_counts().await? {
        if live.binary_search(&w.id).is_ok() {
            continue;
        }
        let moved = reclaim_all(transport, &w.id, &live).await?;
        if moved > 0 {
            out.reclaimed.push((w.id.clone(), moved));
        }
        if let Some(silent) = forget_after
            && forget(transport, &w.id, silent).await?
        {
            out.forgotten.push(w.id);
        }
    }
    Ok(out)
}

/// Moves all of `worker`'s queue to `live`, a batch at a time; how many entries moved.
async fn reclaim_all<T: WorkQueue>(
    transport: &T,
    worker: &str,
    live: &[String],
) -> Result<usize, TransportError> {
    let mut moved = 0;
    loop {
        let n = transport.reclaim(worker, live, BATCH).await?;
        moved += n;
        if n < BATCH {
            break;
        }
    }
    if moved > 0 {
        fmn_core::metrics::metrics().reclaimed.inc_by(moved as u64);
        tracing::warn!(
            worker = %worker,
            entries = moved,
            to = ?live,
            "reclaimed the work of a worker that is not live"
        );
    }
    Ok(moved)
}

/// Forgets `worker` if silent for `silent` and holding nothing; whether it was.
async fn forget<T: Registry>(
    transport: &T,
    worker: &str,
    silent: Duration,
) -> Result<bool, TransportError> {
    let forgotten = transport.forget_worker(worker, silent).await? == Forget::Forgotten;
    if forgotten {
        tracing::info!(worker = %worker, "forgot a worker silent for {silent:?}");
    }
    Ok(forgotten)
}

/// Forgets every worker that is not live, has been silent for at least `silent` and holds
/// nothing, now (`fmn status --forget`); the ids forgotten.
pub async fn forget_silent<T: Registry>(
    transport: &T,
    silent: Duration,
) -> Result<Vec<String>, TransportError> {
    let live = transport.live_workers().await?;
    let mut forgotten = Vec::new();
    for w in transport.worker_counts().await? {
        if live.binary_search(&w.id).is_err() && forget(transport, &w.id, silent).await? {
            forgotten.push(w.id);
        }
    }
    Ok(forgotten)
}

/// Sweeps every `every` until `cancel` fires, forgetting the workers it empties that have
/// been silent for `forget_after` (if given); failures are logged and retried next time.
pub async fn run_janitor<T: Registry + WorkQueue>(
    transport: T,
    every: Duration,
    forget_after: Option<Duration>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep_forgetting(&transport, forget_after).await {
            tracing::warn!("janitor: cannot sweep: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmn_transport::{MemoryTransport, WorkerInfo};

    /// The janitor forgets a worker that fell silent once the time given has passed, and keeps
    /// the live ones.
    #[tokio::test]
    async fn silent_workers_are_forgotten_after_the_time_given() {
        let t = MemoryTransport::new(Duration::from_secs(60));
        for id in ["gone", "here"] {
            t.register_worker(&WorkerInfo::local(id)).await.unwrap();
        }
        t.deregister_worker("gone").await.unwrap();
        let cancel = CancellationToken::new();
        let janitor = tokio::spawn(run_janitor(
            t.clone(),
            Duration::from_millis(10),
            Some(Duration::from_millis(50)),
            cancel.clone(),
        ));
        let ids = async || -> Vec<String> {
            let counts = t.worker_counts().await.unwrap();
            counts.into_iter().map(|c| c.id).collect()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while ids().await.len() > 1 {
            assert!(tokio::time::Instant::now() < deadline, "never forgotten");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ids().await, ["here"]);
        cancel.cancel();
        janitor.await.unwrap();
        assert_eq!(
            forget_silent(&t, Duration::ZERO).await.unwrap(),
            Vec::<String>::new(),
            "a live worker is never forgotten"
        );
    }
}
