//! Pagure (pagure.io), for the projects with the message hook enabled.
//!
//! FMN's `pagure_specific_project_tag_filter` looked for the project beside the message's body
//! instead of in it, and never matched; here it looks in the body.

use fmn_rules_sdk::{Args, Message, RuleDef, rule, rules, topic_rules};
use serde::Deserialize;

use super::{is, list};
use crate::meta;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Pagure: a project is created.
        pagure_project_new => ["*pagure.project.new"],
        /// Pagure: an issue is filed.
        pagure_issue_new => ["*pagure.issue.new"],
        /// Pagure: someone comments on an issue.
        pagure_issue_comment_added => ["*pagure.issue.comment.added"],
        /// Pagure: tags are added to an issue.
        pagure_issue_tag_added => ["*pagure.issue.tag.added"],
        /// Pagure: tags are removed from an issue.
        pagure_issue_tag_removed => ["*pagure.issue.tag.removed"],
        /// Pagure: someone is assigned an issue.
        pagure_issue_assigned_added => ["*pagure.issue.assigned.added"],
        /// Pagure: the assignee of an issue is reset.
        pagure_issue_assigned_reset => ["*pagure.issue.assigned.reset"],
        /// Pagure: a dependency is added to an issue.
        pagure_issue_dependency_added => ["*pagure.issue.dependency.added"],
        /// Pagure: a dependency is removed from an issue.
        pagure_issue_dependency_removed => ["*pagure.issue.dependency.removed"],
        /// Pagure: an issue is edited.
        pagure_issue_edit => ["*pagure.issue.edit"],
        /// Pagure: a project's details are edited.
        pagure_project_edit => ["*pagure.project.edit"],
        /// Pagure: a user is added to a project.
        pagure_project_user_added => ["*pagure.project.user.added"],
        /// Pagure: tags are removed from a project.
        pagure_project_tag_removed => ["*pagure.project.tag.removed"],
        /// Pagure: a project's tags are edited.
        pagure_project_tag_edited => ["*pagure.project.tag.edited"],
        /// Pagure: a project is forked.
        pagure_project_forked => ["*pagure.project.forked"],
        /// Pagure: someone comments on a pull request.
        pagure_pull_request_comment_added => ["*pagure.pull-request.comment.added"],
        /// Pagure: a pull request is closed.
        pagure_pull_request_closed => ["*pagure.pull-request.closed"],
        /// Pagure: a pull request is opened.
        pagure_pull_request_new => ["*pagure.pull-request.new"],
        /// Pagure: a flag (a CI status) is added to a pull request.
        pagure_pull_request_flag_added => ["*pagure.pull-request.flag.added"],
        /// Pagure: a flag (a CI status) of a pull request is updated.
        pagure_pull_request_flag_updated => ["*pagure.pull-request.flag.updated"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    pagure_catchall,
    pagure_specific_project_filter,
    pagure_specific_project_tag_filter,
];

/// Pagure: all activity on pagure.io (repositories with the message hook enabled).
#[rule(topics = ["*pagure.*"])]
pub fn pagure_catchall(msg: &Message) -> bool {
    is(msg, "pagure")
}

/// Arguments of `pagure_specific_project_filter`.
#[derive(Debug, Deserialize, Args)]
pub struct ProjectArgs {
    /// pagure.io project names, comma-separated.
    pub project: String,
}

/// Pagure: messages about particular pagure.io projects (by their link).
#[rule(topics = ["*pagure.*"])]
pub fn pagure_specific_project_filter(msg: &Message, args: &ProjectArgs) -> bool {
    if !is(msg, "pagure") {
        return false;
    }
    let Some(link) = meta::link(msg) else {
        return false;
    };
    list(&args.project).any(|p| link.contains(&format!("://pagure.io/{p}/")))
}

/// Arguments of `pagure_specific_project_tag_filter`.
#[derive(Debug, Deserialize, Args)]
pub struct TagsArgs {
    /// Project tags, comma-separated.
    pub tags: String,
}

/// Pagure: messages about pagure.io projects carrying particular tags.
#[rule(topics = ["*pagure.*"])]
pub fn pagure_specific_project_tag_filter(msg: &Message, args: &TagsArgs) -> bool {
    if !is(msg, "pagure") {
        return false;
    }
    let tags_at = |path: &[&str]| -> Vec<String> {
        msg.get(path)
            .and_then(|t| t.as_array())
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut project_tags = tags_at(&["project", "tags"]);
    project_tags.extend(tags_at(&["pullrequest", "project", "tags"]));
    project_tags.extend(tags_at(&["commit", "repo", "tags"]));
    list(&args.tags).any(|t| project_tags.iter().any(|p| p == t))
}
