//! Module loads in progress, each in a blocking task of its own, so that the reloader's loop
//! goes on following preferences and data while a module compiles and runs its samples.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::task::{Id, JoinSet};

use crate::backend::LoadedModule;
use crate::error::LoadError;
use crate::module::WasmModule;
use crate::sandbox::Sandbox;

/// A load that ended.
pub(super) struct Finished {
    /// The sha256 of the bytes loaded.
    pub sha: String,
    /// The module or file they are for, as a refusal names it.
    pub label: String,
    /// The module, or why it is refused.
    pub result: Result<LoadedModule, String>,
}

/// What a task loads: the sha256 of its bytes and the module or file they are for.
struct Version {
    sha: String,
    label: String,
}

/// A load waiting for its turn.
struct Waiting {
    version: Version,
    bytes: Vec<u8>,
    origin: String,
}

/// The most loads that run at once: compiling a module can take a core and hundreds of MB
/// (docs/benchmarks.md), and a directory of new files should not take all of them at once.
/// Two, so that one slow load leaves room for the others.
const MAX_RUNNING: usize = 2;

/// The loads in progress: running, or waiting for a turn.
pub(super) struct Loads {
    sandbox: Arc<Sandbox>,
    tasks: JoinSet<Result<WasmModule, LoadError>>,
    running: HashMap<Id, Version>,
    waiting: VecDeque<Waiting>,
}

impl Loads {
    /// No load yet; those to come load into `sandbox`.
    pub fn new(sandbox: Arc<Sandbox>) -> Loads {
        Loads {
            sandbox,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Starts loading `bytes` (of sha256 `sha`) as a module from `origin`, or queues it while
    /// [`MAX_RUNNING`] loads run, unless that version is loading already.
    pub fn start(&mut self, bytes: Vec<u8>, sha: &str, origin: String, label: String) {
        if self.is_loading(sha) {
            return;
        }
        let version = Version {
            sha: sha.to_owned(),
            label,
        };
        self.waiting.push_back(Waiting {
            version,
            bytes,
            origin,
        });
        self.run_waiting();
    }

    /// Starts the loads waiting, while fewer than [`MAX_RUNNING`] run.
    fn run_waiting(&mut self) {
        while self.running.len() < MAX_RUNNING {
            let Some(Waiting {
                version,
                bytes,
                origin,
            }) = self.waiting.pop_front()
            else {
                return;
            };
            tracing::info!(module = %version.label, sha256 = %version.sha, "loading a new module version");
            let sandbox = self.sandbox.clone();
            let task = self
                .tasks
                .spawn_blocking(move || WasmModule::from_bytes(&sandbox, &bytes, &origin));
            self.running.insert(task.id(), version);
        }
    }

    /// Forgets the loads waiting for a version that `wanted` no longer wants.
    pub fn drop_waiting(&mut self, wanted: impl Fn(&str) -> bool) {
        self.waiting.retain(|w| wanted(&w.version.sha));
    }

    /// Whether the version of sha256 `sha` is loading.
    pub fn is_loading(&self, sha: &str) -> bool {
        self.versions().any(|(_, s)| s == sha)
    }

    /// Whether no load is in progress.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// The versions loading or waiting to: the module or file each is for, and its sha256.
    pub fn versions(&self) -> impl Iterator<Item = (&str, &str)> {
        let waiting = self.waiting.iter().map(|w| &w.version);
        self.running
            .values()
            .chain(waiting)
            .map(|v| (v.label.as_str(), v.sha.as_str()))
    }

    /// The next load to end, starting the next one waiting. Never returns while none runs, so
    /// that it can wait beside other events.
    pub async fn next(&mut self) -> Finished {
        let (id, result) = match self.tasks.join_next_with_id().await {
            None => return std::future::pending().await,
            Some(Ok((id, r))) => (id, r.map_err(|e| e.to_string())),
            Some(Err(e)) => (e.id(), Err(format!("loading panicked: {e}"))),
        };
        let Version { sha, label } = self.running.remove(&id).unwrap_or_else(|| Version {
            sha: "-".into(),
            label: "(unknown)".into(),
        });
        self.run_waiting();
        Finished {
            sha,
            label,
            result: result.map(LoadedModule::wasm),
        }
    }
}
