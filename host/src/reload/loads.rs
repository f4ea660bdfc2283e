//! Module loads in progress, each in a blocking task of its own, so that the reloader's loop
//! goes on following preferences and data while a module compiles and runs its samples.

use std::collections::HashMap;
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

/// The loads in progress.
#[derive(Default)]
pub(super) struct Loads {
    tasks: JoinSet<Result<WasmModule, LoadError>>,
    running: HashMap<Id, Version>,
}

impl Loads {
    /// Starts loading `bytes` (of sha256 `sha`) as a module from `origin`, unless that version
    /// is loading already.
    pub fn start(
        &mut self,
        sandbox: &Arc<Sandbox>,
        bytes: Vec<u8>,
        sha: &str,
        origin: String,
        label: String,
    ) {
        if self.is_loading(sha) {
            return;
        }
        tracing::info!(module = %label, sha256 = sha, "loading a new module version");
        let sandbox = sandbox.clone();
        let task = self
            .tasks
            .spawn_blocking(move || WasmModule::from_bytes(&sandbox, &bytes, &origin));
        let sha = sha.to_owned();
        self.running.insert(task.id(), Version { sha, label });
    }

    /// Whether the version of sha256 `sha` is loading.
    pub fn is_loading(&self, sha: &str) -> bool {
        self.running.values().any(|v| v.sha == sha)
    }

    /// Whether no load is in progress.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// The versions loading: the module or file each is for, and its sha256.
    pub fn versions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.running
            .values()
            .map(|v| (v.label.as_str(), v.sha.as_str()))
    }

    /// The next load to end. Never returns while none is in progress, so that it can wait
    /// beside other events.
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
        Finished {
            sha,
            label,
            result: result.map(LoadedModule::wasm),
        }
    }
}
