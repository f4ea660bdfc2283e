//! Forges and services relayed by webhook-to-fedora-messaging (`github`, `gitlab`, `forgejo`,
//! `pretix` topics of the fedora-messaging era), as the
//! `webhook_to_fedora_messaging_messages` classes describe them. The service names the topic
//! after the event (`github.push`); the classes read the event from the webhook's headers, and
//! so does this.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy};

const ICON: &str = "https://apps.fedoraproject.org/img/icons/webhook-to-fedora-messaging.png";

pub(super) struct GitLab;
pub(super) struct Forgejo;
pub(super) struct Pretix;

/// `str()` of the value at `path` of the webhook's own body (`body.body`).
fn hook(msg: &Message, path: &[&str]) -> Option<String> {
    let mut full = vec!["body"];
    full.extend_from_slice(path);
    msg.get(&full).map(py_str)
}

fn header(msg: &Message, name: &str) -> Option<String> {
    msg.get(&["headers", name]).map(py_str)
}

/// `agent_name` as the classes print it (`None` when absent).
fn agent(msg: &Message) -> String {
    msg.get(&["agent"]).map_or_else(|| "None".into(), py_str)
}

/// `Webhook2FedMsgBase.groups`: the body's `group`, when there is one.
fn groups(msg: &Message, out: &mut Keys) {
    out.extend(msg.get(&["group"]).filter(|g| truthy(g)).map(py_str));
}

/// `{agent} created {event}`, then ` on {repo}` when the repository has a name.
fn created(msg: &Message, event: String, repo: &Value) -> String {
    let text = format!("{} created {event}", agent(msg));
    if repo.is_null() {
        text
    } else {
        format!("{text} on {}", py_str(repo))
    }
}

/// The first line of a text, as Python's `splitlines()[0]` (none for an empty text).
fn first_line(text: &str) -> Option<&str> {
    if text.is_empty() {
        return None;
    }
    let breaks = [
        '\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}',
    ];
    text.split(breaks).next()
}

/// `x or y` of two fields.
fn either(msg: &Message, a: &[&str], b: &[&str]) -> Option<String> {
    let mut pa = vec!["body"];
    pa.extend_from_slice(a);
    let first = msg.get(&pa)?;
    if truthy(first) {
        Some(py_str(first))
    } else {
        hook(msg, b)
    }
}

/// The commit lines of a push: `- abcdef1: first line by author (url)`.
fn commit_lines(msg: &Message) -> Option<String> {
    let commits = msg.get(&["body", "commits"])?.as_array()?;
    let lines: Option<Vec<String>> = commits
        .iter()
        .map(|c| {
            let id: String = c.get("id")?.as_str()?.chars().take(7).collect();
            let message = first_line(c.get("message")?.as_str()?)?;
            Some(format!(
                "- {id}: {message} by {} ({})",
                py_str(c.get("author")?.get("name")?),
                py_str(c.get("url")?)
            ))
        })
        .collect();
    Some(lines?.join("\n"))
}

