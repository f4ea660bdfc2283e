//! `fmn prefs`: preferences files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fmn_host::Plan;

use crate::config::Config;
use crate::setup;

/// `fmn prefs` subcommands.
#[derive(clap::Subcommand)]
pub enum PrefsCommand {
    /// Check a preferences file (TOML or JSON) against the rule modules: every problem is
    /// listed with its user, channel, filter and rule. Exits 1 if there is any.
    Check {
        /// The file.
        file: PathBuf,
        /// Rule module files or directories; the bundled modules if omitted.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
    },
}

pub async fn run(cmd: PrefsCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        PrefsCommand::Check { file, rules } => {
            let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
            let rule_paths = if rules.is_empty() {
                config.worker.rules.clone()
            } else {
                rules
            };
            let ruleset = setup::load_rules(&sandbox, &rule_paths)?;
            let name = file.display().to_string();
            let prefs = match fmn_core::Preferences::parse_path(&file) {
                Ok(p) => p,
                Err(e) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            match Plan::build(&ruleset, &prefs) {
                Ok(plan) => {
                    let s = plan.stats();
                    let filters: usize = prefs
                        .users
                        .values()
                        .flat_map(|u| u.channels.values())
                        .map(|c| c.filters.len())
                        .sum();
                    println!(
                        "{name}: ok: {} users ({} with something to receive), {filters} filters \
                         ({} distinct active), {} rules looked up by key, {} evaluated by modules",
                        prefs.users.len(),
                        s.users,
                        s.shapes,
                        s.keyed_rules,
                        s.guest_rules
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => {
                    println!("{name}: {} problem(s):", problems.len());
                    for p in problems {
                        println!("  {p}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
