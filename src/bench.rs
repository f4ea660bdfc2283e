//! `fmn bench`: measurements, printed as tables or JSON. Figures go to docs/benchmarks.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::DispatchMode;
use fmn_consumer::source::{RawMessage, Source, SourceError};
use fmn_consumer::{ConsumerOptions, consume};
use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
use fmn_host::{LatencyLog, Plan, RuleSet, WorkerOptions, run_worker};
use fmn_transport::WorkerInfo;
use fmn_transport::{MemoryTransport, Transport};
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
    /// Deliveries per second into a real server, one at a time, beside a baseline in the same
    /// run (email: lettre's own pooled SMTP transport).
    Send(SendArgs),
    /// Evaluation alone (no I/O), on one thread, over real messages, for N generated users who
    /// each have FMN's three default filters on email and IRC.
    Eval(EvalArgs),
    /// What a hot reload costs at N generated users: loading a new module version, compiled
    /// or cached, and compiling the preferences again against reusing the plan.
    Reload(crate::bench_reload::ReloadArgs),
    /// What preferences kept in Redis cost at N generated users: the import, a worker's start
    /// (read and compile), and one user's change reaching a worker.
    Prefs(crate::bench_prefs::PrefsArgs),
    /// The whole pipeline as `fmn run` runs it, over M real messages for N generated users,
    /// in memory or on Redis: start-up, evaluation, notifications written, senders drained.
    Pipeline(crate::bench_pipeline::PipelineArgs),
}

/// `fmn bench eval` options.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Users, each with their own name, packages and FMN's default filters on two channels.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) users: usize,
    /// Bus messages as JSON lines (corpus lines with an `envelope` are accepted too); the
    /// bundled sample of 887 real messages if omitted.
    #[arg(long)]
    pub(crate) corpus: Option<std::path::PathBuf>,
    /// Evaluate the same rules compiled natively into this binary instead of the wasm module.
    #[arg(long)]
    pub(crate) native: bool,
    /// Timed passes over the corpus (after one warm-up pass).
    #[arg(long, default_value_t = 5)]
    pub(crate) rounds: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `fmn bench send` options.
#[derive(clap::Args)]
pub struct SendArgs {
    /// The channel; `email` is the one measured today.
    #[arg(long)]
    channel: ChannelKind,
    /// The SMTP server, `HOST:PORT` (e.g. `python3 tests/support/smtp_sink.py --port 2525 --dir DIR`).
    #[arg(long)]
    smtp: String,
    /// Mails sent by each contender.
    #[arg(long, default_value_t = 200)]
    mails: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
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
    /// How workers are picked: `random`, `p2c`, `shared`, or `all` (each in turn, in one run).
    #[arg(long, default_value = "all")]
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Real messages from the bundled corpus, cycled with fresh ids.
pub(crate) struct Generated {
    /// Each corpus message as JSON without its `msg_id` and opening brace: a message is
    /// `{"msg_id":"bench-N",` and this (or `}` after the id, for an empty object), so that
    /// making one costs what reading a line of a file would, not a parse and a serialisation.
    rests: Vec<Vec<u8>>,
    total: u64,
    next: u64,
    /// Messages per second to pace to; 0: as fast as the consumer reads.
    rate: u64,
    started: Option<Instant>,
}

impl Generated {
    pub(crate) fn new(total: u64, rate: u64) -> Result<Self> {
        let rests = setup::bundled::SAMPLE_MESSAGES
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(l)?;
                v.remove("msg_id");
                let text = serde_json::to_vec(&v)?;
                Ok(text[1..].to_vec())
            })
            .collect::<Result<Vec<Vec<u8>>, serde_json::Error>>()
            .context("the bundled sample is not JSON lines of objects")?;
        Ok(Generated {
            rests,
            total,
            next: 0,
            rate,
            started: None,
        })
    }

    /// One of each corpus message, as text.
    fn one_cycle(&self) -> Vec<String> {
        (0..self.rests.len() as u64)
            .map(|i| String::from_utf8_lossy(&self.message(i)).into_owned())
            .collect()
    }

    /// Message `i`: corpus message `i` modulo the corpus, with id `bench-{i}`.
    fn message(&self, i: u64) -> Vec<u8> {
        use std::io::Write as _;
        let rest = &self.rests[(i % self.rests.len() as u64) as usize];
        let mut bytes = Vec::with_capacity(rest.len() + 32);
        // Writing to a Vec cannot fail.
        let _ = write!(bytes, "{{\"msg_id\":\"bench-{i}\"");
        if rest.as_slice() != b"}" {
            bytes.push(b',');
        }
        bytes.extend_from_slice(rest);
        bytes
    }
}

