//! `fmn bench`: measurements, printed as tables or JSON. Figures go to docs/benchmarks.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::source::{RawMessage, Source, SourceError};
use fmn_consumer::{ConsumerOptions, consume};
use fmn_core::transport::{MemoryTransport, Transport};
use fmn_host::{Plan, RuleSet, WorkerOptions, run_worker};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::setup;
use crate::stats::chi_square_uniform;

/// `fmn bench` subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// The original experiment: dispatch messages at random to workers and count what each
    /// received, through the real Redis path (or the in-memory bus).
    Dispatch(DispatchArgs),
}

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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Real messages from the bundled corpus, cycled with fresh ids.
struct Generated {
    lines: Vec<serde_json::Value>,
    total: u64,
    next: u64,
}

impl Generated {
    fn new(total: u64) -> Result<Self> {
        let lines = setup::bundled::SAMPLE_MESSAGES
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(serde_json::from_slice)
            .collect::<Result<Vec<serde_json::Value>, _>>()
            .context("the bundled sample is not JSON lines")?;
        Ok(Generated {
            lines,
            total,
            next: 0,
        })
    }
}

impl Source for Generated {
    async fn next(&mut self, _max: usize) -> Option<Result<RawMessage, SourceError>> {
        if self.next >= self.total || self.lines.is_empty() {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let mut v = self.lines[(i % self.lines.len() as u64) as usize].clone();
        v["msg_id"] = serde_json::Value::String(format!("bench-{i}"));
        Some(Ok(RawMessage {
            bytes: serde_json::to_vec(&v).unwrap_or_default(),
            origin: format!("bench:{i}"),
            oversize: None,
        }))
    }
}

#[derive(Serialize)]
struct WorkerShare {
    worker: String,
    received: u64,
    processed: u64,
    share_percent: f64,
    deviation_points: f64,
}

#[derive(Serialize)]
struct DispatchReport {
    messages: u64,
    workers: usize,
    transport: String,
    dispatch: &'static str,
    per_worker: Vec<WorkerShare>,
    chi_square: f64,
    p_value: f64,
    max_deviation_points: f64,
    seconds: f64,
    messages_per_second: f64,
}

pub async fn run(cmd: BenchCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Dispatch(args) => {
            let report = if args.in_memory {
                dispatch(MemoryTransport::default(), "in-memory".into(), &args).await?
            } else {
                let url = args
                    .redis
                    .clone()
                    .or_else(|| config.redis.url.clone())
                    .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
                let ns = format!("fmn-bench-{}", std::process::id());
                let t = setup::redis(&url, &ns).await?;
                let r = dispatch(t.clone(), format!("redis ({url})"), &args).await;
                t.purge_namespace().await?;
                r?
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_dispatch(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_dispatch(r: &DispatchReport) {
    println!(
        "fmn bench dispatch: {} messages, {} workers, {} dispatch, through {}",
        r.messages, r.workers, r.dispatch, r.transport
    );
    println!(
        "| worker | received | processed | share | deviation from {:.2}% |",
        100.0 / r.workers as f64
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for w in &r.per_worker {
        println!(
            "| {} | {} | {} | {:.3}% | {:+.3} points |",
            w.worker, w.received, w.processed, w.share_percent, w.deviation_points
        );
    }
    println!(
        "chi-square {:.3} ({} degrees of freedom), p = {:.3}; largest deviation {:.3} points",
        r.chi_square,
        r.workers.saturating_sub(1),
        r.p_value,
        r.max_deviation_points
    );
    println!(
        "end to end: {:.2} s, {:.0} messages/s",
        r.seconds, r.messages_per_second
    );
}

async fn dispatch<T: Transport>(
    transport: T,
    name: String,
    args: &DispatchArgs,
) -> Result<DispatchReport> {
    // No rule module: this measures dispatch, queues and acknowledgements, not evaluation.
    let ruleset = Arc::new(RuleSet::new(0, Vec::new())?);
    let plan = Arc::new(Plan::empty(&ruleset));
    let snapshot = fmn_host::worker::shared(ruleset, plan);
    let stop = CancellationToken::new();
    let ids: Vec<String> = (0..args.workers.max(1))
        .map(|i| format!("bench-w{i}"))
        .collect();
    let mut handles = Vec::new();
    for id in &ids {
        let opts = WorkerOptions {
            batch: 256,
            block: Duration::from_millis(100),
            ..WorkerOptions::new(id.clone())
        };
        handles.push(tokio::spawn(run_worker(
            transport.clone(),
            snapshot.clone(),
            opts,
            stop.clone(),
        )));
    }
    // Dispatch only once every worker is live, as the original experiment did.
    while transport.live_workers().await?.len() < ids.len() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut source = Generated::new(args.messages)?;
    let started = Instant::now();
    let report = consume(
        &transport,
        &mut source,
        &ConsumerOptions {
            batch: 512,
            ..Default::default()
        },
        &CancellationToken::new(),
    )
    .await?;
    loop {
        let counts = transport.worker_counts().await?;
        let processed: u64 = counts
            .iter()
            .filter(|c| ids.contains(&c.id))
            .map(|c| c.processed)
            .sum();
        if processed >= report.dispatched {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    for h in handles {
        h.await?;
    }
    let counts: Vec<_> = transport
        .worker_counts()
        .await?
        .into_iter()
        .filter(|c| ids.contains(&c.id))
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
    Ok(DispatchReport {
        messages: report.dispatched,
        workers: counts.len(),
        transport: name,
        dispatch: "random",
        per_worker,
        chi_square,
        p_value,
        max_deviation_points,
        seconds,
        messages_per_second: report.dispatched as f64 / seconds.max(1e-9),
    })
}
