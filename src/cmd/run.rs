//! `fmn run`: the whole pipeline in one process.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::consume;
use fmn_consumer::source::Source;
use fmn_core::ChannelKind;
use fmn_host::run_worker;
use fmn_senders::{SenderOptions, SenderReport, run_sender, sender_for};
use fmn_transport::{MemoryTransport, Transport, WorkerCounts};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::setup;

/// `fmn run` options.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Bus messages as JSON lines (`-` for stdin); the bundled sample of real messages if omitted.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// Preferences file (TOML or JSON); the bundled example if omitted.
    #[arg(long)]
    prefs: Option<PathBuf>,
    /// Rule module files or directories; the bundled modules if omitted.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    data: setup::DataFiles,
    /// Worker loops.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Directory for the file senders of channels without a configured sender.
    #[arg(long, default_value = "fmn-out")]
    out: PathBuf,
    /// Run on Redis at this URL instead of the in-memory bus.
    #[arg(long)]
    redis: Option<String>,
    /// The key namespace on Redis; a fresh one per run if omitted (`fmn-run-SECONDS-PID`),
    /// so a second run is not taken for the first one's duplicates.
    #[arg(long, requires = "redis")]
    namespace: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What `fmn run` prints at the end.
#[derive(Serialize)]
pub struct RunSummary {
    messages_in: u64,
    dispatched: u64,
    dead_lettered: u64,
    /// Messages workers could not wholly evaluate, kept as dead letters (`fmn dead list`):
    /// after their retries, or still waiting for one when the run ended.
    unevaluated: u64,
    /// Where the in-memory bus' dead letters were written, if it had any (with Redis they stay
    /// there, for `fmn dead`).
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_file: Option<PathBuf>,
    pub(crate) seconds: f64,
    /// When each stage ended, in seconds from the start of intake.
    pub(crate) stages: Stages,
    pub(crate) workers: Vec<WorkerCounts>,
    pub(crate) notifications: Vec<ChannelSummary>,
}

/// When the stages of a run ended, in seconds from the start of intake.
#[derive(Serialize, Clone, Copy, Default)]
pub(crate) struct Stages {
    /// Every message read, dispatched, evaluated and acknowledged by a worker.
    pub(crate) evaluated: f64,
    /// Every notification acknowledged by its sender: written, held for a digest or retried.
    pub(crate) written: f64,
    /// The senders stopped, their digests and retries drained.
    pub(crate) drained: f64,
}

/// What the pipeline runs on besides its transport and messages.
pub(crate) struct Parts {
    pub(crate) snapshot: fmn_host::SharedSnapshot,
    pub(crate) ids: Vec<String>,
    pub(crate) prefs_gate: Option<fmn_host::PrefsGate>,
    /// Where the file senders write, and the in-memory bus' dead letters.
    pub(crate) out: PathBuf,
    /// Whether dead letters stay in Redis rather than go to a file.
    pub(crate) on_redis: bool,
}

#[derive(Serialize)]
pub(crate) struct ChannelSummary {
    channel: ChannelKind,
    destination: String,
    pub(crate) sent: u64,
    /// Digest messages sent; their notifications count in `sent`.
    digests: u64,
    duplicates: u64,
    dead_lettered: u64,
}

/// A namespace no earlier run used: the deliveries a run records (to skip duplicates) must not
/// hide the next run's.
fn fresh_namespace() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("fmn-run-{secs}-{}", std::process::id())
}

