//! `fmn rules publish`, `unpublish` and `status`: rule modules shipped through Redis.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fmn_host::{Refusal, RulesReport, WasmModule};
use fmn_transport::{ModuleStore, RedisTransport, Registry};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;

/// `fmn rules publish` options.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The module file.
    module: PathBuf,
    #[command(flatten)]
    redis: crate::cmd::RedisArg,
    /// Publish even if the module fails validation here (workers will refuse it; for tests
    /// of that path). Needs `--name` when the module cannot describe itself.
    #[arg(long)]
    force: bool,
    /// The name to publish under; the module's own name by default.
    #[arg(long)]
    name: Option<String>,
    /// Seconds to wait for every live worker to run the new version or refuse it; 0 returns
    /// at once.
    #[arg(long, default_value_t = 30)]
    wait: u64,
    /// One JSON object on stdout: the publication and what each live worker did with it.
    #[arg(long)]
    json: bool,
}

/// `fmn rules unpublish` options.
#[derive(clap::Args)]
pub struct UnpublishArgs {
    /// The module's name.
    name: String,
    #[command(flatten)]
    redis: crate::cmd::RedisArg,
}

/// `fmn rules status` options.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    redis: crate::cmd::RedisArg,
    /// Include workers that are no longer live.
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `fmn rules status` shows.
#[derive(Serialize)]
struct Status {
    /// Bumped by every publication.
    publication: u64,
    /// Published modules: name -> sha256.
    published: BTreeMap<String, String>,
    workers: Vec<WorkerStatus>,
}

#[derive(Serialize)]
struct WorkerStatus {
    id: String,
    live: bool,
    host: Option<String>,
    pid: Option<String>,
    /// The rule set generation the worker loop evaluates with.
    generation: Option<u64>,
    /// What its process has loaded (absent for a worker without hot reload).
    rules: Option<RulesReport>,
}

impl WorkerStatus {
    /// Whether the worker evaluates with `sha` as module `name`.
    fn runs(&self, name: &str, sha: &str) -> bool {
        self.rules.as_ref().is_some_and(|r| {
            Some(r.generation) == self.generation
                && r.modules.iter().any(|m| m.name == name && m.sha256 == sha)
        })
    }

    /// Whether the worker is loading `sha`.
    fn loading(&self, sha: &str) -> bool {
        self.rules
            .as_ref()
            .is_some_and(|r| r.loading.iter().any(|x| x.sha256 == sha))
    }

    fn refused(&self, sha: &str) -> Option<&Refusal> {
        self.rules
            .as_ref()
            .and_then(|r| r.refused.iter().rev().find(|x| x.sha256 == sha))
    }
}

