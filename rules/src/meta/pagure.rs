//! Pagure: pagure.io and dist-git (src.fedoraproject.org).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::user_name;

pub struct Pagure;

/// The project a message is about, under whichever key this kind of message uses.
fn project<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["project"])
        .or_else(|| msg.get(&["pullrequest", "project"]))
        .or_else(|| msg.get(&["repo"]))
        .or_else(|| msg.get(&["commit", "repo"]))
}

fn project_path(p: &Value) -> Option<String> {
    if let Some(path) = p.get("url_path").and_then(Value::as_str) {
        return Some(path.to_owned());
    }
    if let Some(full) = p.get("fullname").and_then(Value::as_str) {
        return Some(full.to_owned());
    }
    let name = p.get("name")?.as_str()?;
    Some(match p.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    })
}

/// dist-git, where repositories are packages, publishes under `org.fedoraproject`;
/// pagure.io under `io.pagure`.
fn is_dist_git(msg: &Message) -> bool {
    msg.topic().starts_with("org.fedoraproject.")
}

impl Family for Pagure {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(u) = user_name(msg.get(&["pullrequest", "user"])) {
            out.insert(u);
        }
        if let Some(u) = user_name(msg.get(&["issue", "user"])) {
            out.insert(u);
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if !is_dist_git(msg) {
            return;
        }
        if let Some(p) = project(msg)
            && p.get("namespace").and_then(Value::as_str) == Some("rpms")
        {
            out.insert_value(p.get("name"));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = user_name(msg.get(&["agent"]))?;
        let what = msg.subtopic().replace(['.', '-'], " ");
        match project(msg).and_then(project_path) {
            Some(p) => Some(format!("{agent}: {what} on {p}")),
            None => Some(format!("{agent}: {what}")),
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let p = project(msg)?;
        if let Some(url) = p.get("full_url").and_then(Value::as_str) {
            return Some(url.to_owned());
        }
        let host = if is_dist_git(msg) {
            "https://src.fedoraproject.org"
        } else {
            "https://pagure.io"
        };
        let path = project_path(p)?;
        if let Some(id) = msg.get(&["pullrequest", "id"]).and_then(Value::as_i64) {
            return Some(format!("{host}/{path}/pull-request/{id}"));
        }
        if let Some(id) = msg.get(&["issue", "id"]).and_then(Value::as_i64) {
            return Some(format!("{host}/{path}/issue/{id}"));
        }
        Some(format!("{host}/{path}"))
    }
}
