//! `fmn rules test`: a module over bus messages, evaluated as a worker evaluates them.
//!
//! Each rule under test becomes a one-filter user of its own, and every message goes through
//! the worker's evaluator: the same sandbox, index, topic pre-filter and relations. What it
//! prints is therefore what a worker would decide, not what the rule's function alone says.
//!
//! With `--prefs`, real preferences take the probe users' place (see `prefs`).

mod prefs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fmn_core::{Envelope, Preferences};
use fmn_host::{Evaluator, LoadedModule, QuarantinePolicy, RuleSet, Sandbox, WasmModule};
use fmn_rules_sdk::Extracted;
use fmn_transport::WorkItem;
use serde::Serialize;

use crate::config::Config;
use crate::setup;

/// `fmn rules test` options.
#[derive(clap::Args)]
pub struct TestArgs {
    /// The module file.
    module: PathBuf,
    /// Bus messages, one JSON object per line (fedmsg or fedora-messaging).
    #[arg(long)]
    messages: PathBuf,
    /// Test this rule only; by default every rule that needs no arguments.
    #[arg(long, conflicts_with = "prefs")]
    rule: Option<String>,
    /// The rule's arguments, a JSON object.
    #[arg(long, default_value = "{}", requires = "rule")]
    args: String,
    /// Preferences (TOML or JSON, as workers read them): show whom each message would notify,
    /// with the module beside the modules a worker runs, in place of the one of its name.
    #[arg(long)]
    prefs: Option<PathBuf>,
    #[command(flatten)]
    data: setup::DataFiles,
    /// Print every message, not only those something matched or failed on.
    #[arg(long, short)]
    verbose: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct MessageReport {
    line: usize,
    id: String,
    topic: String,
    #[serde(flatten)]
    outcome: Outcome,
    errors: Vec<String>,
    extracted: BTreeMap<String, serde_json::Value>,
    micros: f64,
}

#[derive(Serialize)]
struct Report {
    module: String,
    sha256: String,
    #[serde(flatten)]
    tried: Tried,
    messages: usize,
    unreadable: Vec<String>,
    errors: usize,
    /// Time per message in the evaluator (one call into the module, index lookups
    /// included), in microseconds.
    p50_micros: f64,
    p99_micros: f64,
    max_micros: f64,
    results: Vec<MessageReport>,
}

/// What a trial tries the rules with, and what it counts of them.
#[derive(Serialize)]
#[serde(untagged)]
enum Tried {
    /// One probe user per rule under test, named after it: which rules match.
    Rules {
        rules: Vec<String>,
        /// Rules left out because they need arguments (give `--rule` and `--args`).
        untested: Vec<String>,
        /// Messages each rule matched.
        matches: BTreeMap<String, usize>,
    },
    /// Real preferences: whom the messages notify.
    Prefs(prefs::PrefsReport),
}

/// What one message did, by [`Tried`].
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// The rules that matched it.
    Matched(Vec<String>),
    /// Who it notifies, on which channel, through which filter.
    Notify(Vec<prefs::Notify>),
}

impl Outcome {
    fn is_empty(&self) -> bool {
        match self {
            Outcome::Matched(m) => m.is_empty(),
            Outcome::Notify(n) => n.is_empty(),
        }
    }
}

/// What a trial evaluates with: the rules, the users compiled against them, and the report's
/// part that depends on which users those are.
struct Setup {
    ruleset: Arc<RuleSet>,
    plan: Arc<fmn_host::Plan>,
    tried: Tried,
}

/// The probe users of the rules `args` choose, against `module` alone.
fn probe_setup(args: &TestArgs, module: &LoadedModule) -> Result<Setup> {
    let d = &module.description;
    let (rules, untested) = chosen_rules(args, d)?;
    let prefs = probe_preferences(&d.name, &rules)?;
    let ruleset = Arc::new(RuleSet::new(1, vec![module.clone()])?);
    let plan = match fmn_host::Plan::build(&ruleset, &prefs) {
        Ok(p) => Arc::new(p),
        Err(problems) => {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("  rule {}: {}", p.location.user, p.problem))
                .collect();
            bail!("the rules cannot be registered:\n{}", list.join("\n"));
        }
    };
    let tried = Tried::Rules {
        matches: rules.iter().map(|r| (r.0.clone(), 0)).collect(),
        rules: rules.into_iter().map(|r| r.0).collect(),
        untested,
    };
    Ok(Setup {
        ruleset,
        plan,
        tried,
    })
}

/// Preferences with one user per rule, each with that rule as their only filter.
fn probe_preferences(module: &str, rules: &[(String, serde_json::Value)]) -> Result<Preferences> {
    let users: serde_json::Map<String, serde_json::Value> = rules
        .iter()
        .map(|(rule, args)| {
            let user = serde_json::json!({"channels": {"email": {
                "addresses": ["probe@localhost"],
                "filters": [{"name": rule, "rules": [{"rule": format!("{module}::{rule}"), "args": args}]}],
            }}});
            (rule.clone(), user)
        })
        .collect();
    let json = serde_json::json!({ "users": users }).to_string();
    Ok(Preferences::from_text("fmn rules test", &json, true)?)
}

