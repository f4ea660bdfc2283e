//! `fmn rules test --prefs`: the module tried with real preferences, beside the modules a
//! worker runs, to see whom each message would notify.
//!
//! The preferences are compiled as a worker compiles them ([`PrefsSource::compile`]): a user
//! with a filter that cannot be planned (unknown rule, invalid arguments, ...) is left out,
//! their problems listed, and everyone else is tried. Notifications are made by the worker's
//! own [`fmn_host::worker::notifications`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use fmn_core::ChannelKind;
use fmn_core::prefs::PrefsProblem;
use fmn_host::{Evaluation, LoadedModule, ModuleVersion, Plan, PrefsSource, RuleSet, Sandbox};
use fmn_transport::{RedisTransport, WorkItem};
use serde::Serialize;

use super::{Setup, Tried};
use crate::config::Config;
use crate::setup;

/// The part of `fmn rules test`'s report that real preferences give.
#[derive(Serialize)]
pub(super) struct PrefsReport {
    /// The preferences file.
    prefs: String,
    /// The modules tried with, the one under test among them.
    modules: Vec<ModuleVersion>,
    /// Users compiled: those with something to receive and no problem.
    users: usize,
    /// The filters that could not be planned: their users were left out.
    pub(super) not_tried: Vec<NotTried>,
    /// Notifications per user, over every message.
    notified: BTreeMap<String, usize>,
}

/// A preference that could not be tried, and why.
#[derive(Serialize)]
pub(super) struct NotTried {
    user: String,
    channel: Option<ChannelKind>,
    filter: Option<String>,
    rule: Option<String>,
    why: String,
}

impl From<PrefsProblem> for NotTried {
    fn from(p: PrefsProblem) -> Self {
        let l = p.location;
        NotTried {
            user: l.user,
            channel: l.channel,
            filter: l.filter.map(|f| f.1),
            rule: l.rule.map(|r| r.1),
            why: p.problem,
        }
    }
}

/// A notification a message would make.
#[derive(Serialize)]
pub(super) struct Notify {
    user: String,
    channel: ChannelKind,
    filter: String,
}

/// The preferences at `path` compiled against the modules a worker runs with `module` among
/// them.
pub(super) async fn setup(
    path: &Path,
    module: &LoadedModule,
    sandbox: &Arc<Sandbox>,
    config: &Config,
) -> Result<Setup> {
    let ruleset = Arc::new(worker_ruleset(module, sandbox, config)?);
    // The binary's store is Redis; a file source never touches it.
    let source = PrefsSource::<RedisTransport>::File(path.to_path_buf());
    let compiled = source
        .compile(ruleset.clone(), None)
        .await
        .with_context(|| format!("cannot read the preferences {}", path.display()))?;
    let report = PrefsReport {
        prefs: path.display().to_string(),
        modules: ruleset.modules().iter().map(ModuleVersion::of).collect(),
        users: compiled.plan.stats().users,
        not_tried: compiled.problems.into_iter().map(NotTried::from).collect(),
        notified: BTreeMap::new(),
    };
    Ok(Setup {
        ruleset,
        plan: Arc::new(compiled.plan),
        tried: Tried::Prefs(report),
    })
}

/// The modules a worker runs (`[worker] rules`, else the bundled ones) with `module` in place
/// of the one of its name, as publishing it would put it.
fn worker_ruleset(
    module: &LoadedModule,
    sandbox: &Arc<Sandbox>,
    config: &Config,
) -> Result<RuleSet> {
    let paths = setup::rule_paths(config, &[]);
    let mut modules = setup::local_modules(sandbox, &paths)?;
    modules.retain(|m| m.name() != module.name());
    modules.push(module.clone());
    Ok(RuleSet::new(1, modules)?.with_meta_module(config.worker.meta_module.clone()))
}

impl PrefsReport {
    /// The notifications evaluation `ev` of `item` makes, counted per user.
    pub(super) fn count(&mut self, plan: &Plan, ev: &Evaluation, item: &WorkItem) -> Vec<Notify> {
        // Generation and worker only label the notifications, which are not kept.
        let made = fmn_host::worker::notifications(
            plan,
            ev,
            item,
            "fmn rules test",
            0,
            fmn_core::MessageCopy::Reference,
        );
        made.into_iter()
            .map(|n| {
                *self.notified.entry(n.user.clone()).or_default() += 1;
                Notify {
                    user: n.user,
                    channel: n.channel,
                    filter: n.filter,
                }
            })
            .collect()
    }

    /// The end of the text report: who was notified, what was not tried.
    pub(super) fn print_summary(&self) {
        for n in &self.not_tried {
            println!("NOT TRIED {}", n.describe());
        }
        let totals: Vec<String> = self
            .notified
            .iter()
            .map(|(user, n)| format!("{user} {n}"))
            .collect();
        println!(
            "notified ({} of {} users): {}",
            totals.len(),
            self.users,
            if totals.is_empty() {
                "nobody".into()
            } else {
                totals.join(", ")
            }
        );
        if !self.not_tried.is_empty() {
            let mut left_out: Vec<&str> = self.not_tried.iter().map(|n| n.user.as_str()).collect();
            left_out.sort_unstable();
            left_out.dedup();
            println!(
                "{} preference problems: their users ({}) were left out, as a worker leaves them out",
                self.not_tried.len(),
                left_out.join(", ")
            );
        }
    }
}

impl NotTried {
    fn describe(&self) -> String {
        let mut out = format!("user {:?}", self.user);
        if let Some(c) = self.channel {
            out.push_str(&format!(", channel {c}"));
        }
        if let Some(f) = &self.filter {
            out.push_str(&format!(", filter {f:?}"));
        }
        if let Some(r) = &self.rule {
            out.push_str(&format!(", rule {r}"));
        }
        format!("{out}: {}", self.why)
    }
}

/// A message's notifications, one line each.
pub(super) fn print_notify(notify: &[Notify]) {
    for n in notify {
        println!("  notify {} on {} ({:?})", n.user, n.channel, n.filter);
    }
}
