//! `fmn bench pipeline`: the whole pipeline as `fmn run` runs it (consumer, workers, the file
//! senders), in memory or on Redis, over M real messages for N generated users, timed by stage.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use fmn_core::data::PACKAGERS;
use fmn_transport::MemoryTransport;
use serde::Serialize;

use crate::bench::eval::{corpus, memory, mentioned};
use crate::bench::generated::Generated;
use crate::bench::population::Population;
use crate::bench::predict;
use crate::cmd::run::{Parts, RunSummary, Stages, pipeline};
use crate::config::{Config, PrefsFrom};
use crate::setup;

/// `fmn bench pipeline` options.
#[derive(clap::Args)]
pub struct PipelineArgs {
    /// Users, generated as for `fmn bench eval`.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Messages: the bundled sample of real messages, repeated with unique ids.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Worker loops.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Run on Redis at this URL, in a namespace of the run's own, purged after.
    #[arg(long)]
    redis: Option<String>,
    /// Keep the generated inputs (prefs.json, owners.json, messages.jsonl) and the senders'
    /// output in this directory, for `fmn run` on the same inputs; a temporary one if omitted.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct PipelineReport {
    users: usize,
    messages: u64,
    workers: usize,
    transport: &'static str,
    /// The benchmark's own work before the run: users generated and written to files.
    inputs_seconds: f64,
    /// The preferences and ownership read, the plan compiled, the workers ready.
    startup_seconds: f64,
    /// From the start of intake: every message evaluated and acknowledged.
    evaluated_seconds: f64,
    /// Every notification acknowledged by its sender.
    written_seconds: f64,
    /// The senders stopped, digests and retries drained.
    drained_seconds: f64,
    /// Start-up plus the run to the senders drained.
    total_seconds: f64,
    /// Notifications the workers produced.
    notifications: u64,
    /// Notifications the senders delivered (a digest's count each).
    sent: u64,
    notifications_per_second: f64,
    /// Resident memory once the workers are ready (their plan built, the inputs dropped).
    rss_after_startup_mib: f64,
    peak_rss_mib: f64,
    prediction: SampleCheck,
}

/// A sample of the users: what they got against the independent prediction.
#[derive(Serialize)]
struct SampleCheck {
    users: usize,
    predicted: u64,
    delivered: u64,
}

/// The generated inputs, written where `fmn run` can read them, a user at a time.
fn write_inputs(dir: &Path, population: &Population) -> Result<()> {
    let relations = population.relations();
    let owners: serde_json::Map<String, serde_json::Value> = relations
        .tables()
        .filter(|(name, _)| *name == PACKAGERS)
        .flat_map(|(_, table)| table.iter())
        .map(|(pkg, users)| (pkg.clone(), serde_json::json!(users)))
        .collect();
    let path = dir.join("owners.json");
    let text = serde_json::json!({ "rpms": owners }).to_string();
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    let path = dir.join("prefs.json");
    write_prefs(&path, population).with_context(|| format!("writing {}", path.display()))
}

/// `{"users": {name: user, ...}}`, one user made and written at a time.
fn write_prefs(path: &Path, population: &Population) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"{\"users\":{")?;
    for i in 0..population.len() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, population.name(i))?;
        out.write_all(b":")?;
        serde_json::to_writer(&mut out, &population.user(i))?;
    }
    out.write_all(b"}}")?;
    out.flush()?;
    Ok(())
}

