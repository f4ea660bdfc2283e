//! `PagureProcessor.subtitle`: what a fedmsg-era pagure message says, a function for each
//! family of topics (tickets, pull requests, projects, pushes and commit flags).

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::{at, branch_name, email2fas_text, get_project, list_to_series, project};
use crate::meta::py::{py_str, truthy};

/// The topic fragments the processor tests, in its order: the first the topic contains wins.
const BRANCHES: &[&str] = &[
    "pagure.project.new",
    "pagure.issue.new",
    "pagure.issue.drop",
    "pagure.issue.comment.edited",
    "pagure.issue.comment.added",
    "pagure.issue.tag.added",
    "pagure.issue.tag.removed",
    "pagure.pull-request.tag.added",
    "pagure.pull-request.tag.removed",
    "pagure.issue.assigned.added",
    "pagure.issue.assigned.reset",
    "pagure.issue.dependency.added",
    "pagure.issue.dependency.removed",
    "pagure.issue.edit",
    "pagure.project.edit",
    "pagure.project.group.added",
    "pagure.project.group.access.updated",
    "pagure.project.user.added",
    "pagure.project.user.access.updated",
    "pagure.project.tag.removed",
    "pagure.project.tag.edited",
    "pagure.project.forked",
    "pagure.pull-request.comment.added",
    "pagure.pull-request.comment.edited",
    "pagure.pull-request.closed",
    "pagure.pull-request.new",
    "pagure.pull-request.updated",
    "pagure.pull-request.rebased",
    "pagure.pull-request.flag.added",
    "pagure.pull-request.flag.updated",
    "pagure.request.assigned.added",
    "pagure.request.assigned.reset",
    "pagure.git.receive",
    "pagure.project.deleted",
    "pagure.commit.flag.added",
    "pagure.commit.flag.updated",
    "pagure.project.user.removed",
];

/// `PagureProcessor.subtitle`: the first branch whose topic fragment the topic contains.
pub(super) fn fedmsg_summary(msg: &Message) -> Option<String> {
    let project = project(msg)?;
    let t = msg.topic();
    let user = msg.get(&["agent"]).map_or_else(|| "None".into(), py_str);
    let s = Subject { msg, project, user };
    let branch = BRANCHES.iter().find(|b| t.contains(*b))?;
    let branch = branch.strip_prefix("pagure.")?;
    if branch.starts_with("issue.") {
        issue(&s, branch)
    } else if branch.starts_with("pull-request.") || branch.starts_with("request.") {
        pull_request(&s, branch)
    } else if branch.starts_with("project.") {
        project_change(&s, branch)
    } else {
        push_or_flag(&s, branch)
    }
}

/// What every branch names: the message, its project and its agent (`None` without one).
struct Subject<'a> {
    msg: &'a Message<'a>,
    project: String,
    user: String,
}

impl Subject<'_> {
    fn at(&self, path: &[&str]) -> Option<String> {
        at(self.msg, path)
    }

    fn ticket(&self, id: String) -> String {
        format!("{}#{id}", self.project)
    }

    fn issue_id(&self) -> Option<String> {
        self.at(&["issue", "id"])
    }

    fn title(&self) -> Option<String> {
        self.at(&["issue", "title"])
    }

    fn tags(&self) -> Option<String> {
        list_to_series(self.msg.get(&["tags"])?)
    }

    /// `USER VERB ticket PROJECT#ID: "TITLE"`.
    fn titled_ticket(&self, verb: &str) -> Option<String> {
        let id = self.issue_id()?;
        let user = &self.user;
        Some(format!(
            "{user} {verb} ticket {}: \"{}\"",
            self.ticket(id),
            self.title()?
        ))
    }

    /// `USER VERB ticket PROJECT#ID as a dependency of ticket PROJECT#DEP`, `DEP` at `key`.
    fn dependency(&self, verb: &str, key: &str) -> Option<String> {
        let id = self.issue_id()?;
        let dep = self.at(&[key])?;
        let (user, project) = (&self.user, &self.project);
        Some(format!(
            "{user} {verb} ticket {} as a dependency of ticket {project}#{dep}",
            self.ticket(id)
        ))
    }

    /// `USER added LABEL"WHO" to project PROJECT`, `WHO` at `key`, with the access given.
    fn member_added(&self, label: &str, key: &str) -> Option<String> {
        let who = self.at(&[key])?;
        let (user, project) = (&self.user, &self.project);
        let text = format!("{user} added {label}\"{who}\" to project {project}");
        Some(with_access(self.msg, text))
    }

    /// `USER updated access of LABEL"WHO" to ACCESS PREP project PROJECT`, `WHO` at `key`.
    fn access_updated(&self, label: &str, key: &str, prep: &str) -> Option<String> {
        let who = self.at(&[key])?;
        let access = self.at(&["new_access"])?;
        let (user, project) = (&self.user, &self.project);
        Some(format!(
            "{user} updated access of {label}\"{who}\" to {access} {prep} project {project}"
        ))
    }

    /// `FLAGGER DID PROJECT#ID WITH "COMMENT"` of a pull request's flag.
    fn pr_flag(&self, did: &str, with: &str) -> Option<String> {
        let id = self.pr_id()?;
        let project = &self.project;
        Some(format!(
            "{} {did} {project}#{id} {with} \"{}\"",
            self.at(&["flag", "username"])?,
            self.at(&["flag", "comment"])?
        ))
    }

    fn pr_id(&self) -> Option<String> {
        self.at(&["pullrequest", "id"])
    }
}

