//! `fmn rules new`: a rule crate to start from, that builds, tests and loads as it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where this fmn's SDK lives, when fmn runs from its own source tree.
const SDK_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules-sdk");

/// The files of a new rule crate.
pub fn files(crate_name: &str, sdk: &str) -> Vec<(&'static str, String)> {
    let module = crate_name.replace('-', "_");
    let subst = |t: &str| {
        t.replace("{crate}", crate_name)
            .replace("{module}", &module)
            .replace("{sdk}", sdk)
    };
    vec![
        ("Cargo.toml", subst(CARGO_TOML)),
        ("src/lib.rs", subst(LIB_RS)),
        ("tests/rules.rs", subst(TESTS_RS)),
        (".gitignore", "/target\n".into()),
    ]
}

/// Writes a new rule crate named `name` into `dir`, which must not exist or be empty.
pub fn create(name: &str, dir: &Path, sdk: Option<PathBuf>) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "{name:?} cannot name a module: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = match sdk {
        Some(p) => format!("path = {:?}", p.display().to_string()),
        None if Path::new(SDK_SOURCE).is_dir() => format!("path = {SDK_SOURCE:?}"),
        None => format!("version = {:?}", env!("CARGO_PKG_VERSION")),
    };
    for (file, text) in files(name, &sdk) {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

const CARGO_TOML: &str = r#"[package]
name = "{crate}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the wasm module fmn workers load; rlib: native tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
fmn-rules-sdk = { {sdk} }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A module is small and fast when built like this; `fmn rules build` uses this profile.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A crate of its own, even when created inside another workspace.
[workspace]
"#;

const LIB_RS: &str = r####"//! `{module}`: an fmn rule module.
//!
//! Preferences name its rules `{module}::RULE`, e.g. `{module}::package_build_failed`.

use fmn_rules_sdk::{Args, Keys, Message, Sample, extractor, module, rule};
use serde::Deserialize;

/// Arguments of `package_build_failed`.
#[derive(Deserialize, Args)]
pub struct PackageArgs {
    /// The package's name.
    pub package: String,
}

/// Koji builds that failed.
#[rule(topics = ["*.buildsys.build.state.change"])]
pub fn build_failed(msg: &Message) -> bool {
    msg.get(&["new"]).and_then(|v| v.as_i64()) == Some(3)
}

/// Failed koji builds of one package.
#[rule(topics = ["*.buildsys.build.state.change"])]
pub fn package_build_failed(msg: &Message, args: &PackageArgs) -> bool {
    build_failed(msg) && msg.str_at(&["name"]) == Some(args.package.as_str())
}

/// Who a koji build belongs to.
#[extractor]
pub fn owners(msg: &Message) -> Keys {
    msg.str_at(&["owner"]).into_iter().collect()
}

const FAILED: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "sample-1",
  "msg": {"owner": "someone", "name": "nethack", "version": "3.6.7", "release": "1.fc40", "new": 3}}"#;

const COMPLETED: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "sample-2",
  "msg": {"owner": "someone", "name": "nethack", "version": "3.6.7", "release": "1.fc40", "new": 1}}"#;

/// Messages the rules must (or must not) match. A worker runs them when it loads the module
/// and refuses it if one gives another answer; `cargo test` runs them natively first.
pub const SAMPLES: &[Sample] = &[
    Sample { rule: "build_failed", args: "{}", message: FAILED, matches: true },
    Sample { rule: "build_failed", args: "{}", message: COMPLETED, matches: false },
    Sample {
        rule: "package_build_failed",
        args: r#"{"package": "nethack"}"#,
        message: FAILED,
        matches: true,
    },
    Sample {
        rule: "package_build_failed",
        args: r#"{"package": "other"}"#,
        message: FAILED,
        matches: false,
    },
];

module! {
    name: "{module}",
    doc: "Rules about failed koji builds.",
    rules: [build_failed, package_build_failed],
    extractors: [owners],
    samples: SAMPLES,
}
"####;

const TESTS_RS: &str = r####"//! The rules on real-looking bus messages, natively: `cargo test`.

use fmn_rules_sdk::testing::{check, check_samples, keys};
use serde_json::json;
use {module}::MODULE;

const FAILED: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "1",
  "msg": {"owner": "ralph", "name": "nethack", "new": 3}}"#;

#[test]
fn failed_build_of_a_package() {
    assert_eq!(check(&MODULE, "package_build_failed", json!({"package": "nethack"}), FAILED), Ok(true));
    assert_eq!(check(&MODULE, "package_build_failed", json!({"package": "other"}), FAILED), Ok(false));
    assert_eq!(keys(&MODULE, "owners", FAILED), Ok(vec!["ralph".to_owned()]));
}

#[test]
fn samples_hold() {
    check_samples(&MODULE).unwrap_or_else(|e| panic!("{e}"));
}
"####;
