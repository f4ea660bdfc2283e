//! Bodhi's fedora-messaging messages, as the `bodhi-messages` schema classes describe them.
//!
//! Each class's properties are translated as they are written: a property that would raise
//! on a body (a missing key) says nothing here either, and a value the class formats with
//! Python's `str()` (a `None` status, a number) is rendered as Python renders it.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::{py, truthy};

const UPDATES: &str = "https://bodhi.fedoraproject.org/updates/";

/// `body.get(key)` rendered: a missing key is Python's `None` too.
fn py_get(msg: &Message, key: &str) -> Option<String> {
    py(msg.get(&[key]).unwrap_or(&Value::Null))
}

/// The schemas' `truncate`: 40 characters and an ellipsis, from 40 characters on.
fn truncate(title: &str) -> String {
    if title.chars().count() < 40 {
        return title.to_owned();
    }
    let mut out: String = title.chars().take(40).collect();
    out.push('…');
    out
}

/// `BuildV1.package`: `nvr.rsplit('-', 2)[0]`.
pub(crate) fn package(nvr: &str) -> &str {
    nvr.rsplitn(3, '-').last().unwrap_or(nvr)
}

/// `MENTION_RE = r'(?<!\S)(@\w+)'`: `@word` at the start or after white space.
fn mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' && prev.is_none_or(char::is_whitespace) {
            let mut word = String::new();
            while let Some(&w) = chars.peek().filter(|w| w.is_alphanumeric() || **w == '_') {
                word.push(w);
                chars.next();
            }
            if !word.is_empty() {
                prev = word.chars().last();
                out.push(word);
                continue;
            }
        }
        prev = Some(c);
    }
    out
}

/// `UpdateV1` as the classes build it: every key it reads must be there.
struct Update<'m> {
    alias: String,
    nvrs: Vec<&'m str>,
    user: &'m str,
    status: String,
}

impl<'m> Update<'m> {
    fn from(u: &'m Value) -> Option<Self> {
        let nvrs = u
            .get("builds")?
            .as_array()?
            .iter()
            .map(|b| b.get("nvr")?.as_str())
            .collect::<Option<Vec<_>>>()?;
        // The class reads these too, though no text shows `request` or `release`.
        u.get("request")?;
        u.get("release")?.get("name")?;
        Some(Update {
            alias: py(u.get("alias")?)?,
            nvrs,
            user: u.get("user")?.get("name")?.as_str()?,
            status: py(u.get("status")?)?,
        })
    }

    fn builds_summary(&self) -> String {
        truncate(&self.nvrs.join(" "))
    }

    fn builds_lines(&self) -> String {
        self.nvrs.join("\n")
    }

    fn packages(&self) -> impl Iterator<Item = &'m str> + '_ {
        self.nvrs.iter().map(|n| package(n))
    }

    /// `_owner_qual`: `their` when the agent's own update.
    fn owner(&self, agent: Option<&str>) -> String {
        if agent == Some(self.user) {
            "their".into()
        } else {
            format!("{}'s", self.user)
        }
    }
}

/// Which class a message is, as far as its body tells (the same topic has several versions).
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Comment,
    Complete,
    Edit {
        v2: bool,
    },
    Eject,
    KarmaThreshold,
    Request,
    RequirementsMet,
    /// `UpdateReadyForTestingV1` (no update) and `V2` (an update and a contact).
    ReadyArtifact {
        v2: bool,
    },
    ReadyV3,
    Errata,
    Override,
    Compose,
}

