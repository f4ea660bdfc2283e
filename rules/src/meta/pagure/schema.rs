//! Pagure in the fedora-messaging era, as the `pagure-messages` classes describe it: one
//! class per topic, their `summary`, `__str__`, `url` and `usernames` translated here.
//! Values are printed as Python's `str.format` prints them (`py_str`); where a class's
//! property would raise on a message (a missing key), nothing is said.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use crate::meta::py::{iter_strs, join, py_str, truthy};

pub(super) const ICON: &str = "https://apps.fedoraproject.org/img/icons/pagure.png";
pub(super) const APP_NAME: &str = "Pagure";

/// The topics `pagure-messages` has a class for.
const TOPICS: &[&str] = &[
    "Test.notification",
    "commit.flag.added",
    "commit.flag.updated",
    "git.branch.creation",
    "git.branch.deletion",
    "git.receive",
    "git.tag.creation",
    "git.tag.deletion",
    "group.edit",
    "issue.assigned.added",
    "issue.assigned.reset",
    "issue.comment.added",
    "issue.dependency.added",
    "issue.dependency.removed",
    "issue.drop",
    "issue.edit",
    "issue.new",
    "issue.tag.added",
    "issue.tag.removed",
    "project.deleted",
    "project.edit",
    "project.forked",
    "project.group.access.updated",
    "project.group.added",
    "project.group.removed",
    "project.new",
    "project.tag.edited",
    "project.tag.removed",
    "project.user.access.updated",
    "project.user.added",
    "project.user.removed",
    "pull-request.assigned.added",
    "pull-request.assigned.reset",
    "pull-request.closed",
    "pull-request.comment.added",
    "pull-request.comment.edited",
    "pull-request.flag.added",
    "pull-request.flag.updated",
    "pull-request.initial_comment.edited",
    "pull-request.new",
    "pull-request.rebased",
    "pull-request.reopened",
    "pull-request.tag.added",
    "pull-request.tag.removed",
    "pull-request.updated",
];

/// Whether a class describes this message.
pub(super) fn known(msg: &Message) -> bool {
    TOPICS.contains(&msg.subtopic())
}

/// The issue or pull request a class is about (`IssueOrPullRequestMessage.object_type`).
fn object_type(msg: &Message) -> Option<&'static str> {
    let sub = msg.subtopic();
    if sub.starts_with("issue.") {
        Some("issue")
    } else if sub.starts_with("pull-request.") {
        Some("pullrequest")
    } else {
        None
    }
}

/// `str()` of the value at `path`.
fn at(msg: &Message, path: &[&str]) -> Option<String> {
    msg.get(path).map(py_str)
}

/// `agent_name`: `body.get("agent")`, which prints `None` when absent.
fn agent(msg: &Message) -> String {
    msg.get(&["agent"]).map_or_else(|| "None".into(), py_str)
}

fn joined(msg: &Message, key: &str) -> Option<String> {
    join(msg.get(&[key])?, ", ")
}

/// `branch.replace("refs/heads/", "")`.
fn short_branch(msg: &Message) -> Option<String> {
    Some(msg.str_at(&["branch"])?.replace("refs/heads/", ""))
}

/// `GitBranchCreationV1.url`'s item: the branch without `refs/heads/` when it is a string
/// (a list or dict is printed as it is; `in` on a number raises).
fn tree_item(msg: &Message) -> Option<String> {
    match msg.get(&["branch"])? {
        Value::String(b) => Some(b.replace("refs/heads/", "")),
        v @ (Value::Array(_) | Value::Object(_)) => Some(py_str(v)),
        _ => None,
    }
}

/// Python's `x == 1` and `x > 1` on a number field.
fn count(msg: &Message, key: &str) -> Option<f64> {
    match msg.get(&[key])? {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        v => v.as_f64(),
    }
}

