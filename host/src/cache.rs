//! Compiled modules on disk, so a worker that starts (or reloads) a module it compiled before
//! loads it in milliseconds instead of compiling it again.
//!
//! A file is named by the sha256 of the module's bytes and a hash of the engine's compilation
//! settings (`Engine::precompile_compatibility_hash`), so a new fmn or new settings never load
//! code compiled for another. The directory must be private to the user running fmn: loading
//! compiled code trusts it, so it is created with mode 0700 and not used if others can write
//! to it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

/// A directory of compiled modules.
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
}

/// The default directory: `$XDG_CACHE_HOME/fmn/modules`, else `$HOME/.cache/fmn/modules`.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("fmn").join("modules"))
}

fn engine_hash(engine: &Engine) -> u64 {
    // DefaultHasher::new() has fixed keys: the same settings hash alike in every process.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

impl ModuleCache {
    /// A cache in `dir`, created (mode 0700) if missing; `None`, with a warning, when it cannot
    /// be created or is writable by others.
    pub fn open(dir: &Path) -> Option<ModuleCache> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        if let Err(e) = builder.create(dir) {
            tracing::warn!("compiled-module cache {} unusable: {e}", dir.display());
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::metadata(dir) else {
                return None;
            };
            let mode = meta.permissions().mode();
            if mode & 0o022 != 0 {
                // Try to make it private before giving up on it.
                let private = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
                if private.is_err() {
                    tracing::warn!(
                        "compiled-module cache {} is writable by others; not used",
                        dir.display()
                    );
                    return None;
                }
            }
        }
        Some(ModuleCache {
            dir: dir.to_owned(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, engine: &Engine, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{:016x}.cwasm", engine_hash(engine)))
    }

    /// The module compiled from bytes with this sha256, if it was cached.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Module> {
        let path = self.path(engine, sha256);
        // Read, not mapped: a file truncated under a mapping would crash the process.
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the file was written by `store` below into a directory only this user can
        // write to, under a name that fixes both the module and the engine settings; wasmtime
        // also checks its own header and refuses an incompatible file.
        match unsafe { Module::deserialize(engine, &bytes) } {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(
                    "cached module {} unusable, compiling again: {e}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled module (written aside, then renamed, so readers never see half a file).
    pub fn store(&self, engine: &Engine, sha256: &str, module: &Module) {
        let path = self.path(engine, sha256);
        let write = || -> std::io::Result<()> {
            let bytes = module
                .serialize()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(
                "cannot cache compiled module in {}: {e}",
                self.dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_compiled_once_is_loaded_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::open(&dir.path().join("c")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let engine = Engine::default();
        let wasm =
            wat::parse_str("(module (func (export \"f\") (result i32) (i32.const 7)))").unwrap();
        assert!(cache.load(&engine, "abc").is_none());
        let module = Module::new(&engine, &wasm).unwrap();
        cache.store(&engine, "abc", &module);
        let back = cache.load(&engine, "abc").expect("cached");
        assert_eq!(back.exports().count(), 1);
        // A corrupt file is dropped, not trusted.
        let file = std::fs::read_dir(cache.dir())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"garbage").unwrap();
        assert!(cache.load(&engine, "abc").is_none());
        assert!(!file.exists());
    }
}