/// `", ".join(item[key] for item in list)`, where `key_or` picks each item's text.
fn names(list: Option<&Value>, pick: impl Fn(&Value) -> Option<String>) -> Option<String> {
    let items: Option<Vec<String>> = list?.as_array()?.iter().map(pick).collect();
    Some(items?.join(", "))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

/// `ref.split("/")[-1]`.
fn branch(msg: &Message) -> Option<String> {
    Some(
        msg.str_at(&["body", "ref"])?
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

// ---- GitHub (its fedmsg era is in github.rs, which hands the rest here) ----

pub(super) fn github_app_name() -> &'static str {
    "GitHub"
}

pub(super) fn github_icon() -> &'static str {
    ICON
}

pub(super) fn github_groups(msg: &Message, out: &mut Keys) {
    groups(msg, out);
}

/// `GitHubMessageV1.summary`.
pub(super) fn github_summary(msg: &Message) -> Option<String> {
    let repo = msg.get(&["body", "repository", "full_name"])?;
    Some(created(msg, header(msg, "x-github-event")?, repo))
}

/// `GitHubMessageV1.__str__`: the repository events it knows, spelled out.
pub(super) fn github_text(msg: &Message) -> Option<String> {
    if msg.str_at(&["headers", "x-github-hook-installation-target-type"])? != "repository" {
        return Some("Event type not supported".into());
    }
    let event = msg.str_at(&["headers", "x-github-event"])?;
    if event == "push" {
        let pusher = hook(msg, &["pusher", "name"])?;
        return Some(format!(
            "Event: Push\n{}\nPusher: {pusher} (https://github.com/{pusher})\nBranch: {}\nCommits:\n{}",
            repository(msg)?,
            branch(msg)?,
            commit_lines(msg)?
        ));
    }
    let forge = ForgeNames {
        user: login,
        reviewer: |r| str_field(r, "login"),
    };
    Some(repository_event(msg, event, &forge)?.unwrap_or_else(|| "Event type not supported".into()))
}

/// `Repository: full name (url)`, as GitHub's and Forgejo's texts open.
fn repository(msg: &Message) -> Option<String> {
    Some(format!(
        "Repository: {} ({})",
        hook(msg, &["repository", "full_name"])?,
        hook(msg, &["repository", "html_url"])?
    ))
}

/// How a forge's texts name people: GitHub by login, Forgejo by full name, else login.
struct ForgeNames {
    /// The user at a path of the webhook's body.
    user: fn(&Message, &[&str]) -> Option<String>,
    /// One of a pull request's requested reviewers.
    reviewer: fn(&Value) -> Option<String>,
}

/// `user["login"]`.
fn login(msg: &Message, user: &[&str]) -> Option<String> {
    let mut path = user.to_vec();
    path.push("login");
    hook(msg, &path)
}

/// The events GitHub's and Forgejo's classes spell out alike (fork, pull request, issue,
/// issue comment); `Ok(None)` for another event. `None` when a field they print is missing.
fn repository_event(msg: &Message, event: &str, forge: &ForgeNames) -> Option<Option<String>> {
    let h = |p: &[&str]| hook(msg, p);
    let user = |p: &[&str]| (forge.user)(msg, p);
    Some(Some(match event {
        "fork" => format!(
            "Event: Fork\n{}\nForkee: {} ({})\nOwner: {} ({})",
            repository(msg)?,
            h(&["forkee", "full_name"])?,
            h(&["forkee", "html_url"])?,
            user(&["forkee", "owner"])?,
            h(&["forkee", "owner", "html_url"])?
        ),
        "pull_request" => format!(
            "Event: Pull Request\n{}\nTitle: {}\nURL: {}\nAuthor: {}\nStatus: {}\nSource Branch: {}\nDestination Branch: {}\nRequested Reviewers: {}",
            repository(msg)?,
            h(&["pull_request", "title"])?,
            h(&["pull_request", "html_url"])?,
            user(&["pull_request", "user"])?,
            h(&["action"])?,
            h(&["pull_request", "head", "ref"])?,
            h(&["pull_request", "base", "ref"])?,
            names(
                msg.get(&["body", "pull_request", "requested_reviewers"]),
                forge.reviewer
            )?
        ),
        "issues" => format!(
            "Event: Issue\n{}\nTitle: {}\nURL: {}\nAuthor: {}\nStatus: {}\nLabels: {}",
            repository(msg)?,
            h(&["issue", "title"])?,
            h(&["issue", "html_url"])?,
            user(&["issue", "user"])?,
            h(&["action"])?,
            names(msg.get(&["body", "issue", "labels"]), |l| str_field(
                l, "name"
            ))?
        ),
        "issue_comment" => format!(
            "Event: Issue Comment\n{}\nIssue: {} ({})\nComment Author: {}\nComment: {}\nComment URL: {}",
            repository(msg)?,
            h(&["issue", "title"])?,
            h(&["issue", "html_url"])?,
            user(&["comment", "user"])?,
            h(&["comment", "body"])?,
            h(&["comment", "html_url"])?
        ),
        _ => return Some(None),
    }))
}

// ---- GitLab ----

/// `GitLabMessageV1.event_name`: `Merge Request Hook` -> `merge_request`.
fn gitlab_event(msg: &Message) -> Option<String> {
    Some(
        msg.str_at(&["headers", "x-gitlab-event"])?
            .replace(" Hook", "")
            .replace(' ', "_")
            .to_lowercase(),
    )
}

fn gitlab_text(msg: &Message) -> Option<String> {
    let h = |p: &[&str]| hook(msg, p);
    let repo = || {
        Some(format!(
            "Repository: {} ({})",
            h(&["repository", "name"])?,
            h(&["repository", "homepage"])?
        ))
    };
    let attr = |k: &str| h(&["object_attributes", k]);
    Some(match gitlab_event(msg)?.as_str() {
        "push" => {
            let repo = repo()?;
            let pusher = h(&["user_username"])?;
            format!(
                "Event: Push\n{repo}\nPusher: {pusher} (https://gitlab.com/{pusher})\nBranch: {}\nCommits:\n{}",
                branch(msg)?,
                commit_lines(msg)?
            )
        }
        "merge_request" => format!(
            "Event: Merge Request\n{}\nTitle: {}\nURL: {}\nAuthor: {}\nStatus: {}\nSource Branch: {}\nDestination Branch: {}\nRequested Reviewers: {}",
            repo()?,
            attr("title")?,
            attr("url")?,
            h(&["user", "username"])?,
            attr("state")?,
            attr("source_branch")?,
            attr("target_branch")?,
            names(msg.get(&["body", "reviewers"]), |r| str_field(
                r, "username"
            ))?
        ),
        "issue" => format!(
            "Event: Issue\n{}\nTitle: {}\nURL: {}\nAuthor: {}\nStatus: {}\nLabels: {}",
            repo()?,
            attr("title")?,
            attr("url")?,
            h(&["user", "username"])?,
            attr("state")?,
            names(msg.get(&["body", "object_attributes", "labels"]), |l| {
                str_field(l, "title")
            })?
        ),
        "note" => format!(
            "Event: Note\n{}\nIssue: {} ({})\nComment Author: {}\nComment: {}\nComment URL: {}",
            repo()?,
            h(&["issue", "title"])?,
            h(&["issue", "url"])?,
            h(&["user", "username"])?,
            attr("description")?,
            attr("url")?
        ),
        _ => "Event type not supported".into(),
    })
}

impl Family for GitLab {
    fn groups(&self, msg: &Message, out: &mut Keys) {
        groups(msg, out);
    }
    fn summary(&self, msg: &Message) -> Option<String> {
        let repo = msg.get(&["body", "repository", "name"])?;
        Some(created(msg, gitlab_event(msg)?, repo))
    }
    fn long_text(&self, msg: &Message) -> Option<String> {
        gitlab_text(msg)
    }
    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(ICON.into())
    }
    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("GitLab".into())
    }
}