pub(super) fn usernames(msg: &Message, out: &mut Keys) {
    let Some(kind) = object_type(msg) else {
        // `[agent_name]`: the agent, which the dispatcher adds already.
        return;
    };
    // `pretty_list([agent, user.name, assignee.name])`: Nones dropped.
    let person = |who: &str| {
        msg.get(&[kind, who, "name"])
            .filter(|v| !v.is_null())
            .map(py_str)
    };
    out.extend(person("user"));
    out.extend(person("assignee"));
}

/// `GitMessage.packages`: the repository's name when it is under `rpms`.
pub(super) fn packages(msg: &Message, out: &mut Keys) {
    if msg.subtopic().starts_with("git.") && msg.str_at(&["repo", "namespace"]) == Some("rpms") {
        out.extend(at(msg, &["repo", "name"]));
    }
}

pub(super) fn summary(msg: &Message) -> Option<String> {
    match msg.subtopic() {
        "Test.notification" => Some("Test notification".into()),
        s if s.starts_with("issue.") => issue_summary(msg),
        s if s.starts_with("pull-request.") => pr_summary(msg),
        s if s.starts_with("project.") => project_summary(msg),
        _ => repo_summary(msg),
    }
}

/// Commit flags, group edits, branches, pushes and tags.
fn repo_summary(msg: &Message) -> Option<String> {
    let a = agent(msg);
    let f = |p: &[&str]| at(msg, p);
    let repo = || f(&["repo", "fullname"]);
    let flag = |k: &str| f(&["flag", k]);
    Some(match msg.subtopic() {
        "commit.flag.added" => format!(
            "Commit {} of project {} was flagged as {} by {}",
            flag("commit_hash")?,
            repo()?,
            flag("status")?,
            flag("username")?
        ),
        "commit.flag.updated" => format!(
            "{} updated flag on commit {} of project {} to {}",
            flag("username")?,
            flag("commit_hash")?,
            repo()?,
            flag("status")?
        ),
        "group.edit" => format!(
            "{a} edited the fields {} of the group {}",
            joined(msg, "fields")?,
            f(&["group", "name"])?
        ),
        "git.branch.creation" => {
            format!("{a} created the branch {} on {}", f(&["branch"])?, repo()?)
        }
        "git.branch.deletion" => {
            format!("{a} deleted the branch {} on {}", f(&["branch"])?, repo()?)
        }
        "git.receive" => format!(
            "{a} pushed {} commits on {} (branch: {})",
            f(&["total_commits"])?,
            repo()?,
            short_branch(msg)?
        ),
        "git.tag.creation" => format!(
            "{a} tagged the commit {} on {} as {}",
            f(&["rev"])?,
            repo()?,
            f(&["tag"])?
        ),
        "git.tag.deletion" => format!(
            "{a} deleted the tag {} of commit {} on {}",
            f(&["tag"])?,
            f(&["rev"])?,
            repo()?
        ),
        _ => return None,
    })
}

