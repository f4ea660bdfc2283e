//! Choosing the worker a message goes to.

use std::time::{Duration, Instant};

use fmn_transport::{Registry, TransportError, WorkQueue};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// How the consumer picks a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// Uniformly at random among the live workers: the original experiment's design.
    #[default]
    Random,
    /// Two live workers at random; the one with the shorter queue wins ("power of two
    /// choices"): a slow or stalled worker stops getting work once its queue grows.
    P2c,
    /// One queue that every worker pulls from through one consumer group: a worker takes
    /// work when it is ready, so a stalled worker holds only the batch it last read.
    Shared,
}

impl DispatchMode {
    /// Every mode, in the order benchmarks report them.
    pub const ALL: [DispatchMode; 3] = [
        DispatchMode::Random,
        DispatchMode::P2c,
        DispatchMode::Shared,
    ];

    /// The mode's name, as configuration and `--dispatch` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchMode::Random => "random",
            DispatchMode::P2c => "p2c",
            DispatchMode::Shared => "shared",
        }
    }
}

impl std::fmt::Display for DispatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DispatchMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(DispatchMode::Random),
            "p2c" => Ok(DispatchMode::P2c),
            "shared" => Ok(DispatchMode::Shared),
            other => Err(format!(
                "unknown dispatch mode {other:?} (known: random, p2c, shared)"
            )),
        }
    }
}

/// Picks workers among the live ones, refreshing the list from the registry now and then.
pub struct Dispatcher {
    mode: DispatchMode,
    live: Vec<String>,
    /// Each live worker's queue length when last read, plus what was sent to it since.
    backlog: Vec<u64>,
    /// The bytes the live workers' queues held in all when last read, plus what was sent since.
    bytes: u64,
    refreshed: Option<Instant>,
    refresh_every: Duration,
    rng: SmallRng,
}

impl Dispatcher {
    /// A dispatcher that re-reads the live workers every `refresh_every`.
    pub fn new(mode: DispatchMode, refresh_every: Duration) -> Self {
        Dispatcher {
            mode,
            live: Vec::new(),
            backlog: Vec::new(),
            bytes: 0,
            refreshed: None,
            refresh_every,
            rng: SmallRng::from_rng(&mut rand::rng()),
        }
    }

    /// A dispatcher with a fixed seed, for reproducible experiments.
    pub fn seeded(mode: DispatchMode, refresh_every: Duration, seed: u64) -> Self {
        Dispatcher {
            rng: SmallRng::seed_from_u64(seed),
            ..Self::new(mode, refresh_every)
        }
    }

    /// Re-reads the live workers from the registry when the list is stale or empty; returns
    /// how many there are.
    pub async fn refresh<T: Registry + WorkQueue>(
        &mut self,
        transport: &T,
    ) -> Result<usize, TransportError> {
        let stale = self
            .refreshed
            .is_none_or(|t| t.elapsed() >= self.refresh_every);
        if stale || self.live.is_empty() {
            self.live = transport.live_workers().await?;
            let backlogs = match self.mode {
                DispatchMode::Shared => vec![transport.shared_backlog().await?],
                _ => transport.backlogs(&self.live).await?,
            };
            self.backlog = backlogs.iter().map(|b| b.entries).collect();
            self.bytes = backlogs.iter().map(|b| b.bytes).sum();
            self.refreshed = Some(Instant::now());
        }
        Ok(self.live.len())
    }

    /// The entries the live workers' queues (or the shared queue) hold, as last read plus
    /// what was sent since.
    pub fn backlog(&self) -> u64 {
        self.backlog.iter().sum()
    }

    /// The bytes the live workers' queues (or the shared queue) hold, as last read plus what
    /// was sent since.
    pub fn backlog_bytes(&self) -> u64 {
        self.bytes
    }

    /// Counts `bytes` written to the queues, as the transport's dispatch reported them.
    pub fn sent_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// The mode this dispatcher picks by.
    pub fn mode(&self) -> DispatchMode {
        self.mode
    }