fn class(msg: &Message) -> Option<Class> {
    let sub = msg.subtopic();
    let has = |k: &str| msg.get(&[k]).is_some();
    Some(match sub {
        "update.comment" => Class::Comment,
        "update.complete.stable" | "update.complete.testing" => Class::Complete,
        "update.edit" => Class::Edit {
            v2: has("new_builds") || has("removed_builds"),
        },
        "update.eject" => Class::Eject,
        "update.karma.threshold.reach" => Class::KarmaThreshold,
        "update.requirements_met.stable" => Class::RequirementsMet,
        "errata.publish" => Class::Errata,
        "buildroot_override.tag" | "buildroot_override.untag" => Class::Override,
        "compose.complete" | "compose.composing" | "compose.start" | "compose.sync.done"
        | "compose.sync.wait" | "repo.done" => Class::Compose,
        _ if sub.starts_with("update.request.") => Class::Request,
        _ if sub.starts_with("update.status.testing") => match (has("update"), has("contact")) {
            (true, false) => Class::ReadyV3,
            (update, _) => Class::ReadyArtifact { v2: update },
        },
        _ => return None,
    })
}

/// The update an update message is about (a comment's is inside the comment).
fn update<'m>(msg: &'m Message) -> Option<Update<'m>> {
    let u = match class(msg)? {
        Class::Comment => msg.get(&["comment", "update"])?,
        _ => msg.get(&["update"])?,
    };
    Update::from(u)
}

fn agent_name<'m>(msg: &'m Message) -> Option<&'m str> {
    match class(msg)? {
        Class::Comment => msg.str_at(&["comment", "user", "name"]),
        Class::Override => msg.str_at(&["override", "submitter", "name"]),
        Class::Errata => Some(update(msg)?.user),
        _ => msg.str_at(&["agent"]),
    }
}

/// The agent the class names where its body's `agent` does not.
pub(super) fn agent(msg: &Message) -> Option<String> {
    agent_name(msg).map(str::to_owned)
}

/// Whether the body's own `agent` is among the users: not where the class names another.
pub(super) fn agent_involved(msg: &Message) -> bool {
    !matches!(
        class(msg),
        Some(Class::Comment | Class::Override | Class::Errata)
    )
}

/// The artifact builds' values at `key` (`issuer`, `component`, `nvr`), every one required.
fn artifact_builds<'m>(msg: &'m Message, key: &str) -> Option<Vec<&'m str>> {
    msg.get(&["artifact", "builds"])?
        .as_array()?
        .iter()
        .map(|b| b.get(key)?.as_str())
        .collect()
}

pub(super) fn usernames(msg: &Message, out: &mut Keys) {
    let Some(c) = class(msg) else { return };
    match c {
        Class::Override => out.extend(agent_name(msg)),
        Class::ReadyArtifact { .. } => {
            if let Some(issuers) = artifact_builds(msg, "issuer") {
                out.extend(issuers);
            }
        }
        _ => {
            out.extend(agent_name(msg));
            // `BodhiMessage.usernames`: people the comment mentions.
            if let Some(text) = msg.str_at(&["comment", "text"]) {
                out.extend(mentions(text));
            }
            if c != Class::Errata
                && let Some(u) = update(msg)
            {
                out.insert(u.user);
            }
        }
    }
}

pub(super) fn packages(msg: &Message, out: &mut Keys) {
    match class(msg) {
        Some(Class::Override) => out.extend(msg.str_at(&["override", "nvr"]).map(package)),
        Some(Class::ReadyArtifact { .. }) => {
            out.extend(artifact_builds(msg, "component").unwrap_or_default())
        }
        Some(Class::Compose) | None => {}
        Some(_) => {
            if let Some(u) = update(msg) {
                out.extend(u.packages());
            }
        }
    }
}

pub(super) fn link(msg: &Message) -> Option<String> {
    match class(msg)? {
        Class::Override => Some(format!(
            "https://bodhi.fedoraproject.org/overrides/{}",
            msg.str_at(&["override", "nvr"])?
        )),
        Class::ReadyArtifact { .. } => {
            Some(format!("{UPDATES}{}", py(msg.get(&["artifact", "id"])?)?))
        }
        Class::Compose => None,
        _ => Some(format!("{UPDATES}{}", update(msg)?.alias)),
    }
}