/// Tickets: opened, deleted, commented, tagged, assigned, linked, edited.
fn issue(s: &Subject, branch: &str) -> Option<String> {
    let user = &s.user;
    let msg = s.msg;
    Some(match branch {
        "issue.new" => s.titled_ticket("opened a new")?,
        "issue.drop" => s.titled_ticket("deleted")?,
        "issue.comment.edited" => s.titled_ticket("edited a comment on")?,
        "issue.comment.added" => s.titled_ticket("commented on")?,
        "issue.tag.added" => {
            let id = s.issue_id()?;
            format!("{user} tagged ticket {}: {}", s.ticket(id), s.tags()?)
        }
        "issue.tag.removed" => {
            let id = s.issue_id()?;
            let tags = s.tags()?;
            format!(
                "{user} removed the {tags} tags from ticket {}",
                s.ticket(id)
            )
        }
        "issue.assigned.added" => {
            let id = s.issue_id()?;
            let to = assignee(msg, "issue")?;
            format!("{user} assigned ticket {}{to}", s.ticket(id))
        }
        "issue.assigned.reset" => {
            format!(
                "{user} reset the assignee of ticket {}",
                s.ticket(s.issue_id()?)
            )
        }
        "issue.dependency.added" => s.dependency("added", "added_dependency")?,
        "issue.dependency.removed" => s.dependency("removed", "removed_dependency")?,
        "issue.edit" => {
            let id = s.issue_id()?;
            let fields = msg.get(&["fields"])?;
            if *fields == Value::from(vec!["status"]) {
                let status = s.at(&["issue", "status"])?;
                format!(
                    "{user} set the status of ticket {} to: {status}",
                    s.ticket(id)
                )
            } else {
                let fields = list_to_series(fields)?;
                format!(
                    "{user} edited the {fields} fields of ticket {}",
                    s.ticket(id)
                )
            }
        }
        _ => return None,
    })
}

/// Pull requests: tagged, commented, closed, opened, updated, flagged, assigned.
fn pull_request(s: &Subject, branch: &str) -> Option<String> {
    let (user, project) = (&s.user, &s.project);
    Some(match branch {
        "pull-request.tag.added" => {
            let id = s.at(&["pull_request", "id"])?;
            format!("{user} tagged pull-request {}: {}", s.ticket(id), s.tags()?)
        }
        "pull-request.tag.removed" => {
            let id = s.at(&["pull_request", "id"])?;
            let tags = s.tags()?;
            format!(
                "{user} removed the {tags} tags from pull-request {}",
                s.ticket(id)
            )
        }
        "pull-request.comment.added" => {
            format!("{user} commented on PR #{} on {project}", s.pr_id()?)
        }
        "pull-request.comment.edited" => {
            format!("{user} edited a comment on PR #{} on {project}", s.pr_id()?)
        }
        "pull-request.closed" => {
            let id = s.pr_id()?;
            if truthy(s.msg.get(&["merged"])?) {
                format!("{user} merged pull request #{id} on {project}")
            } else {
                format!("{user} closed (without merging) pull request #{id} on {project}")
            }
        }
        "pull-request.new" => {
            let id = s.pr_id()?;
            let title = s.at(&["pullrequest", "title"])?;
            format!("{user} opened pull request #{id} on {project}: {title}")
        }
        "pull-request.updated" => format!("Pull-request #{} has been updated", s.pr_id()?),
        "pull-request.rebased" => format!("Pull-request #{} has been rebased", s.pr_id()?),
        "pull-request.flag.added" => s.pr_flag("flagged", "with")?,
        "pull-request.flag.updated" => s.pr_flag("updated the flags on", "with:")?,
        "request.assigned.added" => {
            let id = s.at(&["request", "id"])?;
            let to = assignee(s.msg, "request")?;
            format!("{user} assigned PR {project}#{id}{to}")
        }
        "request.assigned.reset" => format!(
            "{user} reset the assignee of PR {project}#{}",
            s.at(&["request", "id"])?
        ),
        _ => return None,
    })
}