    /// Counts `n` entries written to the shared queue.
    pub fn sent_shared(&mut self, n: usize) {
        if let Some(b) = self.backlog.first_mut() {
            *b += n as u64;
        }
    }

    /// Forgets the list, so the next call re-reads it.
    pub fn invalidate(&mut self) {
        self.refreshed = None;
    }

    /// Picks one of the live workers last read; `None` when there are none. In `shared`
    /// mode no worker is picked: the workers pick the work.
    pub fn choose(&mut self) -> Option<&str> {
        if self.live.is_empty() || self.mode == DispatchMode::Shared {
            return None;
        }
        let i = self.pick(self.live.len());
        if let Some(b) = self.backlog.get_mut(i) {
            *b += 1;
        }
        Some(&self.live[i])
    }

    fn pick(&mut self, n: usize) -> usize {
        match self.mode {
            // `choose_index` only: in shared mode whoever reads first takes it.
            DispatchMode::Random | DispatchMode::Shared => self.rng.random_range(0..n),
            DispatchMode::P2c if n < 2 => 0,
            DispatchMode::P2c => {
                // Two distinct workers, so a stalled one loses every draw it is in.
                let a = self.rng.random_range(0..n);
                let b = (a + self.rng.random_range(1..n)) % n;
                let len = |i: usize| self.backlog.get(i).copied().unwrap_or(0);
                if len(b) < len(a) { b } else { a }
            }
        }
    }

    /// Picks an index in `0..n` the way [`Self::choose`] would: for experiments without a
    /// transport.
    pub fn choose_index(&mut self, n: usize) -> usize {
        let n = n.max(1);
        if self.backlog.len() != n {
            self.backlog = vec![0; n];
        }
        let i = self.pick(n);
        self.backlog[i] += 1;
        i
    }
}

#[cfg(test)]
mod tests {
    use fmn_transport::{MemoryTransport, WorkItem, WorkerInfo};

    use super::*;

    fn item(i: usize) -> WorkItem {
        let line = format!(r#"{{"topic": "t", "id": "m{i}", "body": {{}}}}"#);
        WorkItem::new(
            fmn_core::Envelope::from_bus_json(line.as_bytes(), 1 << 20).unwrap(),
            "test",
        )
    }

    #[tokio::test]
    async fn p2c_avoids_a_long_queue_and_random_does_not() {
        let t = MemoryTransport::default();
        for w in ["busy", "idle"] {
            t.register_worker(&WorkerInfo::local(w)).await.unwrap();
        }
        let backlog: Vec<(String, WorkItem)> = (0..100).map(|i| ("busy".into(), item(i))).collect();

        let written = t.dispatch(&backlog).await.unwrap();

        let mut p2c = Dispatcher::seeded(DispatchMode::P2c, Duration::from_secs(60), 7);
        p2c.refresh(&t).await.unwrap();
        assert_eq!(p2c.backlog(), 100);
        assert_eq!(
            p2c.backlog_bytes(),
            written,
            "the bytes the transport reported"
        );
        let to_idle = (0..100).filter(|_| p2c.choose() == Some("idle")).count();
        assert_eq!(to_idle, 100, "the idle worker's queue catches up first");
        assert_eq!(p2c.backlog(), 200);

        let mut random = Dispatcher::seeded(DispatchMode::Random, Duration::from_secs(60), 7);
        random.refresh(&t).await.unwrap();
        let to_idle = (0..1000)
            .filter(|_| random.choose() == Some("idle"))
            .count();
        assert!((400..600).contains(&to_idle), "{to_idle}");
    }

    #[test]
    fn modes_parse() {
        for mode in DispatchMode::ALL {
            assert_eq!(mode.as_str().parse(), Ok(mode));
        }
        assert!(
            "roundrobin"
                .parse::<DispatchMode>()
                .unwrap_err()
                .contains("known: random, p2c, shared")
        );
    }
}