// ---- Forgejo ----

/// `ForgejoMessageV1.repository`: an action run's, else the event's.
fn forgejo_repo<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["body", "run", "repository"])
        .or_else(|| msg.get(&["body", "repository"]))
}

/// `user["full_name"] or user["login"]`.
fn display(msg: &Message, user: &[&str]) -> Option<String> {
    let mut full = user.to_vec();
    full.push("full_name");
    let mut login = user.to_vec();
    login.push("login");
    either(msg, &full, &login)
}

fn forgejo_text(msg: &Message) -> Option<String> {
    let event = msg.str_at(&["headers", "x-forgejo-event"])?;
    Some(match event {
        "push" => format!(
            "Event: Push\n{}\nPusher: {} ({})\nBranch: {}\nCommits:\n{}",
            repository(msg)?,
            display(msg, &["pusher"])?,
            hook(msg, &["pusher", "html_url"])?,
            branch(msg)?,
            commit_lines(msg)?
        ),
        "action_run_success"
        | "action_run_failure"
        | "action_run_recover"
        | "action_run_cancelled" => action_run_text(msg)?,
        other => {
            let forge = ForgeNames {
                user: display,
                reviewer: |r| {
                    let full = r.get("full_name")?;
                    if truthy(full) {
                        full.as_str().map(str::to_owned)
                    } else {
                        str_field(r, "login")
                    }
                },
            };
            repository_event(msg, other, &forge)?
                .unwrap_or_else(|| "Event type not supported".into())
        }
    })
}

