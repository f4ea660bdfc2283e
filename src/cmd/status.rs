//! `fmn status`: what a deployment on Redis is doing, as the original experiment's table and
//! more: every worker, live or not, with its share of the messages; every queue's depth,
//! pending entries and oldest entry; the dead letters.

use std::process::ExitCode;

use anyhow::Result;
use fmn_transport::{Backlog, DeadLetters, QueueDepth, Registry, WorkQueue};
use serde::Serialize;

use crate::config::Config;
use crate::stats::chi_square_uniform;

/// `fmn status` options.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    redis: super::RedisArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// First forget the workers that are not live and hold no work (their work is handed to
    /// live ones by the janitor first): they leave the list for good, until they come back.
    #[arg(long)]
    forget: bool,
}

#[derive(Serialize)]
struct WorkerStatus {
    id: String,
    live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<String>,
    received: u64,
    processed: u64,
    notifications: u64,
    /// Percent of all messages dispatched.
    share: f64,
    /// Rule modules this worker holds in quarantine (it dead-letters the messages they were
    /// needed for, to replay), and rules it sets aside (their users' filters with them fail).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quarantined: Vec<String>,
}

#[derive(Serialize)]
struct Status {
    workers: Vec<WorkerStatus>,
    live_workers: usize,
    /// Chi-square p-value of the live workers' received counts against an even spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    spread_p_value: Option<f64>,
    queues: Vec<QueueDepth>,
    /// Entries in the live workers' queues and the shared queue, and the bound at which the
    /// consumer stops reading the bus (`[consumer] max_backlog` of this configuration).
    backlog: u64,
    max_backlog: u64,
    /// The bytes of work those queues hold, and the bound in bytes
    /// (`[consumer] max_backlog_bytes`): the consumer stops at whichever it reaches first.
    backlog_bytes: u64,
    max_backlog_bytes: u64,
    dead_letters: u64,
    /// Messages a module failed on as a whole, waiting to be evaluated again.
    work_retries: u64,
}

/// Runs `fmn status`.
pub async fn run(args: StatusArgs, config: Config) -> Result<ExitCode> {
    let t = args.redis.connect(&config).await?;
    if args.forget {
        // Not live means silent for longer than a worker's time to live.
        let forgotten = fmn_consumer::forget_silent(&t, fmn_transport::DEFAULT_WORKER_TTL).await?;
        eprintln!(
            "fmn status: forgot {} worker(s){}{}",
            forgotten.len(),
            if forgotten.is_empty() { "" } else { ": " },
            forgotten.join(", ")
        );
    }
    let live = t.live_workers().await?;
    let counts = t.worker_counts().await?;
    let fields = t.worker_fields().await?;
    let total: u64 = counts.iter().map(|c| c.received).sum();
    let workers: Vec<WorkerStatus> = counts
        .into_iter()
        .map(|c| {
            let f = fields.get(&c.id);
            WorkerStatus {
                live: live.binary_search(&c.id).is_ok(),
                host: f.and_then(|f| f.get("host").cloned()),
                pid: f.and_then(|f| f.get("pid").cloned()),
                share: 100.0 * c.received as f64 / total.max(1) as f64,
                quarantined: f
                    .and_then(|f| f.get("quarantined"))
                    .and_then(|q| serde_json::from_str(q).ok())
                    .unwrap_or_default(),
                received: c.received,
                processed: c.processed,
                notifications: c.notifications,
                id: c.id,
            }
        })
        .collect();
    let live_received: Vec<u64> = workers
        .iter()
        .filter(|w| w.live)
        .map(|w| w.received)
        .collect();
    let backlog =
        t.backlogs(&live).await?.into_iter().sum::<Backlog>() + t.shared_backlog().await?;
    let status = Status {
        backlog: backlog.entries,
        max_backlog: config.consumer.max_backlog,
        backlog_bytes: backlog.bytes,
        max_backlog_bytes: config.consumer.max_backlog_bytes,
        live_workers: live.len(),
        spread_p_value: (live_received.len() > 1).then(|| chi_square_uniform(&live_received).1),
        workers,
        queues: t.queue_depths().await?,
        dead_letters: t.dead_letter_count().await?,
        work_retries: t.work_retries_waiting().await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(s: &Status) {
    println!(
        "workers: {} live of {} registered",
        s.live_workers,
        s.workers.len()
    );
    println!(
        "  {:<32} {:<5} {:>10} {:>10} {:>13} {:>7}",
        "worker", "live", "received", "processed", "notifications", "share"
    );
    for w in &s.workers {
        println!(
            "  {:<32} {:<5} {:>10} {:>10} {:>13} {:>6.1}%",
            w.id,
            if w.live { "yes" } else { "no" },
            w.received,
            w.processed,
            w.notifications,
            w.share
        );
    }
    for w in s
        .workers
        .iter()
        .filter(|w| w.live && !w.quarantined.is_empty())
    {
        println!(
            "  {} holds in quarantine or sets aside: {} (messages a module was needed for are evaluated again later, then dead-lettered; a rule set aside fails its users' filters)",
            w.id,
            w.quarantined.join(", ")
        );
    }
    if let Some(p) = s.spread_p_value {
        println!("  spread over live workers: chi-square p = {p:.3}");
    }
    println!("queues:");
    println!(
        "  {:<38} {:>9} {:>9} {:>12}",
        "queue", "waiting", "pending", "oldest"
    );
    for q in &s.queues {
        let oldest = q
            .oldest_ms
            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "  {:<38} {:>9} {:>9} {:>12}",
            q.name, q.waiting, q.pending, oldest
        );
    }
    println!(
        "backlog: {} entries, {} bytes in the live workers' queues and the shared queue; the consumer stops reading at {} entries or {} bytes",
        s.backlog, s.backlog_bytes, s.max_backlog, s.max_backlog_bytes
    );
    println!("dead letters: {}", s.dead_letters);
    println!(
        "messages waiting to be evaluated again (a module failed on them): {}",
        s.work_retries
    );
}