/// The verb of a request topic's last word: `revoked`, or `submitted` (to it).
fn request_action(msg: &Message) -> (String, bool) {
    let status = msg.topic().rsplit('.').next().unwrap_or_default();
    if matches!(status, "unpush" | "obsolete" | "revoke") {
        let past = if status.ends_with('e') { "d" } else { "ed" };
        (format!("{status}{past}"), false)
    } else {
        ("submitted".into(), true)
    }
}

fn agent_text(msg: &Message) -> Option<String> {
    // A missing agent is Python's None, formatted as such.
    match agent_name(msg) {
        Some(a) => Some(a.to_owned()),
        None => py_get(msg, "agent"),
    }
}

fn compose_summary(msg: &Message) -> Option<String> {
    let repo = || py_get(msg, "repo");
    Some(match msg.subtopic() {
        "compose.complete" => {
            if truthy(msg.get(&["success"])) {
                format!("bodhi composer successfully composed {}", repo()?)
            } else {
                format!("bodhi composer failed to compose {}", repo()?)
            }
        }
        "compose.composing" => format!("bodhi composer started composing {}", repo()?),
        "compose.start" => "bodhi composer started a push".into(),
        "compose.sync.done" => format!(
            "bodhi composer finished waiting for {} to hit the master mirror",
            repo()?
        ),
        "compose.sync.wait" => format!(
            "bodhi composer is waiting for {} to hit the master mirror",
            repo()?
        ),
        "repo.done" => format!("bodhi composer is finished building {}", repo()?),
        _ => return None,
    })
}

pub(super) fn summary(msg: &Message) -> Option<String> {
    let c = class(msg)?;
    match c {
        Class::Compose => return compose_summary(msg),
        Class::Errata => return msg.str_at(&["subject"]).map(str::to_owned),
        Class::Override => {
            let verb = if msg.subtopic().ends_with(".tag") {
                "submitted"
            } else {
                "expired"
            };
            return Some(format!(
                "{} {verb} a buildroot override for {}",
                agent_name(msg)?,
                msg.str_at(&["override", "nvr"])?
            ));
        }
        Class::ReadyArtifact { v2 } => {
            let (who, nvrs) = ready_artifact(msg, v2)?;
            return Some(format!(
                "{who}'s {} bodhi update is ready for testing",
                truncate(&nvrs.join(" "))
            ));
        }
        _ => {}
    }
    let u = update(msg)?;
    let (user, builds) = (u.user, u.builds_summary());
    Some(match c {
        Class::Comment => format!(
            "{} commented on update {builds} (karma: {})",
            agent_name(msg)?,
            py(msg.get(&["comment", "karma"])?)?
        ),
        Class::Complete => format!(
            "{user}'s {builds} bodhi update completed push to {}",
            u.status
        ),
        Class::Edit { .. } => format!(
            "{} edited {} update {} ({builds})",
            agent_text(msg)?,
            u.owner(agent_name(msg)),
            u.alias
        ),
        Class::Eject => format!(
            "{user}'s {builds} bodhi update was ejected from the {} mash. Reason: \"{}\"",
            py(msg.get(&["repo"])?)?,
            py(msg.get(&["reason"])?)?
        ),
        Class::KarmaThreshold => format!(
            "{user}'s {builds} bodhi update has reached the {} karma threshold",
            py(msg.get(&["status"])?)?
        ),
        Class::Request => {
            let (action, submitted) = request_action(msg);
            let agent = agent_text(msg)?;
            let owner = u.owner(agent_name(msg));
            let status = msg.topic().rsplit('.').next().unwrap_or_default();
            if submitted {
                format!(
                    "{agent} submitted {owner} update {} ({builds}) to {status}",
                    u.alias
                )
            } else {
                format!("{agent} {action} {owner} update {} ({builds})", u.alias)
            }
        }
        Class::RequirementsMet => {
            format!("{user}'s {builds} bodhi update has met stable testing requirements")
        }
        Class::ReadyV3 => format!("{user}'s {builds} bodhi update is ready for testing"),
        _ => return None,
    })
}

