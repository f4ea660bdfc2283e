//! Builds the bundled rule modules to wasm, so that plain `cargo build` yields a `fmn` that
//! carries them (no manual pre-step).
//!
//! A nested `cargo build --target wasm32-unknown-unknown` runs with its own target directory
//! (`target/wasm-rules`), so it never waits on the outer build's lock, and with the
//! `wasm-rules` profile (LTO, one codegen unit). The outer build's compiler flags and wrappers
//! (clippy, coverage) are for the host and are not passed on.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates built to wasm: (package, wasm file name). `fmn-rules` is bundled into `fmn`;
/// `fmn-test-hostile` and the examples of examples/rules are only for the tests (built here,
/// in the same nested build, so that CI builds them for wasm and loads them in a worker).
const MODULES: &[(&str, &str)] = &[
    ("fmn-rules", "fmn_rules.wasm"),
    ("fmn-test-hostile", "fmn_test_hostile.wasm"),
    (
        "fmn-example-package-watch",
        "fmn_example_package_watch.wasm",
    ),
    ("fmn-example-sig-watch", "fmn_example_sig_watch.wasm"),
    ("fmn-example-branch-watch", "fmn_example_branch_watch.wasm"),
];

fn main() {
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for dir in [
        "rules",
        "rules-sdk",
        "tests/modules",
        "examples/rules",
        "core/src/envelope.rs",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=FMN_WASM_TARGET_DIR");

    let target_dir = env::var_os("FMN_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| match env::var_os("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t).join("wasm-rules"),
            None => root.join("target").join("wasm-rules"),
        });
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    ensure_wasm_target();

    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .arg("build")
        .arg("--target")
        .arg("wasm32-unknown-unknown")
        .arg("--profile")
        .arg("wasm-rules")
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--locked");
    for (pkg, _) in MODULES {
        cmd.arg("-p").arg(pkg);
    }
    // Everything cargo set for this build script describes the host build, not ours.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_MAKEFLAGS"
            || [
                "RUSTFLAGS",
                "RUSTC",
                "RUSTDOC",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
                "RUSTC_LINKER",
            ]
            .contains(&key.as_ref())
            || [
                "OUT_DIR",
                "TARGET",
                "HOST",
                "PROFILE",
                "OPT_LEVEL",
                "DEBUG",
                "NUM_JOBS",
            ]
            .contains(&key.as_ref())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo for the wasm rule modules: {e}"));
    if !status.success() {
        panic!(
            "building the rule modules for wasm32-unknown-unknown failed ({status}); \
             is the target installed? `rustup target add wasm32-unknown-unknown`"
        );
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let built = target_dir.join("wasm32-unknown-unknown").join("wasm-rules");
    for (pkg, file) in MODULES {
        let from = built.join(file);
        let to = out_dir.join(file);
        copy(&from, &to);
        let var = format!("FMN_WASM_{}", pkg.replace('-', "_").to_uppercase());
        println!("cargo:rustc-env={var}={}", to.display());
    }
}

/// Adds the wasm target to the toolchain when it is missing and rustup is there to add it:
/// rust-toolchain.toml lists it, but a toolchain installed before may lack it.
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib/wasm32-unknown-unknown").exists() {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-unknown-unknown"]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.arg("--toolchain").arg(toolchain);
    }
    println!("cargo:warning=installing the wasm32-unknown-unknown target with rustup");
    if !cmd.status().is_ok_and(|s| s.success()) {
        println!(
            "cargo:warning=could not add the wasm32-unknown-unknown target; run `rustup target add wasm32-unknown-unknown`"
        );
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
