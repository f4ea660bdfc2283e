//! `fmn bench reload`: what a hot reload costs a worker at N users, off its hot path: loading a
//! new version of the bundled module (compiled, or from the disk cache), then either compiling
//! the preferences again or reusing the plan, which holds when the interface is unchanged.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig, WasmModule};
use serde::Serialize;

use crate::bench::eval::{corpus, mentioned, population};
use crate::config::Config;
use crate::setup;

/// `fmn bench reload` options.
#[derive(clap::Args)]
pub struct ReloadArgs {
    /// Users, generated as for `fmn bench eval`.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ReloadReport {
    users: usize,
    module_bytes: usize,
    /// Loading a version never seen: compile, checks, samples.
    load_compile_ms: f64,
    /// Loading it again from the disk cache.
    load_cached_ms: f64,
    /// Compiling the preferences against the new set (what a changed interface costs).
    plan_build_ms: f64,
    /// Checking that the plan holds for the new set (what an unchanged interface costs).
    plan_reuse_ms: f64,
    plan_holds: bool,
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

pub fn run(args: ReloadArgs, config: &Config) -> Result<ExitCode> {
    let messages = corpus(None)?;
    let (real_users, real_packages) = mentioned(&messages);
    let (prefs, _) = population(args.users, &real_users, &real_packages);

    let cache = std::env::temp_dir().join(format!("fmn-bench-reload-{}", std::process::id()));
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.clone()),
        ..config.worker.sandbox()
    })?;
    let (_, bundled) = setup::bundled::MODULES
        .first()
        .context("no bundled module")?;
    let old = RuleSet::new(
        1,
        vec![LoadedModule::wasm(WasmModule::from_bytes(
            &sandbox, bundled, "bundled",
        )?)],
    )?;
    let plan = setup::compile(&old, &prefs, "generated preferences")?;

    let payload = format!("fmn bench reload {}", std::process::id());
    let bytes = fmn_host::module::with_custom_section(bundled, "fmn-bench", payload.as_bytes());
    let t = Instant::now();
    let module = WasmModule::from_bytes(&sandbox, &bytes, "new version")?;
    let load_compile_ms = ms(t);
    drop(module);
    let t = Instant::now();
    let module = WasmModule::from_bytes(&sandbox, &bytes, "new version")?;
    let load_cached_ms = ms(t);
    let new = Arc::new(RuleSet::new(2, vec![LoadedModule::wasm(module)])?);

    let t = Instant::now();
    let plan_holds = plan.holds_for(&old, &new);
    let plan_reuse_ms = ms(t);
    let t = Instant::now();
    let rebuilt = Plan::build(&new, &prefs).map_err(|p| anyhow::anyhow!("{} problems", p.len()))?;
    let plan_build_ms = ms(t);
    drop(rebuilt);
    let _ = std::fs::remove_dir_all(&cache);

    let r = ReloadReport {
        users: args.users,
        module_bytes: bytes.len(),
        load_compile_ms,
        load_cached_ms,
        plan_build_ms,
        plan_reuse_ms,
        plan_holds,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "fmn bench reload: {} users, a new version of the bundled module ({} bytes)",
            r.users, r.module_bytes
        );
        println!(
            "| load, compiled | load, from cache | preferences compiled again | plan reused |"
        );
        println!("| ---: | ---: | ---: | ---: |");
        println!(
            "| {:.0} ms | {:.1} ms | {:.0} ms | {:.1} ms{} |",
            r.load_compile_ms,
            r.load_cached_ms,
            r.plan_build_ms,
            r.plan_reuse_ms,
            if r.plan_holds { "" } else { " (does not hold)" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
