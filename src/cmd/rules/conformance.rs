//! `fmn rules conformance`: the modules' extractors against corpus files with known answers,
//! and their rules against recorded rule cases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use fmn_host::conformance::{self, Era, FIELDS, Outcome, Report};
use serde::Serialize;

use crate::config::Config;
use crate::setup;

/// `fmn rules conformance` options.
#[derive(clap::Args)]
pub struct ConformanceArgs {
    /// Corpus files (fedmsg.jsonl or fedora_messaging.jsonl format); with `--cases`, rule
    /// case files (fmn_rules_cases.jsonl format).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The files are rule cases: run each rule and compare with the recorded answer.
    #[arg(long)]
    cases: bool,
    /// Rule module files or directories; the bundled modules if omitted.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    data: setup::DataFiles,
    /// Print every disagreement too.
    #[arg(long)]
    misses: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CaseReport {
    tally: BTreeMap<&'static str, usize>,
    results: Vec<(String, String, Outcome)>,
}

pub async fn run(args: ConformanceArgs, config: Config) -> Result<ExitCode> {
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let modules = setup::local_modules(&sandbox, &args.rules)?;
    let relations = setup::load_relations(&args.data)?;
    let mut texts = Vec::new();
    for f in &args.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        texts.push((f.display().to_string(), text));
    }
    if args.cases {
        let mut report = CaseReport {
            tally: BTreeMap::new(),
            results: Vec::new(),
        };
        for (name, text) in &texts {
            for case in conformance::parse_cases(name, text)? {
                let outcome = conformance::run_case(&modules, &relations, &case);
                let key = match &outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail(_) => "fail",
                    Outcome::Missing => "missing",
                    Outcome::Informative => "informative",
                };
                *report.tally.entry(key).or_default() += 1;
                report.results.push((case.place, case.rule, outcome));
            }
        }
        let failed = report.tally.get("fail").copied().unwrap_or(0) > 0;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            for (place, rule, outcome) in &report.results {
                match outcome {
                    Outcome::Fail(why) => println!("FAIL {place}: {why}"),
                    Outcome::Missing => println!("MISSING {place}: no rule {rule}"),
                    Outcome::Informative if args.misses => {
                        println!("informative {place}: {rule} depends on data not included")
                    }
                    _ => {}
                }
            }
            let tally: Vec<String> = report
                .tally
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            println!("{} cases: {}", report.results.len(), tally.join(", "));
        }
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }

    let mut lines = Vec::new();
    for (name, text) in &texts {
        let (ok, skipped) = conformance::parse_corpus(name, text);
        lines.extend(ok);
        for e in skipped {
            eprintln!("fmn rules conformance: skipped {e}");
        }
    }
    let report = conformance::score(&modules, &relations, &lines);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.misses);
    }
    Ok(ExitCode::SUCCESS)
}

fn cell(s: Option<&conformance::Score>) -> String {
    match s {
        Some(s) if s.stated > 0 => format!("{}/{}", s.matched, s.stated),
        _ => "-".into(),
    }
}

fn print_report(r: &Report, misses: bool) {
    if misses {
        for m in &r.misses {
            println!(
                "{}: {}: expected {}, got {}",
                m.place,
                m.field,
                serde_json::to_string(&m.expected).unwrap_or_default(),
                m.got
                    .as_ref()
                    .map(|g| serde_json::to_string(g).unwrap_or_default())
                    .unwrap_or_else(|| "nothing".into())
            );
        }
        println!();
    }
    for (era, fields) in &r.fields {
        let era_name = match era {
            Era::Fedmsg => "fedmsg",
            Era::FedoraMessaging => "fedora-messaging",
        };
        println!("{era_name}:");
        println!("| field | stated | matched | rate |");
        println!("| --- | ---: | ---: | ---: |");
        for (field, _) in FIELDS {
            if let Some(s) = fields.get(field) {
                println!(
                    "| {field} | {} | {} | {:.1}% |",
                    s.stated,
                    s.matched,
                    100.0 * s.rate()
                );
            }
        }
        println!();
        let used: Vec<&str> = FIELDS
            .iter()
            .map(|f| f.0)
            .filter(|f| fields.contains_key(f))
            .collect();
        println!("| family | {} |", used.join(" | "));
        println!("| --- |{}", " ---: |".repeat(used.len()));
        for (family, scores) in r.families.get(era).into_iter().flatten() {
            let cells: Vec<String> = used.iter().map(|f| cell(scores.get(f))).collect();
            let name = if family.is_empty() { "(none)" } else { family };
            println!("| {name} | {} |", cells.join(" | "));
        }
        println!();
    }
}
