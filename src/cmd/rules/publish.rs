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
use crate::setup;

/// `fmn rules publish` options.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The module file.
    module: PathBuf,
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
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
}

/// `fmn rules unpublish` options.
#[derive(clap::Args)]
pub struct UnpublishArgs {
    /// The module's name.
    name: String,
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
}

/// `fmn rules status` options.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
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

async fn connect(arg: Option<String>, config: &Config) -> Result<RedisTransport> {
    let url = super::super::redis_url(arg, config)?;
    setup::redis(&url, &config.redis.namespace).await
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

pub async fn publish(args: PublishArgs, config: Config) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("cannot read {}", args.module.display()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let origin = args.module.display().to_string();
    let own_name = match WasmModule::from_bytes(&sandbox, &bytes, &origin) {
        Ok(m) => Some(m.name().to_owned()),
        Err(e) if args.force => {
            eprintln!("fmn rules publish: publishing anyway (--force): {e}");
            None
        }
        Err(e) => bail!("{e}\nnot published: workers would refuse it"),
    };
    let name = match (args.name, own_name) {
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => bail!("--name is needed: the module cannot say its own name"),
    };
    let t = connect(args.redis, &config).await?;
    let publication = t.publish_module(&name, &sha, &bytes).await?;
    println!(
        "published {name}@{} ({} bytes), publication {publication}",
        short(&sha),
        bytes.len()
    );
    if args.wait == 0 {
        return Ok(ExitCode::SUCCESS);
    }

    // Until every live worker runs it or has refused it.
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    loop {
        let status = status_of(&t, false).await?;
        let pending: Vec<&WorkerStatus> = status
            .workers
            .iter()
            .filter(|w| !w.runs(&name, &sha) && w.refused(&sha).is_none())
            .collect();
        if pending.is_empty() || Instant::now() >= deadline {
            let mut code = ExitCode::SUCCESS;
            if status.workers.is_empty() {
                println!("no live worker: each picks it up when it starts");
            }
            for w in &status.workers {
                if w.runs(&name, &sha) {
                    println!(
                        "  {}: runs it (generation {})",
                        w.id,
                        w.generation.unwrap_or(0)
                    );
                } else if let Some(r) = w.refused(&sha) {
                    println!("  {}: REFUSED it: {}", w.id, r.reason);
                    code = ExitCode::FAILURE;
                } else if w.rules.is_none() {
                    println!("  {}: has hot reload turned off", w.id);
                    code = ExitCode::FAILURE;
                } else if w.loading(&sha) {
                    println!("  {}: still loading it after {} s", w.id, args.wait);
                    code = ExitCode::FAILURE;
                } else {
                    println!("  {}: not yet after {} s", w.id, args.wait);
                    code = ExitCode::FAILURE;
                }
            }
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn unpublish(args: UnpublishArgs, config: Config) -> Result<ExitCode> {
    let t = connect(args.redis, &config).await?;
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
    let t = connect(args.redis, &config).await?;
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
