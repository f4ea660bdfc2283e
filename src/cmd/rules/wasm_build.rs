//! `fmn rules build`: a rule crate compiled to wasm, then loaded as a worker would load it.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-unknown-unknown";

/// Adds the wasm target to the crate's toolchain when it lacks it and rustup is there.
fn ensure_target(dir: &Path) -> Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .context("cannot run rustc: is a Rust toolchain installed?")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    eprintln!("fmn rules build: adding the {TARGET} target with rustup");
    let ok = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("the {TARGET} target is missing: run `rustup target add {TARGET}`");
    }
    Ok(())
}

/// Builds the crate at `dir` in release mode for wasm and returns the module file.
pub fn build(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: give the rule crate's directory",
            dir.display()
        );
    }
    ensure_target(dir)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--release", "--lib", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        // Relative to `dir`, where cargo runs: `manifest` is relative to where fmn runs.
        .arg("Cargo.toml")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut wasm = None;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.context("reading cargo's output")?;
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let kinds = msg["target"]["crate_types"].as_array();
            if !kinds.is_some_and(|k| k.iter().any(|k| k == "cdylib")) {
                continue;
            }
            for f in msg["filenames"].as_array().into_iter().flatten() {
                if let Some(f) = f.as_str().filter(|f| f.ends_with(".wasm")) {
                    wasm = Some(PathBuf::from(f));
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    wasm.context("cargo built no .wasm: is the crate's lib a cdylib (`crate-type = [\"cdylib\", \"rlib\"]`)?")
}