/// Projects: created, edited, given to groups and users, tagged, forked, deleted.
fn project_change(s: &Subject, branch: &str) -> Option<String> {
    let Subject { msg, project, user } = s;
    Some(match branch {
        "project.new" => format!("{user} created a new project \"{project}\""),
        "project.edit" => {
            let fields = list_to_series(msg.get(&["fields"])?)?;
            format!("{user} edited the {fields} fields of project {project}")
        }
        "project.group.added" => s.member_added("group ", "new_group")?,
        "project.group.access.updated" => s.access_updated("group ", "new_group", "on")?,
        "project.user.added" => s.member_added("", "new_user")?,
        "project.user.access.updated" => s.access_updated("", "new_user", "in")?,
        "project.tag.removed" => {
            format!(
                "{user} removed tags \"{}\" from project {project}",
                s.tags()?
            )
        }
        "project.tag.edited" => format!(
            "{user} altered tags on project {project} from \"{}\" to \"{}\"",
            s.at(&["old_tag"])?,
            s.at(&["new_tag"])?
        ),
        "project.forked" => format!(
            "{user} forked {} to {project}",
            s.at(&["project", "parent", "name"])?
        ),
        "project.deleted" => format!("{user} deleted the project \"{project}\""),
        "project.user.removed" => format!(
            "{user} removed \"{}\" from the project {project}",
            s.at(&["removed_user"])?
        ),
        _ => return None,
    })
}

/// Pushes (both shapes of `git.receive`) and flags on commits.
fn push_or_flag(s: &Subject, branch: &str) -> Option<String> {
    let msg = s.msg;
    Some(match branch {
        "git.receive" if msg.get(&["commit"]).is_some() => git_receive_v1(msg)?,
        "git.receive" => git_receive_v2(msg)?,
        "commit.flag.added" | "commit.flag.updated" => {
            let who = s.at(&["flag", "username"])?;
            let repo = get_project(msg.body(), "repo").ok()?;
            let hash: String = msg
                .str_at(&["flag", "commit_hash"])?
                .chars()
                .take(8)
                .collect();
            let did = if branch.ends_with("added") {
                "added a flag"
            } else {
                "updated its flag"
            };
            format!("{who} {did} on the commit {hash} of the project {repo}")
        }
        _ => return None,
    })
}

/// ` to NAME` when the issue or request has an assignee.
fn assignee(msg: &Message, kind: &str) -> Option<String> {
    if truthy(msg.get(&[kind, "assignee"])?) {
        Some(format!(" to {}", at(msg, &[kind, "assignee", "name"])?))
    } else {
        Some(String::new())
    }
}

/// ` with ACCESS access` when the message gives an access level.
fn with_access(msg: &Message, text: String) -> String {
    match msg.get(&["access"]).filter(|a| truthy(a)) {
        Some(a) => format!("{text} with {} access", py_str(a)),
        None => text,
    }
}

/// `_git_receive_v1`: a push as one commit, by the committer's address.
fn git_receive_v1(msg: &Message) -> Option<String> {
    let commit = msg.get(&["commit"])?;
    let repo = get_project(commit, "repo").ok()?;
    let email = msg.str_at(&["commit", "email"])?;
    let mut summary = msg.str_at(&["commit", "summary"])?.to_owned();
    let whole = msg.str_at(&["commit", "message"])?;
    if summary.trim() != whole.trim() {
        summary.push_str(" (..more)");
    }
    let branch = branch_name(msg.str_at(&["commit", "branch"])?);
    Some(format!(
        "{} pushed to {repo} ({branch}). \"{summary}\"",
        email2fas_text(email)
    ))
}

/// `_git_receive_v2`: a push of N commits, by its agent.
fn git_receive_v2(msg: &Message) -> Option<String> {
    let repo = get_project(msg.body(), "repo").ok()?;
    let user = at(msg, &["agent"])?;
    let n = at(msg, &["total_commits"])?;
    let label = if n == "1" { "commit" } else { "commits" };
    let branch = branch_name(msg.str_at(&["branch"])?);
    Some(format!("{user} pushed {n} {label} to {repo} ({branch})"))
}
