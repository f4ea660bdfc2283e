//! `fmn prefs check FILE`: a preferences file against the rule modules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use fmn_core::Preferences;
use fmn_core::prefs::PrefsProblem;
use fmn_host::Plan;

use crate::config::Config;
use crate::setup;

/// Checks `file` against the rules (`rules`, else the configuration's, else the bundled):
/// exit code 2 with every problem, or the counts of what a worker would compile.
pub fn check(config: &Config, file: &Path, rules: Vec<PathBuf>, json: bool) -> Result<ExitCode> {
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let ruleset = setup::load_rules(&sandbox, &setup::rule_paths(config, &rules))?;
    let name = file.display().to_string();
    let prefs = match Preferences::parse_path(file) {
        Ok(p) => p,
        Err(e) => return Ok(unreadable(&name, &e.to_string(), json)),
    };
    Ok(match Plan::build(&ruleset, &prefs) {
        Ok(plan) => {
            passed(&name, &prefs, plan.stats(), json);
            ExitCode::SUCCESS
        }
        Err(problems) => {
            failed(&name, &problems, json);
            super::super::problems_found()
        }
    })
}

/// A file that does not parse is a problem found in it, not a failure to check.
fn unreadable(name: &str, why: &str, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"file": name, "ok": false, "unreadable": why, "problems": []})
        );
    } else {
        println!("{why}");
    }
    super::super::problems_found()
}

fn passed(name: &str, prefs: &Preferences, s: fmn_host::plan::PlanStats, json: bool) {
    let filters: usize = prefs
        .users
        .values()
        .flat_map(|u| u.channels.values())
        .map(|c| c.filters.len())
        .sum();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "file": name, "ok": true, "users": prefs.users.len(),
                "users_receiving": s.users, "filters": filters, "distinct_filters": s.shapes,
                "keyed_rules": s.keyed_rules, "topic_rules": s.topic_rules,
                "module_rules": s.guest_rules, "problems": [],
            })
        );
        return;
    }
    println!(
        "{name}: ok: {} users ({} with something to receive), {filters} filters \
         ({} distinct active); distinct rules: {} looked up by key, {} answered by \
         topic, {} evaluated by modules",
        prefs.users.len(),
        s.users,
        s.shapes,
        s.keyed_rules,
        s.topic_rules,
        s.guest_rules
    );
}

fn failed(name: &str, problems: &[PrefsProblem], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"file": name, "ok": false, "problems": problems})
        );
        return;
    }
    println!("{name}: {} problem(s):", problems.len());
    for p in problems {
        println!("  {p}");
    }
}
