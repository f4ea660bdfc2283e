//! Building the parts from configuration: rules, preferences, transports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use fmn_core::Preferences;
use fmn_host::{LoadedModule, Plan, PrefsSource, RuleSet, Sandbox, WasmModule};
use fmn_transport::{RedisTransport, redis::RedisOptions};

/// What ships inside the binary, so `fmn run` works with no files at all.
pub mod bundled {
    /// The rule modules, as wasm: (file name, bytes).
    pub const MODULES: &[(&str, &[u8])] =
        &[("fmn_rules.wasm", include_bytes!(env!("FMN_WASM_FMN_RULES")))];
    /// Real bus messages: the corpus' benchmark set (see tests/fixtures/corpus/README.md for
    /// their origin and licenses).
    pub const SAMPLE_MESSAGES: &[u8] =
        include_bytes!("../tests/fixtures/corpus/bench_messages.jsonl");
    /// Name of the sample in origins and summaries.
    pub const SAMPLE_NAME: &str = "bundled:bench_messages.jsonl";
    /// The example preferences (examples/prefs.toml).
    pub const EXAMPLE_PREFS: &str = include_str!("../examples/prefs.toml");
    /// Name of the example preferences in messages.
    pub const EXAMPLE_PREFS_NAME: &str = "bundled:examples/prefs.toml";
}

/// The bundled modules, compiled for `sandbox`.
pub fn bundled_modules(sandbox: &Arc<Sandbox>) -> Result<Vec<LoadedModule>> {
    bundled::MODULES
        .iter()
        .map(|(name, bytes)| {
            WasmModule::from_bytes(sandbox, bytes, &format!("bundled:{name}"))
                .map(LoadedModule::wasm)
                .map_err(|e| anyhow!(e))
        })
        .collect()
}

