//! `fmn rules`: what the rule modules offer.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use fmn_rules_sdk::ModuleDescription;

use crate::config::Config;
use crate::setup;

mod conformance;
mod publish;
mod scaffold;
mod test;
mod wasm_build;

/// `fmn rules` subcommands.
#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// List the rules and extractors of modules, with their arguments and docs.
    List {
        /// Module files or directories; the bundled modules if omitted.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// The same, given without `--rules` as earlier versions took them.
        #[arg(hide = true)]
        modules: Vec<PathBuf>,
        /// Print Markdown (docs/rules.md is made this way).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// Print the descriptions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish a module through Redis: every worker watching that Redis swaps it in, in place
    /// of its own module of the same name. The module is validated here first.
    Publish(publish::PublishArgs),
    /// Withdraw a published module: workers go back to their own copy of it, if they have one.
    Unpublish(publish::UnpublishArgs),
    /// Which modules are published, and which version each live worker runs.
    Status(publish::StatusArgs),
    /// Create a rule crate to start from: rules, an extractor, samples and tests.
    New {
        /// The module's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// Where to create it; `./NAME` by default.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Take the SDK from this directory instead of crates.io (unreleased or offline
        /// work): the SDK crate's directory, an fmn source tree, or a folder of unpacked SDK
        /// crates. The crate then carries a `[patch.crates-io]` section naming them.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Compile a rule crate to wasm and check the module as a worker would load it.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Copy the module here too.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Run a module over bus messages as a worker would, and print what matched, the
    /// errors and the time per message.
    Test(test::TestArgs),
    /// Score the extractors against corpus files with known answers (per field and family),
    /// or, with `--cases`, the rules against recorded rule cases.
    Conformance(conformance::ConformanceArgs),
}

/// How the worker answers a keyed rule, in words.
fn key_sentence(k: &fmn_rules_sdk::describe::KeyDescription) -> String {
    let (x, arg) = (&k.extractor, &k.arg);
    let mapped = match k.via.as_deref() {
        None => {
            return format!(
                "Answered by the worker's index: matches when `{arg}` is among the `{x}` of the message."
            );
        }
        Some(fmn_core::data::GROUPS) => "the groups each belongs to (group membership data)".into(),
        Some(r) if fmn_core::data::GROUP_COUNTED.contains(&r) => {
            format!("its `{r}` (ownership data), counting the members of the groups that own it")
        }
        Some(r) => format!("its `{r}` (ownership data)"),
    };
    format!(
        "Answered by the worker's index: maps each of the message's `{x}` to {mapped}; matches when `{arg}` is among them."
    )
}

pub async fn run(cmd: RulesCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        RulesCommand::List {
            mut rules,
            modules,
            markdown,
            json,
        } => {
            rules.extend(modules);
            let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
            let ruleset = setup::load_rules(&sandbox, &rules)?;
            let descriptions: Vec<&ModuleDescription> =
                ruleset.modules().iter().map(|m| &m.description).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&descriptions)?);
            } else if markdown {
                print!("{}", markdown_doc(&descriptions));
            } else {
                for d in descriptions {
                    print!("{}", text(d));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Publish(a) => publish::publish(a, config).await,
        RulesCommand::Unpublish(a) => publish::unpublish(a, config).await,
        RulesCommand::Status(a) => publish::status(a, config).await,
        RulesCommand::New { name, path, sdk } => {
            let dir = path.unwrap_or_else(|| PathBuf::from(&name));
            scaffold::create(&name, &dir, sdk.as_deref())?;
            let from = match &sdk {
                Some(p) => format!("from {}", p.display()),
                None => "from crates.io".into(),
            };
            println!(
                "created {}: fmn-rules-sdk {} {from}\n`cargo test` there runs its tests natively; `fmn rules build {}` makes the wasm module",
                dir.display(),
                env!("CARGO_PKG_VERSION"),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Build { path, out } => {
            let wasm = wasm_build::build(&path)?;
            let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
            let m = fmn_host::WasmModule::from_file(&sandbox, &wasm)?;
            let d = &m.description;
            println!(
                "{}: module {} (ABI {}, fmn-rules-sdk {}) with {} rules, {} extractors; {} samples hold; {} bytes, sha256 {}",
                wasm.display(),
                d.name,
                d.abi,
                d.sdk.as_deref().unwrap_or("unknown"),
                d.rules.len(),
                d.extractors.len(),
                d.samples.len(),
                std::fs::metadata(&wasm)?.len(),
                m.sha256
            );
            if let Some(out) = out {
                std::fs::copy(&wasm, &out)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!("copied to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test(a) => test::run(a, config).await,
        RulesCommand::Conformance(a) => conformance::run(a, config).await,
    }
}

/// The first paragraph of a doc comment, on one line.
fn first_line(doc: &str) -> String {
    doc.split("\n\n")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(d: &ModuleDescription) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "module {} {} (ABI {}, fmn-rules-sdk {}): {}",
        d.name,
        d.version,
        d.abi,
        d.sdk.as_deref().unwrap_or("unknown"),
        first_line(&d.doc)
    );
    let _ = writeln!(s, "  rules:");
    for r in &d.rules {
        let args: Vec<String> = r
            .args
            .iter()
            .map(|a| format!("{}: {}{}", a.name, a.ty, if a.required { "" } else { "?" }))
            .collect();
        let _ = writeln!(
            s,
            "    {}::{}({}): {}",
            d.name,
            r.name,
            args.join(", "),
            first_line(&r.doc)
        );
    }
    let _ = writeln!(s, "  extractors:");
    for x in &d.extractors {
        let _ = writeln!(s, "    {} ({:?}): {}", x.name, x.kind, first_line(&x.doc));
    }
    s
}

/// The Markdown reference of `modules`, as in docs/rules.md.
pub fn markdown_doc(modules: &[&ModuleDescription]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Rules reference\n");
    let _ = writeln!(
        s,
        "Generated by `fmn rules list --markdown`; do not edit by hand.\n"
    );
    for d in modules {
        let _ = writeln!(s, "## Module `{}` {}\n\n{}\n", d.name, d.version, d.doc);
        let _ = writeln!(s, "### Rules\n");
        for r in &d.rules {
            let _ = writeln!(s, "#### `{}::{}`\n\n{}\n", d.name, r.name, r.doc);
            if !r.args.is_empty() {
                let _ = writeln!(
                    s,
                    "| argument | type | required | meaning |\n| --- | --- | --- | --- |"
                );
                for a in &r.args {
                    let _ = writeln!(
                        s,
                        "| `{}` | {} | {} | {} |",
                        a.name,
                        a.ty,
                        if a.required { "yes" } else { "no" },
                        a.doc.replace('\n', " ")
                    );
                }
                let _ = writeln!(s);
            }
            if !r.topics.is_empty() {
                let _ = writeln!(
                    s,
                    "Only matches topics: {}.\n",
                    r.topics
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if let Some(k) = &r.key {
                let _ = writeln!(s, "{}\n", key_sentence(k));
            }
        }
        let _ = writeln!(
            s,
            "### Extractors\n\n| extractor | yields | meaning |\n| --- | --- | --- |"
        );
        for x in &d.extractors {
            let kind = match x.kind {
                fmn_rules_sdk::ExtractorKind::Keys => "keys",
                fmn_rules_sdk::ExtractorKind::Text => "text",
            };
            let _ = writeln!(
                s,
                "| `{}` | {kind} | {} |",
                x.name,
                x.doc.replace('\n', " ")
            );
        }
        let _ = writeln!(s);
    }
    s
}
