//! The sandbox every rule module runs in: one Wasmtime engine, its limits, and the epoch
//! ticker that interrupts modules that run too long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine};

/// How long loading a module may take once compiled, by default: the bundled module (with its
/// 20 samples) takes 11 ms.
pub const DEFAULT_LOAD_BUDGET: Duration = Duration::from_secs(2);

/// Limits of the sandbox (docs/architecture.md, "Rule modules and the host": the table of
/// limits).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// How much CPU time one call into a module may use before it is interrupted (counted on
    /// the calling thread, so time spent waiting for a core does not count; see
    /// [`crate::clock`]).
    pub timeout: Duration,
    /// A call is interrupted after this many times its time limit of wall-clock time, whatever
    /// CPU time it used: a call whose thread is starved cannot hold a worker for ever.
    pub wall_cap_factor: u32,
    /// How often the epoch advances; `timeout` is counted in these ticks.
    pub tick: Duration,
    /// The most linear memory a module instance may have.
    pub memory_bytes: usize,
    /// The most native stack wasm code may use.
    pub max_stack: usize,
    /// The most elements a module's table may hold: tables live outside linear memory, so
    /// `memory_bytes` does not bound them (a module's own table holds its functions, a few
    /// hundred to a few thousand).
    pub max_table_elements: usize,
    /// The most bytes a module may return from one call.
    pub max_output: usize,
    /// The largest module file accepted.
    pub max_module_bytes: usize,
    /// The longest loading a module may take once it is compiled, all together: instantiating
    /// it, its description, the checks and its own samples. Loading runs beside a worker's
    /// work; compiling cannot be interrupted and is bounded by the module's shape instead
    /// (see `module::Shape`).
    pub load_budget: Duration,
    /// Where compiled modules are cached; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            timeout: Duration::from_millis(20),
            wall_cap_factor: 10,
            tick: Duration::from_millis(1),
            memory_bytes: 64 << 20,
            max_stack: 256 << 10,
            max_table_elements: 1 << 16,
            max_output: 4 << 20,
            max_module_bytes: 16 << 20,
            load_budget: DEFAULT_LOAD_BUDGET,
            cache_dir: crate::cache::default_dir(),
        }
    }
}

impl SandboxConfig {
    /// `timeout` in epoch ticks, at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        (self.timeout.as_nanos().div_ceil(tick) as u64).max(1)
    }
}

/// The engine and its limits, shared by every module and instance of a process.
pub struct Sandbox {
    engine: Engine,
    config: SandboxConfig,
    cache: Option<crate::cache::ModuleCache>,
    ticker_stop: Arc<AtomicBool>,
}

/// The engine could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the wasm engine: {0}")]
pub struct SandboxError(String);

impl Sandbox {
    /// Creates the engine and starts its epoch ticker thread.
    pub fn new(config: SandboxConfig) -> Result<Arc<Sandbox>, SandboxError> {
        let mut c = Config::new();
        c.epoch_interruption(true);
        c.max_wasm_stack(config.max_stack);
        let engine = Engine::new(&c).map_err(|e| SandboxError(e.to_string()))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stop = ticker_stop.clone();
        let tick = config.tick;
        thread::Builder::new()
            .name("fmn-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(tick);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| SandboxError(format!("cannot start the epoch ticker: {e}")))?;
        let cache = config
            .cache_dir
            .as_deref()
            .and_then(crate::cache::ModuleCache::open);
        Ok(Arc::new(Sandbox {
            engine,
            config,
            cache,
            ticker_stop,
        }))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The compiled-module cache, if there is one.
    pub fn cache(&self) -> Option<&crate::cache::ModuleCache> {
        self.cache.as_ref()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
