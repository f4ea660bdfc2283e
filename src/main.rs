//! `fmn`: a notification engine for message buses.
//!
//! One binary, one subcommand per part: `fmn run` (everything in one process), `fmn consume`,
//! `fmn worker`, `fmn send`, plus `fmn prefs`, `fmn rules` and `fmn bench`.

mod bench;
mod cmd;
mod config;
mod metrics_http;
mod progress;
mod setup;
mod stats;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc: glibc's malloc made the multi-threaded pipeline spend up to half of its time
/// allocating (docs/benchmarks.md, "A notification names its message; jemalloc; worker
/// batches of 256").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A notification engine for message buses: bus messages in, rule modules (wasm) decide who
/// wants them, senders deliver.
#[derive(Parser)]
#[command(name = "fmn", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML); keys can also be set as FMN__SECTION__KEY environment variables.
    #[arg(long, short, global = true, env = "FMN_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run consumer, workers and senders in one process: on an in-memory bus, or on Redis.
    /// With no arguments, replays bundled real bus messages against bundled example
    /// preferences and writes the notifications to files under ./fmn-out.
    Run(cmd::run::RunArgs),
    /// Read bus messages and dispatch each to a live worker, through Redis.
    Consume(cmd::consume::ConsumeArgs),
    /// Evaluate dispatched messages with the rule modules and users' preferences, through Redis.
    Worker(cmd::worker::WorkerArgs),
    /// Deliver one channel's notifications, through Redis.
    Send(cmd::send::SendArgs),
    /// Preferences: check a file against the rule modules; keep them in Redis.
    #[command(subcommand)]
    Prefs(cmd::prefs::PrefsCommand),
    /// Rule modules: create, build, test, list, publish to workers.
    #[command(subcommand)]
    Rules(cmd::rules::RulesCommand),
    /// What a deployment on Redis is doing: workers and their shares, queues, dead letters.
    Status(cmd::status::StatusArgs),
    /// The web service: one-click unsubscribe links and the JSON API, over the preferences
    /// workers follow.
    Serve(cmd::serve::ServeArgs),
    /// API tokens for the web service's JSON API: create, list, revoke.
    #[command(subcommand)]
    Tokens(cmd::tokens::TokensCommand),
    /// Dead letters in Redis: list them, replay what senders gave up on, purge.
    #[command(subcommand)]
    Dead(cmd::dead::DeadCommand),
    /// Ownership, group and alias data in Redis: import files, show what is held.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Measurements.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn init_logs(format: LogFormat) {
    // FMN_LOG first (an fmn deployment's own), then the ecosystem's RUST_LOG.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FMN_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fmn: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = config::Config::load(cli.config.as_deref())?;
        match cli.command {
            Command::Run(a) => cmd::run::run(a, config).await,
            Command::Consume(a) => cmd::consume::run(a, config).await,
            Command::Worker(a) => cmd::worker::run(a, config).await,
            Command::Send(a) => cmd::send::run(a, config).await,
            Command::Prefs(c) => cmd::prefs::run(c, config).await,
            Command::Rules(c) => cmd::rules::run(c, config).await,
            Command::Data(c) => cmd::data::run(c, config).await,
            Command::Dead(c) => cmd::dead::run(c, config).await,
            Command::Status(a) => cmd::status::run(a, config).await,
            Command::Serve(a) => cmd::serve::run(a, config).await,
            Command::Tokens(c) => cmd::tokens::run(c, config).await,
            Command::Bench(c) => bench::run(c, config).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fmn: {e:#}");
            ExitCode::FAILURE
        }
    }
}
