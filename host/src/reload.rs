//! Hot reload: new rule modules from a watched directory or from Redis (`fmn rules publish`),
//! compiled and validated off the hot path, and swapped in between batches.
//!
//! The reloader watches its sources. When a module changes it loads the new version in a
//! blocking task (compilation, ABI and export checks, the module's own samples), compiles the
//! preferences against the new set, and only if all of that succeeds replaces the snapshot
//! workers read. A worker takes the new snapshot at its next batch: a batch, and so every
//! message, is evaluated wholly by one generation; none is lost or evaluated twice. A version
//! that fails is refused, with the reason logged and reported in the worker registry, and the
//! previous version keeps running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fmn_core::transport::{RedisTransport, Transport, TransportError};
use fmn_core::{Preferences, Relations};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::backend::LoadedModule;
use crate::module::WasmModule;
use crate::plan::Plan;
use crate::ruleset::{RuleSet, wasm_files};
use crate::sandbox::Sandbox;
use crate::worker::{SharedSnapshot, Snapshot};

/// Where the reloader finds modules.
pub struct Sources {
    /// Modules that are not watched (the bundled ones), used when `paths` is empty.
    pub fixed: Vec<LoadedModule>,
    /// Module files and directories, watched.
    pub paths: Vec<PathBuf>,
    /// Redis, for published modules: they replace local ones of the same name.
    pub redis: Option<RedisTransport>,
}

/// A module version that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The module's name, or its file when the name is unknown.
    pub module: String,
    /// The sha256 of the refused bytes (`-` when they were not read).
    pub sha256: String,
    /// Why.
    pub reason: String,
}

/// One module a worker runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleVersion {
    /// The module's name.
    pub name: String,
    /// The sha256 of its wasm, or `native`.
    pub sha256: String,
    /// Where it came from: a file, `bundled:...`, or `redis:NAME@SHA`.
    pub origin: String,
}

/// What a worker process runs, as reported in the registry (field `rules`) and shown by
/// `fmn rules status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesReport {
    /// The rule set's generation in this process.
    pub generation: u64,
    /// The modules of that generation.
    pub modules: Vec<ModuleVersion>,
    /// Versions refused since the process started, latest last (at most the last 20).
    pub refused: Vec<Refusal>,
    /// The version of the ownership and group data in use (0: none from Redis).
    #[serde(default)]
    pub data_version: u64,
}

enum FetchError {
    Refused(String),
    Transport(TransportError),
}

/// The bytes published as `name` under `sha`, checked against their hash and the size limit.
async fn fetch_published(
    redis: &RedisTransport,
    name: &str,
    sha: &str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    match redis.module_bytes(sha, limit).await {
        Ok(Some(Ok(bytes))) if sha256(&bytes) == sha => Ok(bytes),
        Ok(Some(Ok(_))) => Err(FetchError::Refused(
            "its bytes do not have the sha256 it was published under".into(),
        )),
        Ok(Some(Err(size))) => Err(FetchError::Refused(format!(
            "{size} bytes, over the limit of {limit} bytes for a rule module"
        ))),
        Ok(None) => Err(FetchError::Refused(format!(
            "published as {name}, but its bytes are missing from Redis"
        ))),
        Err(e) => Err(FetchError::Transport(e)),
    }
}

