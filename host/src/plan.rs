//! Users' preferences compiled against the loaded modules, into what evaluation needs:
//!
//! - every distinct (rule, arguments) once: a **guest rule** (registered in the module, which
//!   decodes its arguments once) or, for rules declared `key(...)`, a **keyed rule**: "this
//!   argument is among that extractor's keys", answered by the host with a lookup;
//! - every distinct filter once, as a **shape** (its rules, AND-ed) with the (user, channel,
//!   filter) that subscribe to it;
//! - an **anchor index** from (extractor, key) to the shapes that cannot match unless that key
//!   is extracted, so a message is checked only against the filters its keys point to, plus
//!   the few shapes without a keyed rule. The cost per message grows with the message, not
//!   with the number of users.

use std::collections::HashMap;

use fmn_core::ChannelKind;
use fmn_core::prefs::{Digest, Location, Preferences, PrefsProblem};
use fmn_rules_sdk::ExtractorKind;
use fmn_rules_sdk::describe::RuleDescription;

use crate::backend::Backend;
use crate::error::CallError;
use crate::ruleset::RuleSet;

/// A rule the module evaluates: registered once per module instance.
#[derive(Debug, Clone)]
pub(crate) struct GuestRule {
    pub(crate) rule: u32,
    pub(crate) args: String,
    pub(crate) topics: Vec<String>,
    /// The rule is exactly "the topic matches `topics`": answered without calling the module.
    pub(crate) exact: bool,
}

/// A rule the host answers: is any of `keys` among the keys in extractor slot `slot`?
#[derive(Debug, Clone)]
pub(crate) struct KeyedRule {
    pub(crate) slot: u32,
    /// Sorted, without duplicates; one for most rules, several for a list argument.
    pub(crate) keys: Vec<String>,
}

/// The keys a keyed rule's argument names: a string is one key, an array of strings several
/// (any of them matches).
pub(crate) fn key_values(
    arg: &str,
    value: Option<&serde_json::Value>,
) -> Result<Vec<String>, String> {
    let mut keys = match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    format!("argument `{arg}` must hold strings to be looked up, found {v}")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "argument `{arg}` must be a string or a list of strings to be looked up, found {other}"
            ));
        }
        None => return Err(format!("argument `{arg}` is required")),
    };
    keys.sort();
    keys.dedup();
    Ok(keys)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Term {
    /// `keyed[i]`: checked first, it is a lookup.
    Keyed(u32),
    /// Guest rule `rule` of module `module`.
    Guest { module: u32, rule: u32 },
}

/// A distinct filter: its terms (AND-ed; `true` = negated) and who uses it.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) terms: Vec<(Term, bool)>,
    pub(crate) subs: Vec<Sub>,
}

/// A (user, channel, filter) that uses a shape; indices into [`Plan::users`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sub {
    pub(crate) user: u32,
    pub(crate) channel: u32,
    pub(crate) filter: u32,
}

/// What a module is asked for on every message.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModulePlan {
    pub(crate) guest_rules: Vec<GuestRule>,
    /// The module's extractor indices requested on every message, and the slot of each.
    pub(crate) extractors: Vec<u32>,
    pub(crate) slots: Vec<u32>,
}

/// Slots of the extractors whose results go into every notification.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetaSlots {
    pub(crate) usernames: Vec<u32>,
    pub(crate) packages: Vec<u32>,
    pub(crate) summary: Vec<u32>,
    pub(crate) link: Vec<u32>,
}

/// One user, as evaluation needs them.
#[derive(Debug, Clone)]
pub struct UserPlan {
    /// The account name.
    pub name: String,
    /// The enabled channels that have at least one active filter.
    pub channels: Vec<ChannelPlan>,
}

/// One channel of a user.
#[derive(Debug, Clone)]
pub struct ChannelPlan {
    /// Which channel.
    pub kind: ChannelKind,
    /// Where to deliver.
    pub addresses: Vec<String>,
    /// Digest settings.
    pub digest: Option<Digest>,
    /// The names of the channel's filters, by position (inactive ones included, never used).
    pub filters: Vec<String>,
    /// Which of them are one-shot, by position.
    pub oneshot: Vec<bool>,
}

