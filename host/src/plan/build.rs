//! Compiling users' preferences into terms, validating every new (rule, arguments) in a scratch
//! instance of its module.

use std::collections::HashMap;

use fmn_core::prefs::{Location, PrefsProblem, User};
use fmn_rules_sdk::ExtractorKind;
use fmn_rules_sdk::describe::{KeyDescription, RuleDescription};

use super::cow::Sharded;
use super::{ChannelPlan, GuestRule, KeyedRule, ModulePlan, Plan, Term, suggestion};
use crate::backend::Backend;
use crate::error::CallError;
use crate::keys::key_values;
use crate::ruleset::RuleSet;

/// Validates arguments by registering them in a scratch instance of each module.
pub(super) struct Validator<'r> {
    ruleset: &'r RuleSet,
    scratch: Vec<Option<Box<dyn Backend>>>,
    seen: HashMap<(u32, u32, String), Result<(), String>>,
}

impl<'r> Validator<'r> {
    pub(super) fn new(ruleset: &'r RuleSet) -> Self {
        Validator {
            ruleset,
            scratch: ruleset.modules().iter().map(|_| None).collect(),
            seen: HashMap::new(),
        }
    }

    pub(super) fn check(&mut self, module: u32, rule: u32, args: &str) -> Result<(), String> {
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

/// Compiles users into a plan: a new one, or one that goes on from a plan before.
pub(super) struct Builder<'r> {
    pub(super) ruleset: &'r RuleSet,
    pub(super) plan: Plan,
}

/// An active filter's terms, and its (channel, filter) position.
pub(super) type CompiledFilter = (Vec<(Term, bool)>, u32, u32);

/// One user compiled, not yet placed in the plan: their channels, and each active filter's
/// terms with its (channel, filter) position.
#[derive(Debug, Default)]
pub(super) struct CompiledUser {
    pub(super) channels: Vec<ChannelPlan>,
    pub(super) filters: Vec<CompiledFilter>,
}

impl<'r> Builder<'r> {
    /// A builder of a new plan.
    pub(super) fn new(ruleset: &'r RuleSet) -> Self {
        let mut b = Builder {
            ruleset,
            plan: Plan {
                modules: vec![ModulePlan::default(); ruleset.modules().len()],
                ..Default::default()
            },
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

    /// A builder that goes on from `plan`, compiled against `ruleset`.
    pub(super) fn resume(ruleset: &'r RuleSet, plan: Plan) -> Self {
        Builder { ruleset, plan }
    }

    /// The slot of `base`'s keys mapped through `relation`.
    fn via_slot(&mut self, base: u32, relation: &str) -> u32 {
        if let Some(s) = self.plan.index.via_of.get(&(base, relation.to_owned())) {
            return *s;
        }
        let s = self.plan.anchors.len() as u32;
        self.plan.anchors.push(Sharded::default());
        self.plan.via.push((s, base, relation.to_owned()));
        self.plan
            .index
            .via_of
            .insert((base, relation.to_owned()), s);
        s
    }

    fn slot(&mut self, module: u32, extractor: u32) -> u32 {
        if let Some(s) = self.plan.index.slot_of.get(&(module, extractor)) {
            return *s;
        }
        let s = self.plan.anchors.len() as u32;
        self.plan.anchors.push(Sharded::default());
        let mp = &mut self.plan.modules[module as usize];
        mp.extractors.push(extractor);
        mp.slots.push(s);
        self.plan.index.slot_of.insert((module, extractor), s);
        s
    }

    /// Resolves a rule reference into a term; `Err("")` for problems already reported.
    pub(super) fn term(
        &mut self,
        validator: &mut Validator<'_>,
        r: &fmn_core::prefs::RuleRef,
    ) -> Result<Term, String> {
        let Some(args) = r.args.as_object() else {
            return Err(String::new());
        };
        let (mi, ri) = self.rule_of(r)?;
        let ruleset = self.ruleset;
        let rule = &ruleset.modules()[mi as usize].description.rules[ri as usize];
        let args_key = (mi, ri, serde_json::Value::Object(args.clone()).to_string());
        self.validate(validator, &args_key, rule.key.is_some())?;
        match &rule.key {
            Some(key) => self.keyed_term(mi, &rule.name, key, args),
            None => Ok(self.guest_term(args_key, rule)),
        }
    }

    /// The (module, rule) indices `r` names; `Err("")` for a reference that is not
    /// `module::rule` (reported already).
    fn rule_of(&self, r: &fmn_core::prefs::RuleRef) -> Result<(u32, u32), String> {
        let Some((module_name, rule_name)) = r.split() else {
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
        Ok((mi as u32, ri as u32))
    }

    /// Checks (module, rule, canonical arguments) in a scratch instance, unless the plan
    /// holds them: arguments the plan holds were validated when they came in, and a change
    /// that uses them again needs no scratch instance.
    fn validate(
        &mut self,
        validator: &mut Validator<'_>,
        args_key: &(u32, u32, String),
        keyed: bool,
    ) -> Result<(), String> {
        let index = &self.plan.index;
        if index.guest_of.get(args_key).is_some() || index.keyed_args.get(args_key).is_some() {
            return Ok(());
        }
        let (mi, ri, canonical) = args_key;
        validator
            .check(*mi, *ri, canonical)
            .map_err(|e| format!("invalid arguments {canonical}: {e}"))?;
        if keyed {
            self.plan.index.keyed_args.insert(args_key.clone(), ());
        }
        Ok(())
    }

    /// The term of rule `rule_name` of module `mi`, keyed as `key` says, with `args`: a
    /// lookup among the keys of its extractor's slot.
    fn keyed_term(
        &mut self,
        mi: u32,
        rule_name: &str,
        key: &KeyDescription,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Term, String> {
        let value = key_values(&key.arg, args.get(&key.arg))?;
        let desc = &self.ruleset.modules()[mi as usize].description;
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
        let id = match self.plan.index.keyed_of.get(&(slot, value.clone())) {
            Some(id) => *id,
            None => {
                let id = self.plan.keyed.len() as u32;
                self.plan.keyed.push(KeyedRule {
                    slot,
                    keys: value.clone(),
                });
                self.plan.index.keyed_of.insert((slot, value), id);
                id
            }
        };
        Ok(Term::Keyed(id))
    }

    /// The term of guest rule `rule` with (module, rule, canonical arguments) `args_key`:
    /// registered in the module once per distinct arguments.
    fn guest_term(&mut self, args_key: (u32, u32, String), rule: &RuleDescription) -> Term {
        let (mi, ri) = (args_key.0, args_key.1);
        let id = match self.plan.index.guest_of.get(&args_key) {
            Some(id) => *id,
            None => {
                let mp = &mut self.plan.modules[mi as usize];
                let id = mp.guest_rules.len() as u32;
                mp.guest_rules.push(GuestRule {
                    rule: ri,
                    args: args_key.2.clone(),
                    topics: rule.topics.clone(),
                    exact: rule.exact,
                });
                self.plan.index.guest_of.insert(args_key, id);
                id
            }
        };
        Term::Guest {
            module: mi,
            rule: id,
        }
    }
}

impl Builder<'_> {
    /// Compiles `user`'s enabled channels and active filters; every rule that does not compile
    /// is added to `problems`, named by user, channel, filter and rule.
    pub(super) fn compile_user(
        &mut self,
        validator: &mut Validator<'_>,
        name: &str,
        user: &User,
        problems: &mut Vec<PrefsProblem>,
    ) -> CompiledUser {
        let mut out = CompiledUser::default();
        for (&kind, ch) in &user.channels {
            if !ch.enabled || !ch.filters.iter().any(|f| f.active) {
                continue;
            }
            let channel_idx = out.channels.len() as u32;
            for (fi, f) in ch.filters.iter().enumerate() {
                if !f.active {
                    continue;
                }
                let mut terms = Vec::new();
                let mut ok = true;
                for (ri, r) in f.rules.iter().enumerate() {
                    match self.term(validator, r) {
                        Ok(t) => terms.push((t, r.negated)),
                        Err(problem) => {
                            ok = false;
                            // Structural problems (bad `module::rule`) were reported already.
                            if !problem.is_empty() {
                                problems.push(PrefsProblem {
                                    location: Location {
                                        user: name.to_owned(),
                                        channel: Some(kind),
                                        filter: Some((fi + 1, f.name.clone())),
                                        rule: Some((ri + 1, r.rule.clone())),
                                    },
                                    problem,
                                });
                            }
                        }
                    }
                }
                if ok && !terms.is_empty() {
                    out.filters.push((terms, channel_idx, fi as u32));
                }
            }
            out.channels.push(ChannelPlan {
                kind,
                addresses: ch.addresses.clone(),
                digest: ch.digest,
                filters: ch.filters.iter().map(|f| f.name.clone()).collect(),
                oneshot: ch.filters.iter().map(|f| f.oneshot).collect(),
            });
        }
        out
    }
}
