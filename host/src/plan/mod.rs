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
//!
//! A plan is compiled whole ([`Plan::build`], in `build`) or from the plan before and the users
//! that changed ([`Plan::apply`], in `delta`): the plan keeps what compiling needs to find what
//! exists already (the interning maps), and its large parts are copy-on-write (`cow`), so a
//! change costs what it touches while workers go on evaluating with the plan before.

use std::collections::HashMap;
use std::sync::Arc;

use fmn_core::ChannelKind;
use fmn_core::prefs::{Digest, Preferences, PrefsProblem};
use fmn_rules_sdk::describe::RuleDescription;

use crate::ruleset::RuleSet;

mod build;
pub mod cow;
mod delta;
mod memory;
mod stream;

pub use cow::Chunked;
pub use delta::Applied;
pub use memory::PlanMemory;
pub use stream::PlanBuilder;

use build::{Builder, Validator};
use cow::Sharded;

/// A rule the module evaluates: registered once per module instance.
#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Term {
    /// `keyed[i]`: checked first, it is a lookup.
    Keyed(u32),
    /// Guest rule `rule` of module `module`.
    Guest { module: u32, rule: u32 },
}

/// A filter's terms, sorted and without duplicates; shared by its shape and the map that finds
/// the shape.
pub(crate) type Terms = Arc<[(Term, bool)]>;

/// A distinct filter: its terms (AND-ed; `true` = negated) and who uses it, sorted. A shape
/// nobody uses any more (after changes) stays, out of the anchor index, until a full build.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) terms: Terms,
    pub(crate) subs: Arc<Vec<Sub>>,
}

/// A (user, channel, filter) that uses a shape; indices into [`Plan::users`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Sub {
    pub(crate) user: u32,
    pub(crate) channel: u32,
    pub(crate) filter: u32,
}

/// What a module is asked for on every message.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModulePlan {
    /// Only ever appended to while changes apply: a rule keeps its position, and evaluators
    /// register only the new ones.
    pub(crate) guest_rules: Chunked<GuestRule>,
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

/// One user, as evaluation needs them. A user removed by a change leaves a slot without
/// channels, so that the others keep their positions.
#[derive(Debug, Clone)]
pub struct UserPlan {
    /// The account name.
    pub name: String,
    /// The enabled channels that have at least one active filter.
    pub channels: Vec<ChannelPlan>,
    /// The shapes the user's filters use, to leave them when the user changes.
    pub(crate) shapes: Vec<u32>,
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
    pub(crate) keyed: Chunked<KeyedRule>,
    /// Slots mapped through a relation: (slot, slot of the extractor, relation). Their keys
    /// are what the relation maps the base slot's keys to.
    pub(crate) via: Vec<(u32, u32, String)>,
    /// By slot (one per (module, extractor) requested on every message, and one per
    /// (extractor, relation) keyed rules go through): key -> shapes anchored on it.
    pub(crate) anchors: Vec<Sharded<String, Vec<u32>>>,
    pub(crate) unanchored: Arc<Vec<u32>>,
    pub(crate) shapes: Chunked<Shape>,
    pub(crate) meta: MetaSlots,
    /// The users with something to receive (and, after changes, the slots of users removed).
    pub users: Chunked<UserPlan>,
    /// What compiling more users needs to find what the plan holds already.
    pub(crate) index: Index,
}

/// The plan's interning maps, kept for [`Plan::apply`]: new filters find the rules and shapes
/// that exist, so they are evaluated once however many users share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    slot_of: HashMap<(u32, u32), u32>,
    via_of: HashMap<(u32, String), u32>,
    guest_of: Sharded<(u32, u32, String), u32>,
    /// The (rule, arguments) of keyed rules, validated.
    keyed_args: Sharded<(u32, u32, String), ()>,
    keyed_of: Sharded<(u32, Vec<String>), u32>,
    shape_of: Sharded<Terms, u32>,
    user_of: Sharded<String, u32>,
    /// Shapes nobody uses: garbage until the next full build.
    unused_shapes: usize,
}

/// How large a plan is, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    /// Slots of removed users and shapes nobody uses, left by changes until a full build.
    pub garbage: usize,
}

impl Plan {
    /// Compiles `prefs` against `ruleset`, checking every rule reference and every argument.
    /// All problems are reported, each with the user, channel, filter and rule it concerns.
    pub fn build(ruleset: &RuleSet, prefs: &Preferences) -> Result<Plan, Vec<PrefsProblem>> {
        let mut b = PlanBuilder::new(ruleset);
        for (name, user) in &prefs.users {
            b.add(name, user);
        }
        b.finish()
    }

    /// An empty plan: nothing matches, but metadata is still extracted.
    pub fn empty(ruleset: &RuleSet) -> Plan {
        Builder::new(ruleset).plan
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
            users: self.index.user_of.len(),
            shapes: self.shapes.len() - self.index.unused_shapes,
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
            garbage: self.users.len() - self.index.user_of.len() + self.index.unused_shapes,
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
        let mut validator = Validator::new(new);
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
