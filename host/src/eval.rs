//! Evaluating one message against a [`Plan`]: one call per module, then lookups.
//!
//! FMN's semantics: a filter matches when all its rules match (negated ones inverted); a
//! channel notifies when any of its active filters matches; one notification at most per
//! (user, channel). A rule whose module failed on the message, or that returned an error, makes
//! every filter containing it fail, negated or not: when in doubt, do not notify.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmn_core::{Backoff, MessageMeta, Relations};
use fmn_rules_sdk::abi::Extracted;
use fmn_rules_sdk::glob;

use crate::backend::Backend;
use crate::error::CallError;
use crate::isolate::Outcome;
use crate::plan::{Plan, Term};
use crate::ruleset::RuleSet;
use crate::topics::{TOPIC_CACHE_BYTES, TopicCache, TopicRules};

/// A (user, channel) that wants the message, and the first of its filters that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    /// Index into [`Plan::users`].
    pub user: u32,
    /// Index into that user's channels.
    pub channel: u32,
    /// Index into that channel's filters.
    pub filter: u32,
}

/// A rule that returned an error on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The module.
    pub module: String,
    /// The rule.
    pub rule: String,
    /// The arguments it was registered with (cut to 200 characters).
    pub args: String,
    /// The users whose filters contain it (the first 10): whose rule it is.
    pub users: Vec<String>,
    /// Its error.
    pub error: String,
}

/// What evaluating one message decided.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Who wants it, sorted by (user, channel).
    pub matches: Vec<Match>,
    /// What the extractors said about it.
    pub meta: MessageMeta,
    /// Modules that failed on it: their rules counted as failed.
    pub failures: Vec<CallError>,
    /// Rules that returned an error on it.
    pub rule_errors: Vec<RuleError>,
    /// Modules not called for it because they are quarantined: their rules counted as failed.
    pub quarantined: Vec<String>,
    /// Modules this message's failure put in quarantine, and for how long.
    pub newly_quarantined: Vec<(String, Duration)>,
}

/// When a module that keeps failing is set aside: after `after` failed calls in a row it is not
/// called for `first`, then, if it fails again at once, for twice as long, up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct QuarantinePolicy {
    /// Failed calls in a row that quarantine a module.
    pub after: u32,
    /// The first quarantine's length.
    pub first: Duration,
    /// The longest quarantine.
    pub max: Duration,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        QuarantinePolicy {
            after: 5,
            first: Duration::from_secs(30),
            max: Duration::from_secs(30 * 60),
        }
    }
}

/// How a module has been doing in this evaluator.
#[derive(Debug, Clone, Default)]
struct Health {
    failures_in_a_row: u32,
    quarantined_until: Option<Instant>,
    /// The quarantines' lengths once it was quarantined (on probation): each doubles the
    /// last while the module keeps failing.
    quarantines: Option<Backoff>,
}

impl Health {
    /// Whether it has failed since it last answered: counted, quarantined, or on probation.
    fn failed(&self) -> bool {
        self.failures_in_a_row > 0 || self.quarantined_until.is_some() || self.quarantines.is_some()
    }
}

/// Counts one more failure in a row; returns the quarantine it starts, if any.
fn penalise(h: &mut Health, policy: QuarantinePolicy) -> Option<Duration> {
    h.failures_in_a_row += 1;
    // After a quarantine, one more failure is enough to go back in.
    let probation = h.quarantines.is_some();
    if h.failures_in_a_row < policy.after && !probation {
        return None;
    }
    let length = h
        .quarantines
        .get_or_insert(Backoff::new(policy.first, policy.max))
        .next_delay();
    h.quarantined_until = Some(Instant::now() + length);
    h.failures_in_a_row = 0;
    Some(length)
}

/// What a module answered on a message: per rule of the call its outcome, and its extractors'
/// results.
type Answer = (Vec<Outcome>, Vec<Result<Extracted, String>>);

/// Calls a failed batch may cost to find its rules at fault: enough to isolate a few rules
/// among a million (each halving is one call per half).
const ISOLATION_CALLS: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    No,
    Yes,
    Failed,
}