pub async fn run(args: RunArgs, config: Config) -> Result<ExitCode> {
    let redis = match &args.redis {
        Some(url) => {
            let namespace = args.namespace.clone().unwrap_or_else(fresh_namespace);
            eprintln!("fmn run: on {url}, namespace {namespace}");
            Some(setup::redis(url, &namespace).await?)
        }
        None => None,
    };
    let ids: Vec<String> = (0..args.workers.max(1)).map(setup::worker_id).collect();
    let inputs = setup::WorkerInputs {
        rules: args.rules.clone(),
        prefs: args.prefs.clone(),
        prefs_from: None,
        example_prefs: true,
        data: args.data.clone(),
    };
    let workers = setup::workers(&config, inputs, redis.as_ref(), ids.clone()).await?;
    let snapshot = workers.snapshot;
    let stop_reload = CancellationToken::new();
    let prefs_gate = workers.prefs_gate;
    let reload = workers
        .reloader
        .map(|r| tokio::spawn(r.run(stop_reload.clone())));
    let parts = Parts {
        snapshot,
        ids,
        prefs_gate,
        out: args.out.clone(),
        on_redis: redis.is_some(),
    };
    let summary = match super::messages(args.messages.as_deref()).await {
        Ok((mut source, _)) => match redis {
            Some(t) => pipeline(t, parts, &mut source, &config).await,
            None => pipeline(MemoryTransport::default(), parts, &mut source, &config).await,
        },
        Err(e) => Err(e),
    };
    stop_reload.cancel();
    if let Some(r) = reload {
        r.await?;
    }
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &RunSummary) {
    let rate = s.messages_in as f64 / s.seconds.max(1e-9);
    println!(
        "fmn run: {} messages in {:.2} s ({rate:.0} msg/s): {} dispatched, {} dead-lettered",
        s.messages_in, s.seconds, s.dispatched, s.dead_lettered
    );
    if let Some(path) = &s.dead_file {
        println!("  dead letters written to {}", path.display());
    }
    if s.unevaluated > 0 {
        println!(
            "  {} messages not wholly evaluated (a rule module failed on them): kept as dead letters",
            s.unevaluated
        );
    }
    let total: u64 = s.workers.iter().map(|w| w.received).sum();
    println!(
        "  {:<28} {:>9} {:>9} {:>13} {:>7}",
        "worker", "received", "processed", "notifications", "share"
    );
    for w in &s.workers {
        let share = 100.0 * w.received as f64 / total.max(1) as f64;
        println!(
            "  {:<28} {:>9} {:>9} {:>13} {:>6.1}%",
            w.id, w.received, w.processed, w.notifications, share
        );
    }
    let sent: u64 = s.notifications.iter().map(|c| c.sent).sum();
    println!("notifications delivered: {sent}");
    for c in &s.notifications {
        println!(
            "  {:<8} {:>6} sent ({} digests), {} duplicates skipped, {} dead-lettered -> {}",
            c.channel.to_string(),
            c.sent,
            c.digests,
            c.duplicates,
            c.dead_lettered,
            c.destination
        );
    }
}

/// Writes every dead letter of `transport` to `out/dead-letters.jsonl`, one JSON object a
/// line: the in-memory bus ends with the run, and what could not go on must outlive it.
async fn keep_dead_letters<T: Transport>(transport: &T, out: &Path) -> Result<Option<PathBuf>> {
    let dead = transport.dead_letters(usize::MAX).await?;
    if dead.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("dead-letters.jsonl");
    let mut text = String::new();
    for d in &dead {
        text.push_str(&serde_json::to_string(&d.item)?);
        text.push('\n');
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path))
}

