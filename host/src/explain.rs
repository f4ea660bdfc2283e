//! Why a message reaches a user, or why not: the host evaluating that one user.
//!
//! An [`Explainer`] compiles one user's preferences twice against the loaded modules:
//!
//! - as they are, the plan a worker would hold for them: its evaluation says which channels
//!   notify and which filter decided, exactly as the pipeline decides (same [`Plan`], same
//!   [`Evaluator`]);
//! - as **probes**: every filter alone, and every rule of every filter alone, plain and
//!   negated, each as a user of its own. Their evaluation says whether each filter matches
//!   (inactive ones too) and what each rule answered: a rule that matched makes its plain
//!   probe match, one that did not makes its negated probe match, and one that failed makes
//!   neither (a failed rule fails its filter whether negated or not).
//!
//! Nothing here combines rules itself: which filter matches, and whether a channel notifies,
//! come from the host's own evaluation; the probes only name the rule that stopped a filter.

use std::collections::BTreeMap;
use std::sync::Arc;

use fmn_core::prefs::{Channel, Filter, Preferences, PrefsProblem, RuleRef, User};
use fmn_core::{ChannelKind, MessageMeta, Relations};
use serde::Serialize;

use crate::eval::{Evaluation, Evaluator};
use crate::plan::Plan;
use crate::ruleset::RuleSet;

/// What a rule answered on the message, before its filter's negation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "error")]
pub enum RuleVerdict {
    /// The rule matched.
    Matched,
    /// The rule did not match.
    DidNotMatch,
    /// The rule (or its module) failed on the message: its filter fails, negated or not.
    Failed(String),
}

/// One rule of a filter, and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleAnswer {
    /// `module::rule`.
    pub rule: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// The filter wants it not to match.
    pub negated: bool,
    /// What it answered.
    #[serde(flatten)]
    pub verdict: RuleVerdict,
}

impl RuleAnswer {
    /// Whether the rule lets its filter match: it matched, or did not and is negated.
    pub fn passes(&self) -> bool {
        match self.verdict {
            RuleVerdict::Matched => !self.negated,
            RuleVerdict::DidNotMatch => self.negated,
            RuleVerdict::Failed(_) => false,
        }
    }
}

/// One filter of a channel, and whether it matches the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterAnswer {
    /// Its name.
    pub name: String,
    /// Whether it is active: an inactive filter never notifies, but is answered all the same.
    pub active: bool,
    /// Whether it would match the message (all its rules pass).
    pub matched: bool,
    /// When it does not: the position of the first rule that stops it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<usize>,
    /// Its rules, in order.
    pub rules: Vec<RuleAnswer>,
}

/// One channel of the user, and whether the message reaches it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelAnswer {
    /// Which channel.
    pub channel: ChannelKind,
    /// Whether a worker sends a notification on it for this message.
    pub notified: bool,
    /// When notified: the filter that decided (the first, in order, that matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// In plain words, why or why not.
    pub reason: String,
    /// Its filters, in order.
    pub filters: Vec<FilterAnswer>,
}

/// Why a message reaches one user, channel by channel, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The user.
    pub user: String,
    /// What the extractors said about the message: whom and which packages it concerns.
    pub meta: MessageMeta,
    /// Every channel of the user's preferences, in order.
    pub channels: Vec<ChannelAnswer>,
    /// Modules that failed on the message as a whole: their rules count as failed.
    pub failures: Vec<String>,
}

/// Where a probe points: channel, filter and, for a rule probe, the rule and whether negated.
#[derive(Debug, Clone, Copy)]
enum Probe {
    Filter(ChannelKind, usize),
    Rule(ChannelKind, usize, usize, bool),
}

/// Explains messages for one user's preferences; build once, then ask per message.
pub struct Explainer {
    user: String,
    prefs: User,
    real: Evaluator,
    probes: Evaluator,
    /// By the probe plan's user position: what that probe stands for.
    probe_of: Vec<Option<Probe>>,
}