/// Python's `str.title()`: a letter after a non-letter is upper case, the others lower.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_letter = false;
    for c in s.chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

/// `_summarize_action_run_event`: a workflow run's outcome.
fn action_run_text(msg: &Message) -> Option<String> {
    let h = |p: &[&str]| hook(msg, p);
    let action = msg.str_at(&["body", "action"])?;
    let commit: String = msg
        .str_at(&["body", "run", "commit_sha"])?
        .chars()
        .take(7)
        .collect();
    let mut status = format!(
        "Status: {} → {}",
        h(&["prior_status"])?,
        h(&["run", "status"])?
    );
    if action == "recover" {
        status.push_str(" (recovered)");
    }
    let mut out = format!(
        "Event: Action Run {}\nRepository: {} ({})\nWorkflow: {}\nRun: {} ({})\n{status}\nCommit: {commit}\nBranch: {}",
        title_case(action),
        h(&["run", "repository", "full_name"])?,
        h(&["run", "repository", "html_url"])?,
        h(&["run", "workflow_id"])?,
        h(&["run", "title"])?,
        h(&["run", "html_url"])?,
        h(&["run", "prettyref"])?
    );
    if action == "recover" && msg.get(&["body", "last_run"]).is_some() {
        out.push_str(&format!(
            "\nPrevious Run: {} (failed)",
            h(&["last_run", "id"])?
        ));
    }
    Some(out)
}

impl Family for Forgejo {
    fn groups(&self, msg: &Message, out: &mut Keys) {
        groups(msg, out);
    }
    fn summary(&self, msg: &Message) -> Option<String> {
        let repo = forgejo_repo(msg)?.get("full_name")?;
        Some(created(msg, header(msg, "x-forgejo-event")?, repo))
    }
    fn long_text(&self, msg: &Message) -> Option<String> {
        forgejo_text(msg)
    }
    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(ICON.into())
    }
    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("Forgejo".into())
    }
}

// ---- Pretix ----

fn pretix_instance(msg: &Message) -> &'static str {
    match msg.str_at(&["body", "instance_url"]) {
        Some("https://rsvp.fedoraproject.org") => "Fedora ticket system",
        Some("https://rsvp.stg.fedoraproject.org") => "Fedora ticket system (staging)",
        _ => "Pretix",
    }
}

impl Family for Pretix {
    /// `PretixMessageV1` defines no `__str__`.
    fn default_str(&self, _msg: &Message) -> bool {
        true
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        groups(msg, out);
    }
    /// `PretixMessageV1.summary`: the attendee (and account) entered, exited, or caused an
    /// action in an event.
    fn summary(&self, msg: &Message) -> Option<String> {
        let attendee = msg.get(&["body", "attendee_name"])?;
        let mut who = if truthy(attendee) {
            py_str(attendee)
        } else {
            "A user".into()
        };
        if let Some(a) = msg.get(&["agent"]).filter(|a| truthy(a)) {
            who = format!("{who} ({})", py_str(a));
        }
        let action: String = msg.str_at(&["body", "action"])?.chars().skip(7).collect();
        let kind = msg.str_at(&["body", "type"]);
        let did = match (action.as_str(), kind) {
            ("event.checkin", Some("entry")) => "entered".to_owned(),
            ("event.checkin", Some("exit")) => "exited".to_owned(),
            _ => format!("caused {action} in"),
        };
        // The instance is read after the event, as the class does: both must be there.
        let event = hook(msg, &["event"])?;
        msg.get(&["body", "instance_url"])?;
        Some(format!("{who} {did} {event} on {}", pretix_instance(msg)))
    }
    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(ICON.into())
    }
    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("Pretix".into())
    }
}
