//! Taskotron, automated tests.

use fmn_rules_sdk::{Args, Message, RuleDef, rule, rules, topic_rules};
use serde::Deserialize;

use super::list;

/// The tasks the distribution deems release-critical.
pub const RELEASE_CRITICAL_TASKS: &[&str] =
    &["dist.abicheck", "dist.rpmdeplint", "dist.upgradepath"];

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Taskotron: a new task result.
        taskotron_result_new => ["*.taskotron.result.new"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    taskotron_task,
    taskotron_changed_outcome,
    taskotron_task_outcome,
    taskotron_task_particular_or_changed_outcome,
    taskotron_release_critical_task,
];

fn result_new(msg: &Message) -> bool {
    msg.topic().ends_with(".taskotron.result.new")
}

/// Arguments of `taskotron_task`.
#[derive(Debug, Deserialize, Args)]
pub struct TaskArgs {
    /// Task names, comma-separated, case-insensitive, with shell wildcards:
    /// `dist.rpmgrill*,dist.upgradepath`.
    pub task: String,
}

/// Taskotron: results of particular tasks.
#[rule(topics = ["*.taskotron.result.new"])]
pub fn taskotron_task(msg: &Message, args: &TaskArgs) -> bool {
    if !result_new(msg) {
        return false;
    }
    let Some(name) = msg.str_at(&["task", "name"]) else {
        return false;
    };
    let name = name.to_lowercase();
    list(&args.task).any(|t| fmn_rules_sdk::glob::matches(&t.to_lowercase(), &name))
}

fn outcome<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["result", "outcome"])
}

/// Taskotron: results whose outcome differs from the previous run's (e.g. FAILED -> PASSED).
#[rule(topics = ["*.taskotron.result.new"])]
pub fn taskotron_changed_outcome(msg: &Message) -> bool {
    if !result_new(msg) {
        return false;
    }
    match msg.str_at(&["result", "prev_outcome"]) {
        Some(prev) if !prev.is_empty() => outcome(msg) != Some(prev),
        _ => false,
    }
}

/// Arguments of `taskotron_task_outcome`.
#[derive(Debug, Deserialize, Args)]
pub struct OutcomeArgs {
    /// Outcomes, comma-separated, case-insensitive: `PASSED,FAILED`.
    pub outcome: String,
}

/// Taskotron: results with particular outcomes.
#[rule(topics = ["*.taskotron.result.new"])]
pub fn taskotron_task_outcome(msg: &Message, args: &OutcomeArgs) -> bool {
    result_new(msg) && has_outcome(msg, &args.outcome)
}

fn has_outcome(msg: &Message, outcomes: &str) -> bool {
    outcome(msg).is_some_and(|o| list(outcomes).any(|x| x.eq_ignore_ascii_case(o)))
}

/// Arguments of `taskotron_task_particular_or_changed_outcome`.
#[derive(Debug, Deserialize, Args)]
pub struct ParticularOutcomeArgs {
    /// Outcomes, comma-separated (default `FAILED,NEEDS_INSPECTION`).
    #[serde(default = "needs_attention")]
    pub outcome: String,
}

fn needs_attention() -> String {
    "FAILED,NEEDS_INSPECTION".into()
}

/// Taskotron: results that need attention (particular outcomes, `FAILED,NEEDS_INSPECTION` by
/// default) or whose outcome changed since the last run.
#[rule(topics = ["*.taskotron.result.new"])]
pub fn taskotron_task_particular_or_changed_outcome(
    msg: &Message,
    args: &ParticularOutcomeArgs,
) -> bool {
    (result_new(msg) && has_outcome(msg, &args.outcome)) || taskotron_changed_outcome(msg)
}

/// Taskotron: results of release-critical tasks (`dist.abicheck`, `dist.rpmdeplint`,
/// `dist.upgradepath`).
#[rule(topics = ["*.taskotron.result.new"])]
pub fn taskotron_release_critical_task(msg: &Message) -> bool {
    result_new(msg)
        && msg
            .str_at(&["task", "name"])
            .is_some_and(|n| RELEASE_CRITICAL_TASKS.contains(&n))
}