/// The messages `Generated` produces, as JSON lines, for `fmn run --messages`.
async fn write_messages(path: &Path, total: u64) -> Result<()> {
    use fmn_consumer::source::Source;
    let mut source = Generated::new(total, 0)?;
    let mut text = Vec::new();
    while let Some(m) = source.next(usize::MAX).await {
        text.extend_from_slice(&m?.bytes);
        text.push(b'\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub async fn run(args: PipelineArgs, config: &Config) -> Result<ExitCode> {
    let dir = match &args.keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("fmn-bench-pipeline-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let r = measure(&args, &dir, config).await;
    if args.keep.is_none() {
        // What the senders wrote is only a by-product here: the figures are the result.
        let _ = std::fs::remove_dir_all(&dir);
    }
    let r = r?;
    print(&r, args.json)?;
    if r.prediction.delivered != r.prediction.predicted {
        eprintln!("fmn bench pipeline: the sample's notifications differ from the prediction");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(args: &PipelineArgs, dir: &Path, config: &Config) -> Result<PipelineReport> {
    let generating = Instant::now();
    let messages = corpus(None)?;
    let (real_users, real_packages) = mentioned(&messages);
    let population = Population::new(args.users, &real_users, &real_packages);
    write_inputs(dir, &population)?;
    if args.keep.is_some() {
        write_messages(&dir.join("messages.jsonl"), args.messages).await?;
    }
    let inputs_seconds = generating.elapsed().as_secs_f64();
    // From here on, what `fmn run` on the same inputs would do.
    let started = Instant::now();
    let redis = match &args.redis {
        Some(url) => {
            let ns = format!(
                "{}-bench-pipeline-{}",
                config.redis.namespace,
                std::process::id()
            );
            let t = setup::redis(url, &ns).await?;
            t.purge_namespace().await?;
            Some(t)
        }
        None => None,
    };
    let ids: Vec<String> = (0..args.workers.max(1)).map(setup::worker_id).collect();
    let inputs = setup::WorkerInputs {
        rules: Vec::new(),
        prefs: Some(dir.join("prefs.json")),
        prefs_from: Some(PrefsFrom::File),
        example_prefs: false,
        data: setup::DataFiles {
            owners: Some(dir.join("owners.json")),
            ..Default::default()
        },
    };
    let workers = setup::workers(config, inputs, redis.as_ref(), ids.clone()).await?;
    let startup_seconds = started.elapsed().as_secs_f64();
    let rss_after_startup = memory().0;
    let parts = Parts {
        snapshot: workers.snapshot,
        ids,
        prefs_gate: workers.prefs_gate,
        out: dir.join("out"),
        on_redis: redis.is_some(),
    };
    let mut source = Generated::new(args.messages, 0)?;
    let summary = match &redis {
        Some(t) => {
            let r = pipeline(t.clone(), parts, &mut source, config).await;
            t.purge_namespace().await?;
            r?
        }
        None => pipeline(MemoryTransport::default(), parts, &mut source, config).await?,
    };
    let process = Process {
        inputs_seconds,
        startup_seconds,
        rss_after_startup_mib: rss_after_startup,
        // Before the sample check's own work.
        peak_rss_mib: memory().1,
    };
    let prediction = check_sample(&population, args.messages, &dir.join("out"))?;
    Ok(report(args, process, &summary, prediction))
}

/// What the run's summary does not hold: the time before it, and the process' memory.
struct Process {
    inputs_seconds: f64,
    startup_seconds: f64,
    rss_after_startup_mib: f64,
    peak_rss_mib: f64,
}

/// The notifications a sample of the users got, against the independent prediction.
fn check_sample(population: &Population, messages: u64, out: &Path) -> Result<SampleCheck> {
    let sample = predict::sample(population, 50, population.len() / 100);
    let lines: Vec<&[u8]> = setup::bundled::SAMPLE_MESSAGES
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let predicted = predict::predict(population, &sample, &lines, messages)?;
    let names: BTreeSet<String> = sample
        .iter()
        .map(|&i| population.name(i).to_owned())
        .collect();
    let delivered = predict::delivered(out, &names)?;
    Ok(SampleCheck {
        users: names.len(),
        predicted,
        delivered,
    })
}

fn report(
    args: &PipelineArgs,
    p: Process,
    s: &RunSummary,
    prediction: SampleCheck,
) -> PipelineReport {
    let Stages {
        evaluated,
        written,
        drained,
    } = s.stages;
    let notifications = s.workers.iter().map(|w| w.notifications).sum();
    PipelineReport {
        users: args.users,
        messages: args.messages,
        workers: args.workers.max(1),
        transport: if args.redis.is_some() {
            "redis"
        } else {
            "in-memory"
        },
        inputs_seconds: p.inputs_seconds,
        startup_seconds: p.startup_seconds,
        evaluated_seconds: evaluated,
        written_seconds: written,
        drained_seconds: drained,
        total_seconds: p.startup_seconds + drained,
        notifications,
        sent: s.notifications.iter().map(|c| c.sent).sum(),
        notifications_per_second: notifications as f64 / drained.max(1e-9),
        rss_after_startup_mib: p.rss_after_startup_mib,
        peak_rss_mib: p.peak_rss_mib,
        prediction,
    }
}

fn print(r: &PipelineReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "fmn bench pipeline: {} users, {} messages, {} workers, {} (inputs generated in {:.2} s)",
        r.users, r.messages, r.workers, r.transport, r.inputs_seconds
    );
    println!(
        "| start-up | evaluated | written | drained | total | notifications | sent | notifications/s | RSS after start-up | peak RSS |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {} | {} | {:.0} | {:.0} MiB | {:.0} MiB |",
        r.startup_seconds,
        r.evaluated_seconds,
        r.written_seconds,
        r.drained_seconds,
        r.total_seconds,
        r.notifications,
        r.sent,
        r.notifications_per_second,
        r.rss_after_startup_mib,
        r.peak_rss_mib
    );
    let p = &r.prediction;
    println!(
        "sample of {} users: {} notifications delivered, {} predicted independently{}",
        p.users,
        p.delivered,
        p.predicted,
        if p.delivered == p.predicted {
            ""
        } else {
            " (MISMATCH)"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_written_read_back_as_the_same_ownership() {
        let dir = tempfile::tempdir().unwrap();
        let messages = corpus(None).unwrap();
        let (users, packages) = mentioned(&messages);
        let population = Population::new(50, &users, &packages);
        write_inputs(dir.path(), &population).unwrap();
        let relations = population.relations();
        let prefs =
            fmn_core::prefs::Preferences::from_path(&dir.path().join("prefs.json")).unwrap();
        assert_eq!(prefs, population.preferences());
        let mut read = fmn_core::Relations::new();
        read.load_owners_file(&dir.path().join("owners.json"))
            .unwrap();
        assert!(relations.len(PACKAGERS) > 0);
        assert_eq!(read.len(PACKAGERS), relations.len(PACKAGERS));
        for (pkg, owners) in relations.tables().flat_map(|(_, t)| t.iter()) {
            let mut want = owners.clone();
            let mut got = read.get(PACKAGERS, pkg).to_vec();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{pkg}");
        }
    }
}