/// Preferences compiled for evaluation. Immutable; shared by every worker of a process.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub(crate) modules: Vec<ModulePlan>,
    pub(crate) keyed: Vec<KeyedRule>,
    /// Slots mapped through a relation: (slot, slot of the extractor, relation). Their keys
    /// are what the relation maps the base slot's keys to.
    pub(crate) via: Vec<(u32, u32, String)>,
    /// By slot (one per (module, extractor) requested on every message, and one per
    /// (extractor, relation) keyed rules go through): key -> shapes anchored on it.
    pub(crate) anchors: Vec<HashMap<String, Vec<u32>>>,
    pub(crate) unanchored: Vec<u32>,
    pub(crate) shapes: Vec<Shape>,
    pub(crate) meta: MetaSlots,
    /// The users with something to receive.
    pub users: Vec<UserPlan>,
}

/// How large a plan is, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanStats {
    /// Users with at least one active filter on an enabled channel.
    pub users: usize,
    /// Distinct filters.
    pub shapes: usize,
    /// Of those, the ones checked on every message (no keyed rule to anchor them).
    pub unanchored: usize,
    /// Distinct rules answered by lookup.
    pub keyed_rules: usize,
    /// Distinct rules the modules evaluate.
    pub guest_rules: usize,
    /// Distinct rules answered from the topic alone (`exact` topic rules).
    pub topic_rules: usize,
}

/// Validates arguments by registering them in a scratch instance of each module.
struct Validator<'r> {
    ruleset: &'r RuleSet,
    scratch: Vec<Option<Box<dyn Backend>>>,
    seen: HashMap<(u32, u32, String), Result<(), String>>,
}

