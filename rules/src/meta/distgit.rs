//! dist-git before Pagure ran it (`git`): pushes, branches, lookaside uploads, and the
//! pkgdb2branch runs.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct DistGit;

const SRC: &str = "https://src.fedoraproject.org";

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The repository a push went to: the commit says, or the topic does
/// (`git.receive.REPO.BRANCH`).
fn pushed_repo<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["commit", "repo"]).or_else(|| {
        let rest = msg.subtopic().strip_prefix("receive.")?;
        rest.split('.').next()
    })
}

fn pusher<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["commit", "username"])
}

impl Family for DistGit {
    fn long_text(&self, msg: &Message) -> Option<String> {
        match msg.subtopic() {
            "lookaside.new" => Some(format!(
                "{}  {}",
                msg.str_at(&["md5sum"])?,
                msg.str_at(&["filename"])?
            )),
            _ => None,
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(pusher(msg));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        let sub = msg.subtopic();
        if sub.starts_with("receive") {
            out.extend(pushed_repo(msg));
        } else if sub == "pkgdb2branch.complete" {
            out.extend(strings(msg.get(&["branchedPackages"])));
            out.extend(strings(msg.get(&["unbranchedPackages"])));
        } else {
            out.insert_value(msg.get(&["name"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        let agent = msg.str_at(&["agent"]);
        if sub.starts_with("receive") {
            let repo = pushed_repo(msg)?;
            let repo = match msg.str_at(&["commit", "namespace"]) {
                Some(ns) => format!("{ns}/{repo}"),
                None => repo.to_owned(),
            };
            let summary = msg.str_at(&["commit", "summary"])?;
            let branch = msg.str_at(&["commit", "branch"])?;
            if !msg.is_fedmsg() {
                return Some(format!(
                    "{} pushed to {repo} ({branch}). \"{summary}\"",
                    agent?
                ));
            }
            let more = msg
                .str_at(&["commit", "message"])
                .is_some_and(|m| m.trim_end().lines().count() > 1);
            let who = pusher(msg).or_else(|| msg.str_at(&["commit", "email"]))?;
            return Some(format!(
                "{who} pushed to {repo} ({branch}).  \"{summary}{}\"",
                if more { " (..more)" } else { "" }
            ));
        }
        let agent = agent?;
        Some(match sub {
            "pkgdb2branch.start" => format!("{agent} started a run of pkgdb2branch"),
            "pkgdb2branch.complete" => {
                let errors = strings(msg.get(&["unbranchedPackages"])).len();
                let mut out = format!("run of pkgdb2branch started by {agent} completed");
                match errors {
                    0 => {}
                    1 => out.push_str(" with 1 error"),
                    n => out.push_str(&format!(" with {n} errors")),
                }
                out
            }
            "branch" => format!(
                "{agent} created branch '{}' for the '{}' package",
                msg.str_at(&["branch"])?,
                msg.str_at(&["name"])?
            ),
            "lookaside.new" => format!(
                "{agent} uploaded {} for {}",
                msg.str_at(&["filename"])?,
                msg.str_at(&["name"])?
            ),
            "mass_branch.start" => format!("{agent} started a mass branch"),
            "mass_branch.complete" => {
                "mass branch started by {agent} completed".replace("{agent}", agent)
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if sub.starts_with("receive") {
            if let Some(url) = msg.str_at(&["commit", "url"]) {
                return Some(url.to_owned());
            }
            let ns = msg.str_at(&["commit", "namespace"]).unwrap_or("rpms");
            return Some(format!(
                "{SRC}/{ns}/{}/c/{}?branch={}",
                pushed_repo(msg)?,
                msg.str_at(&["commit", "rev"])?,
                msg.str_at(&["commit", "branch"])?
            ));
        }
        let name = msg.str_at(&["name"])?;
        match sub {
            "branch" => Some(format!(
                "{SRC}/rpms/{name}/commits/{}",
                msg.str_at(&["branch"])?
            )),
            "lookaside.new" => {
                let file = msg.str_at(&["filename"])?;
                Some(format!(
                    "{SRC}/lookaside/pkgs/{name}/{file}/{}/{file}",
                    msg.str_at(&["md5sum"])?
                ))
            }
            _ => Some(format!("{SRC}/rpms/{name}")),
        }
    }
}
