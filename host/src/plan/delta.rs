//! Placing compiled users in a plan, and changing a plan by the users that changed: each
//! changed user leaves the shapes their previous filters used and joins those of their new
//! ones; the rest of the plan is shared with the plan before.

use std::sync::Arc;

use fmn_core::prefs::{PrefsProblem, User};

use super::PlanBuilder;
use super::build::{Builder, CompiledUser};
use super::{Plan, Shape, Sub, Term, UserPlan};
use crate::ruleset::RuleSet;

/// What [`Plan::apply`] made.
#[derive(Debug)]
pub struct Applied {
    /// The plan with the changes that compile.
    pub plan: Plan,
    /// Why the others do not: each names its user, who keeps their previous preferences.
    pub problems: Vec<PrefsProblem>,
}

impl Plan {
    /// This plan with `changes` applied: each user's new preferences (`None`: the user was
    /// removed). Evaluates as [`Plan::build`] on the whole new preferences would, in time
    /// proportional to the change. `ruleset` must be the one this plan is evaluated with.
    ///
    /// A user whose new preferences do not compile keeps their previous ones in the plan; the
    /// problems are returned, each with the user, channel, filter and rule it concerns. The
    /// plan's rules keep their positions (new ones are appended), so an evaluator of this plan
    /// moves to the new one with [`crate::Evaluator::advance`].
    pub fn apply<'u>(
        &self,
        ruleset: &RuleSet,
        changes: impl IntoIterator<Item = (&'u str, Option<&'u User>)>,
    ) -> Applied {
        let mut b = PlanBuilder::onto(ruleset, self);
        for (name, user) in changes {
            match user {
                Some(user) => b.add(name, user),
                None => b.remove(name),
            }
        }
        let (plan, problems) = b.finish_partial();
        Applied { plan, problems }
    }
}

impl Builder<'_> {
    /// Puts `user` in the plan as `name`: in their slot if they have one (leaving the shapes
    /// their previous filters used), else in a new one. A user with nothing to receive leaves
    /// an empty slot behind, so that the other users keep theirs.
    pub(super) fn place_user(&mut self, name: &str, user: CompiledUser) {
        let existing = self.plan.index.user_of.get(name).copied();
        if let Some(idx) = existing {
            self.leave_shapes(idx);
        }
        let idx = match existing {
            _ if user.channels.is_empty() => {
                if let Some(idx) = existing {
                    self.set_user(idx, Vec::new(), Vec::new());
                    self.plan.index.user_of.remove(name);
                }
                return;
            }
            Some(idx) => idx,
            None => {
                let idx = self.plan.users.len() as u32;
                self.plan.users.push(UserPlan {
                    name: name.to_owned(),
                    channels: Vec::new(),
                    shapes: Vec::new(),
                });
                self.plan.index.user_of.insert(name.to_owned(), idx);
                idx
            }
        };
        let mut shapes: Vec<u32> = user
            .filters
            .into_iter()
            .map(|(terms, channel, filter)| {
                let sub = Sub {
                    user: idx,
                    channel,
                    filter,
                };
                self.subscribe(terms, sub)
            })
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        self.set_user(idx, user.channels, shapes);
    }

    fn set_user(&mut self, idx: u32, channels: Vec<super::ChannelPlan>, shapes: Vec<u32>) {
        if let Some(u) = self.plan.users.get_mut(idx as usize) {
            u.channels = channels;
            u.shapes = shapes;
        }
    }

    /// Takes user `idx` out of the shapes they use; a shape nobody uses leaves the index.
    fn leave_shapes(&mut self, idx: u32) {
        let shapes = match self.plan.users.get(idx as usize) {
            Some(u) => u.shapes.clone(),
            None => return,
        };
        for id in shapes {
            let Some(shape) = self.plan.shapes.get_mut(id as usize) else {
                continue;
            };
            let subs = Arc::make_mut(&mut shape.subs);
            let from = subs.partition_point(|s| s.user < idx);
            let to = subs.partition_point(|s| s.user <= idx);
            subs.drain(from..to);
            if subs.is_empty() {
                self.anchor(id, false);
                self.plan.index.unused_shapes += 1;
            }
        }
    }

    /// Adds `sub` to the shape of `terms`, made if new; returns the shape. Subscribers stay
    /// sorted, so that a user's are found by halving.
    fn subscribe(&mut self, mut terms: Vec<(Term, bool)>, sub: Sub) -> u32 {
        terms.sort();
        terms.dedup();
        let id = match self.plan.index.shape_of.get(&terms[..]) {
            Some(id) => *id,
            None => {
                let id = self.plan.shapes.len() as u32;
                let terms: super::Terms = terms.into();
                self.plan.shapes.push(Shape {
                    terms: terms.clone(),
                    subs: Arc::new(Vec::new()),
                });
                self.plan.index.shape_of.insert(terms, id);
                self.plan.index.unused_shapes += 1;
                id
            }
        };
        let Some(shape) = self.plan.shapes.get_mut(id as usize) else {
            return id;
        };
        let subs = Arc::make_mut(&mut shape.subs);
        let at = subs.partition_point(|s| *s < sub);
        subs.insert(at, sub);
        if subs.len() == 1 {
            self.anchor(id, true);
            self.plan.index.unused_shapes -= 1;
        }
        id
    }

    /// Puts shape `id` in the index (`add`), or takes it out: under each key of its first
    /// positive keyed term (terms are sorted, keyed ones first), else among the shapes checked
    /// on every message.
    fn anchor(&mut self, id: u32, add: bool) {
        let plan = &mut self.plan;
        let Some(shape) = plan.shapes.get(id as usize) else {
            return;
        };
        let anchor = shape.terms.iter().find_map(|(t, neg)| match (t, neg) {
            (Term::Keyed(k), false) => plan.keyed.get(*k as usize),
            _ => None,
        });
        let Some(kr) = anchor else {
            let list = Arc::make_mut(&mut plan.unanchored);
            match add {
                true => list.push(id),
                false => list.retain(|&s| s != id),
            }
            return;
        };
        let Some(anchors) = plan.anchors.get_mut(kr.slot as usize) else {
            return;
        };
        for key in &kr.keys {
            match (add, anchors.get_mut(key.as_str())) {
                (true, Some(list)) => list.push(id),
                (true, None) => anchors.insert(key.clone(), vec![id]),
                (false, Some(list)) => {
                    list.retain(|&s| s != id);
                    if list.is_empty() {
                        anchors.remove(key.as_str());
                    }
                }
                (false, None) => {}
            }
        }
    }
}