impl Explainer {
    /// Compiles `prefs`, `user`'s preferences, against `ruleset`, with `relations` the data
    /// workers answer keyed rules with. Fails with the problems `fmn prefs check` reports.
    pub fn new(
        ruleset: &Arc<RuleSet>,
        relations: &Arc<Relations>,
        user: &str,
        prefs: &User,
    ) -> Result<Explainer, Vec<PrefsProblem>> {
        let mut one = Preferences::default();
        one.users.insert(user.to_owned(), prefs.clone());
        let real = Plan::build(ruleset, &one)?;
        let (probe_prefs, names) = probe_preferences(prefs);
        let probe_plan = Plan::build(ruleset, &probe_prefs)?;
        let probe_of = probe_plan
            .users
            .iter()
            .map(|u| names.get(&u.name).copied())
            .collect();
        Ok(Explainer {
            user: user.to_owned(),
            prefs: prefs.clone(),
            real: Evaluator::new(ruleset.clone(), Arc::new(real), relations.clone()),
            probes: Evaluator::new(ruleset.clone(), Arc::new(probe_plan), relations.clone()),
            probe_of,
        })
    }

    /// Explains one message, given as the JSON rules see (`Envelope::rules_json`), and its
    /// topic.
    pub fn explain(&mut self, message: &[u8], topic: &str) -> Explanation {
        let real = self.real.evaluate(message, topic);
        let probes = self.probes.evaluate(message, topic);
        let decided = self.decided(&real);
        let mut answers = self.answers(&probes);
        let channels = self
            .prefs
            .channels
            .iter()
            .map(|(kind, ch)| {
                let filters = answers.remove(kind).unwrap_or_default();
                channel_answer(*kind, ch, decided.get(kind).cloned(), filters)
            })
            .collect();
        let mut failures: Vec<String> = real.failures.iter().map(|f| f.to_string()).collect();
        failures.extend(
            real.quarantined
                .iter()
                .map(|m| format!("module {m} is set aside after failing repeatedly")),
        );
        Explanation {
            user: self.user.clone(),
            meta: real.meta,
            channels,
            failures,
        }
    }

    /// What a worker decides for this user on one message, without the probes (half the
    /// work of [`Explainer::explain`]): the channels notified, each with the filter that
    /// decided, and what the extractors said. What a dry run over many messages needs.
    pub fn decide(
        &mut self,
        message: &[u8],
        topic: &str,
    ) -> (BTreeMap<ChannelKind, String>, MessageMeta) {
        let real = self.real.evaluate(message, topic);
        (self.decided(&real), real.meta)
    }

    /// The channels the real plan notifies, with the filter that decided.
    fn decided(&self, real: &Evaluation) -> BTreeMap<ChannelKind, String> {
        let plan = self.real.plan();
        real.matches
            .iter()
            .filter_map(|m| {
                let ch = plan
                    .users
                    .get(m.user as usize)?
                    .channels
                    .get(m.channel as usize)?;
                let name = plan.filter_name(m.user, m.channel, m.filter).to_owned();
                Some((ch.kind, name))
            })
            .collect()
    }

    /// Every filter's answer, by channel, from the probes' evaluation.
    fn answers(&self, probes: &Evaluation) -> BTreeMap<ChannelKind, Vec<FilterAnswer>> {
        let mut filter_matched = std::collections::HashSet::new();
        let mut rule_matched = std::collections::HashSet::new();
        for m in &probes.matches {
            match self.probe_of.get(m.user as usize).copied().flatten() {
                Some(Probe::Filter(k, f)) => {
                    filter_matched.insert((k, f));
                }
                Some(Probe::Rule(k, f, r, negated)) => {
                    rule_matched.insert((k, f, r, negated));
                }
                None => {}
            }
        }
        let mut out = BTreeMap::new();
        for (&kind, ch) in &self.prefs.channels {
            let filters = ch
                .filters
                .iter()
                .enumerate()
                .map(|(f, filter)| {
                    let rules = filter
                        .rules
                        .iter()
                        .enumerate()
                        .map(|(r, rule)| {
                            let verdict = if rule_matched.contains(&(kind, f, r, false)) {
                                RuleVerdict::Matched
                            } else if rule_matched.contains(&(kind, f, r, true)) {
                                RuleVerdict::DidNotMatch
                            } else {
                                RuleVerdict::Failed(failure_of(rule, probes))
                            };
                            RuleAnswer {
                                rule: rule.rule.clone(),
                                args: rule.args.clone(),
                                negated: rule.negated,
                                verdict,
                            }
                        })
                        .collect::<Vec<_>>();
                    let matched = filter_matched.contains(&(kind, f));
                    FilterAnswer {
                        name: filter.name.clone(),
                        active: filter.active,
                        matched,
                        stopped_by: (!matched)
                            .then(|| rules.iter().position(|r| !r.passes()))
                            .flatten(),
                        rules,
                    }
                })
                .collect();
            out.insert(kind, filters);
        }
        out
    }
}

