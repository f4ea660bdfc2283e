//! `fmn bench`: measurements, printed as tables or JSON. Figures go to docs/benchmarks.md.

mod dispatch;
mod eval;
mod generated;
mod pipeline;
mod population;
mod predict;
mod prefs;
mod prefs_steady;
mod raw;
mod reload;
mod send;

use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;

/// `fmn bench` subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// The original experiment: dispatch messages at random to workers and count what each
    /// received, through the real Redis path (or the in-memory bus).
    Dispatch(dispatch::DispatchArgs),
    /// Deliveries per second into a real server, one at a time, beside a baseline in the same
    /// run (email: lettre's own pooled SMTP transport).
    Send(send::SendArgs),
    /// Evaluation alone (no I/O), on one thread, over real messages, for N generated users who
    /// each have FMN's three default filters on email and IRC.
    Eval(eval::EvalArgs),
    /// What a hot reload costs at N generated users: loading a new module version, compiled
    /// or cached, and compiling the preferences again against reusing the plan.
    Reload(reload::ReloadArgs),
    /// What preferences kept in Redis cost at N generated users: the import, a worker's start
    /// (read and compile), and one user's change reaching a worker.
    Prefs(prefs::PrefsArgs),
    /// The whole pipeline as `fmn run` runs it, over M real messages for N generated users,
    /// in memory or on Redis: start-up, evaluation, notifications written, senders drained.
    Pipeline(pipeline::PipelineArgs),
}

pub async fn run(cmd: BenchCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Send(args) => send::run(args).await,
        BenchCommand::Eval(args) => eval::run(args, &config),
        BenchCommand::Reload(args) => reload::run(args, &config),
        BenchCommand::Prefs(args) => prefs::run(args, &config).await,
        BenchCommand::Pipeline(args) => pipeline::run(args, &config).await,
        BenchCommand::Dispatch(args) => dispatch::run(args, &config).await,
    }
}
