//! dist-git's own messages (`git`): in the fedmsg era pushes, branches, lookaside uploads and
//! the pkgdb2branch runs, as `fedmsg.meta`'s `SCMProcessor` described them (translated here
//! branch by branch); in the fedora-messaging era the git hook's pushes (`CommitV1` of
//! `fedora-messaging-git-hook-messages`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy};

pub(super) struct DistGit;

const SRC: &str = "https://src.fedoraproject.org";

/// What the processor says of a push already seen on another branch.
const ALREADY_SEEN: &str = "This commit already existed in another branch.";

fn at(msg: &Message, path: &[&str]) -> Option<String> {
    msg.get(path).map(py_str)
}

/// `'.'.join(topic.split('.')[5:-1])`: the package a legacy topic names
/// (`org.fedoraproject.prod.git.receive.PACKAGE.BRANCH`).
fn topic_repo(msg: &Message) -> String {
    let parts: Vec<&str> = msg.topic().split('.').collect();
    parts
        .get(5..parts.len().saturating_sub(1))
        .map(|p| p.join("."))
        .unwrap_or_default()
}

/// `topic.split('.')[-1]`: the branch a legacy branch topic names.
fn topic_branch(msg: &Message) -> String {
    msg.topic()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The pushed repository: the commit's `repo`, else the topic's.
fn pushed_repo(msg: &Message) -> String {
    at(msg, &["commit", "repo"]).unwrap_or_else(|| topic_repo(msg))
}

/// The branched repository and branch: the message's `name` and `branch`, else the topic's.
fn branched(msg: &Message) -> (String, String) {
    match (at(msg, &["name"]), at(msg, &["branch"])) {
        (Some(repo), Some(branch)) => (repo, branch),
        _ => (topic_repo(msg), topic_branch(msg)),
    }
}

fn has(msg: &Message, t: &str) -> bool {
    msg.topic().contains(t)
}

/// Whether a fedora-messaging `git.receive` is fedorainfra-ansible-messages' `GitReceiveV1`
/// (published under the schema name `git.receive`, its agent inside the commit) rather than
/// the git hook's `CommitV1` (its agent beside the commit).
fn ansible_receive(msg: &Message) -> bool {
    if msg.is_fedmsg() {
        return false;
    }
    match msg
        .header("fedora_messaging_schema")
        .and_then(Value::as_str)
    {
        Some(schema) => schema == "git.receive",
        None => msg.get(&["agent"]).is_none() && msg.get(&["commit", "agent"]).is_some(),
    }
}

/// `GitReceiveV1.summary`.
fn ansible_summary(msg: &Message) -> Option<String> {
    let c = |k: &str| at(msg, &["commit", k]);
    Some(format!(
        "{} pushed to {} ({}). \"{}\"",
        c("username")?,
        c("repo")?,
        c("branch")?,
        c("summary")?
    ))
}

impl Family for DistGit {
    fn icon(&self, msg: &Message) -> Option<String> {
        ansible_receive(msg).then(|| "https://apps.fedoraproject.org/img/icons/git.png".into())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        ansible_receive(msg).then(|| "distgit".into())
    }

    /// `GitReceiveV1` names the commit's agent, not the envelope's.
    fn agent_involved(&self, msg: &Message) -> bool {
        !ansible_receive(msg)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta's agent is the first of the usernames: the commit's username.
        if msg.is_fedmsg() && msg.get(&["agent"]).is_none() {
            return msg.str_at(&["commit", "username"]).map(str::to_owned);
        }
        None
    }

    /// `GitReceiveV1` defines no `__str__`.
    fn default_str(&self, msg: &Message) -> bool {
        ansible_receive(msg)
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if ansible_receive(msg) {
            return None;
        }
        if !msg.is_fedmsg() {
            return commit_text(msg);
        }
        if has(msg, ".git.receive") {
            // The processor downloads the patch; only a commit seen before it says itself.
            return msg
                .get(&["commit", "seen"])
                .is_some_and(truthy)
                .then(|| ALREADY_SEEN.into());
        }
        if has(msg, ".git.lookaside") {
            return Some(format!(
                "{}  {}",
                at(msg, &["md5sum"])?,
                at(msg, &["filename"])?
            ));
        }
        None
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if ansible_receive(msg) {
            out.extend(msg.str_at(&["commit", "agent"]));
            return;
        }
        // The agent, which the dispatcher adds; else the commit's username.
        if msg.is_fedmsg() && msg.get(&["agent"]).is_none() {
            out.extend(at(msg, &["commit", "username"]));
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            out.extend(msg.get(&["group"]).filter(|g| truthy(g)).map(py_str));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            fedmsg_packages(msg, out);
        } else if msg.str_at(&["commit", "namespace"]) == Some("rpms") {
            out.extend(at(msg, &["commit", "repo"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_summary(msg)
        } else if ansible_receive(msg) {
            ansible_summary(msg)
        } else {
            commit_summary(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_link(msg)
        } else {
            msg.str_at(&["commit", "url"]).map(str::to_owned)
        }
    }
}

/// `SCMProcessor.packages`: none for a commit outside `rpms`/`rpms-checks`.
fn fedmsg_packages(msg: &Message, out: &mut Keys) {
    if let Some(ns) = msg.get(&["commit", "namespace"])
        && !matches!(ns.as_str(), Some("rpms" | "rpms-checks"))
    {
        return;
    }
    if has(msg, "git.receive") {
        out.insert(pushed_repo(msg));
    } else if has(msg, "git.branch") {
        out.insert(at(msg, &["name"]).unwrap_or_else(|| topic_repo(msg)));
    } else if has(msg, ".git.pkgdb2branch.complete") {
        for key in ["unbranchedPackages", "branchedPackages"] {
            if let Some(a) = msg.get(&[key]).and_then(Value::as_array) {
                out.extend(a.iter().map(py_str));
            }
        }
    } else if has(msg, ".git.lookaside") {
        out.extend(at(msg, &["name"]));
    }
}

/// `SCMProcessor.subtitle`.
fn fedmsg_summary(msg: &Message) -> Option<String> {
    if has(msg, ".git.receive") {
        return push_summary(msg);
    }
    if has(msg, ".git.branch") {
        let (mut repo, branch) = branched(msg);
        if let Some(ns) = msg.get(&["commit", "namespace"]) {
            repo = format!("{}/{repo}", ns.as_str()?);
        }
        let agent = at(msg, &["agent"])?;
        return Some(format!(
            "{agent} created branch '{branch}' for the '{repo}' package"
        ));
    }
    if has(msg, ".git.lookaside") {
        return Some(format!(
            "{} uploaded {} for {}",
            at(msg, &["agent"])?,
            at(msg, &["filename"])?,
            at(msg, &["name"])?
        ));
    }
    let agent = at(msg, &["agent"]).unwrap_or_else(|| "(somebody)".into());
    Some(if has(msg, ".git.mass_branch.start") {
        format!("{agent} started a mass branch")
    } else if has(msg, ".git.mass_branch.complete") {
        format!("mass branch started by {agent} completed")
    } else if has(msg, ".git.pkgdb2branch.start") {
        format!("{agent} started a run of pkgdb2branch")
    } else if has(msg, ".git.pkgdb2branch.complete") {
        let errors = match msg.get(&["unbranchedPackages"]) {
            Some(v) if truthy(v) => v.as_array()?.len(),
            _ => 0,
        };
        let done = format!("run of pkgdb2branch started by {agent} completed");
        match errors {
            0 => done,
            1 => format!("{done} with 1 error"),
            n => format!("{done} with {n} errors"),
        }
    } else {
        return None;
    })
}

/// A fedmsg-era push: who, where, and the commit's summary (`(..more)` when its message says
/// more).
fn push_summary(msg: &Message) -> Option<String> {
    let repo = pushed_repo(msg);
    let namespace = match msg.get(&["commit", "namespace"]) {
        Some(ns) => format!("{}/", ns.as_str()?),
        None => String::new(),
    };
    let user = match msg.get(&["commit", "username"]) {
        Some(u) => py_str(u),
        None => at(msg, &["commit", "email"])?,
    };
    let mut summary = msg.str_at(&["commit", "summary"])?.to_owned();
    if summary.trim() != msg.str_at(&["commit", "message"])?.trim() {
        summary.push_str(" (..more)");
    }
    let branch = at(msg, &["commit", "branch"])?;
    Some(format!(
        "{user} pushed to {namespace}{repo} ({branch}).  \"{summary}\""
    ))
}

/// `SCMProcessor.link`.
fn fedmsg_link(msg: &Message) -> Option<String> {
    if has(msg, ".git.receive") {
        let repo = pushed_repo(msg);
        let ns = at(msg, &["commit", "namespace"]).unwrap_or_else(|| "rpms".into());
        return Some(format!(
            "{SRC}/{ns}/{repo}/c/{}?branch={}",
            at(msg, &["commit", "rev"])?,
            at(msg, &["commit", "branch"])?
        ));
    }
    if has(msg, ".git.branch") {
        let (repo, branch) = branched(msg);
        let ns = at(msg, &["namespace"]).unwrap_or_else(|| "rpms".into());
        return Some(format!("{SRC}/{ns}/{repo}/commits/{branch}"));
    }
    if has(msg, ".git.lookaside") {
        let path = match msg.get(&["path"]) {
            Some(p) => py_str(p),
            None => {
                let file = at(msg, &["filename"])?;
                format!(
                    "{}/{file}/{}/{file}",
                    at(msg, &["name"])?,
                    at(msg, &["md5sum"])?
                )
            }
        };
        return Some(format!("{SRC}/lookaside/pkgs/{path}"));
    }
    None
}

/// `CommitV1.summary`: the agent pushed to `namespace/repo`.
fn commit_summary(msg: &Message) -> Option<String> {
    let mut repo = at(msg, &["commit", "repo"])?;
    if let Some(ns) = msg.get(&["commit", "namespace"]).filter(|n| truthy(n)) {
        repo = format!("{}/{repo}", py_str(ns));
    }
    let agent = at(msg, &["agent"]).unwrap_or_else(|| "None".into());
    Some(format!(
        "{agent} pushed to {repo} ({}). \"{}\"",
        at(msg, &["commit", "branch"])?,
        at(msg, &["commit", "summary"])?
    ))
}

/// `CommitV1.__str__`: the commit as `git format-patch` writes it.
fn commit_text(msg: &Message) -> Option<String> {
    let c = |k: &str| at(msg, &["commit", k]);
    Some(format!(
        "From {} Mon Sep 17 00:00:00 2001\nFrom: {} <{}>\nDate: {}\nSubject: {}\n\n{}\n---\n\n{}\n",
        c("rev")?,
        c("name")?,
        c("email")?,
        c("date")?,
        c("summary")?,
        c("message")?,
        c("patch")?
    ))
}
