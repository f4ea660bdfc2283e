//! `fmn bench`: measurements, printed as tables or JSON. Figures go to docs/benchmarks.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_consumer::source::{RawMessage, Source, SourceError};
use fmn_consumer::{ConsumerOptions, consume};
use fmn_core::transport::{MemoryTransport, Transport};
use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
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
    /// Deliveries per second into a real server, one at a time, beside a baseline in the same
    /// run (email: lettre's own pooled SMTP transport).
    Send(SendArgs),
    /// Evaluation alone (no I/O), on one thread, over real messages, for N generated users who
    /// each have FMN's three default filters on email and IRC.
    Eval(EvalArgs),
    /// What a hot reload costs at N generated users: loading a new module version, compiled
    /// or cached, and compiling the preferences again against reusing the plan.
    Reload(crate::bench_reload::ReloadArgs),
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
    /// How workers are picked: `random` or `p2c`.
    #[arg(long, default_value = "random")]
    dispatch: String,
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
    dispatch: String,
    per_worker: Vec<WorkerShare>,
    chi_square: f64,
    p_value: f64,
    max_deviation_points: f64,
    seconds: f64,
    messages_per_second: f64,
    /// Raw Redis streams in the same run (Redis only): messages/s, and our share of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_redis_messages_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_raw: Option<f64>,
}

pub async fn run(cmd: BenchCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Send(args) => send(args).await,
        BenchCommand::Eval(args) => crate::bench_eval::run(args, &config),
        BenchCommand::Reload(args) => crate::bench_reload::run(args, &config),
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
                let mut r = r?;
                let payload = Generated::new(1)?
                    .lines
                    .first()
                    .map(|l| l.to_string())
                    .unwrap_or_default();
                let raw =
                    crate::bench_raw::raw_streams(&url, &ns, args.messages, args.workers, &payload)
                        .await
                        .context("the raw Redis streams baseline")?;
                r.raw_redis_messages_per_second = Some(raw);
                r.fraction_of_raw = Some(r.messages_per_second / raw.max(1e-9));
                r
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
    if let (Some(raw), Some(f)) = (r.raw_redis_messages_per_second, r.fraction_of_raw) {
        println!(
            "raw Redis streams in the same run (XADD in MULTI of 512, XREADGROUP of 256, XACK+XDEL; no parsing, choice or evaluation): {raw:.0} messages/s; fmn end to end is {:.0}% of it",
            100.0 * f
        );
    }
}

async fn dispatch<T: Transport>(
    transport: T,
    name: String,
    args: &DispatchArgs,
) -> Result<DispatchReport> {
    let mode: fmn_consumer::DispatchMode = args
        .dispatch
        .parse()
        .map_err(|e| anyhow::anyhow!("--dispatch: {e}"))?;
    // No rule module: this measures dispatch, queues and acknowledgements, not evaluation.
    let ruleset = Arc::new(RuleSet::new(0, Vec::new())?);
    let plan = Arc::new(Plan::empty(&ruleset));
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
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
            dispatch: mode,
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
        dispatch: args.dispatch.clone(),
        per_worker,
        chi_square,
        p_value,
        max_deviation_points,
        seconds,
        messages_per_second: report.dispatched as f64 / seconds.max(1e-9),
        raw_redis_messages_per_second: None,
        fraction_of_raw: None,
    })
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
        digest: None,
        generation: 0,
        worker: "bench".into(),
        meta: MessageMeta {
            summary: Some("a koji build".into()),
            ..Default::default()
        },
        message: envelope,
    };
    let cfg = EmailConfig {
        host: host.clone(),
        port,
        tls: Default::default(),
        username: None,
        password: None,
        from: "fmn bench <bench@example.org>".into(),
        timeout_secs: 30,
        preferences_url: None,
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