enum SlotResult {
    Failed,
    Keys(Vec<String>),
    Text(Option<String>),
}

/// A live module in this evaluator: its instance and the handles of the plan's guest rules.
struct Live {
    backend: Box<dyn Backend>,
    handles: Vec<u32>,
}

/// Evaluates messages for one worker. Holds a live instance of each module, rebuilt after a
/// failure; not shared between threads.
pub struct Evaluator {
    policy: QuarantinePolicy,
    health: Vec<Health>,
    /// By module, by guest rule of the plan: rules set aside apart from their module.
    rule_health: Vec<Vec<Health>>,
    /// By module: whether a rule of it has ever been set aside in this evaluator, so that
    /// the others need not look.
    rules_aside: Vec<bool>,
    ruleset: Arc<RuleSet>,
    plan: Arc<Plan>,
    relations: Arc<Relations>,
    live: Vec<Option<Live>>,
    /// By module, by topic: the guest rules whose topics match.
    topic_rules: Vec<TopicCache>,
    guest: Vec<Vec<Verdict>>,
    slots: Vec<SlotResult>,
    seen: Vec<u32>,
    stamp: u32,
    handles: Vec<u32>,
    candidates: Vec<u32>,
}

impl Evaluator {
    /// An evaluator for `plan`, compiled against `ruleset`, answering rules keyed `via` a
    /// relation from `relations`.
    pub fn new(ruleset: Arc<RuleSet>, plan: Arc<Plan>, relations: Arc<Relations>) -> Self {
        let modules = ruleset.modules().len();
        Evaluator {
            policy: QuarantinePolicy::default(),
            health: vec![Health::default(); modules],
            rule_health: plan
                .modules
                .iter()
                .map(|m| vec![Health::default(); m.guest_rules.len()])
                .collect(),
            rules_aside: vec![false; modules],
            live: (0..modules).map(|_| None).collect(),
            topic_rules: (0..modules)
                .map(|_| TopicCache::new(TOPIC_CACHE_BYTES))
                .collect(),
            guest: plan
                .modules
                .iter()
                .map(|m| vec![Verdict::No; m.guest_rules.len()])
                .collect(),
            slots: Vec::new(),
            seen: vec![0; plan.shapes.len()],
            stamp: 0,
            handles: Vec::new(),
            candidates: Vec::new(),
            ruleset,
            plan,
            relations,
        }
    }

    /// Bounds each module's cache of topics and their rules to `bytes` (by default
    /// [`TOPIC_CACHE_BYTES`]).
    pub fn with_topic_cache_bytes(mut self, bytes: usize) -> Self {
        for c in &mut self.topic_rules {
            *c = TopicCache::new(bytes);
        }
        self
    }

    /// The bytes the topic caches hold now, all modules together (each is bounded on its own).
    pub fn topic_cache_bytes(&self) -> usize {
        self.topic_rules.iter().map(TopicCache::bytes).sum()
    }