/// The modules at `paths`, or the bundled ones when there are none.
pub fn local_modules(sandbox: &Arc<Sandbox>, paths: &[PathBuf]) -> Result<Vec<LoadedModule>> {
    let modules = if paths.is_empty() {
        bundled_modules(sandbox)?
    } else {
        fmn_host::ruleset::load_paths(sandbox, paths)?
    };
    if modules.is_empty() {
        bail!(
            "no rule module found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(modules)
}

/// The rule set of the modules at `paths`, or of the bundled ones when there are none.
/// The rule modules given on the command line, else the configuration's (`[worker] rules`;
/// empty: the bundled ones).
pub fn rule_paths(config: &crate::config::Config, given: &[PathBuf]) -> Vec<PathBuf> {
    if given.is_empty() {
        config.worker.rules.clone()
    } else {
        given.to_vec()
    }
}

pub fn load_rules(sandbox: &Arc<Sandbox>, paths: &[PathBuf]) -> Result<Arc<RuleSet>> {
    Ok(Arc::new(RuleSet::new(1, local_modules(sandbox, paths)?)?))
}

/// The preferences at `path`, or the bundled example.
/// The rules a worker on this Redis would run: the local ones (`rules`, else the
/// configuration's, else the bundled) with the published versions in place.
pub async fn deployed_rules(
    config: &crate::config::Config,
    rules: &[PathBuf],
    redis: &RedisTransport,
) -> Result<Arc<RuleSet>> {
    let sandbox = Sandbox::new(config.worker.sandbox())?;
    let local = local_modules(&sandbox, &rule_paths(config, rules))?;
    let modules = fmn_host::reload::with_published(&sandbox, local, redis)
        .await
        .context("reading the modules published in Redis")?;
    Ok(Arc::new(RuleSet::new(1, modules)?))
}

pub fn load_prefs(path: Option<&Path>) -> Result<Preferences> {
    Ok(match path {
        Some(p) => Preferences::from_path(p)?,
        None => Preferences::from_text(bundled::EXAMPLE_PREFS_NAME, bundled::EXAMPLE_PREFS, false)?,
    })
}

/// Compiles preferences against the rules; every problem is listed in the error.
pub fn compile(ruleset: &RuleSet, prefs: &Preferences, name: &str) -> Result<Arc<Plan>> {
    Plan::build(ruleset, prefs)
        .map(Arc::new)
        .map_err(|problems| {
            let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            anyhow!(
                "{name}: {} problem(s):\n{}",
                problems.len(),
                list.join("\n")
            )
        })
}

/// Data files for the rules keyed through relations, as `fmn data import` takes them: for
/// commands that hold the data themselves (the in-memory bus, trials), or under Redis' data.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataFiles {
    /// Package ownership, Pagure's owner-alias JSON (`{"rpms": {"name": ["user", "@group"]}}`).
    #[arg(long)]
    pub owners: Option<PathBuf>,
    /// Package watchers, the same shape.
    #[arg(long)]
    pub watchers: Option<PathBuf>,
    /// Group membership, `{"python-sig": ["user", ...]}`.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// Aliases, `{"old-nick or address": "account"}`.
    #[arg(long)]
    pub aliases: Option<PathBuf>,
}

impl DataFiles {
    /// The data files `[worker]` names.
    pub fn of(w: &crate::config::WorkerSection) -> DataFiles {
        DataFiles {
            owners: w.owners.clone(),
            watchers: w.watchers.clone(),
            groups: w.groups.clone(),
            aliases: w.aliases.clone(),
        }
    }

    /// These files, each falling back to the one `other` names.
    pub fn or(self, other: &DataFiles) -> DataFiles {
        DataFiles {
            owners: self.owners.or_else(|| other.owners.clone()),
            watchers: self.watchers.or_else(|| other.watchers.clone()),
            groups: self.groups.or_else(|| other.groups.clone()),
            aliases: self.aliases.or_else(|| other.aliases.clone()),
        }
    }

    fn each(&self) -> [(fmn_core::data::DataKind, Option<&Path>); 4] {
        use fmn_core::data::DataKind;
        [
            (DataKind::Owners, self.owners.as_deref()),
            (DataKind::Watchers, self.watchers.as_deref()),
            (DataKind::Groups, self.groups.as_deref()),
            (DataKind::Aliases, self.aliases.as_deref()),
        ]
    }
}

/// The data rules keyed through relations use, from the files given.
pub fn load_relations(files: &DataFiles) -> Result<Arc<fmn_core::Relations>> {
    let mut r = fmn_core::Relations::new();
    for (kind, path) in files.each() {
        if let Some(path) = path {
            let n = r.load_file(kind, path)?;
            tracing::info!(entries = n, "loaded {kind:?} from {}", path.display());
        }
    }
    Ok(Arc::new(r))
}

/// Warns of every relation the preferences' rules are answered through that the data does not
/// hold: those rules would never match, silently.
pub fn warn_missing_data(
    ruleset: &RuleSet,
    plan: &fmn_host::Plan,
    relations: &fmn_core::Relations,
) {
    for relation in plan.relations_used() {
        if relations.has(relation) {
            continue;
        }
        let rules: Vec<String> = ruleset
            .modules()
            .iter()
            .flat_map(|m| {
                m.description.rules.iter().filter_map(move |r| {
                    let via = r.key.as_ref()?.via.as_deref()?;
                    (via == relation).then(|| format!("{}::{}", m.name(), r.name))
                })
            })
            .collect();
        let hint = match relation {
            "groups" => "--groups FILE",
            "watchers" => "--watchers FILE",
            _ => "--owners FILE",
        };
        tracing::warn!(
            "the preferences use {} (answered from the `{relation}` data), but no `{relation}` data is loaded: they will match nothing; give {hint} or `fmn data import`",
            rules.join(", ")
        );
    }
}

/// Connects to Redis.
pub async fn redis(url: &str, namespace: &str) -> Result<RedisTransport> {
    RedisTransport::connect(
        url,
        RedisOptions {
            namespace: namespace.to_owned(),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("connecting to Redis at {url}"))
}

/// Worker ids: unique per machine, process and loop.
pub fn worker_id(i: usize) -> String {
    format!("{}-{}-{i}", fmn_transport::hostname(), std::process::id())
}

/// Where a process's workers take rules, preferences and ownership data from: the command
/// line's choices, else the configuration's, else what is bundled.
pub struct WorkerInputs {
    /// Rule module files or directories.
    pub rules: Vec<PathBuf>,
    /// The preferences file.
    pub prefs: Option<PathBuf>,
    /// Where preferences come from, if not as the configuration says.
    pub prefs_from: Option<crate::config::PrefsFrom>,
    /// Whether the bundled example preferences stand in when none are given (`fmn run`):
    /// otherwise that is an error, since a worker would notify the example's users.
    pub example_prefs: bool,
    /// Ownership, watchers, groups and aliases.
    pub data: DataFiles,
}

/// What a process's worker loops share, and the reloader that keeps it current.
pub struct Workers {
    /// Rules, compiled preferences and relations.
    pub snapshot: fmn_host::SharedSnapshot,
    /// What the preferences compiled to.
    pub stats: fmn_host::plan::PlanStats,
    /// Hot reload, unless `[worker] reload_ms` is 0; run it beside the workers.
    pub reloader: Option<fmn_host::Reloader<RedisTransport>>,
    /// With preferences from Redis: for every worker loop's options.
    pub prefs_gate: Option<fmn_host::PrefsGate>,
}

/// Starts what `workers` share: the reloader loads the rules (with the versions published in
/// Redis in place of local ones), compiles the preferences against them and, unless
/// `[worker] reload_ms` is 0, goes on following them; with Redis it reports there what
/// `workers` run. Published versions are applied before the first message, so none is
/// evaluated with a version Redis has already replaced.
pub async fn workers(
    config: &crate::config::Config,
    inputs: WorkerInputs,
    redis: Option<&RedisTransport>,
    workers: Vec<String>,
) -> Result<Workers> {
    let w = &config.worker;
    let prefs = prefs_source(w, &inputs, redis)?;
    if matches!(prefs, PrefsSource::Store(_)) && w.reload_ms == 0 {
        bail!(
            "[worker] prefs_from = \"redis\" needs hot reload to follow changes: set reload_ms above 0"
        );
    }
    let sandbox = Sandbox::new(w.sandbox())?;
    let paths = rule_paths(config, &inputs.rules);
    let sources = fmn_host::Sources {
        fixed: if paths.is_empty() {
            bundled_modules(&sandbox)?
        } else {
            Vec::new()
        },
        paths,
        store: redis.cloned(),
    };
    let start = fmn_host::Start {
        sandbox,
        sources,
        prefs,
        base_data: load_relations(&inputs.data.or(&DataFiles::of(w)))?,
        meta_module: w.meta_module.clone(),
        poll: (w.reload_ms > 0).then(|| std::time::Duration::from_millis(w.reload_ms)),
    };
    let registry = redis.cloned().map(|r| (r, workers));
    let (snapshot, reloader) = fmn_host::Reloader::start(start, registry).await?;
    let first = snapshot.load_full();
    warn_missing_data(&first.ruleset, &first.plan, &first.relations);
    Ok(Workers {
        stats: first.plan.stats(),
        prefs_gate: reloader.as_ref().and_then(|r| r.prefs_gate()),
        snapshot,
        reloader,
    })
}

/// Where workers read the preferences: Redis, the file given or configured, or the bundled
/// example where `inputs` allow it.
fn prefs_source(
    w: &crate::config::WorkerSection,
    inputs: &WorkerInputs,
    redis: Option<&RedisTransport>,
) -> Result<PrefsSource<RedisTransport>> {
    if inputs.prefs_from.unwrap_or(w.prefs_from) == crate::config::PrefsFrom::Redis {
        let r = redis.context("preferences from Redis need Redis: give --redis or [redis] url")?;
        return Ok(PrefsSource::Store(Box::new(r.clone())));
    }
    match (
        inputs.prefs.clone().or_else(|| w.prefs.clone()),
        inputs.example_prefs,
    ) {
        (Some(path), _) => Ok(PrefsSource::File(path)),
        (None, true) => Ok(PrefsSource::Given(Arc::new(load_prefs(None)?))),
        (None, false) => bail!(
            "no preferences to evaluate with: give --prefs FILE (or --prefs-from redis), or set [worker] prefs (or [worker] prefs_from = \"redis\") in the configuration"
        ),
    }
}