async fn status_of(t: &RedisTransport, all: bool) -> Result<Status> {
    let (publication, published) = t.published_modules().await?;
    let live = t.live_workers().await?;
    let mut workers = Vec::new();
    for (id, fields) in t.worker_fields().await? {
        let is_live = live.contains(&id);
        if !is_live && !all {
            continue;
        }
        let rules = match fields.get("rules") {
            Some(json) => Some(
                serde_json::from_str(json)
                    .with_context(|| format!("worker {id} reports unreadable rules: {json}"))?,
            ),
            None => None,
        };
        workers.push(WorkerStatus {
            live: is_live,
            host: fields.get("host").cloned(),
            pid: fields.get("pid").cloned(),
            generation: fields.get("generation").and_then(|g| g.parse().ok()),
            rules,
            id,
        });
    }
    Ok(Status {
        publication,
        published,
        workers,
    })
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// The module's name, unless it fails validation here (then only with `--force`).
fn validated_name(args: &PublishArgs, config: &Config, bytes: &[u8]) -> Result<String> {
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let origin = args.module.display().to_string();
    let own_name = match WasmModule::from_bytes(&sandbox, bytes, &origin) {
        Ok(m) => Some(m.name().to_owned()),
        Err(e) if args.force => {
            eprintln!("fmn rules publish: publishing anyway (--force): {e}");
            None
        }
        Err(e) => bail!("{e}\nnot published: workers would refuse it"),
    };
    match (args.name.clone(), own_name) {
        (Some(n), _) | (None, Some(n)) => Ok(n),
        (None, None) => bail!("--name is needed: the module cannot say its own name"),
    }
}

/// What one live worker did with a publication.
#[derive(Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
enum Outcome {
    /// It runs the module, at this generation of its rules.
    Runs { generation: u64 },
    /// It refused the module, for this reason.
    Refused { reason: String },
    /// Hot reload is off: it never takes publications.
    NoReload,
    /// It is still loading the module.
    Loading,
    /// Nothing yet.
    Pending,
}

/// One live worker and its outcome.
#[derive(Serialize)]
struct Uptake {
    worker: String,
    #[serde(flatten)]
    outcome: Outcome,
}

impl Uptake {
    fn of(w: &WorkerStatus, name: &str, sha: &str) -> Uptake {
        let outcome = if w.runs(name, sha) {
            Outcome::Runs {
                generation: w.generation.unwrap_or(0),
            }
        } else if let Some(r) = w.refused(sha) {
            Outcome::Refused {
                reason: r.reason.clone(),
            }
        } else if w.rules.is_none() {
            Outcome::NoReload
        } else if w.loading(sha) {
            Outcome::Loading
        } else {
            Outcome::Pending
        };
        Uptake {
            worker: w.id.clone(),
            outcome,
        }
    }

    fn line(&self, wait: u64) -> String {
        match &self.outcome {
            Outcome::Runs { generation } => format!("runs it (generation {generation})"),
            Outcome::Refused { reason } => format!("REFUSED it: {reason}"),
            Outcome::NoReload => "has hot reload turned off".into(),
            Outcome::Loading => format!("still loading it after {wait} s"),
            Outcome::Pending => format!("not yet after {wait} s"),
        }
    }
}

/// Waits up to `wait` seconds for every live worker to run `sha` or refuse it.
async fn rollout(t: &RedisTransport, name: &str, sha: &str, wait: u64) -> Result<Vec<Uptake>> {
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let status = status_of(t, false).await?;
        let pending = status
            .workers
            .iter()
            .any(|w| !w.runs(name, sha) && w.refused(sha).is_none());
        if !pending || Instant::now() >= deadline {
            return Ok(status
                .workers
                .iter()
                .map(|w| Uptake::of(w, name, sha))
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `fmn rules publish`: exit code 2 when a live worker refused it or did not take it in time.
pub async fn publish(args: PublishArgs, config: Config) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("cannot read {}", args.module.display()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let name = validated_name(&args, &config, &bytes)?;
    let t = args.redis.connect(&config).await?;
    let publication = t.publish_module(&name, &sha, &bytes).await?;
    if !args.json {
        println!(
            "published {name}@{} ({} bytes), publication {publication}",
            short(&sha),
            bytes.len()
        );
    }
    let uptake = if args.wait == 0 {
        Vec::new()
    } else {
        rollout(&t, &name, &sha, args.wait).await?
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({"module": name, "sha256": sha, "bytes": bytes.len(),
                "publication": publication, "workers": uptake})
        );
    } else if args.wait > 0 && uptake.is_empty() {
        println!("no live worker: each picks it up when it starts");
    } else {
        for u in &uptake {
            println!("  {}: {}", u.worker, u.line(args.wait));
        }
    }
    Ok(
        if uptake
            .iter()
            .all(|u| matches!(u.outcome, Outcome::Runs { .. }))
        {
            ExitCode::SUCCESS
        } else {
            crate::cmd::problems_found()
        },
    )
}

pub async fn unpublish(args: UnpublishArgs, config: Config) -> Result<ExitCode> {
    let t = args.redis.connect(&config).await?;
    if t.unpublish_module(&args.name).await? {
        println!(
            "{} withdrawn: workers go back to their own copy of it, if any",
            args.name
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("fmn rules unpublish: {} is not published", args.name);
        Ok(ExitCode::FAILURE)
    }
}

pub async fn status(args: StatusArgs, config: Config) -> Result<ExitCode> {
    let t = args.redis.connect(&config).await?;
    let status = status_of(&t, args.all).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    if status.published.is_empty() {
        println!("published: none");
    } else {
        println!("published (publication {}):", status.publication);
        for (name, sha) in &status.published {
            println!("  {name}@{}", short(sha));
        }
    }
    println!("workers: {}", status.workers.len());
    for w in &status.workers {
        let gen_ = w
            .generation
            .map(|g| format!("generation {g}"))
            .unwrap_or_else(|| "generation ?".into());
        println!(
            "  {}{} ({}, pid {}), {gen_}",
            w.id,
            if w.live { "" } else { " [gone]" },
            w.host.as_deref().unwrap_or("?"),
            w.pid.as_deref().unwrap_or("?"),
        );
        match &w.rules {
            None => println!("    hot reload off"),
            Some(r) => {
                for m in &r.modules {
                    println!("    {}@{}  {}", m.name, short(&m.sha256), m.origin);
                }
                for x in &r.loading {
                    println!("    loading {}@{}", x.module, short(&x.sha256));
                }
                for x in &r.refused {
                    println!(
                        "    refused {}@{}: {}",
                        x.module,
                        short(&x.sha256),
                        x.reason
                    );
                }
                println!("    data version {}", r.data_version);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
