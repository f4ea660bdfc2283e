//! Pagure: pagure.io and dist-git (src.fedoraproject.org), in both bus eras. fedmsg's messages
//! were described by `fedmsg.meta`; fedora-messaging's by the `pagure-messages` schemas, with
//! other wording and other fields for the same topics.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::{series, user_name};

pub struct Pagure;

fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn num(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The pull request, under whichever key this kind of message uses.
fn pull_request<'m>(msg: &'m Message) -> Option<&'m Value> {
    ["pullrequest", "pull_request", "request"]
        .iter()
        .find_map(|k| msg.get(&[k]).filter(|v| v.is_object()))
}

/// The project a message is about.
fn project<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["project"])
        .filter(|v| v.is_object())
        .or_else(|| pull_request(msg).and_then(|p| p.get("project")))
        .or_else(|| msg.get(&["repo"]))
        .or_else(|| msg.get(&["commit", "repo"]))
        .filter(|v| v.is_object())
}

/// A project's name as both eras print it: `fullname` (`rpms/foo`, `forks/u/foo`), else its
/// name under its namespace.
fn full_name(p: &Value) -> Option<String> {
    if let Some(f) = s(p, "fullname") {
        return Some(f.to_owned());
    }
    let name = s(p, "name")?;
    Some(match s(p, "namespace") {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    })
}

/// A project's path on its server: `url_path`, else `fork/USER/NAME` for forks.
fn url_path(p: &Value) -> Option<String> {
    if let Some(u) = s(p, "url_path") {
        return Some(u.to_owned());
    }
    let own = match s(p, "namespace") {
        Some(ns) => format!("{ns}/{}", s(p, "name")?),
        None => s(p, "name")?.to_owned(),
    };
    match p.get("parent").filter(|v| v.is_object()) {
        Some(_) => Some(format!("fork/{}/{own}", user_name(p.get("user"))?)),
        None => Some(own),
    }
}

/// The server a fedmsg-era topic's instance ran on.
fn server(msg: &Message) -> &'static str {
    let t = msg.topic();
    match (t.starts_with("org.fedoraproject."), t.contains(".stg.")) {
        (true, true) => "https://src.stg.fedoraproject.org",
        (true, false) => "https://src.fedoraproject.org",
        (false, true) => "https://stg.pagure.io",
        (false, false) => "https://pagure.io",
    }
}

fn project_url(msg: &Message, p: &Value) -> Option<String> {
    if let Some(u) = s(p, "full_url") {
        return Some(u.to_owned());
    }
    Some(format!("{}/{}", server(msg), url_path(p)?))
}

fn last_comment_id(v: &Value) -> Option<String> {
    v.get("comments")?
        .as_array()?
        .last()
        .and_then(|c| num(c, "id"))
}

