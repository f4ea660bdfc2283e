//! FAF, the ABRT server (retrace.fedoraproject.org): crash reports and problems.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// FAF: a new crash report appears.
        faf_report_threshold1 => ["*faf.report.threshold1"],
        /// FAF: a crash report reaches 10 occurrences.
        faf_report_threshold10 => ["*faf.report.threshold10"],
        /// FAF: a crash report reaches 100 occurrences.
        faf_report_threshold100 => ["*faf.report.threshold100"],
        /// FAF: a crash report reaches 1,000 occurrences.
        faf_report_threshold1000 => ["*faf.report.threshold1000"],
        /// FAF: a crash report reaches 10,000 occurrences.
        faf_report_threshold10000 => ["*faf.report.threshold10000"],
        /// FAF: a crash report reaches 100,000 occurrences.
        faf_report_threshold100000 => ["*faf.report.threshold100000"],
        /// FAF: a crash report reaches 1,000,000 occurrences.
        faf_report_threshold1000000 => ["*faf.report.threshold1000000"],
        /// FAF: a new problem (a cluster of similar reports) appears.
        faf_problem_threshold1 => ["*faf.problem.threshold1"],
        /// FAF: a problem reaches 10 occurrences.
        faf_problem_threshold10 => ["*faf.problem.threshold10"],
        /// FAF: a problem reaches 100 occurrences.
        faf_problem_threshold100 => ["*faf.problem.threshold100"],
        /// FAF: a problem reaches 1,000 occurrences.
        faf_problem_threshold1000 => ["*faf.problem.threshold1000"],
        /// FAF: a problem reaches 10,000 occurrences.
        faf_problem_threshold10000 => ["*faf.problem.threshold10000"],
        /// FAF: a problem reaches 100,000 occurrences.
        faf_problem_threshold100000 => ["*faf.problem.threshold100000"],
        /// FAF: a problem reaches 1,000,000 occurrences.
        faf_problem_threshold1000000 => ["*faf.problem.threshold1000000"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![faf_catchall];

/// FAF: every event (new and frequent crash reports and problems).
#[rule(topics = ["*faf.*"])]
pub fn faf_catchall(msg: &Message) -> bool {
    is(msg, "faf")
}
