//! `fmn bench eval`: evaluation alone, on one thread, over real messages and generated users.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fmn_core::Envelope;
use fmn_host::{Evaluator, LoadedModule, RuleSet};
use fmn_rules_sdk::ModuleState;
use fmn_rules_sdk::abi::Extracted;
use serde::Serialize;

use crate::config::Config;
use crate::setup;

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

#[derive(Serialize)]
struct EvalReport {
    users: usize,
    backend: &'static str,
    messages: usize,
    rounds: usize,
    distinct_filters: usize,
    plan_seconds: f64,
    messages_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    notifications_per_message: f64,
    rss_mib_before_plan: f64,
    rss_mib_after_plan: f64,
    peak_rss_mib: f64,
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
pub(crate) fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The corpus as (envelope JSON rules see, topic).
pub(crate) fn corpus(path: Option<&std::path::Path>) -> Result<Vec<(String, String)>> {
    let text = match path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => String::from_utf8_lossy(setup::bundled::SAMPLE_MESSAGES).into_owned(),
    };
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // Corpus files wrap fedmsg messages in `envelope`; bus lines are messages themselves.
        let value: serde_json::Value = serde_json::from_str(line)?;
        let bus = match value.get("envelope") {
            Some(e) => e.to_string(),
            None => line.to_owned(),
        };
        if let Ok(env) = Envelope::from_bus_json(bus.as_bytes(), usize::MAX) {
            out.push((env.rules_json(), env.topic));
        }
    }
    if out.is_empty() {
        bail!("no bus message in the corpus");
    }
    Ok(out)
}

/// The usernames and packages the corpus mentions, most frequent first.
pub(crate) fn mentioned(messages: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let module = &fmn_rules::MODULE;
    let (u, p) = (
        module.extractor_index("usernames").unwrap_or(0) as u32,
        module.extractor_index("packages").unwrap_or(1) as u32,
    );
    let mut state = ModuleState::new(module);
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    let mut packages: BTreeMap<String, usize> = BTreeMap::new();
    for (json, _) in messages {
        let out = state.eval(json.as_bytes(), &[], &[u, p]);
        for (x, counts) in out.extracted.into_iter().zip([&mut users, &mut packages]) {
            if let Ok(Extracted::Keys(keys)) = x {
                for k in keys {
                    *counts.entry(k).or_default() += 1;
                }
            }
        }
    }
    let by_count = |m: BTreeMap<String, usize>| {
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    };
    (by_count(users), by_count(packages))
}

pub(crate) use crate::bench::population::population;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(args: EvalArgs, config: &Config) -> Result<ExitCode> {
    let messages = corpus(args.corpus.as_deref())?;
    let (real_users, real_packages) = mentioned(&messages);
    let (rss_before, _) = memory();
    let (prefs, relations) = population(args.users, &real_users, &real_packages);

    let module = if args.native {
        LoadedModule::native(&fmn_rules::MODULE)
    } else {
        let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
        setup::bundled_modules(&sandbox)?
            .into_iter()
            .next()
            .context("no bundled module")?
    };
    let ruleset = Arc::new(RuleSet::new(1, vec![module])?);
    let started = Instant::now();
    let plan = setup::compile(&ruleset, &prefs, "generated preferences")?;
    let plan_seconds = started.elapsed().as_secs_f64();
    drop(prefs);
    let (rss_after, _) = memory();

    let mut evaluator = Evaluator::new(ruleset, plan.clone(), Arc::new(relations));
    for (json, topic) in &messages {
        evaluator.evaluate(json.as_bytes(), topic);
    }
    let mut times = Vec::with_capacity(messages.len() * args.rounds);
    let mut notifications = 0usize;
    let total = Instant::now();
    for _ in 0..args.rounds.max(1) {
        for (json, topic) in &messages {
            let t = Instant::now();
            let ev = evaluator.evaluate(json.as_bytes(), topic);
            times.push(t.elapsed().as_secs_f64() * 1e6);
            notifications += ev.matches.len();
        }
    }
    let seconds = total.elapsed().as_secs_f64();
    let (_, peak) = memory();
    times.sort_by(f64::total_cmp);
    let evaluated = times.len();
    let report = EvalReport {
        users: args.users,
        backend: if args.native { "native" } else { "wasm" },
        messages: messages.len(),
        rounds: args.rounds.max(1),
        distinct_filters: plan.stats().shapes,
        plan_seconds,
        messages_per_second: evaluated as f64 / seconds,
        p50_us: percentile(&times, 0.5),
        p99_us: percentile(&times, 0.99),
        mean_us: times.iter().sum::<f64>() / evaluated.max(1) as f64,
        notifications_per_message: notifications as f64 / evaluated.max(1) as f64,
        rss_mib_before_plan: rss_before,
        rss_mib_after_plan: rss_after,
        peak_rss_mib: peak,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(ExitCode::SUCCESS)
}

impl EvalReport {
    fn print(&self) {
        let r = self;
        println!(
            "fmn bench eval: {} users x 2 channels x 3 filters ({} distinct), {} backend, {} messages x {} rounds",
            r.users, r.distinct_filters, r.backend, r.messages, r.rounds
        );
        println!(
            "| messages/s | p50 | p99 | mean | notifications/message | plan build | RSS after plan | peak RSS |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        println!(
            "| {:.0} | {:.1} us | {:.1} us | {:.1} us | {:.2} | {:.2} s | {:.0} MiB | {:.0} MiB |",
            r.messages_per_second,
            r.p50_us,
            r.p99_us,
            r.mean_us,
            r.notifications_per_message,
            r.plan_seconds,
            r.rss_mib_after_plan,
            r.peak_rss_mib
        );
    }
}
