//! GitHub repositories that published to fedmsg through github2fedmsg (`github`), as
//! `fedmsg.meta`'s `GithubProcessor` described them, translated branch by branch. Their
//! fedora-messaging successor, webhook-to-fedora-messaging, is described in `webhook`.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy};
use super::webhook;

pub(super) struct GitHub;

/// A GitHub login as github2fedmsg's `fas_usernames` maps it (`.get(login, login)`).
fn mapped(msg: &Message, login: &Value) -> String {
    let fallback = py_str(login);
    match login.as_str() {
        Some(l) => msg.get(&["fas_usernames", l]).map_or(fallback, py_str),
        None => fallback,
    }
}

/// `_get_user`: the commit's author, else the pusher, the sender, the fork's owner.
fn user(msg: &Message) -> Option<String> {
    let present = |k: &str| msg.get(&[k]).filter(|v| truthy(v));
    if present("commit").is_some()
        && let Some(login) = msg
            .get(&["commit", "author"])
            .filter(|a| truthy(a))
            .and_then(|a| a.get("login"))
            .filter(|l| truthy(l))
    {
        return Some(mapped(msg, login));
    }
    let login = if present("pusher").is_some() {
        msg.get(&["pusher", "name"])?
    } else if present("sender").is_some() {
        msg.get(&["sender", "login"])?
    } else if present("forkee").is_some() {
        msg.get(&["forkee", "owner", "login"])?
    } else {
        return None;
    };
    Some(mapped(msg, login))
}

/// `_get_repo`: `OWNER/NAME`, the owner by login or name; `None` without a repository.
fn repo(msg: &Message) -> Option<String> {
    let owner = msg
        .get(&["repository", "owner", "login"])
        .or_else(|| msg.get(&["repository", "owner", "name"]));
    match (owner, msg.get(&["repository", "name"])) {
        (Some(Value::String(o)), Some(Value::String(n))) => Some(format!("{o}/{n}")),
        _ => None,
    }
}

/// The people github2fedmsg names, GitHub organisations excepted.
fn people<'m>(msg: &'m Message) -> Vec<&'m str> {
    msg.get(&["fas_usernames"])
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(Value::as_str)
                .filter(|u| !u.starts_with("github_org_"))
                .collect()
        })
        .unwrap_or_default()
}

impl Family for GitHub {
    /// fedmsg.meta takes one of the usernames (`set.pop()`): the only one, else (when it
    /// picks at random) the one who acted.
    fn agent(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let mut people = people(msg);
        people.sort_unstable();
        people.dedup();
        match people.as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            many => {
                let who = user(msg);
                Some(
                    many.iter()
                        .find(|p| Some(**p) == who.as_deref())
                        .unwrap_or(&many[0])
                        .to_string(),
                )
            }
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(people(msg));
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            webhook::github_groups(msg, out);
        }
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| webhook::github_icon().into())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| webhook::github_app_name().into())
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return webhook::github_text(msg);
        }
        let t = msg.topic();
        let body = if t.contains(".pull_request_review_comment")
            || t.contains(".issue.comment")
            || t.contains("commit_comment")
        {
            msg.str_at(&["comment", "body"])
        } else if t.contains(".issue.reopened") {
            msg.str_at(&["issue", "body"])
        } else {
            None
        };
        // An empty body gives way to the subtitle, as fedmsg.meta's long form does.
        body.filter(|b| !b.is_empty()).map(str::to_owned)
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return webhook::github_summary(msg);
        }
        let t = msg.topic();
        let who = user(msg).unwrap_or_else(|| "None".into());
        let repo = repo(msg).unwrap_or_else(|| "None".into());
        let f = |p: &[&str]| msg.get(p).map(py_str);
        if t.contains("github.webhook") {
            return Some("A new github repository has been added to fedmsg".into());
        }
        if t.contains("github.deployment_status") {
            return Some(format!(
                "{who}'s deployment status for {repo} updated to \"{}\"",
                f(&["deployment_status", "state"])?
            ));
        }
        if t.contains("github.push") {
            let n = match msg.get(&["commits"])? {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.chars().count(),
                _ => return None,
            };
            return Some(format!("{who} pushed {n} commit(s) to {repo}"));
        }
        if t.contains("github.pull_request.") {
            let mut action = f(&["action"])?;
            if action == "synchronize" {
                action = "synchronized".into();
            }
            let n = f(&["number"])?;
            if action == "opened" {
                let title = f(&["pull_request", "title"])?;
                return Some(format!(
                    "{who} {action} pull request #{n} on {repo}: {title}"
                ));
            }
            return Some(format!("{who} {action} pull request #{n} on {repo}"));
        }
        if t.contains("github.issue.") {
            return issue_summary(msg, &who, &repo);
        }
        if t.contains("github.pull_request_review")
            && !t.contains("github.pull_request_review_comment")
        {
            let n = f(&["pull_request", "number"])?;
            return Some(match f(&["review", "state"])?.as_str() {
                "pending" => {
                    format!("{who} commented on PR #{n} on {repo} which is in pending state")
                }
                "approved" => format!("{who} approved the changes on PR #{n} on {repo}"),
                "changes_requested" => format!("{who} requested changes on PR #{n} on {repo}"),
                "commented" => format!("{who} commented on PR #{n} on {repo}"),
                _ => return None,
            });
        }
        if t.contains("github.pull_request_review_comment") {
            let n = f(&["pull_request", "number"])?;
            return Some(format!("{who} commented on PR #{n} on {repo}"));
        }
        other_summary(msg, &who, &repo)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let t = msg.topic();
        let s = |p: &[&str]| msg.str_at(p).map(str::to_owned);
        let html = || msg.str_at(&["repository", "html_url"]);
        if t.contains("github.deployment_status") {
            return s(&["deployment_status", "target_url"]);
        }
        if t.contains("github.watch") {
            return Some(format!("{}/watchers", html()?));
        }
        if t.contains("github.star") {
            return Some(format!("{}/stargazers", html()?));
        }
        if t.contains("github.page_build") {
            let parts: Vec<&str> = html()?.split('/').collect();
            let [.., owner, name] = parts.as_slice() else {
                return None;
            };
            return Some(format!("http://{owner}.github.io/{name}/"));
        }
        let has = |k: &str| msg.get(&[k]).is_some();
        for (key, path) in [
            ("release", &["release", "html_url"][..]),
            ("target_url", &["target_url"][..]),
            ("compare", &["compare"][..]),
            ("comment", &["comment", "html_url"][..]),
            ("review", &["review", "html_url"][..]),
            ("pull_request", &["pull_request", "html_url"][..]),
            ("issue", &["issue", "html_url"][..]),
            ("forkee", &["forkee", "html_url"][..]),
            ("repository", &["repository", "html_url"][..]),
        ] {
            if has(key) {
                return s(path);
            }
        }
        None
    }
}