/// Why `rule` failed on the message: its error, or its module's failure.
fn failure_of(rule: &RuleRef, ev: &Evaluation) -> String {
    let (module, name) = rule.split().unwrap_or(("", rule.rule.as_str()));
    // Errors name the arguments as the plan holds them (canonical JSON, cut to 200
    // characters): the same rule may fail with some arguments and not with others.
    let args: String = rule.args.to_string().chars().take(200).collect();
    let of_rule = |e: &&crate::eval::RuleError| e.module == module && e.rule == name;
    let error = ev.rule_errors.iter().filter(of_rule);
    if let Some(e) = error
        .clone()
        .find(|e| e.args == args)
        .or(error.clone().next())
    {
        return e.error.clone();
    }
    if let Some(f) = ev.failures.iter().find(|f| f.module == module) {
        return f.to_string();
    }
    if ev.quarantined.iter().any(|m| m == module) {
        return format!("module {module} is set aside after failing repeatedly");
    }
    "the rule could not be answered".into()
}

/// A channel's answer from what the real plan decided for it and its filters' answers.
fn channel_answer(
    kind: ChannelKind,
    ch: &Channel,
    decided: Option<String>,
    filters: Vec<FilterAnswer>,
) -> ChannelAnswer {
    let reason = match &decided {
        Some(f) => format!("filter {f:?} matched"),
        None if !ch.enabled => "the channel is switched off".into(),
        None if !ch.filters.iter().any(|f| f.active) => "the channel has no active filter".into(),
        None => match filters.iter().find(|f| f.active && f.matched) {
            // The probes and the plan disagree only when a module answered one and not the
            // other (it failed in between): say so rather than guess.
            Some(f) => format!(
                "filter {:?} matches, but the evaluation for the channel failed",
                f.name
            ),
            None => "no active filter matched".into(),
        },
    };
    ChannelAnswer {
        channel: kind,
        notified: decided.is_some(),
        filter: decided,
        reason,
        filters,
    }
}

/// The probes for `prefs`: one user per filter and two per rule (plain and negated), each with
/// one enabled channel holding that one active filter; and what each probe user stands for.
fn probe_preferences(prefs: &User) -> (Preferences, BTreeMap<String, Probe>) {
    let mut out = Preferences::default();
    let mut names = BTreeMap::new();
    let mut add = |probe: Probe, rules: Vec<RuleRef>| {
        let name = format!("probe-{}", names.len());
        let filter = Filter {
            name: name.clone(),
            active: true,
            oneshot: false,
            rules,
        };
        let channel = Channel {
            enabled: true,
            addresses: vec![name.clone()],
            digest: None,
            filters: vec![filter],
        };
        let user = User {
            channels: BTreeMap::from([(ChannelKind::Email, channel)]),
        };
        out.users.insert(name.clone(), user);
        names.insert(name, probe);
    };
    for (&kind, ch) in &prefs.channels {
        for (f, filter) in ch.filters.iter().enumerate() {
            add(Probe::Filter(kind, f), filter.rules.clone());
            for (r, rule) in filter.rules.iter().enumerate() {
                for negated in [false, true] {
                    let mut rule = rule.clone();
                    rule.negated = negated;
                    add(Probe::Rule(kind, f, r, negated), vec![rule]);
                }
            }
        }
    }
    (out, names)
}