fn sorted_strings(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn short_branch(b: &str) -> &str {
    b.strip_prefix("refs/heads/").unwrap_or(b)
}

/// `namespace/project#N` of the message's issue.
fn issue_ref(msg: &Message) -> Option<String> {
    Some(format!(
        "{}#{}",
        project(msg).and_then(full_name)?,
        num(msg.get(&["issue"])?, "id")?
    ))
}

/// `namespace/project#N` of the message's pull request.
fn pr_ref(msg: &Message) -> Option<String> {
    let p = pull_request(msg)?;
    Some(format!(
        "{}#{}",
        full_name(p.get("project")?)?,
        num(p, "id")?
    ))
}

/// The issues named in field `key` (one number or a list), as `#1, #2`.
fn dependencies(msg: &Message, key: &str) -> Option<String> {
    match msg.get(&[key])? {
        Value::Array(a) => Some(
            a.iter()
                .map(|v| format!("#{v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        v => Some(format!("#{}", v.as_i64()?)),
    }
}

/// The schemas' `str()`: what happened, then who did it.
fn schema_long_text(msg: &Message) -> Option<String> {
    let agent = user_name(msg.get(&["agent"])).unwrap_or("someone");
    let proj = project(msg).and_then(full_name);
    let issue_ref = || issue_ref(msg);
    let pr_ref = || pr_ref(msg);
    let flag = || {
        Some(format!(
            "{} {}",
            msg.str_at(&["flag", "username"])?,
            msg.str_at(&["flag", "status"])?
        ))
    };
    let tags = strings(msg.get(&["tags"])).join(", ");
    let dep = |k: &str| dependencies(msg, k);
    let by = |what: String| Some(format!("{what}\nBy: {agent}"));
    match msg.subtopic() {
        "commit.flag.added" => by(format!("New commit flag: {}", flag()?)),
        "commit.flag.updated" => by(format!("New commit flag: {}", flag()?)),
        "git.branch.creation" => by(format!("Git branch: {} created", msg.str_at(&["branch"])?)),
        "git.branch.deletion" => by(format!("Git branch: {} deleted", msg.str_at(&["branch"])?)),
        "git.tag.creation" => by(format!("Git tag: {} created", msg.str_at(&["tag"])?)),
        "git.receive" => {
            let n = msg.get(&["total_commits"]).and_then(Value::as_i64)?;
            let who = msg
                .get(&["authors"])
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|u| s(u, "name") == Some(agent)));
            let name = who
                .and_then(|u| s(u, "fullname"))
                .map(|f| format!("{f} ({agent})"))
                .unwrap_or_else(|| agent.to_owned());
            Some(format!(
                "{name} pushed {n} commit{} on {}.\nBranch: {}\n",
                if n == 1 { "" } else { "s" },
                proj?,
                short_branch(msg.str_at(&["branch"])?)
            ))
        }
        "issue.comment.added" => by(format!("Issue: {} has a new comment", issue_ref()?)),
        "issue.dependency.added" => by(format!(
            "Issue: {} depends on {}",
            issue_ref()?,
            dep("added_dependency")?
        )),
        "issue.dependency.removed" => by(format!(
            "Issue: {} no longer depending on {}",
            issue_ref()?,
            dep("removed_dependency")?
        )),
        "issue.edit" => by(format!("Edited Issue: {}", issue_ref()?)),
        "issue.new" => by(format!("New Issue: {}", issue_ref()?)),
        "issue.tag.added" => by(format!("Issue: {} tagged with {tags}", issue_ref()?)),
        "issue.tag.removed" => by(format!("Issue: {} un-tagged with {tags}", issue_ref()?)),
        "project.deleted" => Some(format!("Project: {}\nDeleted by: {agent}", proj?)),
        "project.edit" => by(format!("Project Edited: {}", proj?)),
        "project.group.access.updated" => by(format!(
            "Group: {} access updated to {} on {}",
            msg.str_at(&["new_group"])?,
            msg.str_at(&["new_access"])?,
            proj?
        )),
        "project.group.added" => by(format!(
            "Group: {} added to {} as {}",
            msg.str_at(&["new_group"])?,
            proj?,
            msg.str_at(&["access"])?
        )),
        "project.tag.removed" => by(format!("Tag(s): {tags} removed from {}", proj?)),
        "project.user.access.updated" => by(format!(
            "User: {} access edited to {} on {}",
            msg.str_at(&["new_user"])?,
            msg.str_at(&["new_access"])?,
            proj?
        )),
        "project.user.added" => by(format!(
            "User: {} added to {}",
            msg.str_at(&["new_user"])?,
            proj?
        )),
        "pull-request.assigned.reset" => by(format!("Pull-request {} was un-assigned", pr_ref()?)),
        "pull-request.closed" => {
            if msg.get(&["merged"]).and_then(Value::as_bool) == Some(true) {
                by(format!("Pull-Request: {} has been merged", pr_ref()?))
            } else {
                by(format!(
                    "Pull-Request: {} has been closed without merging",
                    pr_ref()?
                ))
            }
        }
        "pull-request.comment.edited" => {
            by(format!("Edited comment on Pull-Request: {}", pr_ref()?))
        }
        "pull-request.flag.added" => by(format!("New pull-request flag: {}", flag()?)),
        "pull-request.flag.updated" => by(format!("Pull-request flag updated: {}", flag()?)),
        "pull-request.initial_comment.edited" => {
            by(format!("Description of pull-request {} edited", pr_ref()?))
        }
        "pull-request.tag.added" => by(format!("Pull-request {} was tagged", pr_ref()?)),
        "pull-request.tag.removed" => by(format!("Pull-request {} was un-tagged", pr_ref()?)),
        _ => None,
    }
}

/// The pusher of a fedmsg-era `git.receive`: the commit's user, else the local part of a
/// fedoraproject.org address.
fn pusher<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["commit", "username"]).or_else(|| {
        msg.str_at(&["commit", "email"])?
            .strip_suffix("@fedoraproject.org")
    })
}