/// The processor's `github.issue.` branch.
fn issue_summary(msg: &Message, who: &str, repo: &str) -> Option<String> {
    let f = |p: &[&str]| msg.get(p).map(py_str);
    let action = if msg.get(&["comment"]).is_some() {
        "commented on".to_owned()
    } else {
        f(&["action"])?
    };
    let n = f(&["number"]).or_else(|| f(&["issue", "number"]))?;
    Some(match action.as_str() {
        "opened" => format!(
            "{who} opened issue #{n} on {repo}: {}",
            f(&["issue", "title"])?
        ),
        "labeled" => format!(
            "{who} added label {} to issue #{n} on {repo}",
            f(&["label", "name"])?
        ),
        _ => format!("{who} {action} issue #{n} on {repo}"),
    })
}

/// The processor's branches after the pull requests'.
fn other_summary(msg: &Message, who: &str, repo: &str) -> Option<String> {
    let t = msg.topic();
    let f = |p: &[&str]| msg.get(p).map(py_str);
    Some(if t.contains("github.commit_comment") {
        format!("{who} commented on a commit on {repo}")
    } else if t.contains("github.create") {
        format!(
            "{who} created a new {} \"{}\" at {repo}",
            f(&["ref_type"])?,
            f(&["ref"])?
        )
    } else if t.contains("github.delete") {
        format!(
            "{who} deleted the \"{}\" {} at {repo}",
            f(&["ref"])?,
            f(&["ref_type"])?
        )
    } else if t.contains("github.fork") {
        format!("{who} forked {repo}")
    } else if t.contains("github.status") {
        let description = f(&["description"])?;
        let sha: String = msg.str_at(&["sha"])?.chars().take(8).collect();
        format!("{description} for {repo} {sha}")
    } else if t.contains("github.watch") {
        format!("{who} {} watching {repo}", f(&["action"])?)
    } else if t.contains("github.star") {
        let action = if f(&["action"])? == "started" {
            "starred"
        } else {
            "unstarred"
        };
        format!("{who} {action} {repo}")
    } else if t.contains("github.release") {
        let version = f(&["release", "tag_name"])?;
        let full = self::repo(msg)?;
        let (_, name) = full.split_once('/')?;
        format!("{who} cut a release of {name}, version {version}")
    } else if t.contains("github.page_build") {
        format!("{who} rebuilt the github.io page for {repo}")
    } else if t.contains("github.team_add") {
        format!(
            "The '{}' team was added to the {repo} repository",
            f(&["team", "slug"])?
        )
    } else if t.contains("github.member") {
        let member = f(&["member", "login"])?;
        if msg.str_at(&["action"]) == Some("added") {
            format!("{who} added {member} as a member of {repo}")
        } else {
            format!("{who} removed member {member} from {repo}")
        }
    } else {
        return None;
    })
}