/// `modules` with the versions published in Redis in place of (or beside) those of the same
/// name, for a worker's first rule set: preferences may use modules that exist only there. A
/// published version that cannot be fetched or loaded is logged and left out; the reloader
/// reports it as refused on its first check.
pub async fn with_published(
    sandbox: &Arc<Sandbox>,
    modules: Vec<LoadedModule>,
    redis: &RedisTransport,
) -> Result<Vec<LoadedModule>, TransportError> {
    let mut by_name: BTreeMap<String, LoadedModule> = modules
        .into_iter()
        .map(|m| (m.name().to_owned(), m))
        .collect();
    let (_, published) = redis.published_modules().await?;
    for (name, sha) in published {
        let bytes = match fetch_published(redis, &name, &sha, sandbox.config().max_module_bytes)
            .await
        {
            Ok(b) => b,
            Err(FetchError::Transport(e)) => return Err(e),
            Err(FetchError::Refused(reason)) => {
                tracing::error!(module = %name, sha256 = %sha, "published module left out: {reason}");
                continue;
            }
        };
        let sb = sandbox.clone();
        let origin = format!("redis:{name}@{}", &sha[..12.min(sha.len())]);
        let loaded =
            tokio::task::spawn_blocking(move || WasmModule::from_bytes(&sb, &bytes, &origin)).await;
        match loaded {
            Ok(Ok(m)) if m.name() == name => {
                by_name.insert(name, LoadedModule::wasm(m));
            }
            Ok(Ok(m)) => {
                tracing::error!(module = %name, "published module left out: it names itself {:?}", m.name())
            }
            Ok(Err(e)) => tracing::error!(module = %name, "published module left out: {e}"),
            Err(e) => {
                tracing::error!(module = %name, "published module left out: loading panicked: {e}")
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Watches module sources and swaps in new versions.
pub struct Reloader<T: Transport> {
    sandbox: Arc<Sandbox>,
    sources: Sources,
    prefs: Arc<Preferences>,
    shared: SharedSnapshot,
    /// Where to report, and the workers to report for.
    registry: Option<(T, Vec<String>)>,
    poll: Duration,
    /// Loaded versions by sha256, reused while unchanged.
    loaded: BTreeMap<String, LoadedModule>,
    refused: Vec<Refusal>,
    refused_shas: BTreeSet<String>,
    files: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
    published: Option<(u64, BTreeMap<String, String>)>,
    generation: u64,
    /// The data from files, under what Redis holds, and the version of Redis' data in use.
    base_data: Arc<Relations>,
    data_version: u64,
}

/// Refusals kept in a report: enough to explain the latest, bounded for a long-lived worker.
const MAX_REPORTED_REFUSALS: usize = 20;

/// `name@sha256-prefix`, as logs and reports name a module version.
fn label(m: &LoadedModule) -> String {
    format!(
        "{}@{}",
        m.name(),
        &m.version_id[..12.min(m.version_id.len())]
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl<T: Transport> Reloader<T> {
    /// A reloader over `sources` for the workers reading `shared`, whose rule set it assumes
    /// current; `registry` is where it reports what runs.
    pub fn new(
        sandbox: Arc<Sandbox>,
        sources: Sources,
        prefs: Arc<Preferences>,
        shared: SharedSnapshot,
        registry: Option<(T, Vec<String>)>,
    ) -> Self {
        let current = shared.load_full();
        let loaded = current
            .ruleset
            .modules()
            .iter()
            .map(|m| (m.version_id.clone(), m.clone()))
            .collect();
        Reloader {
            sandbox,
            sources,
            prefs,
            generation: current.ruleset.generation,
            shared,
            registry,
            poll: Duration::from_secs(1),
            loaded,
            refused: Vec::new(),
            refused_shas: BTreeSet::new(),
            files: BTreeMap::new(),
            published: None,
            base_data: current.relations.clone(),
            data_version: 0,
        }
    }

    /// The data loaded from files (`base`), which Redis' data at `version` overlays in the
    /// current snapshot; the reloader follows later versions.
    pub fn with_data(mut self, base: Arc<Relations>, version: u64) -> Self {
        self.base_data = base;
        self.data_version = version;
        self
    }

    /// Checks the sources every `poll` (Redis publications also wake it at once).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The versions refused so far.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// Runs until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut changes = match &self.sources.redis {
            Some(r) => match r.module_changes().await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!("cannot subscribe to module publications ({e}); polling only");
                    None
                }
            },
            None => None,
        };
        // What the workers start with: the files and publications as they are now.
        self.check().await;
        self.report().await;
        loop {
            let woken = async {
                match changes.as_mut() {
                    Some(p) => {
                        p.on_message().next().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.poll) => {}
                _ = woken => {}
            }
            if self.check().await {
                self.report().await;
            }
        }
    }

    /// Looks at the sources once; rebuilds when something changed. Returns whether the
    /// snapshot or the refusals changed.
    pub async fn check(&mut self) -> bool {
        let data_changed = self.check_data().await;
        let files = self.scan();
        let published = match &self.sources.redis {
            Some(r) => match r.published_modules().await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!("cannot read published modules: {e}");
                    self.published.clone()
                }
            },
            None => None,
        };
        if files == self.files && published == self.published && self.generation > 0 {
            return data_changed;
        }
        self.files = files;
        self.published = published;
        self.rebuild().await
    }

    /// Swaps in Redis' ownership and group data when its version moved. Returns whether it did.
    async fn check_data(&mut self) -> bool {
        let Some(redis) = &self.sources.redis else {
            return false;
        };
        match redis.data_version().await {
            Ok(v) if v == self.data_version => return false,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("cannot read the data version: {e}");
                return false;
            }
        }
        let (version, data) = match redis.load_data().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot load ownership and group data: {e}");
                return false;
            }
        };
        let relations = Arc::new(self.base_data.overlaid(&data));
        let current = self.shared.load_full();
        self.shared.store(Arc::new(Snapshot {
            ruleset: current.ruleset.clone(),
            plan: current.plan.clone(),
            relations,
        }));
        tracing::info!(version, "ownership and group data swapped in");
        self.data_version = version;
        true
    }

    fn scan(&self) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
        let Ok(files) = wasm_files(&self.sources.paths) else {
            return BTreeMap::new();
        };
        files
            .into_iter()
            .filter_map(|f| {
                let meta = std::fs::metadata(&f).ok()?;
                Some((f, (meta.len(), meta.modified().ok())))
            })
            .collect()
    }

    fn refuse(&mut self, module: &str, sha256: &str, reason: String) {
        tracing::error!(
            module,
            sha256,
            "rule module refused, the previous version keeps running: {reason}"
        );
        self.refused_shas.insert(sha256.to_owned());
        if self.refused.len() >= 4 * MAX_REPORTED_REFUSALS {
            self.refused.drain(..MAX_REPORTED_REFUSALS);
        }
        self.refused.push(Refusal {
            module: module.to_owned(),
            sha256: sha256.to_owned(),
            reason,
        });
    }

    /// Loads (off the async threads) a module version unless loaded or refused before.
    async fn load(&mut self, bytes: Vec<u8>, origin: String, label: &str) -> Option<LoadedModule> {
        let sha = sha256(&bytes);
        if let Some(m) = self.loaded.get(&sha) {
            return Some(m.clone());
        }
        if self.refused_shas.contains(&sha) {
            return None;
        }
        let sandbox = self.sandbox.clone();
        let o = origin.clone();
        let result =
            tokio::task::spawn_blocking(move || WasmModule::from_bytes(&sandbox, &bytes, &o)).await;
        match result {
            Ok(Ok(m)) => {
                let m = LoadedModule::wasm(m);
                self.loaded.insert(sha, m.clone());
                Some(m)
            }
            Ok(Err(e)) => {
                self.refuse(label, &sha, e.to_string());
                None
            }
            Err(e) => {
                self.refuse(label, &sha, format!("loading panicked: {e}"));
                None
            }
        }
    }

    async fn rebuild(&mut self) -> bool {
        let started = std::time::Instant::now();
        let refusals_before = self.refused.len();
        let current = self.shared.load_full();
        let keep = |name: &str| {
            current
                .ruleset
                .modules()
                .iter()
                .find(|m| m.name() == name)
                .cloned()
        };

        // Local modules: the files (a failed new version keeps the one running), or the fixed set.
        let mut by_name: BTreeMap<String, LoadedModule> = BTreeMap::new();
        if self.sources.paths.is_empty() {
            for m in &self.sources.fixed {
                by_name.insert(m.name().to_owned(), m.clone());
            }
        } else {
            let files: Vec<PathBuf> = self.files.keys().cloned().collect();
            let mut candidates: Vec<(String, LoadedModule)> = Vec::new();
            for f in files {
                let limit = self.sandbox.config().max_module_bytes;
                let bytes = match std::fs::metadata(&f) {
                    Ok(m) if m.len() as usize > limit => {
                        let reason = format!(
                            "{} bytes, over the limit of {limit} bytes for a rule module",
                            m.len()
                        );
                        self.refuse(&f.display().to_string(), "-", reason);
                        continue;
                    }
                    _ => match std::fs::read(&f) {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!("cannot read {}: {e}", f.display());
                            continue;
                        }
                    },
                };
                let origin = f.display().to_string();
                match self.load(bytes, origin.clone(), &origin).await {
                    Some(m) => candidates.push((origin, m)),
                    None => {
                        // Keep whatever this file provided before.
                        if let Some(old) = current
                            .ruleset
                            .modules()
                            .iter()
                            .find(|m| m.origin == origin)
                        {
                            candidates.push((origin, old.clone()));
                        }
                    }
                }
            }
            // Two files with one module name: the one running keeps it, else the first.
            let running = |name: &str, origin: &str| {
                current
                    .ruleset
                    .modules()
                    .iter()
                    .any(|m| m.name() == name && m.origin == origin)
            };
            candidates.sort_by_key(|(origin, m)| !running(m.name(), origin));
            for (origin, m) in candidates {
                match by_name.get(m.name()) {
                    Some(first) => {
                        let reason = format!(
                            "module {:?} is already loaded from {}",
                            m.name(),
                            first.origin
                        );
                        self.refuse(&origin, &m.version_id, reason);
                    }
                    None => {
                        by_name.insert(m.name().to_owned(), m);
                    }
                }
            }
        }

        // Published modules replace local ones of the same name.
        let published = self.published.clone().map(|(_, p)| p).unwrap_or_default();
        for (name, sha) in published {
            let loaded = match self.loaded.get(&sha) {
                Some(m) => Some(m.clone()),
                None if self.refused_shas.contains(&sha) => None,
                None => match self.fetch(&name, &sha).await {
                    Some(bytes) => {
                        let origin = format!("redis:{name}@{}", &sha[..12.min(sha.len())]);
                        self.load(bytes, origin, &name).await
                    }
                    None => None,
                },
            };
            match loaded {
                Some(m) if m.name() == name => {
                    by_name.insert(name, m);
                }
                Some(m) => {
                    let reason = format!("published as {name:?} but names itself {:?}", m.name());
                    self.refuse(&name, &sha, reason);
                    if let Some(old) = keep(&name) {
                        by_name.insert(name, old);
                    }
                }
                None => {
                    if let Some(old) = keep(&name) {
                        by_name.insert(name, old);
                    }
                }
            }
        }

        let same = by_name.len() == current.ruleset.modules().len()
            && current.ruleset.modules().iter().all(|m| {
                by_name
                    .get(m.name())
                    .is_some_and(|n| n.version_id == m.version_id)
            });
        if same && self.generation > 0 {
            return self.refused.len() != refusals_before;
        }

        let generation = self.generation + 1;
        let modules: Vec<LoadedModule> = by_name.into_values().collect();
        let ruleset = match RuleSet::new(generation, modules) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                self.refuse("(set)", "-", e.to_string());
                return true;
            }
        };
        let prefs = self.prefs.clone();
        let rs = ruleset.clone();
        let old = current.clone();
        let plan = tokio::task::spawn_blocking(move || {
            if old.plan.holds_for(&old.ruleset, &rs) {
                Ok(old.plan.clone())
            } else {
                Plan::build(&rs, &prefs).map(Arc::new)
            }
        })
        .await;
        let plan = match plan {
            Ok(Ok(p)) => p,
            Ok(Err(problems)) => {
                let is_new = |m: &&LoadedModule| {
                    !current
                        .ruleset
                        .modules()
                        .iter()
                        .any(|c| c.version_id == m.version_id)
                };
                let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
                let reason = format!(
                    "the preferences do not compile against it ({} problem(s)): {}",
                    problems.len(),
                    first.join("; ")
                );
                let new: Vec<&LoadedModule> = ruleset.modules().iter().filter(is_new).collect();
                for m in &new {
                    self.refuse(m.name(), &m.version_id, reason.clone());
                }
                let new: Vec<String> = new.into_iter().map(label).collect();
                tracing::error!(modules = ?new, "new rule set refused");
                return true;
            }
            Err(e) => {
                self.refuse(
                    "(set)",
                    "-",
                    format!("compiling the preferences panicked: {e}"),
                );
                return true;
            }
        };
        self.generation = generation;
        let names: Vec<String> = ruleset.modules().iter().map(label).collect();
        // Versions no longer running are dropped (their compiled code is large); the disk cache
        // makes a return to one of them cheap.
        let fixed: BTreeSet<&str> = self
            .sources
            .fixed
            .iter()
            .map(|m| m.version_id.as_str())
            .collect();
        self.loaded.retain(|sha, _| {
            fixed.contains(sha.as_str()) || ruleset.modules().iter().any(|m| &m.version_id == sha)
        });
        self.shared.store(Arc::new(Snapshot {
            ruleset,
            plan,
            relations: current.relations.clone(),
        }));
        tracing::info!(
            generation,
            modules = ?names,
            ms = started.elapsed().as_millis() as u64,
            "rule set swapped in"
        );
        true
    }

    async fn fetch(&mut self, name: &str, sha: &str) -> Option<Vec<u8>> {
        let redis = self.sources.redis.clone()?;
        match fetch_published(&redis, name, sha, self.sandbox.config().max_module_bytes).await {
            Ok(bytes) => Some(bytes),
            Err(FetchError::Refused(reason)) => {
                self.refuse(name, sha, reason);
                None
            }
            Err(FetchError::Transport(e)) => {
                tracing::warn!(module = name, "cannot fetch published module: {e}");
                None
            }
        }
    }

    /// The report of what runs now.
    pub fn report_now(&self) -> RulesReport {
        let current = self.shared.load();
        let skip = self.refused.len().saturating_sub(MAX_REPORTED_REFUSALS);
        RulesReport {
            generation: current.ruleset.generation,
            modules: current
                .ruleset
                .modules()
                .iter()
                .map(|m| ModuleVersion {
                    name: m.name().to_owned(),
                    sha256: m.version_id.clone(),
                    origin: m.origin.clone(),
                })
                .collect(),
            refused: self.refused[skip..].to_vec(),
            data_version: self.data_version,
        }
    }

    async fn report(&self) {
        let Some((transport, workers)) = &self.registry else {
            return;
        };
        let json = serde_json::to_string(&self.report_now()).unwrap_or_default();
        for w in workers {
            if let Err(e) = transport.set_worker_field(w, "rules", &json).await {
                tracing::warn!(worker = %w, "cannot report the rules it runs: {e}");
            }
        }
    }
}