impl Family for Pagure {
    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        schema_long_text(msg)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.subtopic() == "git.receive"
            && let Some(u) = pusher(msg)
        {
            out.insert(u);
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            return;
        }
        if let Some(p) = project(msg)
            && s(p, "namespace") == Some("rpms")
        {
            out.insert_value(p.get("name"));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_summary(msg)
        } else {
            schema_summary(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if sub == "Test.notification" {
            return Some("https://pagure.io".into());
        }
        if matches!(sub, "project.deleted") && msg.is_fedmsg() {
            return Some(server(msg).into());
        }
        if let Some(pr) = pull_request(msg) {
            let base = match s(pr, "full_url") {
                Some(u) => u.to_owned(),
                None => format!(
                    "{}/pull-request/{}",
                    project_url(msg, pr.get("project")?)?,
                    num(pr, "id")?
                ),
            };
            if (sub.ends_with("comment.added") || sub == "pull-request.comment.edited")
                && let Some(c) = last_comment_id(pr)
            {
                return Some(format!("{base}#comment-{c}"));
            }
            return Some(base);
        }
        if let Some(issue) = msg.get(&["issue"]) {
            let base = match s(issue, "full_url") {
                Some(u) => u.to_owned(),
                None => match project(msg) {
                    Some(p) => format!("{}/issue/{}", project_url(msg, p)?, num(issue, "id")?),
                    // Without its project an issue cannot be linked: the server, then.
                    None => return Some(server(msg).into()),
                },
            };
            let comment = match sub {
                "issue.comment.edited" => msg.get(&["comment"]).and_then(|c| num(c, "id")),
                "issue.comment.added" => last_comment_id(issue),
                _ => None,
            };
            return Some(match comment {
                Some(c) => format!("{base}#comment-{c}"),
                None => base,
            });
        }
        let p = project(msg)?;
        let url = project_url(msg, p)?;
        let hash = msg
            .str_at(&["flag", "commit_hash"])
            .or_else(|| msg.str_at(&["commit", "rev"]));
        match sub {
            "commit.flag.added" | "commit.flag.updated" => Some(format!("{url}/c/{}", hash?)),
            "git.receive" if msg.is_fedmsg() => Some(format!("{url}/{}", hash?)),
            "git.receive" => {
                let end = msg.str_at(&["end_commit"])?;
                match (
                    msg.get(&["total_commits"]).and_then(Value::as_i64),
                    msg.str_at(&["old_commit"]),
                ) {
                    (Some(n), Some(old)) if n > 1 => Some(format!("{url}/c/{old}..{end}")),
                    _ => Some(format!("{url}/c/{end}")),
                }
            }
            "git.branch.creation" => Some(format!("{url}/tree/{}", msg.str_at(&["branch"])?)),
            "git.tag.creation" => Some(format!("{url}/commits/{}", msg.str_at(&["tag"])?)),
            _ => Some(url),
        }
    }
}

/// What `fedmsg.meta` said of pagure's fedmsg-era messages.
fn fedmsg_summary(msg: &Message) -> Option<String> {
    let agent = user_name(msg.get(&["agent"])).unwrap_or("someone");
    let proj = project(msg).and_then(full_name);
    let issue = msg.get(&["issue"]);
    let ticket = |id: &str| format!("ticket {}#{id}", proj.as_deref().unwrap_or("(unknown)"));
    let issue_id = issue.and_then(|i| num(i, "id"));
    let pr = pull_request(msg);
    let pr_id = pr.and_then(|p| num(p, "id"));
    let tags = sorted_strings(msg.get(&["tags"]));
    let fields = sorted_strings(msg.get(&["fields"]));
    Some(match msg.subtopic() {
        "issue.tag.added" => format!("{agent} tagged {}: {}", ticket(&issue_id?), series(&tags)),
        "issue.tag.removed" => {
            format!(
                "{agent} removed the {} tags from {}",
                series(&tags),
                ticket(&issue_id?)
            )
        }
        "issue.assigned.added" => format!(
            "{agent} assigned {} to {}",
            ticket(&issue_id?),
            user_name(issue?.get("assignee"))?
        ),
        "issue.assigned.reset" => format!("{agent} reset the assignee of {}", ticket(&issue_id?)),
        "issue.dependency.added" => format!(
            "{agent} added {} as a dependency of {}",
            ticket(&issue_id?),
            ticket(&num(msg.body(), "added_dependency")?)
        ),
        "issue.dependency.removed" => format!(
            "{agent} removed {} as a dependency of {}",
            ticket(&issue_id?),
            ticket(&num(msg.body(), "removed_dependency")?)
        ),
        "issue.edit" => format!(
            "{agent} edited the {} fields of {}",
            series(&fields),
            ticket(&issue_id?)
        ),
        "issue.new" => format!(
            "{agent} opened a new {}: {:?}",
            ticket(&issue_id?),
            s(issue?, "title")?
        ),
        "issue.comment.added" => format!(
            "{agent} commented on {}: {:?}",
            ticket(&issue_id?),
            s(issue?, "title")?
        ),
        "issue.comment.edited" => format!(
            "{agent} edited a comment on {}: \"{}\"",
            ticket(&issue_id?),
            s(issue?, "title")?
        ),
        "project.edit" => format!(
            "{agent} edited the {} fields of project {}",
            series(&fields),
            proj?
        ),
        "project.user.access.updated" => format!(
            "{agent} updated access of \"{}\" to {} in project {}",
            msg.str_at(&["new_user"])?,
            msg.str_at(&["new_access"])?,
            proj?
        ),
        "project.group.added" => {
            let mut out = format!(
                "{agent} added group \"{}\" to project {}",
                msg.str_at(&["new_group"])?,
                proj?
            );
            if let Some(a) = msg.str_at(&["access"]) {
                out.push_str(&format!(" with {a} access"));
            }
            out
        }
        "project.user.added" => format!(
            "{agent} added \"{}\" to project {}",
            msg.str_at(&["new_user"])?,
            proj?
        ),
        "project.user.removed" => format!(
            "{agent} removed \"{}\" from the project {}",
            msg.str_at(&["removed_user"])?,
            proj?
        ),
        "project.tag.edited" => format!(
            "{agent} altered tags on project {} from \"{}\" to \"{}\"",
            proj?,
            msg.str_at(&["old_tag"])?,
            msg.str_at(&["new_tag"])?
        ),
        "project.forked" => {
            let p = project(msg)?;
            let parent = p.get("parent").and_then(|pp| s(pp, "name"))?;
            format!("{agent} forked {parent} to {}", url_path(p)?)
        }
        "project.new" => format!("{agent} created a new project \"{}\"", proj?),
        "project.deleted" => format!("{agent} deleted the project \"{}\"", proj?),
        "pull-request.comment.added" => {
            format!("{agent} commented on PR #{} on {}", pr_id?, proj?)
        }
        "pull-request.closed" => {
            if msg.get(&["merged"]).and_then(Value::as_bool) == Some(true) {
                format!("{agent} merged pull request #{} on {}", pr_id?, proj?)
            } else {
                format!(
                    "{agent} closed (without merging) pull request #{} on {}",
                    pr_id?, proj?
                )
            }
        }
        "pull-request.new" => format!("{agent} opened pull request #{} on {}", pr_id?, proj?),
        "pull-request.flag.added" => format!(
            "{} flagged {}#{} with \"{}\"",
            msg.str_at(&["flag", "username"])?,
            proj?,
            pr_id?,
            msg.str_at(&["flag", "comment"])?
        ),
        "pull-request.flag.updated" => format!(
            "{} updated the flags on {}#{} with: \"{}\"",
            msg.str_at(&["flag", "username"])?,
            proj?,
            pr_id?,
            msg.str_at(&["flag", "comment"])?
        ),
        "request.assigned.added" | "pull-request.assigned.added" => format!(
            "{agent} assigned PR {}#{} to {}",
            proj?,
            pr_id?,
            user_name(pr?.get("assignee"))?
        ),
        "request.assigned.reset" | "pull-request.assigned.reset" => {
            format!("{agent} reset the assignee of PR {}#{}", proj?, pr_id?)
        }
        "pull-request.tag.added" => {
            format!(
                "{agent} tagged pull-request {}#{}: {}",
                proj?,
                pr_id?,
                series(&tags)
            )
        }
        "pull-request.tag.removed" => format!(
            "{agent} removed the {} tags from pull-request {}#{}",
            series(&tags),
            proj?,
            pr_id?
        ),
        "pull-request.updated" => format!("Pull-request #{} has been updated", pr_id?),
        "commit.flag.added" => format!(
            "{} added a flag on the commit {} of the project {}",
            msg.str_at(&["flag", "username"])?,
            msg.str_at(&["flag", "commit_hash"])?.get(..8)?,
            proj?
        ),
        "commit.flag.updated" => format!(
            "{} updated its flag on the commit {} of the project {}",
            msg.str_at(&["flag", "username"])?,
            msg.str_at(&["flag", "commit_hash"])?.get(..8)?,
            proj?
        ),
        "git.receive" => format!(
            "{} pushed to {} ({}). \"{}\"",
            pusher(msg)?,
            s(project(msg)?, "name")?,
            short_branch(msg.str_at(&["commit", "branch"])?),
            msg.str_at(&["commit", "summary"])?
        ),
        _ => return None,
    })
}

/// What the `pagure-messages` schemas say of fedora-messaging-era messages.
fn schema_summary(msg: &Message) -> Option<String> {
    let agent = user_name(msg.get(&["agent"])).unwrap_or("someone");
    let proj = project(msg).and_then(full_name);
    let issue = msg.get(&["issue"]);
    let issue_ref = || issue_ref(msg);
    let pr = pull_request(msg);
    let pr_ref = || pr_ref(msg);
    let tags = strings(msg.get(&["tags"])).join(", ");
    let fields = strings(msg.get(&["fields"])).join(", ");
    let flag = |k: &str| msg.str_at(&["flag", k]);
    let dep = |k: &str| dependencies(msg, k);
    Some(match msg.subtopic() {
        "Test.notification" => "Test notification".into(),
        "commit.flag.added" => format!(
            "Commit {} of project {} was flagged as {} by {}",
            flag("commit_hash")?,
            proj?,
            flag("status")?,
            flag("username")?
        ),
        "commit.flag.updated" => format!(
            "{} updated flag on commit {} of project {} to {}",
            flag("username")?,
            flag("commit_hash")?,
            proj?,
            flag("status")?
        ),
        "git.branch.creation" => format!(
            "{agent} created the branch {} on {}",
            msg.str_at(&["branch"])?,
            proj?
        ),
        "git.branch.deletion" => format!(
            "{agent} deleted the branch {} on {}",
            msg.str_at(&["branch"])?,
            proj?
        ),
        "git.receive" => {
            let n = msg.get(&["total_commits"]).and_then(Value::as_i64)?;
            format!(
                "{agent} pushed {n} commit{} on {} (branch: {})",
                if n == 1 { "" } else { "s" },
                proj?,
                short_branch(msg.str_at(&["branch"])?)
            )
        }
        "git.tag.creation" => format!(
            "{agent} tagged the commit {} on {} as {}",
            msg.str_at(&["rev"])?,
            proj?,
            msg.str_at(&["tag"])?
        ),
        "issue.assigned.added" => format!(
            "{agent} assigned the issue {} to {}",
            issue_ref()?,
            user_name(issue?.get("assignee"))?
        ),
        "issue.assigned.reset" => {
            format!("{agent} reset the assignee of the issue {}", issue_ref()?)
        }
        "issue.comment.added" => format!("{agent} commented on the issue {}", issue_ref()?),
        "issue.dependency.added" => format!(
            "{agent} set the issue {} as depending on {}",
            issue_ref()?,
            dep("added_dependency")?
        ),
        "issue.dependency.removed" => format!(
            "{agent} removed the dependency on {} on the issue {}",
            dep("removed_dependency")?,
            issue_ref()?
        ),
        "issue.edit" => format!(
            "{agent} edited fields {fields} of issue {}: {}",
            issue_ref()?,
            s(issue?, "title")?
        ),
        "issue.new" => format!(
            "{agent} created issue {}: {}",
            issue_ref()?,
            s(issue?, "title")?
        ),
        "issue.tag.added" => format!("{agent} tagged the issue {} with {tags}", issue_ref()?),
        "issue.tag.removed" => format!("{agent} removed tags {tags} from issue {}", issue_ref()?),
        "project.deleted" => format!("{agent} deleted project \"{}\"", proj?),
        "project.edit" => format!(
            "{agent} edited the fields {fields} of project \"{}\"",
            proj?
        ),
        "project.forked" => {
            let p = project(msg)?;
            format!(
                "{agent} forked project \"{}\" to {}",
                full_name(p.get("parent")?)?,
                full_name(p)?
            )
        }
        "project.group.access.updated" => format!(
            "{agent} updated the access of group {} to {} on the project \"{}\"",
            msg.str_at(&["new_group"])?,
            msg.str_at(&["new_access"])?,
            proj?
        ),
        "project.group.added" => format!(
            "{agent} added the group {} to the project \"{}\" at the {} level",
            msg.str_at(&["new_group"])?,
            proj?,
            msg.str_at(&["access"])?
        ),
        "project.tag.removed" => {
            format!("{agent} removed the tag(s) {tags} of project \"{}\"", proj?)
        }
        "project.user.access.updated" => format!(
            "{agent} updated the access of {} to {} on the project \"{}\"",
            msg.str_at(&["new_user"])?,
            msg.str_at(&["new_access"])?,
            proj?
        ),
        "project.user.added" => format!(
            "{agent} added the {} to the project \"{}\"",
            msg.str_at(&["new_user"])?,
            proj?
        ),
        "pull-request.assigned.added" => format!(
            "{agent} assigned the pull-request {} to {}",
            pr_ref()?,
            user_name(pr?.get("assignee"))?
        ),
        "pull-request.assigned.reset" => {
            format!(
                "{agent} reset the assignee of the pull-request {}",
                pr_ref()?
            )
        }
        "pull-request.closed" => {
            if msg.get(&["merged"]).and_then(Value::as_bool) == Some(true) {
                format!("{agent} merged the pull-request {}", pr_ref()?)
            } else {
                format!(
                    "{agent} closed without merging the pull-request {}",
                    pr_ref()?
                )
            }
        }
        "pull-request.comment.added" => {
            format!("{agent} commented on the pull-request {}", pr_ref()?)
        }
        "pull-request.comment.edited" => {
            format!("{agent} edited comment on the pull-request {}", pr_ref()?)
        }
        "pull-request.flag.added" => format!(
            "Pull-request {} was flagged as {} by {}",
            pr_ref()?,
            flag("status")?,
            flag("username")?
        ),
        "pull-request.flag.updated" => format!(
            "{} updated flag on pull-request {} to {}",
            flag("username")?,
            pr_ref()?,
            flag("status")?
        ),
        "pull-request.initial_comment.edited" => format!(
            "{agent} has edited the description of the pull-request {}",
            pr_ref()?
        ),
        "pull-request.new" => format!("{agent} opened the pull-request {}", pr_ref()?),
        "pull-request.tag.added" => {
            format!("{agent} tagged the pull-request {} with {tags}", pr_ref()?)
        }
        "pull-request.tag.removed" => {
            format!(
                "{agent} un-tagged the pull-request {} with: {tags}",
                pr_ref()?
            )
        }
        _ => return None,
    })
}