    /// Uses `policy` to quarantine modules that keep failing.
    pub fn with_quarantine(mut self, policy: QuarantinePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The modules in quarantine now, and for how much longer.
    pub fn quarantined(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        self.health
            .iter()
            .enumerate()
            .filter_map(|(m, h)| {
                let until = h.quarantined_until.filter(|u| *u > now)?;
                Some((self.ruleset.modules()[m].name().to_owned(), until - now))
            })
            .collect()
    }

    /// Moves to `plan`, made from this evaluator's by changes of preferences ([`Plan::apply`]),
    /// and to `relations`: the live instances, the topic caches and every module's and rule's
    /// health carry over, and only the guest rules the changes appended are registered. False,
    /// and nothing changed, when `plan` is not for the same rule set or its guest rules are not
    /// this plan's with more appended: then make a new evaluator and
    /// [`Evaluator::keep_quarantines_of`].
    pub fn advance(
        &mut self,
        ruleset: &Arc<RuleSet>,
        plan: Arc<Plan>,
        relations: Arc<Relations>,
    ) -> bool {
        let derives = Arc::ptr_eq(ruleset, &self.ruleset)
            && plan.modules.len() == self.plan.modules.len()
            && plan
                .modules
                .iter()
                .zip(&self.plan.modules)
                .all(|(new, old)| new.guest_rules.starts_with(&old.guest_rules));
        if !derives {
            return false;
        }
        for (m, mp) in plan.modules.iter().enumerate() {
            let rules = mp.guest_rules.len();
            if rules > self.rule_health[m].len() {
                self.rule_health[m].resize(rules, Health::default());
                self.guest[m].resize(rules, Verdict::No);
                // The cached lists do not have the new rules.
                self.topic_rules[m].clear();
            }
        }
        self.seen.resize(plan.shapes.len(), 0);
        self.plan = plan;
        self.relations = relations;
        true
    }

    /// Takes over from `old` (the evaluator of the snapshot before) the quarantines and failure
    /// counts of the modules both run in the same version, and of their guest rules that are
    /// the same (same rule, same arguments) in both plans: new preferences or data (any user's
    /// edit makes a new plan) do not make a failing module or rule new again.
    pub fn keep_quarantines_of(&mut self, old: &Evaluator) {
        let ruleset = self.ruleset.clone();
        for (m, module) in ruleset.modules().iter().enumerate() {
            let same = old
                .ruleset
                .modules()
                .iter()
                .position(|o| o.name() == module.name() && o.version_id == module.version_id);
            if let Some(o) = same {
                self.health[m] = old.health[o].clone();
                self.keep_rule_health_of(m, old, o);
            }
        }
    }

    /// Takes over the health of the guest rules of module `o` in `old` that failed, for the
    /// same rules of module `m` (the same module version) in this plan.
    fn keep_rule_health_of(&mut self, m: usize, old: &Evaluator, o: usize) {
        let unwell: HashMap<(&str, &str), &Health> = old.rule_health[o]
            .iter()
            .enumerate()
            .filter(|(_, h)| h.failed())
            .map(|(r, h)| ((old.guest_rule_name(o, r), old.guest_args(o, r)), h))
            .collect();
        if unwell.is_empty() {
            return;
        }
        for r in 0..self.rule_health[m].len() {
            let key = (self.guest_rule_name(m, r), self.guest_args(m, r));
            if let Some(&h) = unwell.get(&key) {
                self.rules_aside[m] |= h.quarantined_until.is_some();
                self.rule_health[m][r] = h.clone();
            }
        }
    }

    /// The name of guest rule `r` of module `m`.
    fn guest_rule_name(&self, m: usize, r: usize) -> &str {
        let rule = self.plan.modules[m].guest_rules[r].rule as usize;
        self.ruleset.modules()[m]
            .description
            .rules
            .get(rule)
            .map_or("", |d| d.name.as_str())
    }

    /// The arguments (JSON) of guest rule `r` of module `m`.
    fn guest_args(&self, m: usize, r: usize) -> &str {
        &self.plan.modules[m].guest_rules[r].args
    }

    /// The names of the modules in quarantine now.
    pub fn quarantined_modules(&self) -> Vec<String> {
        self.quarantined().into_iter().map(|(m, _)| m).collect()
    }

    /// The guest rules set aside now, as `module: rule ARGS (users)`: what `fmn status` shows
    /// beside the quarantined modules.
    pub fn set_aside_rules(&self) -> Vec<String> {
        let now = Instant::now();
        let mut out = Vec::new();
        for (m, rules) in self.rule_health.iter().enumerate() {
            for (r, h) in rules.iter().enumerate() {
                if h.quarantined_until.is_some_and(|u| u > now) {
                    let e = self.rule_error(m, r, String::new());
                    out.push(format!(
                        "{}: rule {} {} (users {})",
                        e.module,
                        e.rule,
                        e.args,
                        e.users.join(", ")
                    ));
                }
            }
        }
        out
    }

    /// Records the outcome of a call to module `m`; returns the quarantine it starts, if any.
    fn record(&mut self, m: usize, ok: bool) -> Option<Duration> {
        let policy = self.policy;
        let h = &mut self.health[m];
        if ok {
            *h = Health::default();
            return None;
        }
        penalise(h, policy)
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The rule set.
    pub fn ruleset(&self) -> &Arc<RuleSet> {
        &self.ruleset
    }

    /// A live instance of module `m` with the plan's guest rules registered: those a change
    /// of preferences appended are registered in the instance that runs already.
    fn live(&mut self, m: usize) -> Result<&mut Live, CallError> {
        if self.live[m]
            .as_ref()
            .is_none_or(|l| l.backend.is_poisoned())
        {
            self.live[m] = None;
            let backend = self.ruleset.modules()[m].instantiate()?;
            self.live[m] = Some(Live {
                backend,
                handles: Vec::with_capacity(self.plan.modules[m].guest_rules.len()),
            });
        }
        let module = &self.ruleset.modules()[m];
        let rules = &self.plan.modules[m].guest_rules;
        let Some(live) = self.live[m].as_mut() else {
            return Err(unreachable_error(&self.ruleset, m));
        };
        while let Some(g) = rules.get(live.handles.len()) {
            match live.backend.register(g.rule as usize, g.args.as_bytes()) {
                Ok(Ok(h)) => live.handles.push(h),
                Ok(Err(reason)) => {
                    self.live[m] = None;
                    // The plan validated these arguments against the same module.
                    return Err(CallError {
                        module: module.name().to_owned(),
                        during: format!("registering rule #{}", g.rule),
                        kind: crate::error::FailureKind::BadOutput,
                        detail: format!("refused arguments it accepted before: {reason}"),
                    });
                }
                Err(e) => {
                    self.live[m] = None;
                    return Err(e);
                }
            }
        }
        self.live[m]
            .as_mut()
            .ok_or_else(|| unreachable_error(&self.ruleset, m))
    }

    /// Module `m`'s guest rules that apply to `topic`.
    fn rules_for_topic(&mut self, m: usize, topic: &str) -> Arc<TopicRules> {
        if let Some(r) = self.topic_rules[m].get(topic) {
            return r.clone();
        }
        let mut rules = TopicRules::default();
        for (i, g) in self.plan.modules[m].guest_rules.iter().enumerate() {
            if glob::any_matches(&g.topics, topic) {
                if g.exact {
                    &mut rules.exact
                } else {
                    &mut rules.call
                }
                .push(i as u32);
            }
        }
        self.topic_rules[m].insert(topic, rules)
    }

    /// Calls module `m` on the message for guest rules `rules` (positions in its plan) and
    /// its extractors: per rule its outcome, and the extractors' results. When the batched
    /// call fails, the rules at fault are isolated ([`crate::isolate`]); the module as a whole
    /// has failed only when it fails without any rule, or the rules at fault cannot be isolated.
    fn call_module(
        &mut self,
        m: usize,
        message: &[u8],
        rules: &[u32],
    ) -> Result<Answer, CallError> {
        let plan = self.plan.clone();
        let extractors = &plan.modules[m].extractors;
        let first = self.call_rules(m, message, rules, extractors);
        match first {
            Ok(o) if o.message_error.is_none() => {
                let outcomes = (0..rules.len())
                    .map(|pos| {
                        if let Some((_, e)) = o.errors.iter().find(|(k, _)| *k as usize == pos) {
                            Outcome::Error(e.clone())
                        } else if o.is_match(pos) {
                            Outcome::Match
                        } else {
                            Outcome::NoMatch
                        }
                    })
                    .collect();
                return Ok((outcomes, o.extracted));
            }
            Ok(o) => return Err(self.parse_failure(m, o.message_error.unwrap_or_default())),
            Err(e) if rules.is_empty() => return Err(e),
            Err(_) => {}
        }
        // Does the module fail on this message whatever the rules?
        let base = match self.call_rules(m, message, &[], extractors) {
            Ok(o) if o.message_error.is_none() => o,
            Ok(o) => return Err(self.parse_failure(m, o.message_error.unwrap_or_default())),
            Err(e) => return Err(e),
        };
        let outcomes = crate::isolate::isolate(rules.len(), ISOLATION_CALLS, |positions| {
            let subset: Vec<u32> = positions.iter().map(|&p| rules[p]).collect();
            self.call_rules(m, message, &subset, &[])
        });
        if let Some(Outcome::Unknown(e)) =
            outcomes.iter().find(|o| matches!(o, Outcome::Unknown(_)))
        {
            let mut e = e.clone();
            e.module = self.ruleset.modules()[m].name().to_owned();
            return Err(e);
        }
        Ok((outcomes, base.extracted))
    }

    /// One call into module `m` with the handles of guest rules `rules` and `extractors`.
    fn call_rules(
        &mut self,
        m: usize,
        message: &[u8],
        rules: &[u32],
        extractors: &[u32],
    ) -> Result<fmn_rules_sdk::abi::EvalOutput, CallError> {
        let mut handles = std::mem::take(&mut self.handles);
        let result = self.live(m).and_then(|live| {
            handles.clear();
            handles.extend(rules.iter().map(|&r| live.handles[r as usize]));
            live.backend.eval(message, &handles, extractors)
        });
        self.handles = handles;
        result
    }

    fn parse_failure(&self, m: usize, detail: String) -> CallError {
        CallError {
            module: self.ruleset.modules()[m].name().to_owned(),
            during: "parsing the message".into(),
            kind: crate::error::FailureKind::Trap,
            detail,
        }
    }

    /// The verdict of guest rule `r` of module `m` from its outcome; a rule that failed is
    /// reported against its own name and arguments, and set aside when it keeps failing.
    fn verdict(&mut self, m: usize, r: usize, outcome: Outcome, out: &mut Evaluation) -> Verdict {
        let failure = match outcome {
            Outcome::Match => {
                self.rule_health[m][r] = Health::default();
                return Verdict::Yes;
            }
            Outcome::NoMatch => {
                self.rule_health[m][r] = Health::default();
                return Verdict::No;
            }
            Outcome::Error(e) => {
                out.rule_errors.push(self.rule_error(m, r, e));
                return Verdict::Failed;
            }
            Outcome::Faulty(e) | Outcome::Unknown(e) => e,
        };
        let error = format!("{}: {}", failure.kind.as_str(), failure.detail);
        out.rule_errors.push(self.rule_error(m, r, error));
        let policy = self.policy;
        if let Some(length) = penalise(&mut self.rule_health[m][r], policy) {
            self.rules_aside[m] = true;
            let e = self.rule_error(m, r, String::new());
            out.newly_quarantined
                .push((format!("{}: rule {} {}", e.module, e.rule, e.args), length));
        }
        Verdict::Failed
    }

    /// Whether guest rule `r` of module `m` is set aside now; then its filters fail.
    fn rule_set_aside(&mut self, m: usize, r: usize) -> bool {
        let h = &self.rule_health[m][r];
        if h.quarantined_until.is_some_and(|u| u > Instant::now()) {
            self.guest[m][r] = Verdict::Failed;
            return true;
        }
        false
    }

    fn rule_error(&self, m: usize, r: usize, error: String) -> RuleError {
        RuleError {
            module: self.ruleset.modules()[m].name().to_owned(),
            rule: self.guest_rule_name(m, r).to_owned(),
            args: self.guest_args(m, r).chars().take(200).collect(),
            users: self
                .plan
                .users_of_guest_rule(m as u32, r as u32, 10)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            error,
        }
    }

    /// Evaluates one message, given as the envelope JSON rules see, and its topic.
    pub fn evaluate(&mut self, message: &[u8], topic: &str) -> Evaluation {
        let mut out = Evaluation::default();
        self.slots.clear();
        self.slots
            .extend(self.plan.anchors.iter().map(|_| SlotResult::Failed));
        let plan = self.plan.clone();
        for m in 0..plan.modules.len() {
            self.call_for(&plan, m, message, topic, &mut out);
        }
        self.name_accounts(&plan);
        self.follow_relations(&plan);
        out.matches = self.matches(&plan);
        out.meta = self.meta(&plan);
        out
    }

    /// Asks module `m` for its rules on this topic and its extractors, unless it is in
    /// quarantine, and records its verdicts and extracted values.
    fn call_for(
        &mut self,
        plan: &Plan,
        m: usize,
        message: &[u8],
        topic: &str,
        out: &mut Evaluation,
    ) {
        let mp = &plan.modules[m];
        self.guest[m].fill(Verdict::No);
        let topic_rules = self.rules_for_topic(m, topic);
        for &r in &topic_rules.exact {
            self.guest[m][r as usize] = Verdict::Yes;
        }
        let rules = &topic_rules.call;
        if rules.is_empty() && mp.extractors.is_empty() {
            return;
        }
        if self.health[m]
            .quarantined_until
            .is_some_and(|u| u > Instant::now())
        {
            out.quarantined
                .push(self.ruleset.modules()[m].name().to_owned());
            for &r in rules {
                self.guest[m][r as usize] = Verdict::Failed;
            }
            return;
        }
        // Only a module with rules set aside pays for leaving them out.
        let rules: std::borrow::Cow<'_, [u32]> = if self.rules_aside[m] {
            let kept: Vec<u32> = rules
                .iter()
                .copied()
                .filter(|&r| !self.rule_set_aside(m, r as usize))
                .collect();
            std::borrow::Cow::Owned(kept)
        } else {
            std::borrow::Cow::Borrowed(rules.as_slice())
        };
        let answer = self.call_module(m, message, &rules);
        let ok = answer.is_ok();
        if let Some(length) = self.record(m, ok) {
            out.newly_quarantined
                .push((self.ruleset.modules()[m].name().to_owned(), length));
        }
        let (outcomes, extracted) = match answer {
            Ok(a) => a,
            Err(e) => {
                out.failures.push(e);
                for &r in rules.iter() {
                    self.guest[m][r as usize] = Verdict::Failed;
                }
                return;
            }
        };
        for (outcome, &r) in outcomes.into_iter().zip(rules.iter()) {
            self.guest[m][r as usize] = self.verdict(m, r as usize, outcome, out);
        }
        self.store_extracted(plan, m, extracted, out);
    }

    /// Fills module `m`'s slots with what its extractors gave; a failed one is a rule error.
    fn store_extracted(
        &mut self,
        plan: &Plan,
        m: usize,
        extracted: Vec<Result<Extracted, String>>,
        out: &mut Evaluation,
    ) {
        let mp = &plan.modules[m];
        for (i, x) in extracted.into_iter().enumerate() {
            let slot = mp.slots[i] as usize;
            self.slots[slot] = match x {
                Ok(Extracted::Keys(k)) => SlotResult::Keys(k),
                Ok(Extracted::Text(t)) => SlotResult::Text(t),
                Err(e) => {
                    let module = &self.ruleset.modules()[m].description;
                    out.rule_errors.push(RuleError {
                        module: module.name.clone(),
                        rule: module
                            .extractors
                            .get(mp.extractors[i] as usize)
                            .map(|d| d.name.clone())
                            .unwrap_or_default(),
                        args: String::new(),
                        users: Vec::new(),
                        error: e,
                    });
                    SlotResult::Failed
                }
            };
        }
    }

    /// People are named by account: aliases resolved, other email addresses dropped, before
    /// the index is consulted.
    fn name_accounts(&mut self, plan: &Plan) {
        for &slot in &plan.meta.usernames {
            if let SlotResult::Keys(keys) = &mut self.slots[slot as usize] {
                let needs = keys.iter().any(|k| k.contains('@'))
                    || self.relations.len(fmn_core::data::ALIASES) > 0;
                if needs {
                    let mut mapped: Vec<String> = keys
                        .iter()
                        .filter_map(|k| self.relations.account(k).map(str::to_owned))
                        .collect();
                    mapped.sort();
                    mapped.dedup();
                    *keys = mapped;
                }
            }
        }
    }

    /// Fills the slots keyed through a relation from the slots they are based on.
    fn follow_relations(&mut self, plan: &Plan) {
        for (slot, base, relation) in &plan.via {
            let mapped = match &self.slots[*base as usize] {
                SlotResult::Keys(keys) => {
                    let mut v: Vec<String> = keys
                        .iter()
                        .flat_map(|k| self.relations.related(relation, k).map(str::to_owned))
                        .collect();
                    v.sort();
                    v.dedup();
                    SlotResult::Keys(v)
                }
                _ => SlotResult::Failed,
            };
            self.slots[*slot as usize] = mapped;
        }
    }

    /// The users and channels whose filters match: the shapes anchored on the slots' keys,
    /// and the unanchored ones, each checked once.
    fn matches(&mut self, plan: &Plan) -> Vec<Match> {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&plan.unanchored);
        for (slot, anchors) in plan.anchors.iter().enumerate() {
            if anchors.is_empty() {
                continue;
            }
            if let SlotResult::Keys(keys) = &self.slots[slot] {
                for key in keys {
                    if let Some(shapes) = anchors.get(key) {
                        candidates.extend_from_slice(shapes);
                    }
                }
            }
        }
        let mut matches = Vec::new();
        for &shape in &candidates {
            self.check_shape(plan, shape, &mut matches);
        }
        self.candidates = candidates;
        matches.sort();
        matches.dedup_by(|a, b| a.user == b.user && a.channel == b.channel);
        matches
    }

