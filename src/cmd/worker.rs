//! `fmn worker`: evaluate dispatched messages, through Redis, until stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use fmn_host::run_worker;

use crate::config::Config;
use crate::setup;

/// `fmn worker` options.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
    /// Preferences file (TOML or JSON); the bundled example if omitted.
    #[arg(long)]
    prefs: Option<PathBuf>,
    /// Rule module files or directories; the bundled modules if omitted.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Package ownership, Pagure's owner-alias JSON (`{"rpms": {"name": ["user"]}}`).
    #[arg(long)]
    owners: Option<PathBuf>,
    /// Worker loops in this process, each a worker of its own in the registry.
    #[arg(long)]
    threads: Option<usize>,
}

pub async fn run(args: WorkerArgs, config: Config) -> Result<ExitCode> {
    let url = super::redis_url(args.redis, &config)?;
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let rule_paths = if args.rules.is_empty() {
        config.worker.rules.clone()
    } else {
        args.rules
    };
    let ruleset = setup::load_rules(&sandbox, &rule_paths)?;
    let prefs_path = args.prefs.or_else(|| config.worker.prefs.clone());
    let prefs = setup::load_prefs(prefs_path.as_deref())?;
    let name = prefs_path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| setup::bundled::EXAMPLE_PREFS_NAME.into());
    let plan = setup::compile(&ruleset, &prefs, &name)?;
    let stats = plan.stats();
    let transport = setup::redis(&url, &config.redis.namespace).await?;
    let relations =
        setup::load_relations(args.owners.as_deref().or(config.worker.owners.as_deref()))?;
    let snapshot = fmn_host::worker::shared(ruleset, plan, relations);
    let stop = super::shutdown_on_signal();
    let threads = args.threads.unwrap_or(config.worker.threads).max(1);
    let ids: Vec<String> = (0..threads).map(setup::worker_id).collect();
    let reloader = setup::reloader(
        &sandbox,
        &rule_paths,
        Arc::new(prefs),
        &snapshot,
        Some(transport.clone()),
        ids.clone(),
        &config.worker,
    )
    .await;
    let reload = reloader.map(|r| tokio::spawn(r.run(stop.clone())));
    eprintln!(
        "fmn worker: {threads} loop(s), {} users, {} distinct filters; stop with SIGTERM or Ctrl-C",
        stats.users, stats.shapes
    );
    let mut handles = Vec::new();
    for id in ids {
        let opts = config.worker.options(id);
        handles.push(tokio::spawn(run_worker(
            transport.clone(),
            snapshot.clone(),
            opts,
            stop.clone(),
        )));
    }
    for h in handles {
        let r = h.await?;
        eprintln!(
            "fmn worker: processed {} messages, wrote {} notifications",
            r.processed, r.notifications
        );
    }
    if let Some(r) = reload {
        r.await?;
    }
    Ok(ExitCode::SUCCESS)
}
