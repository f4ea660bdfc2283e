//! Hot reload: new rule modules from a watched directory or from Redis (`fmn rules publish`),
//! compiled and validated off the hot path, and swapped in between batches.
//!
//! The reloader watches its sources. When a module changes it starts loading the new version
//! in a blocking task of its own (compilation, ABI and export checks, the module's own
//! samples) and goes on following preferences and data meanwhile: a slow load holds back
//! neither the workers' batches nor the preferences they wait for. When the load ends it
//! compiles the preferences against the new set, and only if all of that succeeds replaces
//! the snapshot workers read; until then the previous version of that module keeps running. A
//! worker takes the new snapshot at its next batch: a batch, and so every message, is
//! evaluated wholly by one generation; none is lost or evaluated twice. A version that fails
//! is refused, with the reason logged and reported in the worker registry, and the previous
//! version keeps running.
//!
//! The reloader also builds a worker process's first snapshot ([`Reloader::start`]) from the
//! same sources, preferences and data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fmn_core::Relations;
use fmn_core::prefs::PrefsProblem;
use fmn_transport::{
    Changes, DataStore, ModuleStore, PrefsDelta, PrefsStore, Registry, TransportError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

mod loads;
mod start;

use loads::{Finished, Loads};
pub use start::{Start, StartError};

use crate::backend::LoadedModule;
use crate::module::WasmModule;
use crate::plan::Plan;
use crate::prefs_source::PrefsSource;
use crate::ruleset::{RuleSet, wasm_files};
use crate::sandbox::Sandbox;
use crate::snapshot::{PrefsGate, SharedSnapshot, Snapshot};

/// Where the reloader finds modules; `T` is the shared store (Redis in the binary).
pub struct Sources<T> {
    /// Modules that are not watched (the bundled ones), used when `paths` is empty.
    pub fixed: Vec<LoadedModule>,
    /// Module files and directories, watched.
    pub paths: Vec<PathBuf>,
    /// The shared store, for published modules (they replace local ones of the same name),
    /// data and preferences.
    pub store: Option<T>,
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

/// A module version being loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loading {
    /// The name it is published under, or its file.
    pub module: String,
    /// The sha256 of its bytes.
    pub sha256: String,
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

impl ModuleVersion {
    /// Which version of which module `m` is, and where it came from.
    pub fn of(m: &LoadedModule) -> Self {
        ModuleVersion {
            name: m.name().to_owned(),
            sha256: m.version_id.clone(),
            origin: m.origin.clone(),
        }
    }
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
    /// Versions being loaded: the previous version of each keeps running meanwhile.
    #[serde(default)]
    pub loading: Vec<Loading>,
    /// The version of the ownership and group data in use (0: none from Redis).
    #[serde(default)]
    pub data_version: u64,
    /// The version of the preferences in use (0: not from Redis).
    #[serde(default)]
    pub prefs_version: u64,
}

enum FetchError {
    Refused(String),
    Transport(TransportError),
}

/// The bytes published as `name` under `sha`, checked against their hash and the size limit.
async fn fetch_published<T: ModuleStore>(
    store: &T,
    name: &str,
    sha: &str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    match store.module_bytes(sha, limit).await {
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
pub async fn with_published<T: ModuleStore>(
    sandbox: &Arc<Sandbox>,
    modules: Vec<LoadedModule>,
    store: &T,
) -> Result<Vec<LoadedModule>, TransportError> {
    let mut by_name: BTreeMap<String, LoadedModule> = modules
        .into_iter()
        .map(|m| (m.name().to_owned(), m))
        .collect();
    let (_, published) = store.published_modules().await?;
    for (name, sha) in published {
        let bytes = match fetch_published(store, &name, &sha, sandbox.config().max_module_bytes)
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

/// The store's ownership and group data over `base` (the files'), and its version.
async fn overlaid_by_store<T: DataStore>(
    base: &Relations,
    store: &T,
) -> Result<(u64, Arc<Relations>), TransportError> {
    let (version, data) = store.load_data().await?;
    Ok((version, Arc::new(base.overlaid(&data))))
}

/// Watches module sources and swaps in new versions.
pub struct Reloader<T: Registry + PrefsStore + ModuleStore + DataStore> {
    sandbox: Arc<Sandbox>,
    sources: Sources<T>,
    /// Where the preferences are read again for a whole compile.
    prefs: PrefsSource<T>,
    shared: SharedSnapshot,
    /// Where to report, and the workers to report for.
    registry: Option<(T, Vec<String>)>,
    poll: Duration,
    /// Loaded versions by sha256, reused while unchanged.
    loaded: BTreeMap<String, LoadedModule>,
    /// Versions being loaded.
    loads: Loads,
    refused: Vec<Refusal>,
    refused_shas: BTreeSet<String>,
    /// Refusals made so far, to tell whether a step made one.
    refusals: u64,
    files: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
    published: Option<(u64, BTreeMap<String, String>)>,
    /// The versions the files and publications offer, as last read.
    offers: Vec<Offer>,
    generation: u64,
    /// The data from files, under what Redis holds, and the version of Redis' data in use.
    base_data: Arc<Relations>,
    data_version: u64,
    /// Whether the preferences are followed in the store, and the version `prefs` holds.
    prefs_followed: bool,
    prefs_version: u64,
    wake: Arc<Notify>,
    /// The report last written, not written again while unchanged.
    reported: String,
}

/// A module version a source offers.
struct Offer {
    /// A file, or `redis:NAME@SHA`.
    origin: String,
    /// The sha256 of its bytes.
    sha: String,
    /// The name it is published under; `None` for a file (it names itself).
    published_as: Option<String>,
}

/// The subscriptions that wake the reloader: module publications, preference changes.
#[derive(Default)]
struct Subscriptions {
    modules: Option<Changes>,
    prefs: Option<Changes>,
}

fn log_refused(problems: &[PrefsProblem]) {
    if problems.len() > 10 {
        tracing::error!(
            "preferences of {} place(s) refused, the users' previous ones kept; the first 10:",
            problems.len()
        );
    }
    for problem in problems.iter().take(10) {
        tracing::error!("preferences refused, the user's previous ones kept: {problem}");
    }
}

/// Waits for the next message of a subscription; forgets the subscription when it ends.
async fn next_message(sub: &mut Option<Changes>) {
    let Some(p) = sub.as_mut() else {
        return std::future::pending().await;
    };
    if !p.next().await {
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

impl<T: Registry + PrefsStore + ModuleStore + DataStore> Reloader<T> {
    /// A reloader over `sources` for the workers reading `shared`, whose rule set it assumes
    /// current; `registry` is where it reports what runs.
    pub fn new(
        sandbox: Arc<Sandbox>,
        sources: Sources<T>,
        prefs: impl Into<PrefsSource<T>>,
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
            sandbox: sandbox.clone(),
            sources,
            prefs: prefs.into(),
            generation: current.ruleset.generation,
            shared,
            registry,
            poll: Duration::from_secs(1),
            loaded,
            loads: Loads::new(sandbox.clone()),
            refused: Vec::new(),
            refused_shas: BTreeSet::new(),
            refusals: 0,
            files: BTreeMap::new(),
            published: None,
            offers: Vec::new(),
            base_data: current.relations.clone(),
            data_version: 0,
            prefs_followed: false,
            prefs_version: current.prefs_version,
            wake: Arc::new(Notify::new()),
            reported: String::new(),
        }
    }

    /// Follows the preferences in the sources' store (Redis in the binary) from the current
    /// snapshot's version on (the plan must be what the store held at that version), and
    /// reads them from there for a whole compile.
    pub fn with_redis_prefs(mut self) -> Self {
        self.prefs_followed = true;
        if let Some(store) = &self.sources.store {
            self.prefs = PrefsSource::Store(Box::new(store.clone()));
        }
        self
    }

    /// A gate for the workers of this reloader's snapshot, when it follows preferences in
    /// the store.
    pub fn prefs_gate(&self) -> Option<PrefsGate> {
        let store = self.sources.store.clone()?;
        self.prefs_followed
            .then(|| PrefsGate::new(store, self.wake.clone()))
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

    /// Runs until `cancel` fires. Loads run in tasks of their own (`Loads`): while one
    /// compiles and checks a module, the loop goes on following preferences and data, and the
    /// rule set is built again when it ends.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut subs = Subscriptions::default();
        self.subscribe(&mut subs).await;
        // The files and publications as they are now (new versions among them load as any).
        self.look().await;
        self.report().await;
        let wake = self.wake.clone();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                done = self.loads.next() => {
                    self.finished(done).await;
                }
                _ = tokio::time::sleep(self.poll) => self.look_again(&mut subs).await,
                _ = next_message(&mut subs.modules) => self.look_again(&mut subs).await,
                _ = next_message(&mut subs.prefs) => self.look_again(&mut subs).await,
                _ = wake.notified() => self.look_again(&mut subs).await,
            }
            self.report().await;
        }
    }

    /// Makes again a subscription that ended (Redis restarted, the connection was cut;
    /// meanwhile polling, and for preferences the workers' gate, cover for it), then looks at
    /// the sources.
    async fn look_again(&mut self, subs: &mut Subscriptions) {
        self.subscribe(subs).await;
        self.look().await;
    }

    /// Subscribes to module publications and, when followed, preference changes, where not
    /// subscribed yet.
    async fn subscribe(&self, subs: &mut Subscriptions) {
        let Some(r) = &self.sources.store else {
            return;
        };
        if subs.modules.is_none() {
            match r.module_changes().await {
                Ok(p) => subs.modules = Some(p),
                Err(e) => {
                    tracing::warn!("cannot subscribe to module publications ({e}); polling")
                }
            }
        }
        if subs.prefs.is_none() && self.prefs_followed {
            match r.prefs_announcements().await {
                Ok(p) => subs.prefs = Some(p),
                Err(e) => tracing::warn!("cannot subscribe to preference changes ({e}); polling"),
            }
        }
    }

    /// Looks at the sources once and waits for the loads that starts; rebuilds when something
    /// changed. Returns whether the snapshot or the refusals changed.
    pub async fn check(&mut self) -> bool {
        let mut changed = self.look().await;
        while !self.loads.is_empty() {
            let done = self.loads.next().await;
            changed |= self.finished(done).await;
        }
        changed
    }

    /// Looks at the sources once: swaps in new preferences and data, and starts loading the
    /// module versions not seen before, without waiting for them. Returns whether the
    /// snapshot or the refusals changed.
    async fn look(&mut self) -> bool {
        let refusals = self.refusals;
        let prefs = self.check_prefs().await;
        let data = self.check_data().await;
        let rules = self.check_sources().await && self.rebuild().await;
        prefs || data || rules || self.refusals != refusals
    }

    /// Takes a load that ended: the module joins those loaded (unless no source offers it
    /// any more), or its version is refused; then the rule set is built again. Returns
    /// whether the snapshot or the refusals changed.
    async fn finished(&mut self, done: Finished) -> bool {
        let refusals = self.refusals;
        match done.result {
            Ok(m) if self.offers.iter().any(|o| o.sha == done.sha) => {
                self.loaded.insert(done.sha, m);
            }
            Ok(_) => {}
            Err(reason) => self.refuse(&done.label, &done.sha, reason),
        }
        self.rebuild().await || self.refusals != refusals
    }

    /// Reads the module sources when they changed: the files (by size and modification time)
    /// and the publications. Returns whether they changed.
    async fn check_sources(&mut self) -> bool {
        let files = self.scan();
        let published = match &self.sources.store {
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
            return false;
        }
        self.files = files;
        self.published = published;
        let mut offers = self.file_offers();
        offers.extend(self.published_offers().await);
        self.loads
            .drop_waiting(|sha| offers.iter().any(|o| o.sha == sha));
        self.offers = offers;
        true
    }

    /// Follows the preferences in Redis: applies the users changed since the version in use,
    /// compiles, and swaps the result in. Returns whether it did.
    ///
    /// A user whose new preferences do not compile against this worker's rules (they were
    /// checked against the publisher's) keeps their previous ones, with an error logged.
    async fn check_prefs(&mut self) -> bool {
        if !self.prefs_followed {
            return false;
        }
        let Some(store) = self.sources.store.clone() else {
            return false;
        };
        let started = std::time::Instant::now();
        let (mut version, delta) = match store.prefs_changes_since(self.prefs_version).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot read preference changes: {e}");
                return false;
            }
        };
        if version <= self.prefs_version {
            return false;
        }
        let current = self.shared.load_full();
        let ruleset = current.ruleset.clone();
        // Users whose new preferences do not compile keep what they had in the plan, both ways.
        let (changed, built) = match delta {
            PrefsDelta::Reset => {
                let onto = Some(current.plan.clone());
                match self.prefs.compile(ruleset, onto).await {
                    Ok(c) => {
                        version = version.max(c.version);
                        let built: Result<(Plan, Vec<PrefsProblem>), tokio::task::JoinError> =
                            Ok((c.plan, c.problems));
                        (None, built)
                    }
                    Err(e) => {
                        tracing::warn!("cannot load the preferences: {e}");
                        return false;
                    }
                }
            }
            PrefsDelta::Users(users) => {
                let n = users.len();
                let plan = current.plan.clone();
                let built = tokio::task::spawn_blocking(move || {
                    let changes = users.iter().map(|(name, u)| (name.as_str(), u.as_ref()));
                    let applied = plan.apply(&ruleset, changes);
                    (applied.plan, applied.problems)
                })
                .await;
                (Some(n), built)
            }
        };
        let plan = match built {
            Ok((plan, problems)) => {
                log_refused(&problems);
                Arc::new(plan)
            }
            Err(e) => {
                // Start again from a whole load.
                tracing::error!("compiling the preferences panicked: {e}");
                self.prefs_version = 0;
                return false;
            }
        };
        self.prefs_version = version;
        let latest = self.shared.load_full();
        self.shared
            .store(Arc::new(latest.with_prefs(plan, version)));
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
        let Some(store) = &self.sources.store else {
            return false;
        };
        match store.data_version().await {
            Ok(v) if v == self.data_version => return false,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("cannot read the data version: {e}");
                return false;
            }
        }
        let (version, relations) = match overlaid_by_store(&self.base_data, store).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot load ownership and group data: {e}");
                return false;
            }
        };
        let current = self.shared.load_full();
        self.shared
            .store(Arc::new(current.with_relations(relations)));
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
        let refusal = Refusal {
            module: module.to_owned(),
            sha256: sha256.to_owned(),
            reason,
        };
        // Said once: the same refusal again (a file over the size limit, read again when
        // another file changes) is no news.
        if self.refused.contains(&refusal) {
            return;
        }
        tracing::error!(
            module,
            sha256,
            "rule module refused, the previous version keeps running: {}",
            refusal.reason
        );
        self.refused_shas.insert(sha256.to_owned());
        self.refusals += 1;
        if self.refused.len() >= 4 * MAX_REPORTED_REFUSALS {
            self.refused.drain(..MAX_REPORTED_REFUSALS);
        }
        self.refused.push(refusal);
    }

    /// What the watched files offer, starting to load the versions not seen before.
    fn file_offers(&mut self) -> Vec<Offer> {
        let files: Vec<PathBuf> = self.files.keys().cloned().collect();
        let mut offers = Vec::new();
        for f in files {
            let Some(bytes) = self.read_module_file(&f) else {
                continue;
            };
            let sha = sha256(&bytes);
            let origin = f.display().to_string();
            self.start_load(bytes, &sha, origin.clone(), origin.clone());
            offers.push(Offer {
                origin,
                sha,
                published_as: None,
            });
        }
        offers
    }

    /// The bytes of module file `f`; `None` when it is over the size limit (refused unread)
    /// or cannot be read.
    fn read_module_file(&mut self, f: &Path) -> Option<Vec<u8>> {
        let limit = self.sandbox.config().max_module_bytes;
        match std::fs::metadata(f) {
            Ok(m) if m.len() as usize > limit => {
                let reason = format!(
                    "{} bytes, over the limit of {limit} bytes for a rule module",
                    m.len()
                );
                self.refuse(&f.display().to_string(), "-", reason);
                None
            }
            _ => std::fs::read(f)
                .map_err(|e| tracing::warn!("cannot read {}: {e}", f.display()))
                .ok(),
        }
    }

    /// What the publications offer, fetching and starting to load the versions not seen
    /// before. A version that cannot be fetched leaves the running one in place.
    async fn published_offers(&mut self) -> Vec<Offer> {
        let published = self.published.clone().map(|(_, p)| p).unwrap_or_default();
        let mut offers = Vec::new();
        for (name, sha) in published {
            let origin = format!("redis:{name}@{}", &sha[..12.min(sha.len())]);
            if !self.is_known(&sha)
                && let Some(bytes) = self.fetch(&name, &sha).await
            {
                self.start_load(bytes, &sha, origin.clone(), name.clone());
            }
            offers.push(Offer {
                origin,
                sha,
                published_as: Some(name),
            });
        }
        offers
    }

    /// Whether the version of sha256 `sha` is loaded, refused or loading.
    fn is_known(&self, sha: &str) -> bool {
        self.loaded.contains_key(sha)
            || self.refused_shas.contains(sha)
            || self.loads.is_loading(sha)
    }

    /// Starts loading `bytes` (of sha256 `sha`) unless that version is known already.
    fn start_load(&mut self, bytes: Vec<u8>, sha: &str, origin: String, label: String) {
        if !self.is_known(sha) {
            self.loads.start(bytes, sha, origin, label);
        }
    }

    /// Builds the rule set the offers make from the versions loaded, and swaps it in if it
    /// differs from the running one. A version not loaded (still loading, or refused) leaves
    /// the one running for its file or name in place. Returns whether it swapped one in.
    async fn rebuild(&mut self) -> bool {
        let current = self.shared.load_full();
        let mut by_name = self.local_modules(&current.ruleset);
        self.add_published(&current.ruleset, &mut by_name);
        let running = current.ruleset.modules();
        let same = by_name.len() == running.len()
            && running.iter().all(|m| {
                by_name
                    .get(m.name())
                    .is_some_and(|n| n.version_id == m.version_id)
            });
        if same && self.generation > 0 {
            return false;
        }
        self.swap_in(&current, by_name.into_values().collect())
            .await
    }

    /// The local modules by name: the fixed ones, or the files'. Two files with one module
    /// name: the one running keeps it, else the first; the other is refused.
    fn local_modules(&mut self, running: &RuleSet) -> BTreeMap<String, LoadedModule> {
        if self.sources.paths.is_empty() {
            let fixed = self.sources.fixed.iter();
            return fixed.map(|m| (m.name().to_owned(), m.clone())).collect();
        }
        let mut candidates: Vec<(String, LoadedModule)> = self
            .offers
            .iter()
            .filter(|o| o.published_as.is_none())
            .filter_map(|o| {
                let m = self
                    .loaded
                    .get(&o.sha)
                    .or_else(|| running.modules().iter().find(|m| m.origin == o.origin))?;
                Some((o.origin.clone(), m.clone()))
            })
            .collect();
        let is_running = |name: &str, origin: &str| {
            running
                .modules()
                .iter()
                .any(|m| m.name() == name && m.origin == origin)
        };
        candidates.sort_by_key(|(origin, m)| !is_running(m.name(), origin));
        let mut by_name: BTreeMap<String, LoadedModule> = BTreeMap::new();
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
        by_name
    }

    /// Puts the published modules in place of (or beside) the local ones of the same name.
    fn add_published(&mut self, running: &RuleSet, by_name: &mut BTreeMap<String, LoadedModule>) {
        let keep = |name: &str| running.modules().iter().find(|m| m.name() == name).cloned();
        let published: Vec<(String, String)> = self
            .offers
            .iter()
            .filter_map(|o| Some((o.published_as.clone()?, o.sha.clone())))
            .collect();
        for (name, sha) in published {
            let chosen = match self.loaded.get(&sha) {
                Some(m) if m.name() == name => Some(m.clone()),
                Some(m) => {
                    let reason = format!("published as {name:?} but names itself {:?}", m.name());
                    self.loaded.remove(&sha);
                    self.refuse(&name, &sha, reason);
                    keep(&name)
                }
                None => keep(&name),
            };
            if let Some(m) = chosen {
                by_name.insert(name, m);
            }
        }
    }

    /// Makes generation N+1 of `modules` with its plan and swaps it in. Returns whether it did;
    /// when it cannot, the new versions are refused.
    async fn swap_in(&mut self, current: &Snapshot, modules: Vec<LoadedModule>) -> bool {
        let started = std::time::Instant::now();
        let generation = self.generation + 1;
        let ruleset = match RuleSet::new(generation, modules) {
            Ok(r) => Arc::new(r.with_meta_module(current.ruleset.meta_module())),
            Err(e) => {
                self.refuse("(set)", "-", e.to_string());
                return false;
            }
        };
        let Some(plan) = self.plan_for(current, &ruleset).await else {
            return false;
        };
        self.generation = generation;
        self.drop_unused(&ruleset);
        let names: Vec<String> = ruleset.modules().iter().map(label).collect();
        self.shared
            .store(Arc::new(current.with_rules(ruleset, plan)));
        tracing::info!(
            generation,
            modules = ?names,
            ms = started.elapsed().as_millis() as u64,
            "rule set swapped in"
        );
        true
    }

    /// The plan of `ruleset` for the preferences in use: the running one while it still holds,
    /// else compiled again. `None` when the preferences do not compile against the new set:
    /// its new versions are then refused.
    async fn plan_for(&mut self, current: &Snapshot, ruleset: &Arc<RuleSet>) -> Option<Arc<Plan>> {
        let (old_set, old_plan, new_set) = (
            current.ruleset.clone(),
            current.plan.clone(),
            ruleset.clone(),
        );
        let holds = tokio::task::spawn_blocking(move || {
            old_plan.holds_for(&old_set, &new_set).then_some(old_plan)
        })
        .await;
        if let Ok(Some(plan)) = holds {
            return Some(plan);
        }
        // The preferences are read again from where they are kept: the worker holds only
        // the plan.
        let problems = match self.prefs.compile(ruleset.clone(), None).await {
            Ok(c) if c.problems.is_empty() => return Some(Arc::new(c.plan)),
            Ok(c) => c.problems,
            Err(e) => {
                let reason = format!("reading the preferences again failed: {e}");
                self.refuse("(set)", "-", reason);
                return None;
            }
        };
        let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
        let reason = format!(
            "the preferences do not compile against it ({} problem(s)): {}",
            problems.len(),
            first.join("; ")
        );
        let running = current.ruleset.modules();
        let new: Vec<&LoadedModule> = ruleset
            .modules()
            .iter()
            .filter(|m| !running.iter().any(|c| c.version_id == m.version_id))
            .collect();
        for m in &new {
            self.refuse(m.name(), &m.version_id, reason.clone());
        }
        let new: Vec<String> = new.into_iter().map(label).collect();
        tracing::error!(modules = ?new, "new rule set refused");
        None
    }

    /// Drops the versions `ruleset` does not run (their compiled code is large); the disk
    /// cache makes a return to one of them cheap.
    fn drop_unused(&mut self, ruleset: &RuleSet) {
        let fixed: BTreeSet<&str> = self
            .sources
            .fixed
            .iter()
            .map(|m| m.version_id.as_str())
            .collect();
        self.loaded.retain(|sha, _| {
            fixed.contains(sha.as_str()) || ruleset.modules().iter().any(|m| &m.version_id == sha)
        });
    }

    async fn fetch(&mut self, name: &str, sha: &str) -> Option<Vec<u8>> {
        let store = self.sources.store.clone()?;
        match fetch_published(&store, name, sha, self.sandbox.config().max_module_bytes).await {
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
                .map(ModuleVersion::of)
                .collect(),
            refused: self.refused[skip..].to_vec(),
            loading: self
                .loads
                .versions()
                .map(|(module, sha)| Loading {
                    module: module.to_owned(),
                    sha256: sha.to_owned(),
                })
                .collect(),
            data_version: self.data_version,
            prefs_version: current.prefs_version,
        }
    }

    /// Writes the report to the registry when it changed since last written.
    async fn report(&mut self) {
        let Some((transport, workers)) = &self.registry else {
            return;
        };
        let json = serde_json::to_string(&self.report_now()).unwrap_or_default();
        if json == self.reported {
            return;
        }
        let mut written = true;
        for w in workers {
            if let Err(e) = transport.set_worker_field(w, "rules", &json).await {
                tracing::warn!(worker = %w, "cannot report the rules it runs: {e}");
                written = false;
            }
        }
        if written {
            self.reported = json;
        }
    }
}
