//! The set of loaded rule modules a worker evaluates with, and where modules are loaded from.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::LoadedModule;
use crate::error::LoadError;
use crate::module::WasmModule;
use crate::sandbox::Sandbox;

/// The module that speaks for a notification's metadata unless configured otherwise: the
/// bundled one.
pub const DEFAULT_META_MODULE: &str = "fedora";

/// Modules by name, with the generation number that tags every notification made with them.
#[derive(Clone)]
pub struct RuleSet {
    /// Increases whenever the set changes.
    pub generation: u64,
    modules: Vec<LoadedModule>,
    /// The module whose extractors give every notification its metadata (summary, link,
    /// usernames, packages); the others' extractors feed only their own rules, so a module
    /// nobody chose cannot rewrite what everyone receives.
    meta_module: String,
}

/// Two modules claim the same name.
#[derive(Debug, thiserror::Error)]
#[error("two modules are named {name:?}: {first} and {second}")]
pub struct DuplicateModule {
    /// The name.
    pub name: String,
    /// Where the first came from.
    pub first: String,
    /// Where the second came from.
    pub second: String,
}

impl RuleSet {
    /// A set of modules; their names must differ.
    pub fn new(generation: u64, modules: Vec<LoadedModule>) -> Result<RuleSet, DuplicateModule> {
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, m) in modules.iter().enumerate() {
            if !seen.insert(m.name()) {
                let first = modules[..i]
                    .iter()
                    .find(|o| o.name() == m.name())
                    .map(|o| o.origin.clone());
                return Err(DuplicateModule {
                    name: m.name().to_owned(),
                    first: first.unwrap_or_default(),
                    second: m.origin.clone(),
                });
            }
        }
        Ok(RuleSet {
            generation,
            modules,
            meta_module: DEFAULT_META_MODULE.to_owned(),
        })
    }

    /// The same set, with module `name` speaking for notifications' metadata.
    pub fn with_meta_module(mut self, name: impl Into<String>) -> Self {
        self.meta_module = name.into();
        self
    }

    /// The name of the module that speaks for notifications' metadata.
    pub fn meta_module(&self) -> &str {
        &self.meta_module
    }

    /// The index of the module that speaks for notifications' metadata: the configured one,
    /// else, where it is not loaded (a set of one custom module, say), the only module.
    pub fn meta_module_index(&self) -> Option<usize> {
        self.module_index(&self.meta_module)
            .or_else(|| (self.modules.len() == 1).then_some(0))
    }

    /// The modules, in load order.
    pub fn modules(&self) -> &[LoadedModule] {
        &self.modules
    }

    /// The index of the module called `name`.
    pub fn module_index(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.name() == name)
    }

    /// The names of the modules, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.modules.iter().map(LoadedModule::name).collect()
    }
}

/// The `.wasm` files at `paths`: files as given, directories' `*.wasm` files in name order.
pub fn wasm_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|source| LoadError::Io {
                origin: p.display().to_string(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "wasm") && f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads every module at `paths` (see [`wasm_files`]).
pub fn load_paths(
    sandbox: &Arc<Sandbox>,
    paths: &[PathBuf],
) -> Result<Vec<LoadedModule>, LoadError> {
    wasm_files(paths)?
        .iter()
        .map(|f| load_file(sandbox, f))
        .collect()
}

/// Loads one module file.
pub fn load_file(sandbox: &Arc<Sandbox>, path: &Path) -> Result<LoadedModule, LoadError> {
    WasmModule::from_file(sandbox, path).map(LoadedModule::wasm)
}
