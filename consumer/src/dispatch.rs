//! Choosing the worker a message goes to.

use std::time::{Duration, Instant};

use fmn_core::transport::{Transport, TransportError};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// How the consumer picks a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// Uniformly at random among the live workers: the original experiment's design.
    #[default]
    Random,
}

/// Picks workers among the live ones, refreshing the list from the registry now and then.
pub struct Dispatcher {
    mode: DispatchMode,
    live: Vec<String>,
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
    pub async fn refresh<T: Transport>(&mut self, transport: &T) -> Result<usize, TransportError> {
        let stale = self
            .refreshed
            .is_none_or(|t| t.elapsed() >= self.refresh_every);
        if stale || self.live.is_empty() {
            self.live = transport.live_workers().await?;
            self.refreshed = Some(Instant::now());
        }
        Ok(self.live.len())
    }

    /// Forgets the list, so the next call re-reads it.
    pub fn invalidate(&mut self) {
        self.refreshed = None;
    }

    /// Picks one of the live workers last read; `None` when there are none.
    pub fn choose(&mut self) -> Option<&str> {
        if self.live.is_empty() {
            return None;
        }
        let i = match self.mode {
            DispatchMode::Random => self.rng.random_range(0..self.live.len()),
        };
        Some(&self.live[i])
    }

    /// Picks an index in `0..n` the way [`Self::choose`] would: for experiments without a
    /// transport.
    pub fn choose_index(&mut self, n: usize) -> usize {
        match self.mode {
            DispatchMode::Random => self.rng.random_range(0..n.max(1)),
        }
    }
}