/// Runs workers and senders, feeds them `source` and waits until everything is through.
pub(crate) async fn pipeline<T: Transport, S: Source>(
    transport: T,
    parts: Parts,
    source: &mut S,
    config: &Config,
) -> Result<RunSummary> {
    let stop_workers = CancellationToken::new();
    let stop_senders = CancellationToken::new();
    let workers = parts.spawn_workers(&transport, config, &stop_workers);
    let plan = parts.snapshot.load().plan.clone();
    let Parts {
        ids, out, on_redis, ..
    } = parts;
    let senders = spawn_senders(&transport, &plan, config, &out, &stop_senders)?;

    let started = Instant::now();
    let opts = fmn_consumer::ConsumerOptions {
        recent: config.history.window()?,
        ..config.consumer.options()?
    };
    let stop_consumer = super::shutdown_on_signal();
    let report = consume(&transport, source, &opts, &stop_consumer).await?;

    // Evaluated when every work queue is empty: each message acknowledged by a worker.
    let out_queues: Vec<String> = ChannelKind::ALL
        .iter()
        .map(|c| fmn_transport::out_queue_name(*c))
        .collect();
    let work_only = |name: &str| !out_queues.iter().any(|o| o == name);
    settle(&transport, &stop_consumer, work_only).await;
    let mut stages = Stages {
        evaluated: started.elapsed().as_secs_f64(),
        ..Stages::default()
    };
    // Done when every queue is empty: each notification acknowledged by its sender too.
    settle(&transport, &stop_consumer, |_| true).await;
    let seconds = started.elapsed().as_secs_f64();
    stages.written = seconds;
    stop_workers.cancel();
    let mut unevaluated = 0;
    for w in workers {
        unevaluated += w.await?.dead_lettered;
    }
    // A message waiting for a retry would be lost with the in-memory bus, and wait for a
    // worker that may never come with Redis: the run keeps it as a dead letter to replay.
    unevaluated += transport
        .dead_letter_work_retries(usize::MAX, "waiting for a retry when fmn run ended")
        .await? as u64;
    stop_senders.cancel();
    let mut notifications = Vec::new();
    for s in senders {
        notifications.push(s.summary().await?);
    }
    stages.drained = started.elapsed().as_secs_f64();
    let dead_file = match on_redis {
        true => None,
        false => keep_dead_letters(&transport, &out).await?,
    };
    Ok(RunSummary {
        messages_in: report.read,
        dispatched: report.dispatched,
        dead_lettered: report.dead_lettered,
        unevaluated,
        dead_file,
        seconds,
        stages,
        workers: transport
            .worker_counts()
            .await?
            .into_iter()
            .filter(|w| ids.contains(&w.id))
            .collect(),
        notifications,
    })
}

impl Parts {
    /// Starts a worker loop for each of `ids`.
    fn spawn_workers<T: Transport>(
        &self,
        transport: &T,
        config: &Config,
        stop: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<fmn_host::WorkerReport>> {
        self.ids
            .iter()
            .map(|id| {
                let opts = fmn_host::WorkerOptions {
                    prefs_gate: self.prefs_gate.clone(),
                    ..config.worker.options(id.clone())
                };
                tokio::spawn(run_worker(
                    transport.clone(),
                    self.snapshot.clone(),
                    opts,
                    stop.clone(),
                ))
            })
            .collect()
    }
}

/// A channel's sender, running.
struct RunningSender {
    channel: ChannelKind,
    destination: String,
    handle: tokio::task::JoinHandle<SenderReport>,
}

impl RunningSender {
    /// What it sent, once it stopped.
    async fn summary(self) -> Result<ChannelSummary> {
        let r = self.handle.await?;
        Ok(ChannelSummary {
            channel: self.channel,
            destination: self.destination,
            sent: r.sent,
            digests: r.digests,
            duplicates: r.duplicates,
            dead_lettered: r.dead_lettered,
        })
    }
}

/// Starts a sender for every channel the preferences or the configuration name: as
/// configured, or writing `out/CHANNEL.jsonl`.
fn spawn_senders<T: Transport>(
    transport: &T,
    plan: &fmn_host::Plan,
    config: &Config,
    out: &Path,
    stop: &CancellationToken,
) -> Result<Vec<RunningSender>> {
    let channels: BTreeSet<ChannelKind> = plan
        .users
        .iter()
        .flat_map(|u| u.channels.iter().map(|c| c.kind))
        .chain(config.senders.keys().copied())
        .collect();
    let templates = config.load_templates()?;
    let mut senders = Vec::new();
    for channel in channels {
        let (sender, destination) =
            sender_for(channel, config.senders.get(&channel), &templates, out)?;
        let consumer = format!("{}-{channel}", fmn_transport::hostname());
        let opts = SenderOptions {
            drain_digests: true,
            ..config.sender_options(channel, consumer)?
        };
        let handle = tokio::spawn(run_sender(transport.clone(), sender, opts, stop.clone()));
        senders.push(RunningSender {
            channel,
            destination,
            handle,
        });
    }
    Ok(senders)
}

/// Waits until the queues `which` names are empty, or intake was stopped by a signal.
async fn settle<T: Transport>(
    transport: &T,
    stop: &CancellationToken,
    which: impl Fn(&str) -> bool,
) {
    while !stop.is_cancelled() {
        match transport.queue_depths().await {
            Ok(d) if d.iter().filter(|q| which(&q.name)).all(|q| q.waiting == 0) => break,
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read queue depths: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