impl Source for Generated {
    async fn next(&mut self, _max: usize) -> Option<Result<RawMessage, SourceError>> {
        if self.next >= self.total || self.rests.is_empty() {
            return None;
        }
        let i = self.next;
        if self.rate > 0 {
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = started + Duration::from_secs_f64(i as f64 / self.rate as f64);
            // Timers are coarse: wait only when more than a millisecond ahead.
            if due > Instant::now() + Duration::from_millis(1) {
                // Sources are cancel-safe: nothing is counted before the wait is over.
                tokio::time::sleep_until(due.into()).await;
            }
        }
        self.next += 1;
        Some(Ok(RawMessage {
            bytes: self.message(i),
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

pub async fn run(cmd: BenchCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Send(args) => send(args).await,
        BenchCommand::Eval(args) => crate::bench_eval::run(args, &config),
        BenchCommand::Reload(args) => crate::bench_reload::run(args, &config),
        BenchCommand::Prefs(args) => crate::bench_prefs::run(args, &config).await,
        BenchCommand::Pipeline(args) => crate::bench_pipeline::run(args, &config).await,
        BenchCommand::Dispatch(args) => {
            let modes: Vec<DispatchMode> = match args.dispatch.as_str() {
                "all" => DispatchMode::ALL.to_vec(),
                one => vec![
                    one.parse()
                        .map_err(|e| anyhow::anyhow!("--dispatch: {e}, or all"))?,
                ],
            };
            let report = if args.in_memory {
                let mut runs = Vec::new();
                for mode in modes {
                    runs.push(
                        mode_run(|| async { Ok(MemoryTransport::default()) }, mode, &args).await?,
                    );
                }
                DispatchReport {
                    workers: args.workers,
                    transport: "in-memory".into(),
                    modes: runs,
                    raw_redis_messages_per_second: None,
                }
            } else {
                let url = args
                    .redis
                    .clone()
                    .or_else(|| config.redis.url.clone())
                    .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
                let mut runs = Vec::new();
                for mode in modes {
                    // A namespace of its own per run, removed after it.
                    let fresh = || async {
                        let ns = format!(
                            "fmn-bench-{}-{}",
                            std::process::id(),
                            fmn_core::metrics::now_us()
                        );
                        setup::redis(&url, &ns).await
                    };
                    runs.push(mode_run(fresh, mode, &args).await?);
                }
                let ns = format!("fmn-bench-{}-raw", std::process::id());
                // The same bus messages fmn carries, so both move the same bytes.
                let payloads = Generated::new(1, 0)?.one_cycle();
                let raw = crate::bench_raw::raw_streams(
                    &url,
                    &ns,
                    args.messages,
                    args.workers,
                    &payloads,
                )
                .await
                .context("the raw Redis streams baseline")?;
                for r in &mut runs {
                    r.fraction_of_raw = Some(r.messages_per_second / raw.max(1e-9));
                }
                DispatchReport {
                    workers: args.workers,
                    transport: format!("redis ({url})"),
                    modes: runs,
                    raw_redis_messages_per_second: Some(raw),
                }
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
        let r = dispatch(&t, mode, messages, rate, args.workers, stall).await;
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

/// Runs `messages` through the consumer to `workers` worker loops. With `stall`, the last
/// worker reads one batch and then holds it, heartbeat on, until the others are done.
async fn dispatch<T: Transport>(
    transport: &T,
    mode: DispatchMode,
    messages: u64,
    rate: u64,
    workers: usize,
    stall: bool,
) -> Result<(ModeRun, Option<StallRun>)> {
    // No rule module: this measures dispatch, queues and acknowledgements, not evaluation.
    let ruleset = Arc::new(RuleSet::new(0, Vec::new())?);
    let plan = Arc::new(Plan::empty(&ruleset));
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let stop = CancellationToken::new();
    let ids: Vec<String> = (0..workers.max(1)).map(|i| format!("bench-w{i}")).collect();
    let serving = if stall {
        &ids[..ids.len() - 1]
    } else {
        &ids[..]
    };
    let latencies = Arc::new(LatencyLog::default());
    let mut handles = Vec::new();
    for id in serving {
        let opts = WorkerOptions {
            batch: 256,
            block: Duration::from_millis(100),
            latencies: Some(latencies.clone()),
            ..WorkerOptions::new(id.clone())
        };
        handles.push(tokio::spawn(run_worker(
            transport.clone(),
            snapshot.clone(),
            opts,
            stop.clone(),
        )));
    }
    let stalled = if stall {
        let id = ids[ids.len() - 1].clone();
        transport.register_worker(&WorkerInfo::local(&id)).await?;
        let t = transport.clone();
        let stop = stop.clone();
        Some(tokio::spawn(async move {
            let beat = async {
                loop {
                    let _ = t.heartbeat(&id).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            };
            // It reads until it gets a batch, then holds it and reads nothing more.
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
        }))
    } else {
        None
    };
    // Dispatch only once every worker is live, as the original experiment did.
    while transport.live_workers().await?.len() < ids.len() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut source = Generated::new(messages, rate)?;
    let started = Instant::now();
    let report = consume(
        transport,
        &mut source,
        &ConsumerOptions {
            batch: 512,
            dispatch: mode,
            ..Default::default()
        },
        &CancellationToken::new(),
    )
    .await?;
    let serving_processed = async || -> Result<u64> {
        Ok(transport
            .worker_counts()
            .await?
            .iter()
            .filter(|c| serving.contains(&c.id))
            .map(|c| c.processed)
            .sum())
    };
    let stalled_holds = async || -> Result<u64> {
        let Some(id) = ids.last().filter(|_| stall) else {
            return Ok(0);
        };
        let own = transport.backlogs(std::slice::from_ref(id)).await?[0].entries;
        let shared = transport
            .queue_depths()
            .await?
            .into_iter()
            .find(|q| q.name == fmn_transport::SHARED_QUEUE)
            .map_or(0, |q| q.pending);
        Ok(own + shared)
    };
    loop {
        if serving_processed().await? + stalled_holds().await? >= report.dispatched {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let held_by_stalled = stalled_holds().await?;
    stop.cancel();
    for h in handles {
        h.await?;
    }
    if let Some(s) = stalled {
        s.await?;
    }
    let sorted = latencies.sorted();
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
    let done = report.dispatched - held_by_stalled;
    let stall_run = stall.then(|| StallRun {
        messages: report.dispatched,
        held_by_stalled,
        seconds,
        messages_per_second: done as f64 / seconds.max(1e-9),
        latency_p50_ms: quantile_ms(&sorted, 0.5),
        latency_p99_ms: quantile_ms(&sorted, 0.99),
    });
    Ok((
        ModeRun {
            dispatch: mode.to_string(),
            messages: report.dispatched,
            per_worker,
            chi_square,
            p_value,
            max_deviation_points,
            seconds,
            messages_per_second: report.dispatched as f64 / seconds.max(1e-9),
            latency_p50_ms: quantile_ms(&sorted, 0.5),
            latency_p99_ms: quantile_ms(&sorted, 0.99),
            latency_max_ms: sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
            fraction_of_raw: None,
            stalled: None,
            paced: None,
        },
        stall_run,
    ))
}

#[derive(Serialize)]
struct SendFigure {
    sender: &'static str,
    mails: u64,
    seconds: f64,
    mails_per_second: f64,
    ms_per_mail: f64,
}

fn figure(sender: &'static str, mails: u64, seconds: f64) -> SendFigure {
    SendFigure {
        sender,
        mails,
        seconds,
        mails_per_second: mails as f64 / seconds.max(1e-9),
        ms_per_mail: 1000.0 * seconds / mails.max(1) as f64,
    }
}

async fn send(args: SendArgs) -> Result<ExitCode> {
    use fmn_senders::{EmailConfig, EmailSender, Sender};
    use lettre::AsyncTransport;

    anyhow::ensure!(
        args.channel == ChannelKind::Email,
        "only the email channel is measured today"
    );
    let (host, port) = args
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .context("--smtp is HOST:PORT")?;
    let line = setup::bundled::SAMPLE_MESSAGES
        .split(|b| *b == b'\n')
        .find(|l| l.windows(8).any(|w| w == b"buildsys"))
        .context("the bundled sample has a koji message")?;
    let envelope = Envelope::from_bus_json(line, 1 << 20)?;
    let n = Notification {
        delivery_id: fmn_core::delivery_id(&envelope.id, "bench", ChannelKind::Email),
        user: "bench".into(),
        channel: ChannelKind::Email,
        addresses: vec!["bench@example.org".into()],
        filter: "bench".into(),
        oneshot: false,
        attempts: 0,
        digest: None,
        generation: 0,
        worker: "bench".into(),
        meta: MessageMeta {
            summary: Some("a koji build".into()),
            ..Default::default()
        },
        message: (&envelope).into(),
    };
    let cfg = EmailConfig {
        host: host.clone(),
        port,
        tls: Default::default(),
        username: None,
        password: None,
        ca_file: None,
        from: "fmn bench <bench@example.org>".into(),
        timeout_secs: 30,
        preferences_url: None,
        list_id: None,
        unsubscribe_url: None,
        unsubscribe_secret: None,
    };
    let mut ours = EmailSender::new(&cfg)?;
    // One mail each first, so both measure warm pooled connections.
    ours.send(&n, "bench@example.org").await?;
    let started = Instant::now();
    for _ in 0..args.mails {
        ours.send(&n, "bench@example.org").await?;
    }
    let fmn = figure(
        "fmn email sender (TCP_NODELAY)",
        args.mails,
        started.elapsed().as_secs_f64(),
    );

    let lettre_transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
    let mail = || ours.compose(&n, "bench@example.org".parse().expect("a valid address"));
    lettre_transport.send(mail()?).await?;
    let started = Instant::now();
    for _ in 0..args.mails {
        lettre_transport.send(mail()?).await?;
    }
    let baseline = figure(
        "lettre AsyncSmtpTransport (baseline)",
        args.mails,
        started.elapsed().as_secs_f64(),
    );

    let figures = [fmn, baseline];
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "fmn bench send: {} mails each, one at a time, to {}",
            args.mails, args.smtp
        );
        println!("| sender | mails/s | ms per mail |\n| --- | ---: | ---: |");
        for f in &figures {
            println!(
                "| {} | {:.0} | {:.2} |",
                f.sender, f.mails_per_second, f.ms_per_mail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generated message is its corpus message with the id `bench-N` in place of its own.
    #[test]
    fn generated_messages_are_the_corpus_with_fresh_ids() {
        let corpus: Vec<serde_json::Value> = setup::bundled::SAMPLE_MESSAGES
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("the sample is JSON"))
            .collect();
        let source = Generated::new(0, 0).expect("the sample loads");
        for i in [
            0,
            1,
            corpus.len() as u64 - 1,
            corpus.len() as u64,
            3 * corpus.len() as u64 + 7,
        ] {
            let made: serde_json::Value =
                serde_json::from_slice(&source.message(i)).expect("a generated message is JSON");
            let mut want = corpus[(i % corpus.len() as u64) as usize].clone();
            want["msg_id"] = serde_json::Value::String(format!("bench-{i}"));
            assert_eq!(made, want, "message {i}");
        }
    }
}
