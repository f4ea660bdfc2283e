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

use fmn_core::transport::{PrefsDelta, RedisTransport, Subscription, Transport, TransportError};
use fmn_core::{Preferences, Relations};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
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
    /// The version of the preferences in use (0: not from Redis).
    #[serde(default)]
    pub prefs_version: u64,
}

/// The longest a worker holds a batch for its preferences to catch up.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// Holds a worker's batch until the preferences it evaluates with are at least as new as
/// Redis' version, waking the reloader to fetch them. Made by [`Reloader::prefs_gate`].
#[derive(Clone)]
pub struct PrefsGate {
    redis: RedisTransport,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for PrefsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefsGate")
            .field("namespace", &self.redis.namespace())
            .finish_non_exhaustive()
    }
}

impl PrefsGate {
    /// Waits until `rules` compiles Redis' current preferences version (or a later one).
    /// Returns false if `cancel` fired first: the caller must not acknowledge its batch.
    pub async fn wait_current(&self, rules: &SharedSnapshot, cancel: &CancellationToken) -> bool {
        let mut attempt = 0u32;
        let wanted = loop {
            match self.redis.prefs_version().await {
                Ok(v) => break v,
                Err(e) => {
                    tracing::warn!("cannot read the preferences version: {e}; retrying");
                    if !crate::worker::backoff(&mut attempt, cancel).await {
                        return false;
                    }
                }
            }
        };
        if rules.load().prefs_version >= wanted {
            return true;
        }
        self.wake.notify_one();
        let started = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                _ = cancel.cancelled() => return false,
            }
            if started.elapsed() > MAX_HOLD {
                // The reloader is gone or stuck: evaluating with older preferences beats
                // holding every message from now on.
                tracing::error!(
                    version = wanted,
                    have = rules.load().prefs_version,
                    "preferences not caught up after {} s; evaluating with the previous ones",
                    MAX_HOLD.as_secs()
                );
                return true;
            }
            if rules.load().prefs_version >= wanted {
                tracing::debug!(
                    version = wanted,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "batch held until the preferences caught up"
                );
                return true;
            }
            // The reloader may have been busy with an older version when woken.
            self.wake.notify_one();
        }
    }
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
    /// Whether the preferences are followed in Redis, and the version `prefs` holds.
    prefs_from_redis: bool,
    prefs_version: u64,
    wake: Arc<Notify>,
}

/// Gives `users` back the preferences they had before a change: from the whole previous set
/// after an import (`before`), else from each changed user's previous entry (`None`: the
/// user did not exist).
fn put_back(
    prefs: &mut Preferences,
    users: impl IntoIterator<Item = String>,
    before: &Option<Arc<Preferences>>,
    previous: &BTreeMap<String, Option<fmn_core::prefs::User>>,
) {
    for name in users {
        let old = match before {
            Some(b) => b.users.get(&name).cloned(),
            None => previous.get(&name).cloned().flatten(),
        };
        match old {
            Some(u) => prefs.users.insert(name, u),
            None => prefs.users.remove(&name),
        };
    }
}

