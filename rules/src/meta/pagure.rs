//! Pagure: pagure.io and dist-git (src.fedoraproject.org), in both bus eras. fedmsg's messages
//! were described by `fedmsg.meta`'s `PagureProcessor` (pagure.io, `io.pagure.*` topics) and
//! `DistGitPagureProcessor` (dist-git, `org.fedoraproject.*`), translated here branch by
//! branch; fedora-messaging's by the `pagure-messages` classes (`schema`), with other wording
//! and other fields for the same topics.

use fmn_rules_sdk::people::person;
use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy};

mod schema;
mod subtitle;

pub(super) struct Pagure;

impl Family for Pagure {
    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta's agent is the one username: the pusher of an agent-less push.
        if msg.is_fedmsg() {
            return pusher_email(msg).map(|e| email2fas(e).to_owned());
        }
        None
    }

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
        // The pusher's address, when it is not a fedoraproject.org one, is kept as it is: the
        // worker names it by account through its aliases.
        if let Some(e) = pusher_email(msg) {
            out.insert(email2fas(e));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            schema::packages(msg, out);
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            subtitle::fedmsg_summary(msg)
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
        if msg.is_fedmsg() {
            fedmsg_link(msg)
        } else {
            schema::link(msg)
        }
    }
}

/// The address of the pusher of a fedmsg-era `git.receive` that names no agent (the
/// processor's `usernames`).
fn pusher_email<'m>(msg: &'m Message) -> Option<&'m str> {
    if !msg.topic().contains("pagure.git.receive") || msg.get(&["agent"]).is_some_and(truthy) {
        return None;
    }
    msg.str_at(&["commit", "email"])
}

/// `email2fas` without alias data: a fedoraproject.org address's local part, else the address.
fn email2fas(email: &str) -> &str {
    email.strip_suffix("@fedoraproject.org").unwrap_or(email)
}

/// `email2fas` in a text: an address other than fedoraproject.org's is marked for the worker
/// to name by account.
fn email2fas_text(email: &str) -> String {
    match email.strip_suffix("@fedoraproject.org") {
        Some(local) => local.to_owned(),
        None => person(email),
    }
}

/// Why `_get_project` gave no name: a `KeyError` (which the processor catches where it looks
/// in several places) or anything else (which it does not).
enum NoProject {
    Key,
    Other,
}

/// `_get_project(d, key)`: `name`, under its namespace, under `fork/USER/` for a fork.
fn get_project(d: &Value, key: &str) -> Result<String, NoProject> {
    let obj = |v: &Value, k: &str| -> Result<Value, NoProject> {
        match v {
            Value::Object(o) => o.get(k).cloned().ok_or(NoProject::Key),
            _ => Err(NoProject::Other),
        }
    };
    let p = obj(d, key)?;
    let name = obj(&p, "name")?;
    let mut project = py_str(&name);
    let ns = p.get("namespace").cloned().unwrap_or(Value::Null);
    if truthy(&ns) {
        let (Value::String(ns), Value::String(n)) = (&ns, &name) else {
            return Err(NoProject::Other);
        };
        project = format!("{ns}/{n}");
    }
    if truthy(&obj(&p, "parent")?) {
        let user = obj(&obj(&p, "user")?, "name")?;
        let Value::String(user) = user else {
            return Err(NoProject::Other);
        };
        project = format!("fork/{user}/{project}");
    }
    Ok(project)
}

/// The processor's project: the message's, else its pull request's, else `(unknown)`; `None`
/// where the processor raises.
fn project(msg: &Message) -> Option<String> {
    let body = msg.body();
    match get_project(body, "project") {
        Ok(p) => Some(p),
        Err(NoProject::Other) => None,
        Err(NoProject::Key) => {
            let Some(pr) = body.get("pullrequest") else {
                return body.is_object().then(|| "(unknown)".into());
            };
            match get_project(pr, "project") {
                Ok(p) => Some(p),
                Err(NoProject::Key) => Some("(unknown)".into()),
                Err(NoProject::Other) => None,
            }
        }
    }
}

/// The instance's address: pagure.io for `io.pagure.*` topics, dist-git for Fedora's.
fn base_url(msg: &Message) -> &'static str {
    let t = msg.topic();
    match (t.starts_with("io.pagure."), t.contains(".stg.")) {
        (false, true) => "https://src.stg.fedoraproject.org",
        (false, false) => "https://src.fedoraproject.org",
        (true, true) => "https://stg.pagure.io",
        (true, false) => "https://pagure.io",
    }
}

