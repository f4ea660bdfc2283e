//! Fedora Tagger, where users tagged, rated and declared the packages they use
//! (`fedoratagger`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub(super) struct Tagger;

fn user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["vote", "user", "username"])
        .or_else(|| msg.str_at(&["user", "username"]))
        .or_else(|| msg.str_at(&["rating", "user", "username"]))
}

/// The package: a name, or `{NAME: [its tags]}` in later messages.
fn package<'m>(msg: &'m Message) -> Option<&'m str> {
    let from_tag = |v: &'m Value| match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.keys().next().map(String::as_str),
        _ => None,
    };
    msg.get(&["vote", "tag", "package"])
        .and_then(from_tag)
        .or_else(|| msg.get(&["tag", "package"]).and_then(from_tag))
        .or_else(|| msg.str_at(&["rating", "package", "name"]))
        .or_else(|| msg.str_at(&["package", "name"]))
}

/// Who rated or toggled, as the processor words it: `An anonymous user` when the user says
/// it is anonymous.
fn rater(msg: &Message, user_path: &[&str]) -> Option<String> {
    let u = msg.get(user_path)?;
    if u.get("anonymous").and_then(Value::as_bool) == Some(true) {
        return Some("An anonymous user".into());
    }
    u.get("username")?.as_str().map(str::to_owned)
}

impl Family for Tagger {
    fn agent(&self, msg: &Message) -> Option<String> {
        user(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        // fedmsg.meta leaves out `anonymous` (it compares by identity, which holds for its
        // tests' literals though not for names parsed from JSON: fmn does what it means).
        out.extend(user(msg).filter(|u| *u != "anonymous"));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(package(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let who = user(msg);
        let tag = msg
            .str_at(&["vote", "tag", "tag"])
            .or_else(|| msg.str_at(&["tag", "tag"]));
        Some(match msg.subtopic() {
            "tag.update" => {
                let like = msg.get(&["vote", "like"]).and_then(Value::as_bool)?;
                format!(
                    "{} {} \"{}\" on {}",
                    who?,
                    if like { "upvoted" } else { "downvoted" },
                    tag?,
                    package(msg)?
                )
            }
            "tag.create" => format!("{} added tag \"{}\" to {}", who?, tag?, package(msg)?),
            "rating.update" => {
                let rating = super::py::py_str(msg.get(&["rating", "rating"])?);
                let giver = rater(msg, &["rating", "user"])?;
                format!("{giver} gave {} a rating of {rating}", package(msg)?)
            }
            "usage.toggle" => {
                let uses = msg.get(&["usage"]).and_then(Value::as_bool)?;
                format!(
                    "{} declared that they {} {}",
                    rater(msg, &["user"])?,
                    if uses { "use" } else { "no longer use" },
                    package(msg)?
                )
            }
            "user.rank.update" => {
                format!("{}'s rank changed to {}", who?, msg.get(&["user", "rank"])?)
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://apps.fedoraproject.org/tagger/{}",
            package(msg)?
        ))
    }
}