/// Projects: created, edited, forked, deleted, given to groups and users, tagged.
fn project_summary(msg: &Message) -> Option<String> {
    let a = agent(msg);
    let f = |p: &[&str]| at(msg, p);
    let proj = || f(&["project", "fullname"]);
    Some(match msg.subtopic() {
        "project.new" => format!("{a} created project \"{}\"", proj()?),
        "project.edit" => format!(
            "{a} edited the fields {} of project \"{}\"",
            joined(msg, "fields")?,
            proj()?
        ),
        "project.forked" => format!(
            "{a} forked project \"{}\" to {}",
            f(&["project", "parent", "fullname"])?,
            proj()?
        ),
        "project.deleted" => format!("{a} deleted project \"{}\"", proj()?),
        "project.group.added" => format!(
            "{a} added the group {} to the project \"{}\" at the {} level",
            f(&["new_group"])?,
            proj()?,
            f(&["access"])?
        ),
        "project.group.removed" => format!(
            "{a} removed the group(s) {} from the project \"{}\"",
            joined(msg, "removed_groups")?,
            proj()?
        ),
        "project.group.access.updated" => format!(
            "{a} updated the access of group {} to {} on the project \"{}\"",
            f(&["new_group"])?,
            f(&["new_access"])?,
            proj()?
        ),
        "project.tag.edited" => format!(
            "{a} edited the tag {} on the project \"{}\"",
            f(&["new_tag"])?,
            proj()?
        ),
        "project.tag.removed" => format!(
            "{a} removed the tag(s) {} of project \"{}\"",
            joined(msg, "tags")?,
            proj()?
        ),
        "project.user.access.updated" => format!(
            "{a} updated the access of {} to {} on the project \"{}\"",
            f(&["new_user"])?,
            f(&["new_access"])?,
            proj()?
        ),
        "project.user.added" => format!(
            "{a} added the {} to the project \"{}\"",
            f(&["new_user"])?,
            proj()?
        ),
        "project.user.removed" => format!(
            "{a} removed the {} from the project \"{}\"",
            f(&["removed_user"])?,
            proj()?
        ),
        _ => return None,
    })
}

/// `project.fullname#issue.id`.
fn issue_ref(msg: &Message) -> Option<String> {
    Some(format!(
        "{}#{}",
        at(msg, &["project", "fullname"])?,
        at(msg, &["issue", "id"])?
    ))
}

/// `#1, #2` of `removed_dependency` (`", #".join(str(i) for i in ...)`, after a `#`).
fn removed_dependencies(msg: &Message) -> Option<String> {
    Some(iter_strs(msg.get(&["removed_dependency"])?)?.join(", #"))
}

fn issue_summary(msg: &Message) -> Option<String> {
    let a = agent(msg);
    let r = || issue_ref(msg);
    let title = || at(msg, &["issue", "title"]);
    Some(match msg.subtopic() {
        "issue.assigned.added" => format!(
            "{a} assigned issue {} to {}",
            r()?,
            at(msg, &["issue", "assignee", "name"])?
        ),
        "issue.assigned.reset" => format!("{a} reset the assignee on issue {}", r()?),
        "issue.comment.added" => format!("{a} commented on the issue {}", r()?),
        "issue.dependency.added" => format!(
            "{a} set the issue {} as depending on #{}",
            r()?,
            at(msg, &["added_dependency"])?
        ),
        "issue.dependency.removed" => {
            let deps = removed_dependencies(msg)?;
            format!(
                "{a} removed the dependency on #{deps} on the issue {}",
                r()?
            )
        }
        "issue.drop" => format!("{a} deleted issue {}: {}", r()?, title()?),
        "issue.edit" => format!(
            "{a} edited fields {} of issue {}: {}",
            joined(msg, "fields")?,
            r()?,
            title()?
        ),
        "issue.new" => format!("{a} created issue {}: {}", r()?, title()?),
        "issue.tag.added" => format!(
            "{a} tagged the issue {} with: {}",
            r()?,
            joined(msg, "tags")?
        ),
        "issue.tag.removed" => format!(
            "{a} removed tags {} from issue {}",
            joined(msg, "tags")?,
            r()?
        ),
        _ => return None,
    })
}

/// `pullrequest.project.fullname#pullrequest.id`.
fn pr_ref(msg: &Message) -> Option<String> {
    Some(format!(
        "{}#{}",
        at(msg, &["pullrequest", "project", "fullname"])?,
        at(msg, &["pullrequest", "id"])?
    ))
}

fn merged_or_closed(msg: &Message) -> Option<&'static str> {
    Some(if truthy(msg.get(&["merged"])?) {
        "merged"
    } else {
        "closed without merging"
    })
}