/// `len(body[key])` of a list.
fn count(msg: &Message, key: &str) -> Option<usize> {
    Some(msg.get(&[key])?.as_array()?.len())
}

/// The classes' `str()`.
/// A ready-for-testing message's submitter (the update's user from v2 on, the contact
/// before) and its builds' NVRs.
fn ready_artifact<'m>(msg: &'m Message, v2: bool) -> Option<(&'m str, Vec<&'m str>)> {
    let who = if v2 {
        msg.str_at(&["update", "user", "name"])?
    } else {
        msg.str_at(&["contact", "name"])?
    };
    Some((who, artifact_builds(msg, "nvr")?))
}

pub(super) fn long_text(msg: &Message) -> Option<String> {
    let c = class(msg)?;
    match c {
        Class::Errata => return msg.str_at(&["body"]).map(str::to_owned),
        Class::ReadyArtifact { v2 } => {
            let (who, nvrs) = ready_artifact(msg, v2)?;
            return Some(format!(
                "{who}'s Bodhi update is ready for testing\nBuilds:\n{} ",
                nvrs.join("\n")
            ));
        }
        Class::Compose | Class::Override | Class::Eject => return summary(msg),
        _ => {}
    }
    let u = update(msg)?;
    let (user, alias, lines) = (u.user, &u.alias, u.builds_lines());
    Some(match c {
        Class::Comment => format!(
            "{} commented on {user}'s update {alias} with karma {}:\n\n{}\n\nBuilds:\n{lines}",
            agent_name(msg)?,
            py(msg.get(&["comment", "karma"])?)?,
            msg.str_at(&["comment", "text"])?
        ),
        Class::Complete => format!(
            "{user}'s Bodhi update {alias} completed push to {}\nBuilds:\n{lines} ",
            u.status
        ),
        Class::Edit { v2: false } => format!(
            "{} edited {alias} adding {} new bugs",
            agent_text(msg)?,
            count(msg, "new_bugs")?
        ),
        Class::Edit { v2: true } => format!(
            "{} edited {alias} adding {} new bug(s), adding {} build(s), and removing {} build(s)",
            agent_text(msg)?,
            count(msg, "new_bugs")?,
            count(msg, "new_builds")?,
            count(msg, "removed_builds")?
        ),
        Class::KarmaThreshold => format!(
            "{user}'s bodhi update {alias} has reached the {} karma threshold.\nBuilds:\n{lines}",
            py(msg.get(&["status"])?)?
        ),
        Class::Request => {
            let (action, submitted) = request_action(msg);
            let status = msg.topic().rsplit('.').next().unwrap_or_default();
            let to = if submitted {
                format!(" to {status}")
            } else {
                String::new()
            };
            format!(
                "{} {action} {} update {alias}{to}.\nBuilds:\n{lines}",
                agent_text(msg)?,
                u.owner(agent_name(msg))
            )
        }
        Class::RequirementsMet => format!(
            "{user}'s Bodhi update {alias} has met stable testing requirements.\nBuilds:\n{lines}"
        ),
        Class::ReadyV3 => {
            format!("{user}'s Bodhi update {alias} is ready for testing\nBuilds:\n{lines} ")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_follow_the_schemas_pattern() {
        assert_eq!(
            mentions("@a thanks @b-c, x@d (@e) @f@g\t@h_1"),
            ["a", "b", "f", "h_1"]
        );
        assert_eq!(package("foo-1-2.fc30"), "foo");
        assert_eq!(package("foo"), "foo");
        assert_eq!(package("a-b"), "a");
        assert_eq!(truncate(&"x".repeat(40)).chars().count(), 41);
    }
}
