//! `fmn rules new`: a rule crate to start from, that builds, tests and loads as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The SDK crates a rule crate builds with: the SDK, its macros, and the core types it
/// normalises messages with natively.
const SDK_CRATES: [&str; 3] = ["fmn-rules-sdk", "fmn-rules-sdk-macros", "fmn-core"];

/// The files of a new rule crate, depending on the SDK of this fmn's version; `patch` is the
/// `[patch.crates-io]` section that takes it from elsewhere (empty: from crates.io).
pub fn files(crate_name: &str, patch: &str) -> Vec<(&'static str, String)> {
    let module = crate_name.replace('-', "_");
    let subst = |t: &str| {
        t.replace("{crate}", crate_name)
            .replace("{module}", &module)
            .replace("{sdk_version}", env!("CARGO_PKG_VERSION"))
            .replace("{patch}", patch)
    };
    vec![
        ("Cargo.toml", subst(CARGO_TOML)),
        ("src/lib.rs", subst(LIB_RS)),
        ("tests/rules.rs", subst(TESTS_RS)),
        (".gitignore", "/target\n".into()),
    ]
}

/// Writes a new rule crate named `name` into `dir`, which must not exist or be empty. With
/// `sdk`, the SDK's crates come from that directory instead of crates.io.
pub fn create(name: &str, dir: &Path, sdk: Option<&Path>) -> Result<()> {
    check_name(name)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let patch = match sdk {
        Some(p) => patch_section(&sdk_crates(p)?),
        None => String::new(),
    };
    for (file, text) in files(name, &patch) {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "{name:?} cannot name a module: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(())
}

/// The SDK's crates found in `root` or up to two folders below it, by package name: `root`
/// may be the SDK's own directory, an fmn source tree, or a folder of unpacked `.crate`s.
fn sdk_crates(root: &Path) -> Result<BTreeMap<&'static str, PathBuf>> {
    let root =
        std::path::absolute(root).with_context(|| format!("cannot resolve {}", root.display()))?;
    let mut found = BTreeMap::new();
    let mut dirs = vec![(root.clone(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let name = package_name(&dir.join("Cargo.toml"));
        if let Some(known) = SDK_CRATES.iter().find(|c| name.as_deref() == Some(**c)) {
            found.entry(*known).or_insert_with(|| dir.clone());
        }
        if depth < 2 {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if is_dir && e.file_name() != "target" {
                    dirs.push((e.path(), depth + 1));
                }
            }
        }
    }
    if !found.contains_key("fmn-rules-sdk") {
        bail!(
            "--sdk {}: no fmn-rules-sdk crate there or two folders below; give the SDK's \
             directory, an fmn source tree, or a folder of unpacked SDK crates",
            root.display()
        );
    }
    Ok(found)
}

/// The `[package] name` of the manifest at `path`, if it is one.
fn package_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let manifest: toml::Table = toml::from_str(&text).ok()?;
    let name = manifest.get("package")?.get("name")?.as_str()?;
    Some(name.to_owned())
}

/// The `[patch.crates-io]` section that takes each crate from its directory.
fn patch_section(crates: &BTreeMap<&'static str, PathBuf>) -> String {
    let mut out = String::from(
        "\n# The SDK from local sources (`fmn rules new --sdk`), not crates.io: delete this section\n\
         # to build against the released crates.\n[patch.crates-io]\n",
    );
    for (name, dir) in crates {
        let path = toml::Value::String(dir.display().to_string());
        out.push_str(&format!("{name} = {{ path = {path} }}\n"));
    }
    out
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
fmn-rules-sdk = "{sdk_version}"
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
{patch}"#;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let text = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
        std::fs::write(dir.join("Cargo.toml"), text).unwrap();
    }

    #[test]
    fn the_sdk_is_found_in_a_source_tree_and_in_unpacked_crates() {
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        manifest(t, "fmn");
        manifest(&t.join("rules-sdk"), "fmn-rules-sdk");
        manifest(&t.join("rules-sdk/macros"), "fmn-rules-sdk-macros");
        manifest(&t.join("core"), "fmn-core");
        manifest(&t.join("target/package/fmn-core-0.1.0"), "fmn-core");
        let found = sdk_crates(t).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found["fmn-core"], t.join("core"));
        assert_eq!(found["fmn-rules-sdk-macros"], t.join("rules-sdk/macros"));

        let unpacked = tempfile::tempdir().unwrap();
        let u = unpacked.path();
        manifest(&u.join("fmn-rules-sdk-0.1.0"), "fmn-rules-sdk");
        manifest(&u.join("fmn-core-0.1.0"), "fmn-core");
        let found = sdk_crates(u).unwrap();
        assert_eq!(found.len(), 2);
        let section = patch_section(&found);
        let parsed: toml::Table = toml::from_str(&section).unwrap();
        let path = &parsed["patch"]["crates-io"]["fmn-rules-sdk"]["path"];
        assert_eq!(path.as_str(), u.join("fmn-rules-sdk-0.1.0").to_str());
    }

    #[test]
    fn a_folder_without_the_sdk_is_refused_by_name() {
        let empty = tempfile::tempdir().unwrap();
        manifest(&empty.path().join("core"), "fmn-core");
        let e = sdk_crates(empty.path()).unwrap_err().to_string();
        assert!(e.contains("no fmn-rules-sdk crate there"), "{e}");
    }

    #[test]
    fn the_crate_depends_on_the_sdk_by_version() {
        let files = files("my-rules", "");
        let manifest: toml::Table = toml::from_str(&files[0].1).unwrap();
        let sdk = &manifest["dependencies"]["fmn-rules-sdk"];
        assert_eq!(sdk.as_str(), Some(env!("CARGO_PKG_VERSION")));
        assert!(!manifest.contains_key("patch"));
    }
}