fn pr_summary(msg: &Message) -> Option<String> {
    let a = agent(msg);
    let r = || pr_ref(msg);
    let flag = |k: &str| at(msg, &["flag", k]);
    Some(match msg.subtopic() {
        "pull-request.assigned.added" => {
            let assignee = msg.get(&["pullrequest", "assignee"])?;
            let who = if truthy(assignee) {
                at(msg, &["pullrequest", "assignee", "name"])?
            } else {
                "someone".into()
            };
            format!("{a} assigned the pull-request {} to {who}", r()?)
        }
        "pull-request.assigned.reset" => {
            format!("{a} reset the assignee of the pull-request {}", r()?)
        }
        "pull-request.closed" => {
            let action = merged_or_closed(msg)?;
            format!("{a} {action} the pull-request {}", r()?)
        }
        "pull-request.comment.added" => format!("{a} commented on the pull-request {}", r()?),
        "pull-request.comment.edited" => {
            format!("{a} edited comment on the pull-request {}", r()?)
        }
        "pull-request.flag.added" => format!(
            "Pull-request {} was flagged as {} by {}",
            r()?,
            flag("status")?,
            flag("username")?
        ),
        "pull-request.flag.updated" => format!(
            "{} updated flag on pull-request {} to {}",
            flag("username")?,
            r()?,
            flag("status")?
        ),
        "pull-request.initial_comment.edited" => format!(
            "{a} has edited the description of the pull-request {}",
            r()?
        ),
        "pull-request.new" => format!(
            "{a} opened a pull-request {}: {}",
            r()?,
            at(msg, &["pullrequest", "title"])?
        ),
        "pull-request.rebased" => format!("{a} rebased the pull-request {}", r()?),
        "pull-request.reopened" => format!("{a} re-opened the pull-request {}", r()?),
        "pull-request.tag.added" => format!(
            "{a} tagged the pull-request {} with {}",
            r()?,
            joined(msg, "tags")?
        ),
        "pull-request.tag.removed" => format!(
            "{a} un-tagged the pull-request {} with: {}",
            r()?,
            joined(msg, "tags")?
        ),
        "pull-request.updated" => format!("{a} updated the pull-request {}", r()?),
        _ => return None,
    })
}

/// `__str__`: what happened, then who did it.
pub(super) fn long_text(msg: &Message) -> Option<String> {
    let a = agent(msg);
    let what = match msg.subtopic() {
        "Test.notification" => return Some("Test notification".into()),
        "git.receive" => return git_receive_text(msg),
        "project.forked" => {
            return Some(format!(
                "Project: {}\nForked by: {a}",
                at(msg, &["project", "parent", "fullname"])?
            ));
        }
        "project.deleted" => {
            let proj = at(msg, &["project", "fullname"])?;
            return Some(format!("Project: {proj}\nDeleted by: {a}"));
        }
        s if s.starts_with("issue.") => issue_text(msg)?,
        s if s.starts_with("pull-request.") => pr_text(msg)?,
        _ => repo_text(msg)?,
    };
    Some(format!("{what}\nBy: {a}"))
}