/// Waits for the next message of a subscription; forgets the subscription when it ends.
async fn next_message(sub: &mut Option<Subscription>) {
    let Some(p) = sub.as_mut() else {
        return std::future::pending().await;
    };
    if p.on_message().next().await.is_none() {
        *sub = None;
    }
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
            prefs_from_redis: false,
            prefs_version: current.prefs_version,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Follows the preferences in Redis from the current snapshot's version on: `prefs` must
    /// be what Redis held at that version.
    pub fn with_redis_prefs(mut self) -> Self {
        self.prefs_from_redis = true;
        self
    }

    /// A gate for the workers of this reloader's snapshot, when it follows preferences in
    /// Redis.
    pub fn prefs_gate(&self) -> Option<PrefsGate> {
        let redis = self.sources.redis.clone()?;
        self.prefs_from_redis.then(|| PrefsGate {
            redis,
            wake: self.wake.clone(),
        })
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
        let mut modules_sub = None;
        let mut prefs_sub = None;
        self.subscribe(&mut modules_sub, &mut prefs_sub).await;
        // What the workers start with: the files and publications as they are now.
        self.check().await;
        self.report().await;
        let wake = self.wake.clone();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.poll) => {}
                _ = next_message(&mut modules_sub) => {}
                _ = next_message(&mut prefs_sub) => {}
                _ = wake.notified() => {}
            }
            // A subscription that ended (Redis restarted, the connection was cut) is made
            // again; meanwhile polling, and for preferences the workers' gate, cover for it.
            self.subscribe(&mut modules_sub, &mut prefs_sub).await;
            if self.check().await {
                self.report().await;
            }
        }
    }

    /// Subscribes to module publications and, when followed, preference changes, where not
    /// subscribed yet.
    async fn subscribe(
        &self,
        modules: &mut Option<Subscription>,
        prefs: &mut Option<Subscription>,
    ) {
        let Some(r) = &self.sources.redis else {
            return;
        };
        if modules.is_none() {
            match r.module_changes().await {
                Ok(p) => *modules = Some(p),
                Err(e) => {
                    tracing::warn!("cannot subscribe to module publications ({e}); polling")
                }
            }
        }
        if prefs.is_none() && self.prefs_from_redis {
            match r.prefs_announcements().await {
                Ok(p) => *prefs = Some(p),
                Err(e) => tracing::warn!("cannot subscribe to preference changes ({e}); polling"),
            }
        }
    }

    /// Looks at the sources once; rebuilds when something changed. Returns whether the
    /// snapshot or the refusals changed.
    pub async fn check(&mut self) -> bool {
        let prefs_changed = self.check_prefs().await;
        let data_changed = self.check_data().await || prefs_changed;
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

    /// Follows the preferences in Redis: applies the users changed since the version in use,
    /// compiles, and swaps the result in. Returns whether it did.
    ///
    /// A user whose new preferences do not compile against this worker's rules (they were
    /// checked against the publisher's) keeps their previous ones, with an error logged.
    async fn check_prefs(&mut self) -> bool {
        if !self.prefs_from_redis {
            return false;
        }
        let Some(redis) = self.sources.redis.clone() else {
            return false;
        };
        let started = std::time::Instant::now();
        let (mut version, delta) = match redis.prefs_changes_since(self.prefs_version).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot read preference changes: {e}");
                return false;
            }
        };
        if version <= self.prefs_version {
            return false;
        }
        // What the users changed had before, to put back a user whose new preferences do not
        // compile: the previous set after a whole import, else each changed user's entry.
        let mut previous: BTreeMap<String, Option<fmn_core::prefs::User>> = BTreeMap::new();
        let mut before: Option<Arc<Preferences>> = None;
        let mut prefs = std::mem::take(&mut self.prefs);
        let changed = match delta {
            PrefsDelta::Reset => match redis.load_prefs().await {
                Ok((v, all)) => {
                    version = v;
                    before = Some(std::mem::replace(&mut prefs, Arc::new(all)));
                    None
                }
                Err(e) => {
                    tracing::warn!("cannot load the preferences: {e}");
                    self.prefs = prefs;
                    return false;
                }
            },
            PrefsDelta::Users(users) => {
                let p = Arc::make_mut(&mut prefs);
                let n = users.len();
                for (name, user) in users {
                    let old = match user {
                        Some(u) => p.users.insert(name.clone(), u),
                        None => p.users.remove(&name),
                    };
                    previous.insert(name, old);
                }
                Some(n)
            }
        };
        let current = self.shared.load_full();
        let ruleset = current.ruleset.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut prefs = prefs;
            let mut plan = Plan::build(&ruleset, &prefs);
            if let Err(problems) = &plan {
                for problem in problems.iter().take(10) {
                    tracing::error!(
                        "preferences refused, the user's previous ones kept: {problem}"
                    );
                }
                let at_fault: BTreeSet<String> =
                    problems.iter().map(|p| p.location.user.clone()).collect();
                put_back(Arc::make_mut(&mut prefs), at_fault, &before, &previous);
                plan = Plan::build(&ruleset, &prefs);
            }
            if plan.is_err() {
                // Still no: every changed user goes back to what the running plan compiles.
                match before {
                    Some(b) => prefs = b,
                    None => {
                        let changed: Vec<String> = previous.keys().cloned().collect();
                        put_back(Arc::make_mut(&mut prefs), changed, &None, &previous);
                    }
                }
            }
            (prefs, plan)
        })
        .await;
        let (prefs, plan) = match built {
            Ok((prefs, Ok(plan))) => (prefs, Arc::new(plan)),
            Ok((prefs, Err(problems))) => {
                // The version counts as taken, with the previous preferences, so that workers
                // holding batches for it go on rather than wait for a compile that cannot
                // succeed.
                tracing::error!(
                    version,
                    "preferences version refused on this worker ({} problem(s) left after putting back the users at fault); the previous preferences stay",
                    problems.len()
                );
                (prefs, current.plan.clone())
            }
            Err(e) => {
                // The preferences went with the panic: start again from a whole load.
                tracing::error!("compiling the preferences panicked: {e}");
                self.prefs_version = 0;
                return false;
            }
        };
        self.prefs = prefs;
        self.prefs_version = version;
        let latest = self.shared.load_full();
        self.shared.store(Arc::new(Snapshot {
            ruleset: latest.ruleset.clone(),
            plan,
            relations: latest.relations.clone(),
            prefs_version: version,
        }));
        tracing::info!(
            version,
            users_changed = changed.map(|n| n as i64).unwrap_or(-1),
            ms = started.elapsed().as_millis() as u64,
            "preferences swapped in"
        );
        true
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
            prefs_version: current.prefs_version,
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
            Ok(r) => Arc::new(r.with_meta_module(current.ruleset.meta_module())),
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
            prefs_version: current.prefs_version,
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
            prefs_version: current.prefs_version,
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
