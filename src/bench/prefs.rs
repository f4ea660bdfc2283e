//! `fmn bench prefs`: what preferences kept in Redis cost at N users: storing them
//! (`fmn prefs import`), a worker's start (reading them all, compiling them), one user's
//! change reaching a worker (the users changed since its version, applied to the plan; and,
//! for comparison, everything compiled again as before), and evaluation throughput while
//! changes keep coming.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fmn_host::{Evaluator, Plan, RuleSet};
use fmn_transport::redis::RedisOptions;
use fmn_transport::{PrefsDelta, PrefsStore, RedisTransport};
use serde::Serialize;

use crate::bench::eval::{corpus, memory, mentioned, population};
use crate::bench::prefs_steady::{Changes, SteadyRun};
use crate::config::Config;
use crate::setup;

/// `fmn bench prefs` options.
#[derive(clap::Args)]
pub struct PrefsArgs {
    /// Users, generated as for `fmn bench eval`.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Redis URL; default `[redis] url` of the configuration, else redis://127.0.0.1:6379.
    #[arg(long)]
    redis: Option<String>,
    /// User changes a second applied during the steady run.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of each steady run (without changes, then with, twice).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct PrefsReport {
    users: usize,
    rule_references: usize,
    /// Bytes of the users' JSON in Redis.
    stored_bytes: usize,
    import_ms: f64,
    /// A worker's start: every user read from Redis and decoded.
    load_ms: f64,
    /// A worker's start: the preferences compiled against the bundled module.
    compile_ms: f64,
    /// The process' resident memory before and after that compile (MiB).
    rss_before_plan_mib: f64,
    rss_after_plan_mib: f64,
    plan: fmn_host::plan::PlanStats,
    /// The plan's bytes by part (estimated).
    plan_memory: fmn_host::plan::PlanMemory,
    /// One user changed (`fmn prefs set`'s write).
    set_ms: f64,
    /// A worker catching up with it: the changed users read and applied to the preferences.
    catch_up_read_ms: f64,
    /// ... then the change applied to the plan, and the evaluator moved to the new plan.
    catch_up_apply_ms: f64,
    /// ... what it replaces: everything compiled again.
    catch_up_compile_ms: f64,
    /// 20 more changes of one user each, applied one after another: median and slowest.
    next_apply_median_ms: f64,
    next_apply_max_ms: f64,
    /// Evaluation over the corpus with no change, then with `rate` changes a second, twice.
    steady: Vec<SteadyRun>,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(args: PrefsArgs, config: &Config) -> Result<ExitCode> {
    let messages = corpus(None)?;
    let (real_users, real_packages) = mentioned(&messages);
    let (prefs, relations) = population(args.users, &real_users, &real_packages);
    let relations = Arc::new(relations);
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let ruleset = Arc::new(RuleSet::new(1, setup::bundled_modules(&sandbox)?)?);
    let url = args
        .redis
        .clone()
        .or_else(|| config.redis.url.clone())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let redis = RedisTransport::connect(
        &url,
        RedisOptions {
            namespace: format!("fmn-bench-prefs-{}", std::process::id()),
            response_timeout: Duration::from_secs(120),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("connecting to Redis at {url}"))?;

    let (sizes, start) = WorkerStart::measure(&redis, &ruleset, prefs).await?;
    let catch_up = CatchUp::measure(&redis, &ruleset, &relations, start).await?;
    redis.purge_namespace().await?;
    let changes = Changes::new(catch_up.loaded.users.iter(), 1000);
    let plan = catch_up.plan.clone();
    let (rate, seconds) = (args.rate, args.seconds);
    let (next_applies, steady) = tokio::task::spawn_blocking(move || {
        let mut next = crate::bench::prefs_steady::apply_one_by_one(&ruleset, &plan, &changes, 20);
        next.sort_by(f64::total_cmp);
        let mut runs = Vec::new();
        for _ in 0..2 {
            for r in [0.0, rate] {
                runs.push(crate::bench::prefs_steady::run(
                    &ruleset, &plan, &relations, &messages, &changes, r, seconds,
                ));
            }
        }
        (next, runs)
    })
    .await?;
    let r = PrefsReport {
        users: args.users,
        rule_references: sizes.0,
        stored_bytes: sizes.1,
        import_ms: catch_up.start.import_ms,
        load_ms: catch_up.start.load_ms,
        compile_ms: catch_up.start.compile_ms,
        rss_before_plan_mib: catch_up.start.rss_before_plan_mib,
        rss_after_plan_mib: catch_up.start.rss_after_plan_mib,
        plan: catch_up.plan.stats(),
        plan_memory: catch_up.plan.memory(),
        set_ms: catch_up.set_ms,
        catch_up_read_ms: catch_up.read_ms,
        catch_up_apply_ms: catch_up.apply_ms,
        catch_up_compile_ms: catch_up.compile_ms,
        next_apply_median_ms: next_applies
            .get(next_applies.len() / 2)
            .copied()
            .unwrap_or(0.0),
        next_apply_max_ms: next_applies.last().copied().unwrap_or(0.0),
        steady,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        r.print(&url);
    }
    Ok(ExitCode::SUCCESS)
}

/// A worker's start: preferences imported, read back and compiled.
struct WorkerStart {
    version: u64,
    loaded: fmn_core::Preferences,
    plan: Arc<Plan>,
    import_ms: f64,
    load_ms: f64,
    compile_ms: f64,
    rss_before_plan_mib: f64,
    rss_after_plan_mib: f64,
}

impl WorkerStart {
    /// Also returns the preferences' rule references and stored bytes.
    async fn measure(
        redis: &RedisTransport,
        ruleset: &Arc<RuleSet>,
        prefs: fmn_core::Preferences,
    ) -> Result<((usize, usize), WorkerStart)> {
        let rule_references = prefs
            .users
            .values()
            .flat_map(|u| u.channels.values())
            .flat_map(|c| c.filters.iter())
            .map(|f| f.rules.len())
            .sum();
        let stored_bytes = prefs
            .users
            .values()
            .map(|u| serde_json::to_string(u).map(|s| s.len()).unwrap_or(0))
            .sum();
        let t = Instant::now();
        let version = redis.import_prefs(&prefs).await?;
        let import_ms = ms(t.elapsed());
        drop(prefs);
        let t = Instant::now();
        let (_, loaded) = redis.load_prefs().await?;
        let load_ms = ms(t.elapsed());
        let (rss_before_plan_mib, _) = memory();
        let t = Instant::now();
        let rs = ruleset.clone();
        let (plan, loaded) =
            tokio::task::spawn_blocking(move || (Plan::build(&rs, &loaded), loaded)).await?;
        let compile_ms = ms(t.elapsed());
        let plan = Arc::new(plan.map_err(|p| {
            anyhow::anyhow!(
                "the generated preferences do not compile: {} problems",
                p.len()
            )
        })?);
        let (rss_after_plan_mib, _) = memory();
        let start = WorkerStart {
            version,
            loaded,
            plan,
            import_ms,
            load_ms,
            compile_ms,
            rss_before_plan_mib,
            rss_after_plan_mib,
        };
        Ok(((rule_references, stored_bytes), start))
    }
}

/// One user's change reaching a worker: read, applied to the plan, against compiling again.
struct CatchUp {
    start: WorkerStart,
    /// The preferences with the change.
    loaded: fmn_core::Preferences,
    plan: Arc<Plan>,
    set_ms: f64,
    read_ms: f64,
    apply_ms: f64,
    compile_ms: f64,
}

impl CatchUp {
    async fn measure(
        redis: &RedisTransport,
        ruleset: &Arc<RuleSet>,
        relations: &Arc<fmn_core::Relations>,
        mut start: WorkerStart,
    ) -> Result<CatchUp> {
        // One user drops a filter, as `fmn prefs set USER --remove-filter` does.
        let (name, mut user) = start
            .loaded
            .users
            .iter()
            .next()
            .map(|(n, u)| (n.clone(), u.clone()))
            .context("no user")?;
        for channel in user.channels.values_mut() {
            channel.filters.pop();
        }
        let t = Instant::now();
        redis.set_user_prefs(&name, Some(&user), None).await?;
        let set_ms = ms(t.elapsed());

        let t = Instant::now();
        let (_, delta) = redis.prefs_changes_since(start.version).await?;
        let PrefsDelta::Users(changed) = delta else {
            anyhow::bail!("expected one user's change, found a whole import");
        };
        let mut loaded = std::mem::take(&mut start.loaded);
        for (n, u) in &changed {
            match u {
                Some(u) => loaded.users.insert(n.clone(), u.clone()),
                None => loaded.users.remove(n),
            };
        }
        let read_ms = ms(t.elapsed());

        let (rs, before, rel) = (ruleset.clone(), start.plan.clone(), relations.clone());
        let apply_ms = tokio::task::spawn_blocking(move || {
            let mut evaluator = Evaluator::new(rs.clone(), before.clone(), rel.clone());
            let t = Instant::now();
            let applied = before.apply(&rs, changed.iter().map(|(n, u)| (n.as_str(), u.as_ref())));
            let moved =
                applied.problems.is_empty() && evaluator.advance(&rs, Arc::new(applied.plan), rel);
            moved.then(|| ms(t.elapsed()))
        })
        .await?
        .context("the change did not apply")?;
        let t = Instant::now();
        let rs = ruleset.clone();
        let (built, loaded) =
            tokio::task::spawn_blocking(move || (Plan::build(&rs, &loaded).is_ok(), loaded))
                .await?;
        let compile_ms = ms(t.elapsed());
        anyhow::ensure!(built, "the changed preferences do not compile");
        let plan = start.plan.clone();
        Ok(CatchUp {
            start,
            loaded,
            plan,
            set_ms,
            read_ms,
            apply_ms,
            compile_ms,
        })
    }
}

impl PrefsReport {
    fn print(&self, url: &str) {
        let r = self;
        println!(
            "fmn bench prefs: {} users, {} rule references, {:.1} MB of JSON in Redis ({url})",
            r.users,
            r.rule_references,
            r.stored_bytes as f64 / 1e6
        );
        for (what, ms) in [
            ("import (fmn prefs import's write)       ", r.import_ms),
            ("worker start: read and decode every user", r.load_ms),
            ("worker start: compile                   ", r.compile_ms),
        ] {
            println!("{what}   {ms:>9.0} ms");
        }
        println!(
            "one user changed (fmn prefs set's write)   {:>9.1} ms",
            r.set_ms
        );
        println!(
            "plan: {} users, {} shapes ({} unanchored), {} guest rules, {} keyed rules; RSS {:.0} -> {:.0} MiB",
            r.plan.users,
            r.plan.shapes,
            r.plan.unanchored,
            r.plan.guest_rules,
            r.plan.keyed_rules,
            r.rss_before_plan_mib,
            r.rss_after_plan_mib
        );
        let m = &r.plan_memory;
        println!(
            "plan memory (estimated): {:.0} MiB: users {:.0}, shapes {:.0}, anchors {:.0}, rules {:.0}, index {:.0}",
            mib(m.total()),
            mib(m.users),
            mib(m.shapes),
            mib(m.anchors),
            mib(m.rules),
            mib(m.index)
        );
        self.print_changes();
    }

    fn print_changes(&self) {
        let r = self;
        println!(
            "worker catch-up: read and apply the change {:>9.1} ms",
            r.catch_up_read_ms
        );
        println!(
            "worker catch-up: apply to the plan         {:>9.1} ms",
            r.catch_up_apply_ms
        );
        println!(
            "worker catch-up: compile again (before)    {:>9.0} ms",
            r.catch_up_compile_ms
        );
        println!(
            "20 more changes, one by one: apply median {:.1} ms, max {:.1} ms",
            r.next_apply_median_ms, r.next_apply_max_ms
        );
        for s in &r.steady {
            println!(
                "steady, {:>4.0} changes/s: {:>9.0} messages/s ({} plan swaps, apply mean {:.2} ms, max {:.2} ms)",
                s.changes_per_second,
                s.messages_per_second,
                s.swaps,
                s.apply_mean_ms,
                s.apply_max_ms
            );
        }
    }
}
