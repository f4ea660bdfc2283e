//! Pagure: pagure.io and dist-git (src.fedoraproject.org), in both bus eras. fedmsg's messages
//! were described by `fedmsg.meta`; fedora-messaging's by the `pagure-messages` schemas, with
//! other wording and other fields for the same topics.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::{series, user_name};

mod schema;

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

fn short_branch(b: &str) -> &str {
    b.strip_prefix("refs/heads/").unwrap_or(b)
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
        schema::long_text(msg)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            return schema::usernames(msg, out);
        }
        if msg.subtopic() == "git.receive"
            && let Some(u) = pusher(msg)
        {
            out.insert(u);
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            schema::packages(msg, out);
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_summary(msg)
        } else {
            schema::summary(msg)
        }
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg() && schema::known(msg)).then(|| schema::ICON.into())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg() && schema::known(msg)).then(|| schema::APP_NAME.into())
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return schema::link(msg);
        }
        let sub = msg.subtopic();
        if sub == "project.deleted" {
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