fn at(msg: &Message, path: &[&str]) -> Option<String> {
    msg.get(path).map(py_str)
}

/// `BaseConglomerator.list_to_series(items)`: sorted, unique, three at most (`a, b, and 2
/// others`), `(nothing)` for none.
fn list_to_series(v: &Value) -> Option<String> {
    if !truthy(v) {
        return Some("(nothing)".into());
    }
    let mut items: Vec<String> = match v {
        Value::String(s) => s.chars().map(String::from).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        Value::Object(o) => o.keys().cloned().collect(),
        _ => return None,
    };
    items.sort();
    items.dedup();
    if items.len() > 3 {
        let others = format!("{} others", items.len() - 2);
        items.truncate(2);
        items.push(others);
    }
    let (last, head) = items.split_last()?;
    if head.is_empty() {
        return Some(last.clone());
    }
    let comma = if items.len() > 2 { "," } else { "" };
    Some(format!("{}{comma} and {last}", head.join(", ")))
}

/// The branch without `refs/heads/`.
fn branch_name(b: &str) -> String {
    b.replace("refs/heads/", "")
}

/// `PagureProcessor.link`.
fn fedmsg_link(msg: &Message) -> Option<String> {
    let project = project(msg)?;
    let t = msg.topic();
    let base = base_url(msg);
    let url = format!("{base}/{project}");
    let f = |p: &[&str]| at(msg, p);
    if t.contains("pagure.issue") {
        let id = f(&["issue", "id"])?;
        let issue = format!("{url}/issue/{id}");
        if t.contains("comment.edited") {
            let comment = msg
                .get(&["comment"])
                .filter(|c| truthy(c))
                .and_then(|c| c.get("id"))
                .filter(|c| truthy(c));
            return Some(match (comment, project == "(unknown)") {
                (Some(c), false) => format!("{issue}#comment-{}", py_str(c)),
                (None, false) => issue,
                (_, true) => base.into(),
            });
        }
        if t.contains("comment.added") {
            let comments = msg.get(&["issue", "comments"])?;
            return Some(match last_id(comments) {
                Some(c) => format!("{issue}#comment-{c}"),
                None => issue,
            });
        }
        return Some(issue);
    }
    if t.contains("pagure.pull-request") {
        let key = ["pullrequest", "pull_request", "pull-request"]
            .into_iter()
            .find(|k| msg.get(&[k]).is_some())
            .unwrap_or("pullrequest");
        let pr = format!("{url}/pull-request/{}", f(&[key, "id"])?);
        if t.contains("comment") {
            let comments = msg.get(&["pullrequest", "comments"])?;
            if let Some(c) = last_id(comments) {
                return Some(format!("{pr}#comment-{c}"));
            }
            if msg.get(&["comment"]).is_some_and(truthy) {
                return Some(format!("{pr}#comment-{}", f(&["comment", "id"])?));
            }
        }
        return Some(pr);
    }
    if t.contains("pagure.request") {
        return Some(format!("{url}/pull-request/{}", f(&["request", "id"])?));
    }
    if t.contains("pagure.project.deleted") {
        return Some(base.into());
    }
    if t.contains("pagure.project") {
        return Some(url);
    }
    if t.contains("pagure.commit.flag") {
        let repo = get_project(msg.body(), "repo").ok()?;
        return Some(format!("{base}/{repo}/c/{}", f(&["flag", "commit_hash"])?));
    }
    if t.contains("pagure.git.receive") {
        if let Some(commit) = msg.get(&["commit"]) {
            let repo = get_project(commit, "repo").ok()?;
            return Some(format!("{base}/{repo}/{}", f(&["commit", "rev"])?));
        }
        let repo = get_project(msg.body(), "repo").ok()?;
        let branch = branch_name(msg.str_at(&["branch"])?);
        return Some(format!("{base}/{repo}/tree/{branch}"));
    }
    Some(base.into())
}

/// The id of the last of a non-empty list of comments (`comments[-1]["id"]`).
fn last_id(comments: &Value) -> Option<String> {
    if !truthy(comments) {
        return None;
    }
    Some(py_str(comments.as_array()?.last()?.get("id")?))
}