impl Validator<'_> {
    fn check(&mut self, module: u32, rule: u32, args: &str) -> Result<(), String> {
        let key = (module, rule, args.to_owned());
        if let Some(r) = self.seen.get(&key) {
            return r.clone();
        }
        let res = self.register(module, rule, args);
        self.seen.insert(key, res.clone());
        res
    }

    fn register(&mut self, module: u32, rule: u32, args: &str) -> Result<(), String> {
        let slot = &mut self.scratch[module as usize];
        if slot.as_ref().is_none_or(|b| b.is_poisoned()) {
            *slot = Some(
                self.ruleset.modules()[module as usize]
                    .instantiate()
                    .map_err(|e: CallError| e.to_string())?,
            );
        }
        let Some(backend) = slot.as_mut() else {
            return Err("no instance".into());
        };
        match backend.register(rule as usize, args.as_bytes()) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(reason)) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Plan {
    /// Compiles `prefs` against `ruleset`, checking every rule reference and every argument.
    /// All problems are reported, each with the user, channel, filter and rule it concerns.
    pub fn build(ruleset: &RuleSet, prefs: &Preferences) -> Result<Plan, Vec<PrefsProblem>> {
        let mut b = Builder::new(ruleset);
        let mut validator = Validator {
            ruleset,
            scratch: ruleset.modules().iter().map(|_| None).collect(),
            seen: HashMap::new(),
        };
        let mut problems = prefs.problems();
        for (name, user) in &prefs.users {
            let mut channels = Vec::new();
            for (&kind, ch) in &user.channels {
                if !ch.enabled || !ch.filters.iter().any(|f| f.active) {
                    continue;
                }
                let user_idx = b.plan.users.len() as u32;
                let channel_idx = channels.len() as u32;
                for (fi, f) in ch.filters.iter().enumerate() {
                    if !f.active {
                        continue;
                    }
                    let mut terms = Vec::new();
                    let mut ok = true;
                    for (ri, r) in f.rules.iter().enumerate() {
                        let at = || Location {
                            user: name.clone(),
                            channel: Some(kind),
                            filter: Some((fi + 1, f.name.clone())),
                            rule: Some((ri + 1, r.rule.clone())),
                        };
                        match b.term(&mut validator, r) {
                            Ok(t) => terms.push((t, r.negated)),
                            Err(problem) => {
                                ok = false;
                                // Structural problems (bad `module::rule`) were reported already.
                                if !problem.is_empty() {
                                    problems.push(PrefsProblem {
                                        location: at(),
                                        problem,
                                    });
                                }
                            }
                        }
                    }
                    if ok && !terms.is_empty() {
                        b.subscribe(
                            terms,
                            Sub {
                                user: user_idx,
                                channel: channel_idx,
                                filter: fi as u32,
                            },
                        );
                    }
                }
                channels.push(ChannelPlan {
                    kind,
                    addresses: ch.addresses.clone(),
                    digest: ch.digest,
                    filters: ch.filters.iter().map(|f| f.name.clone()).collect(),
                    oneshot: ch.filters.iter().map(|f| f.oneshot).collect(),
                });
            }
            if !channels.is_empty() {
                b.plan.users.push(UserPlan {
                    name: name.clone(),
                    channels,
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(b.finish())
    }

    /// An empty plan: nothing matches, but metadata is still extracted.
    pub fn empty(ruleset: &RuleSet) -> Plan {
        Builder::new(ruleset).finish()
    }

    /// The users whose filters contain guest rule `rule` of module `module`: whom a failing
    /// rule belongs to. A scan of the plan, for the rare failure, at most `max` names.
    pub fn users_of_guest_rule(&self, module: u32, rule: u32, max: usize) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .shapes
            .iter()
            .filter(|s| {
                s.terms
                    .iter()
                    .any(|(t, _)| matches!(t, Term::Guest { module: m, rule: r } if *m == module && *r == rule))
            })
            .flat_map(|s| s.subs.iter())
            .filter_map(|sub| self.users.get(sub.user as usize).map(|u| u.name.as_str()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out.truncate(max);
        out
    }

    /// The relations that rules of these preferences are answered through (`via`).
    pub fn relations_used(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.via.iter().map(|(_, _, r)| r.as_str()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Sizes, for logs and benchmarks.
    pub fn stats(&self) -> PlanStats {
        PlanStats {
            users: self.users.len(),
            shapes: self.shapes.len(),
            unanchored: self.unanchored.len(),
            keyed_rules: self.keyed.len(),
            guest_rules: self
                .modules
                .iter()
                .flat_map(|m| &m.guest_rules)
                .filter(|g| !g.exact)
                .count(),
            topic_rules: self
                .modules
                .iter()
                .flat_map(|m| &m.guest_rules)
                .filter(|g| g.exact)
                .count(),
        }
    }

    /// Whether this plan, built against `old`, holds for `new` unchanged: the same modules in
    /// the same order with the same interface (rules with their arguments, topics, `exact` and
    /// `key` promises; extractors), and the new versions accept every distinct (rule,
    /// arguments) the plan registers in them. A module republished with new code but the same
    /// interface, the common case, then swaps in without compiling the preferences again,
    /// which at 100,000 users takes seconds.
    pub fn holds_for(&self, old: &RuleSet, new: &RuleSet) -> bool {
        let (a, b) = (old.modules(), new.modules());
        if a.len() != b.len()
            || old.meta_module_index() != new.meta_module_index()
            || !a
                .iter()
                .zip(b)
                .all(|(x, y)| same_interface(&x.description, &y.description))
        {
            return false;
        }
        let mut validator = Validator {
            ruleset: new,
            scratch: new.modules().iter().map(|_| None).collect(),
            seen: HashMap::new(),
        };
        self.modules.iter().enumerate().all(|(m, mp)| {
            mp.guest_rules
                .iter()
                .filter(|g| !g.exact)
                .all(|g| validator.check(m as u32, g.rule, &g.args).is_ok())
        })
    }

    /// Whether the filter of a match is one-shot.
    pub fn filter_oneshot(&self, user: u32, channel: u32, filter: u32) -> bool {
        self.users
            .get(user as usize)
            .and_then(|u| u.channels.get(channel as usize))
            .and_then(|c| c.oneshot.get(filter as usize))
            .copied()
            .unwrap_or(false)
    }

    /// The filter's name of a match.
    pub fn filter_name(&self, user: u32, channel: u32, filter: u32) -> &str {
        self.users
            .get(user as usize)
            .and_then(|u| u.channels.get(channel as usize))
            .and_then(|c| c.filters.get(filter as usize))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Whether two versions of a module look the same to a plan: docs may differ, nothing else.
fn same_interface(
    a: &fmn_rules_sdk::ModuleDescription,
    b: &fmn_rules_sdk::ModuleDescription,
) -> bool {
    let same_rule = |x: &RuleDescription, y: &RuleDescription| {
        x.name == y.name
            && x.topics == y.topics
            && x.exact == y.exact
            && x.key == y.key
            && x.args.len() == y.args.len()
            && x.args
                .iter()
                .zip(&y.args)
                .all(|(p, q)| p.name == q.name && p.ty == q.ty && p.required == q.required)
    };
    let extractor = |x: &fmn_rules_sdk::describe::ExtractorDescription| (x.name.clone(), x.kind);
    a.name == b.name
        && a.abi == b.abi
        && a.rules.len() == b.rules.len()
        && a.rules.iter().zip(&b.rules).all(|(x, y)| same_rule(x, y))
        && a.extractors
            .iter()
            .map(extractor)
            .eq(b.extractors.iter().map(extractor))
}

struct Builder<'r> {
    ruleset: &'r RuleSet,
    plan: Plan,
    slot_of: HashMap<(u32, u32), u32>,
    via_of: HashMap<(u32, String), u32>,
    guest_of: HashMap<(u32, u32, String), u32>,
    keyed_of: HashMap<(u32, Vec<String>), u32>,
    shape_of: HashMap<Vec<(Term, bool)>, u32>,
}

impl<'r> Builder<'r> {
    fn new(ruleset: &'r RuleSet) -> Self {
        let mut b = Builder {
            ruleset,
            plan: Plan {
                modules: vec![ModulePlan::default(); ruleset.modules().len()],
                ..Default::default()
            },
            slot_of: HashMap::new(),
            via_of: HashMap::new(),
            guest_of: HashMap::new(),
            keyed_of: HashMap::new(),
            shape_of: HashMap::new(),
        };
        // The metadata every notification carries, from the one module that speaks for it.
        let meta = ruleset.meta_module_index();
        for (mi, m) in ruleset
            .modules()
            .iter()
            .enumerate()
            .filter(|(mi, _)| Some(*mi) == meta)
        {
            for (xi, x) in m.description.extractors.iter().enumerate() {
                let wanted = matches!(
                    (x.name.as_str(), x.kind),
                    ("usernames" | "packages", ExtractorKind::Keys)
                        | ("summary" | "link", ExtractorKind::Text)
                );
                if wanted {
                    let slot = b.slot(mi as u32, xi as u32);
                    let list = match x.name.as_str() {
                        "usernames" => &mut b.plan.meta.usernames,
                        "packages" => &mut b.plan.meta.packages,
                        "summary" => &mut b.plan.meta.summary,
                        _ => &mut b.plan.meta.link,
                    };
                    list.push(slot);
                }
            }
        }
        b
    }

    /// The slot of `base`'s keys mapped through `relation`.
    fn via_slot(&mut self, base: u32, relation: &str) -> u32 {
        if let Some(s) = self.via_of.get(&(base, relation.to_owned())) {
            return *s;
        }
        let s = self.plan.anchors.len() as u32;
        self.plan.anchors.push(HashMap::new());
        self.plan.via.push((s, base, relation.to_owned()));
        self.via_of.insert((base, relation.to_owned()), s);
        s
    }

    fn slot(&mut self, module: u32, extractor: u32) -> u32 {
        if let Some(s) = self.slot_of.get(&(module, extractor)) {
            return *s;
        }
        let s = self.plan.anchors.len() as u32;
        self.plan.anchors.push(HashMap::new());
        let mp = &mut self.plan.modules[module as usize];
        mp.extractors.push(extractor);
        mp.slots.push(s);
        self.slot_of.insert((module, extractor), s);
        s
    }

    /// Resolves a rule reference into a term; `Err("")` for problems already reported.
    fn term(
        &mut self,
        validator: &mut Validator<'_>,
        r: &fmn_core::prefs::RuleRef,
    ) -> Result<Term, String> {
        let Some((module_name, rule_name)) = r.split() else {
            return Err(String::new());
        };
        let Some(args) = r.args.as_object() else {
            return Err(String::new());
        };
        let Some(mi) = self.ruleset.module_index(module_name) else {
            return Err(format!(
                "unknown module {module_name:?} (loaded: {})",
                self.ruleset.names().join(", ")
            ));
        };
        let desc = &self.ruleset.modules()[mi].description;
        let Some(ri) = desc.rules.iter().position(|x| x.name == rule_name) else {
            return Err(format!(
                "module {module_name} has no rule {rule_name:?}{}",
                suggestion(&desc.rules, rule_name)
            ));
        };
        let (mi, ri) = (mi as u32, ri as u32);
        let canonical = serde_json::Value::Object(args.clone()).to_string();
        validator
            .check(mi, ri, &canonical)
            .map_err(|e| format!("invalid arguments {canonical}: {e}"))?;
        let rule = &desc.rules[ri as usize];
        if let Some(key) = &rule.key {
            let value = key_values(&key.arg, args.get(&key.arg))?;
            let Some(xi) = desc.extractors.iter().position(|x| x.name == key.extractor) else {
                return Err(format!(
                    "rule {rule_name} is keyed on a missing extractor {:?}",
                    key.extractor
                ));
            };
            let mut slot = self.slot(mi, xi as u32);
            if let Some(relation) = &key.via {
                slot = self.via_slot(slot, relation);
            }
            let id = match self.keyed_of.get(&(slot, value.clone())) {
                Some(id) => *id,
                None => {
                    let id = self.plan.keyed.len() as u32;
                    self.plan.keyed.push(KeyedRule {
                        slot,
                        keys: value.clone(),
                    });
                    self.keyed_of.insert((slot, value), id);
                    id
                }
            };
            return Ok(Term::Keyed(id));
        }
        let id = match self.guest_of.get(&(mi, ri, canonical.clone())) {
            Some(id) => *id,
            None => {
                let mp = &mut self.plan.modules[mi as usize];
                let id = mp.guest_rules.len() as u32;
                mp.guest_rules.push(GuestRule {
                    rule: ri,
                    args: canonical.clone(),
                    topics: rule.topics.clone(),
                    exact: rule.exact,
                });
                self.guest_of.insert((mi, ri, canonical), id);
                id
            }
        };
        Ok(Term::Guest {
            module: mi,
            rule: id,
        })
    }

    fn subscribe(&mut self, mut terms: Vec<(Term, bool)>, sub: Sub) {
        terms.sort();
        terms.dedup();
        let id = match self.shape_of.get(&terms) {
            Some(id) => *id,
            None => {
                let id = self.plan.shapes.len() as u32;
                self.plan.shapes.push(Shape {
                    terms: terms.clone(),
                    subs: Vec::new(),
                });
                self.shape_of.insert(terms, id);
                id
            }
        };
        self.plan.shapes[id as usize].subs.push(sub);
    }

    fn finish(mut self) -> Plan {
        for (id, shape) in self.plan.shapes.iter().enumerate() {
            // Terms are sorted, keyed ones first: the first positive keyed term anchors.
            let anchor = shape.terms.iter().find_map(|(t, neg)| match (t, neg) {
                (Term::Keyed(k), false) => Some(*k),
                _ => None,
            });
            match anchor {
                Some(k) => {
                    let kr = &self.plan.keyed[k as usize];
                    for key in &kr.keys {
                        self.plan.anchors[kr.slot as usize]
                            .entry(key.clone())
                            .or_default()
                            .push(id as u32);
                    }
                }
                None => self.plan.unanchored.push(id as u32),
            }
        }
        self.plan
    }
}

fn suggestion(rules: &[RuleDescription], wanted: &str) -> String {
    let close: Vec<&str> = rules
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| n.contains(wanted) || wanted.contains(n) || edit_distance(n, wanted) <= 2)
        .collect();
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(" or "))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
