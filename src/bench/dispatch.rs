//! `fmn bench dispatch`: messages dispatched to worker loops without rule modules, with each
//! worker's share, throughput and latency, against raw Redis streams in the same run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::DispatchMode;
use fmn_consumer::{ConsumerOptions, consume};
use fmn_host::{LatencyLog, Plan, RuleSet, WorkerOptions, run_worker};
use fmn_transport::WorkerInfo;
use fmn_transport::{MemoryTransport, Transport};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::generated::Generated;
use crate::config::Config;
use crate::progress::{Counted, Progress};
use crate::setup;
use crate::stats::chi_square_uniform;

/// `fmn bench dispatch` options.
#[derive(clap::Args)]
pub struct DispatchArgs {
    /// Messages to dispatch: real corpus messages, repeated with unique ids.
    #[arg(long, default_value_t = 506_741)]
    messages: u64,
    /// Worker loops.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Use the in-memory bus instead of Redis.
    #[arg(long)]
    in_memory: bool,
    /// Redis URL; default `[redis] url` of the configuration, else redis://127.0.0.1:6379.
    #[arg(long)]
    redis: Option<String>,
    /// How workers are picked; `all`: each in turn, in one run.
    #[arg(long, default_value = "all", value_parser = ["random", "p2c", "shared", "all"])]
    dispatch: String,
    /// Messages of the stalled-worker case (one of the workers reads one batch, then holds it
    /// and reads nothing more while its heartbeat goes on); 0 skips it.
    #[arg(long, default_value_t = 20_000)]
    stall_messages: u64,
    /// Messages of the paced case (the bus at a steady rate the workers keep up with, where
    /// latency is not queueing behind a full backlog); 0 skips it.
    #[arg(long, default_value_t = 50_000)]
    paced_messages: u64,
    /// Messages per second of the paced case.
    #[arg(long, default_value_t = 10_000)]
    paced_rate: u64,
    /// Keep no recent-message window: the consumer as `[history] window = "0s"` runs it, to
    /// measure what the window costs (by default it is kept, as `fmn consume` keeps it).
    #[arg(long)]
    no_window: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct WorkerShare {
    worker: String,
    received: u64,
    processed: u64,
    share_percent: f64,
    deviation_points: f64,
}

/// One dispatch mode's run: every worker serves.
#[derive(Serialize)]
struct ModeRun {
    dispatch: String,
    messages: u64,
    per_worker: Vec<WorkerShare>,
    chi_square: f64,
    p_value: f64,
    max_deviation_points: f64,
    seconds: f64,
    messages_per_second: f64,
    /// From the consumer reading a message to its worker acknowledging it, in milliseconds.
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    /// Raw Redis streams in the same run (Redis only): our share of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_raw: Option<f64>,
    /// The same mode with one worker stalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    stalled: Option<StallRun>,
    /// The same mode at a steady rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    paced: Option<PacedRun>,
}

/// The bus at a steady rate: latency without a backlog to queue behind.
#[derive(Serialize)]
struct PacedRun {
    messages: u64,
    rate: u64,
    messages_per_second: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
}

/// One worker reads a batch and then stalls, heartbeat on; the others serve.
#[derive(Serialize)]
struct StallRun {
    messages: u64,
    /// Entries the stalled worker held (its queue and what it read) once the others were done.
    held_by_stalled: u64,
    /// Until every message not held by the stalled worker was processed.
    seconds: f64,
    messages_per_second: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
}

#[derive(Serialize)]
struct DispatchReport {
    workers: usize,
    transport: String,
    modes: Vec<ModeRun>,
    /// Raw Redis streams in the same run (Redis only), messages/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_redis_messages_per_second: Option<f64>,
}

/// `fmn bench dispatch`.
pub(super) async fn run(args: DispatchArgs, config: &Config) -> Result<ExitCode> {
    let modes: Vec<DispatchMode> = match args.dispatch.as_str() {
        "all" => DispatchMode::ALL.to_vec(),
        one => vec![
            one.parse()
                .map_err(|e| anyhow::anyhow!("--dispatch: {e}, or all"))?,
        ],
    };
    let report = if args.in_memory {
        in_memory(&args, modes).await?
    } else {
        let url = args
            .redis
            .clone()
            .or_else(|| config.redis.url.clone())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        on_redis(&args, modes, &url).await?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_dispatch(&report);
    }
    Ok(ExitCode::SUCCESS)
}

async fn in_memory(args: &DispatchArgs, modes: Vec<DispatchMode>) -> Result<DispatchReport> {
    let mut runs = Vec::new();
    for mode in modes {
        runs.push(mode_run(|| async { Ok(MemoryTransport::default()) }, mode, args).await?);
    }
    Ok(DispatchReport {
        workers: args.workers,
        transport: "in-memory".into(),
        modes: runs,
        raw_redis_messages_per_second: None,
    })
}

/// Every mode on Redis, each on a namespace of its own, then raw Redis streams carrying the
/// same messages as the baseline.
async fn on_redis(
    args: &DispatchArgs,
    modes: Vec<DispatchMode>,
    url: &str,
) -> Result<DispatchReport> {
    let mut runs = Vec::new();
    for mode in modes {
        // A namespace of its own per run, removed after it.
        let fresh = || async {
            let ns = format!(
                "fmn-bench-{}-{}",
                std::process::id(),
                fmn_core::metrics::now_us()
            );
            setup::redis(url, &ns).await
        };
        runs.push(mode_run(fresh, mode, args).await?);
    }
    let ns = format!("fmn-bench-{}-raw", std::process::id());
    // The same bus messages fmn carries, so both move the same bytes.
    let payloads = Generated::new(1, 0)?.one_cycle();
    let raw = super::raw::raw_streams(url, &ns, args.messages, args.workers, &payloads)
        .await
        .context("the raw Redis streams baseline")?;
    for r in &mut runs {
        r.fraction_of_raw = Some(r.messages_per_second / raw.max(1e-9));
    }
    Ok(DispatchReport {
        workers: args.workers,
        transport: format!("redis ({url})"),
        modes: runs,
        raw_redis_messages_per_second: Some(raw),
    })
}

fn print_dispatch(r: &DispatchReport) {
    println!(
        "fmn bench dispatch: {} workers, no rule module, through {}",
        r.workers, r.transport
    );
    for m in &r.modes {
        println!(
            "\n{} dispatch, {} messages: {:.2} s, {:.0} messages/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            m.dispatch,
            m.messages,
            m.seconds,
            m.messages_per_second,
            m.latency_p50_ms,
            m.latency_p99_ms,
            m.latency_max_ms
        );
        println!(
            "| worker | received | processed | share | deviation from {:.2}% |",
            100.0 / r.workers.max(1) as f64
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for w in &m.per_worker {
            println!(
                "| {} | {} | {} | {:.3}% | {:+.3} points |",
                w.worker, w.received, w.processed, w.share_percent, w.deviation_points
            );
        }
        println!(
            "chi-square {:.3} ({} degrees of freedom), p = {:.3}; largest deviation {:.3} points",
            m.chi_square,
            m.per_worker.len().saturating_sub(1),
            m.p_value,
            m.max_deviation_points
        );
        if let Some(p) = &m.paced {
            println!(
                "paced at {} messages/s, {} messages: {:.0} messages/s, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                p.rate,
                p.messages,
                p.messages_per_second,
                p.latency_p50_ms,
                p.latency_p99_ms,
                p.latency_max_ms
            );
        }
        if let Some(s) = &m.stalled {
            println!(
                "one worker stalled, {} messages: it held {} ({:.1}%); the others processed the rest in {:.2} s, {:.0} messages/s, latency p50 {:.1} ms, p99 {:.1} ms",
                s.messages,
                s.held_by_stalled,
                100.0 * s.held_by_stalled as f64 / s.messages.max(1) as f64,
                s.seconds,
                s.messages_per_second,
                s.latency_p50_ms,
                s.latency_p99_ms
            );
        }
    }
    if let Some(raw) = r.raw_redis_messages_per_second {
        println!(
            "\nraw Redis streams in the same run (XADD in MULTI of 512, XREADGROUP of 256, XACK+XDEL, carrying the same bus messages; no parsing, choice or evaluation): {raw:.0} messages/s"
        );
        for m in &r.modes {
            if let Some(f) = m.fraction_of_raw {
                println!("  fmn {} end to end: {:.0}% of it", m.dispatch, 100.0 * f);
            }
        }
    }
}

/// The `q`-quantile of sorted microseconds, in milliseconds.
fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// The full run of one mode, then its stalled case, each on a fresh transport.
async fn mode_run<T, F, Fut>(fresh: F, mode: DispatchMode, args: &DispatchArgs) -> Result<ModeRun>
where
    T: Transport + Purge,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    // Each run on a fresh transport, cleaned up whether it succeeded or not.
    let once = async |messages: u64, rate: u64, stall: bool| {
        let t = fresh().await?;
        let window = (!args.no_window).then(fmn_transport::WindowLimits::default);
        let r = dispatch(&t, mode, messages, rate, args.workers, stall, window).await;
        t.purge().await?;
        r
    };
    let (mut run, _) = once(args.messages, 0, false).await?;
    if args.stall_messages > 0 && args.workers > 1 {
        run.stalled = once(args.stall_messages, 0, true).await?.1;
    }
    if args.paced_messages > 0 && args.paced_rate > 0 {
        let (p, _) = once(args.paced_messages, args.paced_rate, false).await?;
        run.paced = Some(PacedRun {
            messages: p.messages,
            rate: args.paced_rate,
            messages_per_second: p.messages_per_second,
            latency_p50_ms: p.latency_p50_ms,
            latency_p99_ms: p.latency_p99_ms,
            latency_max_ms: p.latency_max_ms,
        });
    }
    Ok(run)
}

/// Removes what a benchmark left behind.
trait Purge {
    async fn purge(&self) -> Result<()>;
}

impl Purge for MemoryTransport {
    async fn purge(&self) -> Result<()> {
        Ok(())
    }
}

impl Purge for fmn_transport::RedisTransport {
    async fn purge(&self) -> Result<()> {
        self.purge_namespace().await?;
        Ok(())
    }
}

/// One dispatch run: `messages` through the consumer to `workers` worker loops. With `stall`,
/// the last worker reads one batch and then holds it, heartbeat on, until the others are done.
async fn dispatch<T: Transport>(
    transport: &T,
    mode: DispatchMode,
    messages: u64,
    rate: u64,
    workers: usize,
    stall: bool,
    window: Option<fmn_transport::WindowLimits>,
) -> Result<(ModeRun, Option<StallRun>)> {
    let run = DispatchRun::start(transport, workers, stall).await?;
    run.await_live().await?;
    let mut source = Counted::new(
        Generated::new(messages, rate)?,
        Progress::new(messages, "messages dispatched"),
    );
    let started = Instant::now();
    let opts = ConsumerOptions {
        batch: 512,
        dispatch: mode,
        recent: window,
        ..Default::default()
    };
    let report = consume(transport, &mut source, &opts, &CancellationToken::new()).await?;
    run.await_processed(report.dispatched).await?;
    let seconds = started.elapsed().as_secs_f64();
    let held_by_stalled = run.stalled_holds().await?;
    let sorted = run.stop().await?;
    let mode_run = run
        .figures(mode, report.dispatched, seconds, &sorted)
        .await?;
    let done = report.dispatched - held_by_stalled;
    let stall_run = stall.then(|| StallRun {
        messages: report.dispatched,
        held_by_stalled,
        seconds,
        messages_per_second: done as f64 / seconds.max(1e-9),
        latency_p50_ms: quantile_ms(&sorted, 0.5),
        latency_p99_ms: quantile_ms(&sorted, 0.99),
    });
    Ok((mode_run, stall_run))
}

/// The worker loops of one dispatch run: serving ones, and the stalled one if asked.
struct DispatchRun<'t, T> {
    transport: &'t T,
    ids: Vec<String>,
    stall: bool,
    stop: CancellationToken,
    latencies: Arc<LatencyLog>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl<'t, T: Transport> DispatchRun<'t, T> {
    /// Starts the worker loops (no rule module: this measures dispatch, queues and
    /// acknowledgements, not evaluation).
    async fn start(transport: &'t T, workers: usize, stall: bool) -> Result<Self> {
        let ruleset = Arc::new(RuleSet::new(0, Vec::new())?);
        let plan = Arc::new(Plan::empty(&ruleset));
        let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
        let mut run = DispatchRun {
            transport,
            ids: (0..workers.max(1)).map(|i| format!("bench-w{i}")).collect(),
            stall,
            stop: CancellationToken::new(),
            latencies: Arc::new(LatencyLog::default()),
            handles: Vec::new(),
        };
        for id in run.serving().to_vec() {
            let opts = WorkerOptions {
                batch: 256,
                block: Duration::from_millis(100),
                latencies: Some(run.latencies.clone()),
                ..WorkerOptions::new(id)
            };
            let worker = run_worker(transport.clone(), snapshot.clone(), opts, run.stop.clone());
            run.handles.push(tokio::spawn(async move {
                let _ = worker.await;
            }));
        }
        if stall {
            run.start_stalled().await?;
        }
        Ok(run)
    }

    fn serving(&self) -> &[String] {
        let n = self.ids.len() - usize::from(self.stall);
        &self.ids[..n]
    }

    fn stalled_id(&self) -> Option<&String> {
        self.ids.last().filter(|_| self.stall)
    }

    /// The stalled worker: registers, beats, reads until it gets a batch, then holds it.
    async fn start_stalled(&mut self) -> Result<()> {
        let Some(id) = self.stalled_id().cloned() else {
            return Ok(());
        };
        self.transport
            .register_worker(&WorkerInfo::local(&id))
            .await?;
        let t = self.transport.clone();
        let stop = self.stop.clone();
        self.handles.push(tokio::spawn(async move {
            let beat = async {
                loop {
                    let _ = t.heartbeat(&id).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            };
            let hold = async {
                loop {
                    if let Ok(e) = t.read_work(&id, 256, Duration::from_millis(100)).await
                        && !e.is_empty()
                    {
                        break;
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = beat => {}
                _ = hold => {}
            }
        }));
        Ok(())
    }

    /// Dispatch starts only once every worker is live, as the original experiment did.
    async fn await_live(&self) -> Result<()> {
        while self.transport.live_workers().await?.len() < self.ids.len() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Until the serving workers processed every message the stalled one does not hold.
    async fn await_processed(&self, dispatched: u64) -> Result<()> {
        loop {
            let processed: u64 = self
                .transport
                .worker_counts()
                .await?
                .iter()
                .filter(|c| self.serving().contains(&c.id))
                .map(|c| c.processed)
                .sum();
            if processed + self.stalled_holds().await? >= dispatched {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Entries the stalled worker holds: its own queue and the shared queue's pending ones.
    async fn stalled_holds(&self) -> Result<u64> {
        let Some(id) = self.stalled_id() else {
            return Ok(0);
        };
        let own = self.transport.backlogs(std::slice::from_ref(id)).await?[0].entries;
        let shared = self
            .transport
            .queue_depths()
            .await?
            .into_iter()
            .find(|q| q.name == fmn_transport::SHARED_QUEUE)
            .map_or(0, |q| q.pending);
        Ok(own + shared)
    }

    /// Stops every loop; the latencies seen, sorted.
    async fn stop(&self) -> Result<Vec<u64>> {
        self.stop.cancel();
        Ok(self.latencies.sorted())
    }

    /// Each worker's share of what was dispatched, and how even the shares are.
    async fn figures(
        mut self,
        mode: DispatchMode,
        dispatched: u64,
        seconds: f64,
        sorted: &[u64],
    ) -> Result<ModeRun> {
        for h in self.handles.drain(..) {
            h.await?;
        }
        let counts: Vec<_> = self
            .transport
            .worker_counts()
            .await?
            .into_iter()
            .filter(|c| self.ids.contains(&c.id))
            .collect();
        let received: Vec<u64> = counts.iter().map(|c| c.received).collect();
        let (chi_square, p_value) = chi_square_uniform(&received);
        let total = received.iter().sum::<u64>().max(1) as f64;
        let fair = 100.0 / counts.len().max(1) as f64;
        let per_worker: Vec<WorkerShare> = counts
            .iter()
            .map(|c| {
                let share = 100.0 * c.received as f64 / total;
                WorkerShare {
                    worker: c.id.clone(),
                    received: c.received,
                    processed: c.processed,
                    share_percent: share,
                    deviation_points: share - fair,
                }
            })
            .collect();
        let max_deviation_points = per_worker
            .iter()
            .map(|w| w.deviation_points.abs())
            .fold(0.0, f64::max);
        Ok(ModeRun {
            dispatch: mode.to_string(),
            messages: dispatched,
            per_worker,
            chi_square,
            p_value,
            max_deviation_points,
            seconds,
            messages_per_second: dispatched as f64 / seconds.max(1e-9),
            latency_p50_ms: quantile_ms(sorted, 0.5),
            latency_p99_ms: quantile_ms(sorted, 0.99),
            latency_max_ms: sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
            fraction_of_raw: None,
            stalled: None,
            paced: None,
        })
    }
}
