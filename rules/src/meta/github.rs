//! GitHub repositories that published to fedmsg through github2fedmsg (`github`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct GitHub;

/// A GitHub login as a Fedora account, when github2fedmsg knew it; organisations excluded.
fn account<'m>(msg: &'m Message, login: &'m str) -> &'m str {
    msg.get(&["fas_usernames", login])
        .and_then(Value::as_str)
        .filter(|u| !u.starts_with("github_org_"))
        .unwrap_or(login)
}

fn actor<'m>(msg: &'m Message) -> Option<&'m str> {
    let login = msg
        .str_at(&["sender", "login"])
        .or_else(|| msg.str_at(&["pusher", "name"]))?;
    Some(account(msg, login))
}

fn repo(msg: &Message) -> Option<String> {
    if let Some(f) = msg.str_at(&["repository", "full_name"]) {
        return Some(f.to_owned());
    }
    let owner = msg
        .str_at(&["repository", "owner", "login"])
        .or_else(|| msg.str_at(&["repository", "owner", "name"]))?;
    Some(format!("{owner}/{}", msg.str_at(&["repository", "name"])?))
}

fn repo_url(msg: &Message) -> Option<String> {
    Some(format!("https://github.com/{}", repo(msg)?))
}

impl Family for GitHub {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(map) = msg.get(&["fas_usernames"]).and_then(Value::as_object) {
            out.extend(
                map.values()
                    .filter_map(Value::as_str)
                    .filter(|u| !u.starts_with("github_org_")),
            );
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if sub == "webhook" {
            return Some("A new github repository has been added to fedmsg".into());
        }
        let who = actor(msg)?;
        let repo = repo(msg)?;
        let num = |k: &str| msg.get(&[k, "number"]).and_then(Value::as_i64);
        Some(match sub {
            "push" => format!(
                "{who} pushed {} commit(s) to {repo}",
                msg.get(&["commits"])?.as_array()?.len()
            ),
            "create" | "delete" => format!(
                "{who} {} a {}{} \"{}\" at {repo}",
                if sub == "create" {
                    "created"
                } else {
                    "deleted"
                },
                if sub == "create" { "new " } else { "" },
                msg.str_at(&["ref_type"])?,
                msg.str_at(&["ref"])?
            ),
            "fork" => format!("{who} forked {repo}"),
            "watch" => format!("{who} started watching {repo}"),
            "star" => format!("{who} starred {repo}"),
            "member" => format!(
                "{who} {} {} as a member of {repo}",
                msg.str_at(&["action"])?,
                msg.str_at(&["member", "login"])?
            ),
            "page_build" => format!("{who} rebuilt the github.io page for {repo}"),
            "deployment_status" => format!(
                "{who}'s deployment status for {repo} updated to \"{}\"",
                msg.str_at(&["deployment_status", "state"])?
            ),
            "commit_comment" => format!("{who} commented on a commit on {repo}"),
            "issue.comment" => format!("{who} commented on issue #{} on {repo}", num("issue")?),
            "issue.labeled" | "issue.unlabeled" => format!(
                "{who} {} label {} {} issue #{} on {repo}",
                if sub.ends_with("unlabeled") {
                    "removed"
                } else {
                    "added"
                },
                msg.str_at(&["label", "name"])?,
                if sub.ends_with("unlabeled") {
                    "from"
                } else {
                    "to"
                },
                num("issue")?
            ),
            "pull_request_review_comment" => {
                format!("{who} commented on PR #{} on {repo}", num("pull_request")?)
            }
            "pull_request_review" => {
                let n = num("pull_request")?;
                match msg.str_at(&["review", "state"])? {
                    "approved" => format!("{who} approved the changes on PR #{n} on {repo}"),
                    "changes_requested" => format!("{who} requested changes on PR #{n} on {repo}"),
                    "commented" => format!("{who} commented on PR #{n} on {repo}"),
                    state => {
                        format!("{who} commented on PR #{n} on {repo} which is in {state} state")
                    }
                }
            }
            _ => {
                let (kind, action) = sub.split_once('.')?;
                let what = match kind {
                    "issue" => "issue",
                    "pull_request" => "pull request",
                    _ => return None,
                };
                let action = if action == "closed"
                    && msg
                        .get(&["pull_request", "merged"])
                        .and_then(Value::as_bool)
                        == Some(true)
                {
                    "merged"
                } else {
                    action
                };
                format!("{who} {action} {what} #{} on {repo}", num(kind)?)
            }
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        let html = |path: &[&str]| msg.str_at(path).map(str::to_owned);
        match sub {
            "push" => html(&["compare"]),
            "watch" => Some(format!("{}/watchers", repo_url(msg)?)),
            "star" => Some(format!("{}/stargazers", repo_url(msg)?)),
            "page_build" => {
                let r = repo(msg)?;
                let (owner, name) = r.split_once('/')?;
                Some(format!("http://{owner}.github.io/{name}/"))
            }
            "deployment_status" => html(&["deployment_status", "target_url"]),
            "commit_comment" | "pull_request_review_comment" | "issue.comment" => {
                html(&["comment", "html_url"])
            }
            "pull_request_review" => html(&["review", "html_url"]),
            _ if sub.starts_with("issue.") => html(&["issue", "html_url"]),
            _ if sub.starts_with("pull_request.") => html(&["pull_request", "html_url"]),
            _ => repo_url(msg),
        }
    }
}
