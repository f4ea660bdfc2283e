//! GitHub, for the repositories mapped to Fedora by github2fedmsg.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// GitHub: someone comments on a commit.
        github_commit_comment => ["*github.commit_comment"],
        /// GitHub: someone creates a tag or a branch.
        github_create => ["*github.create"],
        /// GitHub: someone deletes a tag or a branch.
        github_delete => ["*github.delete"],
        /// GitHub: someone forks a repository.
        github_fork => ["*github.fork"],
        /// GitHub: someone comments on an issue.
        github_issue_comment => ["*github.issue.comment"],
        /// GitHub: someone reopens an issue.
        github_issue_reopened => ["*github.issue.reopened"],
        /// GitHub: someone closes a pull request.
        github_pull_request_closed => ["*github.pull_request.closed"],
        /// GitHub: someone comments on a pull request's review.
        github_pull_request_review_comment => ["*github.pull_request_review_comment"],
        /// GitHub: someone pushes to a repository.
        github_push => ["*github.push"],
        /// GitHub: a CI service updates the status of a commit.
        github_status => ["*github.status"],
        /// GitHub: someone watches a repository.
        github_watch => ["*github.watch"],
        /// GitHub: someone enables a repository for the bus.
        github_webhook => ["*github.webhook"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![github_catchall];

/// GitHub: all activity on the repositories mapped to Fedora.
#[rule(topics = ["*github.*"])]
pub fn github_catchall(msg: &Message) -> bool {
    is(msg, "github")
}
