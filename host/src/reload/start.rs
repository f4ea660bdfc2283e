//! A worker process's first snapshot, built by the reloader that then keeps it current: the
//! same sources, the same whole compile of the preferences and the same data as every later
//! snapshot, but strict, since there is no previous version to keep running.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use fmn_core::Relations;
use fmn_core::prefs::PrefsProblem;
use fmn_transport::{DataStore, ModuleStore, PrefsStore, Registry, TransportError};

use super::{Reloader, Sources, overlaid_by_store, with_published};
use crate::backend::LoadedModule;
use crate::error::LoadError;
use crate::prefs_source::{PrefsSource, PrefsSourceError};
use crate::ruleset::{DuplicateModule, RuleSet, load_paths};
use crate::sandbox::Sandbox;
use crate::snapshot::{SharedSnapshot, Snapshot};

/// What a worker process's rules, preferences and data start from; `T` is the shared store
/// (Redis in the binary).
pub struct Start<T> {
    /// The engine and limits modules load into.
    pub sandbox: Arc<Sandbox>,
    /// Where modules come from: with Redis, the versions published there replace local ones
    /// of the same name from the first message on.
    pub sources: Sources<T>,
    /// Where the preferences are read from: followed (each change applied as it comes) when
    /// they are Redis'.
    pub prefs: PrefsSource<T>,
    /// The data from files, which Redis' data (`fmn data import`) overlays.
    pub base_data: Arc<Relations>,
    /// The module whose extractors give every notification its metadata.
    pub meta_module: String,
    /// How often the reloader checks its sources; `None`: no hot reload, and no reloader.
    pub poll: Option<Duration>,
}

/// Why a worker process cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A module file was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The paths given hold no module.
    #[error("no rule module found in {0}")]
    NoModules(String),
    /// Redis did not answer which modules are published.
    #[error("reading the modules published in Redis")]
    Published(#[source] TransportError),
    /// Two modules have one name.
    #[error(transparent)]
    Duplicate(#[from] DuplicateModule),
    /// The preferences could not be read.
    #[error("reading the preferences ({name})")]
    Prefs {
        /// Where they were read from.
        name: String,
        /// Why not.
        #[source]
        error: PrefsSourceError,
    },
    /// Some preferences do not compile against the modules.
    #[error("{name}: {} problem(s):\n{}", .problems.len(), listed(.problems))]
    Problems {
        /// Where they were read from.
        name: String,
        /// Every problem, with its place.
        problems: Vec<PrefsProblem>,
    },
    /// Redis did not give its ownership and group data.
    #[error("reading ownership and group data from Redis")]
    Data(#[source] TransportError),
}

/// One problem a line, indented.
fn listed(problems: &[PrefsProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    lines.join("\n")
}

impl<T: Registry + PrefsStore + ModuleStore + DataStore> Reloader<T> {
    /// Loads the modules (with the versions published in Redis in place of local ones),
    /// compiles the preferences against them and reads Redis' data over the files': the
    /// first snapshot, generation 1. With a `poll`, also the reloader that keeps it current,
    /// having looked at its sources once (a published version left out is refused there);
    /// it reports to `registry` what the workers named there run.
    pub async fn start(
        start: Start<T>,
        registry: Option<(T, Vec<String>)>,
    ) -> Result<(SharedSnapshot, Option<Reloader<T>>), StartError> {
        let Start {
            sandbox,
            sources,
            prefs,
            base_data,
            meta_module,
            poll,
        } = start;
        let modules = first_modules(&sandbox, &sources).await?;
        let ruleset = Arc::new(RuleSet::new(1, modules)?.with_meta_module(meta_module));
        let compiled = prefs
            .compile(ruleset.clone(), None)
            .await
            .map_err(|error| StartError::Prefs {
                name: prefs.name(),
                error,
            })?;
        if !compiled.problems.is_empty() {
            let (name, problems) = (prefs.name(), compiled.problems);
            return Err(StartError::Problems { name, problems });
        }
        let (data_version, relations) = match &sources.store {
            Some(r) => overlaid_by_store(&base_data, r)
                .await
                .map_err(StartError::Data)?,
            None => (0, base_data.clone()),
        };
        let plan = Arc::new(compiled.plan);
        let first = Snapshot::new(ruleset, plan, relations, compiled.version);
        let shared: SharedSnapshot = Arc::new(ArcSwap::from_pointee(first));
        let Some(poll) = poll else {
            return Ok((shared, None));
        };
        let followed = matches!(prefs, PrefsSource::Store(_));
        let mut reloader = Reloader::new(sandbox, sources, prefs, shared.clone(), registry)
            .with_poll(poll)
            .with_data(base_data, data_version);
        reloader.prefs_followed = followed;
        reloader.check().await;
        Ok((shared, Some(reloader)))
    }
}

/// The local modules (the fixed ones, or the files'), with the versions published in Redis
/// in place of (or beside) those of the same name.
async fn first_modules<T: ModuleStore>(
    sandbox: &Arc<Sandbox>,
    sources: &Sources<T>,
) -> Result<Vec<LoadedModule>, StartError> {
    let local = if sources.paths.is_empty() {
        sources.fixed.clone()
    } else {
        load_paths(sandbox, &sources.paths)?
    };
    if local.is_empty() {
        return Err(StartError::NoModules(joined(&sources.paths)));
    }
    match &sources.store {
        Some(r) => with_published(sandbox, local, r)
            .await
            .map_err(StartError::Published),
        None => Ok(local),
    }
}

fn joined(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