fn extracted(module: &LoadedModule, message: &[u8]) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let names: Vec<&str> = module
        .description
        .extractors
        .iter()
        .map(|x| x.name.as_str())
        .collect();
    let indices: Vec<u32> = (0..names.len() as u32).collect();
    let result = module
        .instantiate()
        .and_then(|mut b| b.eval(message, &[], &indices));
    match result {
        Ok(o) => {
            for (name, r) in names.iter().zip(o.extracted) {
                let v = match r {
                    Ok(Extracted::Keys(k)) => serde_json::json!(k),
                    Ok(Extracted::Text(t)) => serde_json::json!(t),
                    Err(e) => serde_json::json!({ "error": e }),
                };
                out.insert((*name).to_owned(), v);
            }
        }
        Err(e) => {
            out.insert(
                "(module)".into(),
                serde_json::json!({ "error": e.to_string() }),
            );
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn read_module(path: &Path, sandbox: &Arc<Sandbox>) -> Result<LoadedModule> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(LoadedModule::wasm(WasmModule::from_bytes(
        sandbox,
        &bytes,
        &path.display().to_string(),
    )?))
}

/// The rules under test with their arguments, and those left out for needing arguments.
type Chosen = (Vec<(String, serde_json::Value)>, Vec<String>);

/// `--rule` with `--args`, or every rule that needs no arguments.
fn chosen_rules(args: &TestArgs, d: &fmn_rules_sdk::ModuleDescription) -> Result<Chosen> {
    if let Some(r) = &args.rule {
        if !d.rules.iter().any(|x| &x.name == r) {
            bail!("module {} has no rule {r:?}", d.name);
        }
        let a: serde_json::Value = serde_json::from_str(&args.args)
            .with_context(|| format!("--args is not JSON: {}", args.args))?;
        return Ok((vec![(r.clone(), a)], Vec::new()));
    }
    let (plain, with_args): (Vec<_>, Vec<_>) = d
        .rules
        .iter()
        .partition(|r| r.args.iter().all(|a| !a.required));
    Ok((
        plain
            .iter()
            .map(|r| (r.name.clone(), serde_json::json!({})))
            .collect(),
        with_args.iter().map(|r| r.name.clone()).collect(),
    ))
}

/// `fmn rules test`: exit code 2 when a message could not be read, a rule failed on one, or
/// (with `--prefs`) a preference could not be tried.
pub async fn run(args: TestArgs, config: Config) -> Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(&args.messages)
        .with_context(|| format!("cannot read {}", args.messages.display()))?;
    let sandbox = Sandbox::new(config.worker.sandbox())?;
    let module = read_module(&args.module, &sandbox)?;
    let setup = match &args.prefs {
        Some(path) => prefs::setup(path, &module, &sandbox, &config).await?,
        None => probe_setup(&args, &module)?,
    };
    let mut trial = Trial::new(&args, &config, module, setup)?;
    trial.warm_up(&text);
    for (i, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            trial.line(i + 1, line);
        }
    }
    let report = trial.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    let not_tried = matches!(&report.tried, Tried::Prefs(p) if !p.not_tried.is_empty());
    Ok(
        if report.errors == 0 && report.unreadable.is_empty() && !not_tried {
            std::process::ExitCode::SUCCESS
        } else {
            crate::cmd::problems_found()
        },
    )
}

/// One run of a module's rules over messages, as a worker's evaluator runs them.
struct Trial<'a> {
    args: &'a TestArgs,
    max_bytes: usize,
    module: LoadedModule,
    plan: Arc<fmn_host::Plan>,
    evaluator: Evaluator,
    report: Report,
    times: Vec<f64>,
}

impl<'a> Trial<'a> {
    fn new(
        args: &'a TestArgs,
        config: &Config,
        module: LoadedModule,
        setup: Setup,
    ) -> Result<Self> {
        let Setup {
            ruleset,
            plan,
            tried,
        } = setup;
        let relations = setup::load_relations(&args.data)?;
        if let Tried::Prefs(_) = tried {
            setup::warn_missing_data(&ruleset, &plan, &relations);
        }
        // Every message is evaluated, however often the module fails.
        let evaluator =
            Evaluator::new(ruleset, plan.clone(), relations).with_quarantine(QuarantinePolicy {
                after: u32::MAX,
                ..QuarantinePolicy::default()
            });
        let report = Report {
            module: module.name().to_owned(),
            sha256: module.version_id.clone(),
            tried,
            messages: 0,
            unreadable: Vec::new(),
            errors: 0,
            p50_micros: 0.0,
            p99_micros: 0.0,
            max_micros: 0.0,
            results: Vec::new(),
        };
        Ok(Trial {
            args,
            max_bytes: config.consumer.max_message_bytes,
            module,
            plan,
            evaluator,
            report,
            times: Vec::new(),
        })
    }

