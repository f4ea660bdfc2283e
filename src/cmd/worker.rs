//! `fmn worker`: evaluate dispatched messages, through Redis, until stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fmn_host::run_worker;

use crate::config::Config;
use crate::setup;

/// `fmn worker` options.
#[derive(clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    redis: super::RedisArg,
    /// Preferences file (TOML or JSON); `[worker] prefs` if omitted. One of them is needed
    /// unless preferences come from Redis.
    #[arg(long)]
    prefs: Option<PathBuf>,
    /// Where preferences come from: `file` (`--prefs`) or `redis` (`fmn prefs import|set`,
    /// followed live); `[worker] prefs_from` if omitted.
    #[arg(long, value_enum)]
    prefs_from: Option<crate::config::PrefsFrom>,
    /// Rule module files or directories; the bundled modules if omitted.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    data: setup::DataFiles,
    /// Worker loops in this process, each a worker of its own in the registry (`--threads`
    /// is an older name for it).
    #[arg(long, alias = "threads")]
    workers: Option<usize>,
    #[command(flatten)]
    metrics: super::MetricsArgs,
}

pub async fn run(args: WorkerArgs, config: Config) -> Result<ExitCode> {
    let transport = args.redis.connect(&config).await?;
    let threads = args.workers.unwrap_or(config.worker.threads).max(1);
    let ids: Vec<String> = (0..threads).map(setup::worker_id).collect();
    let inputs = setup::WorkerInputs {
        rules: args.rules,
        prefs: args.prefs,
        prefs_from: args.prefs_from,
        example_prefs: false,
        data: args.data,
    };
    let setup::Workers {
        snapshot,
        stats,
        reloader,
        prefs_gate,
    } = setup::workers(&config, inputs, Some(&transport), ids.clone()).await?;
    let stop = super::shutdown_on_signal();
    let metrics = args.metrics.start(&transport, &stop).await?;
    let reload = reloader.map(|r| tokio::spawn(r.run(stop.clone())));
    let janitor = super::start_janitor(&config.redis, &transport, &stop);
    eprintln!(
        "fmn worker: {threads} loop(s), {} users, {} distinct filters; stop with SIGTERM or Ctrl-C",
        stats.users, stats.shapes
    );
    let mut handles = Vec::new();
    for id in ids {
        let opts = fmn_host::WorkerOptions {
            prefs_gate: prefs_gate.clone(),
            ..config.worker.options(id)
        };
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
    if let Some(j) = janitor {
        j.await?;
    }
    if let Some(m) = metrics {
        m.await?;
    }
    Ok(ExitCode::SUCCESS)
}