/// What `__str__` says of a commit flag, a group, a branch, a tag or a project, before `By:`.
fn repo_text(msg: &Message) -> Option<String> {
    let f = |p: &[&str]| at(msg, p);
    let proj = || f(&["project", "fullname"]);
    Some(match msg.subtopic() {
        "commit.flag.added" | "commit.flag.updated" => {
            format!("New commit flag: {}", flag_text(msg)?)
        }
        "group.edit" => format!("Group edit: {}", f(&["group", "name"])?),
        "git.branch.creation" => format!("Git branch: {} created", f(&["branch"])?),
        "git.branch.deletion" => format!("Git branch: {} deleted", f(&["branch"])?),
        "git.tag.creation" => format!("Git tag: {} created", f(&["tag"])?),
        "git.tag.deletion" => format!("Git tag: {} deleted", f(&["tag"])?),
        "project.new" => format!("New Project: {}", proj()?),
        "project.edit" => format!("Project Edited: {}", proj()?),
        "project.group.added" => format!(
            "Group: {} added to {} as {}",
            f(&["new_group"])?,
            proj()?,
            f(&["access"])?
        ),
        "project.group.removed" => format!(
            "Group(s) {} removed from {}",
            joined(msg, "removed_groups")?,
            proj()?
        ),
        "project.group.access.updated" => format!(
            "Group: {} access updated to {} on {}",
            f(&["new_group"])?,
            f(&["new_access"])?,
            proj()?
        ),
        "project.tag.edited" => format!("Tag: {} edited on {}", f(&["new_tag"])?, proj()?),
        "project.tag.removed" => {
            format!("Tag(s): {} removed from {}", joined(msg, "tags")?, proj()?)
        }
        "project.user.access.updated" => format!(
            "User: {} access edited to {} on {}",
            f(&["new_user"])?,
            f(&["new_access"])?,
            proj()?
        ),
        "project.user.added" => format!("User: {} added to {}", f(&["new_user"])?, proj()?),
        "project.user.removed" => {
            format!("User: {} removed from {}", f(&["removed_user"])?, proj()?)
        }
        _ => return None,
    })
}

/// What `__str__` says of an issue, before `By:`.
fn issue_text(msg: &Message) -> Option<String> {
    let f = |p: &[&str]| at(msg, p);
    let ir = || issue_ref(msg);
    Some(match msg.subtopic() {
        "issue.assigned.added" => format!(
            "Issue: {} assigned to {}",
            ir()?,
            f(&["issue", "assignee", "name"])?
        ),
        "issue.assigned.reset" => format!("Issue un-assigned: {}", ir()?),
        "issue.comment.added" => format!("Issue: {} has a new comment", ir()?),
        "issue.dependency.added" => {
            format!("Issue: {} depends on #{}", ir()?, f(&["added_dependency"])?)
        }
        "issue.dependency.removed" => {
            let deps = removed_dependencies(msg)?;
            format!("Issue: {} no longer depending on #{deps}", ir()?)
        }
        "issue.drop" => format!("Issue deleted: {}", ir()?),
        "issue.edit" => format!("Edited Issue: {}", ir()?),
        "issue.new" => format!("New Issue: {}", ir()?),
        "issue.tag.added" => format!("Issue: {} tagged with {}", ir()?, joined(msg, "tags")?),
        "issue.tag.removed" => {
            format!("Issue: {} un-tagged with {}", ir()?, joined(msg, "tags")?)
        }
        _ => return None,
    })
}

/// What `__str__` says of a pull request, before `By:`.
fn pr_text(msg: &Message) -> Option<String> {
    let pr = || pr_ref(msg);
    Some(match msg.subtopic() {
        "pull-request.assigned.added" => format!("Pull-request {} was assigned", pr()?),
        "pull-request.assigned.reset" => format!("Pull-request {} was un-assigned", pr()?),
        "pull-request.closed" => {
            let action = merged_or_closed(msg)?;
            format!("Pull-Request: {} has been {action}", pr()?)
        }
        "pull-request.comment.added" => format!("Pull-Request: {} has a new comment", pr()?),
        "pull-request.comment.edited" => {
            format!("Edited comment on Pull-Request: {}", pr()?)
        }
        "pull-request.flag.added" => format!("New pull-request flag: {}", flag_text(msg)?),
        "pull-request.flag.updated" => format!("Pull-request flag updated: {}", flag_text(msg)?),
        "pull-request.initial_comment.edited" => {
            format!("Description of pull-request {} edited", pr()?)
        }
        "pull-request.new" => format!("New Pull-Request: {}", pr()?),
        "pull-request.rebased" => format!("Pull-request {} was rebased", pr()?),
        "pull-request.reopened" => format!("Pull-request {} was re-opened", pr()?),
        "pull-request.tag.added" => format!("Pull-request {} was tagged", pr()?),
        "pull-request.tag.removed" => format!("Pull-request {} was un-tagged", pr()?),
        "pull-request.updated" => format!("Pull-request {} was updated", pr()?),
        _ => return None,
    })
}