    fn check_shape(&mut self, plan: &Plan, shape: u32, matches: &mut Vec<Match>) {
        let seen = &mut self.seen[shape as usize];
        if *seen == self.stamp {
            return;
        }
        *seen = self.stamp;
        let s = &plan.shapes[shape as usize];
        for &(term, negated) in s.terms.iter() {
            let v = match term {
                Term::Keyed(k) => {
                    let kr = &plan.keyed[k as usize];
                    match &self.slots[kr.slot as usize] {
                        SlotResult::Keys(keys) => {
                            if kr.keys.iter().any(|k| keys.contains(k)) {
                                Verdict::Yes
                            } else {
                                Verdict::No
                            }
                        }
                        _ => Verdict::Failed,
                    }
                }
                Term::Guest { module, rule } => self.guest[module as usize][rule as usize],
            };
            match (v, negated) {
                (Verdict::Failed, _) | (Verdict::Yes, true) | (Verdict::No, false) => return,
                _ => {}
            }
        }
        matches.extend(s.subs.iter().map(|sub| Match {
            user: sub.user,
            channel: sub.channel,
            filter: sub.filter,
        }));
    }

    fn meta(&self, plan: &Plan) -> MessageMeta {
        let keys = |slots: &[u32]| -> Vec<String> {
            let mut all: Vec<String> = slots
                .iter()
                .filter_map(|&s| match &self.slots[s as usize] {
                    SlotResult::Keys(k) => Some(k.iter().cloned()),
                    _ => None,
                })
                .flatten()
                .collect();
            all.sort();
            all.dedup();
            all
        };
        let text = |slots: &[u32]| -> Option<String> {
            slots.iter().find_map(|&s| match &self.slots[s as usize] {
                SlotResult::Text(Some(t)) => Some(t.clone()),
                _ => None,
            })
        };
        MessageMeta {
            summary: text(&plan.meta.summary)
                .map(|s| self.relations.resolve_people(&s).into_owned()),
            link: text(&plan.meta.link),
            usernames: keys(&plan.meta.usernames),
            packages: keys(&plan.meta.packages),
        }
    }
}

fn unreachable_error(ruleset: &RuleSet, m: usize) -> CallError {
    CallError {
        module: ruleset.modules()[m].name().to_owned(),
        during: "instantiating".into(),
        kind: crate::error::FailureKind::Trap,
        detail: "no live instance".into(),
    }
}