    /// The first call instantiates the module; it is made, untimed, before the others.
    fn warm_up(&mut self, text: &str) {
        if let Some(env) = text
            .lines()
            .find_map(|l| Envelope::from_bus_json(l.as_bytes(), self.max_bytes).ok())
        {
            self.evaluator
                .evaluate(env.rules_json().as_bytes(), &env.topic);
        }
    }

    /// Line `no` of the messages, evaluated and counted.
    fn line(&mut self, no: usize, line: &str) {
        let env = match Envelope::from_bus_json(line.as_bytes(), self.max_bytes) {
            Ok(e) => e,
            Err(e) => {
                let place = format!("{}:{no}", self.args.messages.display());
                self.report.unreadable.push(format!("{place}: {e}"));
                return;
            }
        };
        let item = WorkItem {
            envelope: env,
            origin: format!("{}:{no}", self.args.messages.display()),
            read_at_us: 0,
            failed: None,
        };
        let started = Instant::now();
        // As a worker evaluates it: again while a module only ran out of time on it.
        let ev = fmn_host::worker::evaluate(&mut self.evaluator, &item);
        let micros = started.elapsed().as_secs_f64() * 1e6;
        self.times.push(micros);
        self.report.messages += 1;
        let outcome = self.outcome(&ev, &item);
        let mut errors: Vec<String> = ev.failures.iter().map(|f| f.to_string()).collect();
        errors.extend(
            ev.rule_errors
                .iter()
                .map(|e| format!("rule {}: {}", e.rule, e.error)),
        );
        self.report.errors += errors.len();
        if self.args.verbose || !outcome.is_empty() || !errors.is_empty() {
            let env = item.envelope;
            self.report.results.push(MessageReport {
                line: no,
                extracted: extracted(&self.module, env.rules_json().as_bytes()),
                id: env.id,
                topic: env.topic,
                outcome,
                errors,
                micros,
            });
        }
    }

    /// What evaluation `ev` of `item` decided, counted.
    fn outcome(&mut self, ev: &fmn_host::Evaluation, item: &WorkItem) -> Outcome {
        match &mut self.report.tried {
            Tried::Rules { matches, .. } => {
                // Each probe user is named after their rule.
                let matched: Vec<String> = ev
                    .matches
                    .iter()
                    .filter_map(|m| self.plan.users.get(m.user as usize))
                    .map(|u| u.name.clone())
                    .collect();
                for m in &matched {
                    *matches.entry(m.clone()).or_default() += 1;
                }
                Outcome::Matched(matched)
            }
            Tried::Prefs(p) => Outcome::Notify(p.count(&self.plan, ev, item)),
        }
    }

    fn finish(mut self) -> Report {
        self.times.sort_by(f64::total_cmp);
        self.report.p50_micros = percentile(&self.times, 0.5);
        self.report.p99_micros = percentile(&self.times, 0.99);
        self.report.max_micros = self.times.last().copied().unwrap_or(0.0);
        self.report
    }
}

fn print_text(r: &Report) {
    for m in &r.results {
        print_message(m);
    }
    for u in &r.unreadable {
        println!("UNREADABLE {u}");
    }
    println!(
        "module {} ({}): {} messages, {} unreadable, {} errors",
        r.module,
        &r.sha256[..12.min(r.sha256.len())],
        r.messages,
        r.unreadable.len(),
        r.errors
    );
    println!(
        "time per message: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        r.p50_micros, r.p99_micros, r.max_micros
    );
    match &r.tried {
        Tried::Rules {
            rules,
            untested,
            matches,
        } => print_rules_summary(rules, untested, matches),
        Tried::Prefs(p) => p.print_summary(),
    }
}

fn print_message(m: &MessageReport) {
    println!(
        "line {}  {}  {}  ({:.1} µs)",
        m.line, m.id, m.topic, m.micros
    );
    match &m.outcome {
        Outcome::Matched(rules) if !rules.is_empty() => {
            println!("  matched: {}", rules.join(", "));
        }
        Outcome::Matched(_) => {}
        Outcome::Notify(n) => prefs::print_notify(n),
    }
    for e in &m.errors {
        println!("  ERROR: {e}");
    }
    for (name, v) in &m.extracted {
        let shown = match v {
            serde_json::Value::Array(a) if a.is_empty() => continue,
            serde_json::Value::Null => continue,
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {name}: {shown}");
    }
}

fn print_rules_summary(rules: &[String], untested: &[String], matches: &BTreeMap<String, usize>) {
    let hits: Vec<String> = matches
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(rule, n)| format!("{rule} {n}"))
        .collect();
    println!(
        "matches ({} of {} rules matched something): {}",
        hits.len(),
        rules.len(),
        if hits.is_empty() {
            "none".into()
        } else {
            hits.join(", ")
        }
    );
    if !untested.is_empty() {
        println!(
            "{} rules need arguments and were not tested: give --rule NAME --args JSON",
            untested.len()
        );
    }
}