/// `USERNAME STATUS` of a flag.
fn flag_text(msg: &Message) -> Option<String> {
    Some(format!(
        "{} {}",
        at(msg, &["flag", "username"])?,
        at(msg, &["flag", "status"])?
    ))
}

/// `GitReceiveV1.__str__`: the first author, by full name and name, pushed N commits.
fn git_receive_text(msg: &Message) -> Option<String> {
    let author = |k: &str| at(msg, &["authors", "0", k]);
    let forced = if truthy(msg.get(&["forced"])?) {
        "forced-"
    } else {
        ""
    };
    let plural = if count(msg, "total_commits")? > 1.0 {
        "s"
    } else {
        ""
    };
    Some(format!(
        "{} ({}) {forced}pushed {} commit{plural} on {}.\nBranch: {}\n",
        author("fullname")?,
        author("name")?,
        at(msg, &["total_commits"])?,
        at(msg, &["repo", "fullname"])?,
        short_branch(msg)?
    ))
}

/// `url`: the issue's or pull request's page, the repository's, or a commit's.
pub(super) fn link(msg: &Message) -> Option<String> {
    let f = |p: &[&str]| at(msg, p);
    let repo_url = || f(&["repo", "full_url"]);
    match msg.subtopic() {
        "Test.notification" => Some(base_url(msg).into()),
        "commit.flag.added" | "commit.flag.updated" => Some(format!(
            "{}/c/{}",
            repo_url()?,
            f(&["flag", "commit_hash"])?
        )),
        "group.edit" => f(&["group", "full_url"]),
        "git.branch.creation" => Some(format!("{}/tree/{}", repo_url()?, tree_item(msg)?)),
        "git.branch.deletion" => repo_url(),
        "git.receive" => {
            let end = f(&["end_commit"])?;
            if count(msg, "total_commits")? == 1.0 {
                Some(format!("{}/c/{end}", repo_url()?))
            } else {
                Some(format!("{}/c/{}..{end}", repo_url()?, f(&["old_commit"])?))
            }
        }
        "git.tag.creation" => Some(format!("{}/commits/{}", repo_url()?, f(&["tag"])?)),
        "git.tag.deletion" => Some(format!("{}/releases", repo_url()?)),
        "issue.drop" => Some(format!("{}/issues", f(&["project", "full_url"])?)),
        "issue.comment.added" => {
            last_comment(msg, "issue").map(|(url, id)| format!("{url}#comment-{id}"))
        }
        "pull-request.comment.added" => {
            last_comment(msg, "pullrequest").map(|(url, id)| format!("{url}#comment-{id}"))
        }
        "pull-request.comment.edited" => {
            let url = f(&["pullrequest", "full_url"])?;
            let comments = msg.get(&["pullrequest", "comments"])?;
            if truthy(comments) {
                let (_, id) = last_comment(msg, "pullrequest")?;
                Some(format!("{url}#comment-{id}"))
            } else {
                Some(url)
            }
        }
        s if s.starts_with("project.") => f(&["project", "full_url"]),
        _ => f(&[object_type(msg)?, "full_url"]),
    }
}

/// The object's `full_url` and its last comment's id (`comments[-1]["id"]`).
fn last_comment(msg: &Message, kind: &str) -> Option<(String, String)> {
    let url = at(msg, &[kind, "full_url"])?;
    let last = msg.get(&[kind, "comments"])?.as_array()?.last()?;
    Some((url, py_str(last.get("id")?)))
}

/// `get_base_url()`: pagure.io, or its staging instance on a staging topic.
fn base_url(msg: &Message) -> &'static str {
    if msg.topic().contains(".stg.") {
        "https://stg.pagure.io"
    } else {
        "https://pagure.io"
    }
}
