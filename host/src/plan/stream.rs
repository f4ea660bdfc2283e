//! Compiling users as they are read: a worker's start and a whole compile never hold every
//! user's preferences at once, only the plan they make.

use fmn_core::prefs::{PrefsProblem, User};

use super::Plan;
use super::build::{Builder, CompiledUser, Validator};
use crate::ruleset::RuleSet;

/// Compiles a plan from users handed in one at a time ([`Plan::build`] hands in a whole
/// preferences set).
pub struct PlanBuilder<'r> {
    builder: Builder<'r>,
    validator: Validator<'r>,
    problems: Vec<PrefsProblem>,
    users: usize,
}

impl<'r> PlanBuilder<'r> {
    /// A builder of a plan against `ruleset`.
    pub fn new(ruleset: &'r RuleSet) -> Self {
        PlanBuilder {
            builder: Builder::new(ruleset),
            validator: Validator::new(ruleset),
            problems: Vec::new(),
            users: 0,
        }
    }

    /// A builder going on from `plan` (compiled against `ruleset`): a user added replaces
    /// their previous preferences, or keeps them if the new ones have problems, as
    /// [`Plan::apply`] does.
    pub fn onto(ruleset: &'r RuleSet, plan: &Plan) -> Self {
        PlanBuilder {
            builder: Builder::resume(ruleset, plan.clone()),
            validator: Validator::new(ruleset),
            problems: Vec::new(),
            users: 0,
        }
    }

    /// Takes user `name` out of the plan.
    pub fn remove(&mut self, name: &str) {
        self.builder.place_user(name, CompiledUser::default());
    }

    /// The users in the plan so far.
    pub fn names(&self) -> Vec<String> {
        let users = &self.builder.plan.index.user_of;
        users.entries().map(|(name, _)| name.clone()).collect()
    }

    /// Compiles `user`, named `name`, into the plan. Their problems, structural
    /// ([`User::problems`]) or against the modules, are kept for [`Self::finish`]; a user
    /// with problems is left out of the plan (or, going on from a plan, keeps what they had).
    pub fn add(&mut self, name: &str, user: &User) {
        // Compiled even with structural problems, so that every problem is named at once.
        self.compile(name, user, user.problems(name));
    }

    /// [`Self::add`] for a user already checked for structural problems and found without
    /// ([`fmn_core::prefs_stream`] checks each user it reads): the check is not made twice.
    pub fn add_checked(&mut self, name: &str, user: &User) {
        self.compile(name, user, Vec::new());
    }

    fn compile(&mut self, name: &str, user: &User, mut theirs: Vec<PrefsProblem>) {
        self.users += 1;
        let compiled = self
            .builder
            .compile_user(&mut self.validator, name, user, &mut theirs);
        if theirs.is_empty() {
            self.builder.place_user(name, compiled);
        }
        self.problems.extend(theirs);
    }

    /// Users handed in so far.
    pub fn users(&self) -> usize {
        self.users
    }

    /// Problems found so far.
    pub fn problems(&self) -> &[PrefsProblem] {
        &self.problems
    }

    /// The plan, or every problem found, each with the user, channel, filter and rule it
    /// concerns.
    pub fn finish(self) -> Result<Plan, Vec<PrefsProblem>> {
        if self.problems.is_empty() {
            Ok(self.builder.plan)
        } else {
            Err(self.problems)
        }
    }

    /// The plan of the users without problems, and the problems of the others.
    pub fn finish_partial(self) -> (Plan, Vec<PrefsProblem>) {
        (self.builder.plan, self.problems)
    }
}
