//! Meetings run by meetbot (zodbot on IRC, then on Matrix), and the karma cookies people
//! give each other there.

use fmn_rules_sdk::people::person;
use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::names;
use crate::meta::Family;
use crate::meta::py;

pub(crate) struct Meetbot;
pub(crate) struct Cookies;

const MEETBOT_ICON: &str = "https://apps.fedoraproject.org/img/icons/meetbot.png";

/// fedmsg's meetbot never counted itself among a meeting's people.
const BOTS: &[&str] = &["zodbot"];

/// fedmsg's attendees: nicks, as the keys of a `{nick: lines}` map or a list.
fn fedmsg_attendees<'m>(msg: &'m Message) -> Vec<&'m str> {
    let nicks: Vec<&str> = match msg.get(&["attendees"]) {
        Some(Value::Object(o)) => o.keys().map(String::as_str).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    nicks.into_iter().filter(|n| !BOTS.contains(n)).collect()
}

impl Family for Meetbot {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // fedmsg.meta took any one of the attendees; the one of a meeting with one
            // attendee, else whoever ran the meeting.
            let people = fedmsg_attendees(msg);
            return match people.as_slice() {
                [one] => Some((*one).to_owned()),
                _ => msg.str_at(&["owner"]).map(str::to_owned),
            };
        }
        let key = if msg.subtopic() == "meeting.complete" {
            "end_user"
        } else {
            "start_user"
        };
        msg.str_at(&[key]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(fedmsg_attendees(msg));
            return;
        }
        if msg.subtopic() == "meeting.complete" {
            if let Some(a) = msg.get(&["attendees"]).and_then(Value::as_array) {
                out.extend(a.iter().filter_map(|p| p.get("name")?.as_str()));
            }
            out.extend(names(msg.get(&["chairs"])));
            out.extend(msg.str_at(&["end_user"]));
        } else {
            out.extend(msg.str_at(&["start_user"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_subtitle(msg);
        }
        let name = msg.str_at(&["meeting_name"])?;
        let place = msg.str_at(&["location"])?;
        Some(match msg.subtopic() {
            "meeting.start" => format!("Meeting '{name}' started in {place}"),
            "meeting.complete" => format!("Meeting '{name}' in {place} finished"),
            _ => return None,
        })
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        let agent = self.agent(msg).unwrap_or_else(|| "None".to_owned());
        let name = py::py_str(msg.get(&["meeting_name"])?);
        let place = py::py_str(msg.get(&["location"])?);
        match msg.subtopic() {
            "meeting.start" => Some(format!(
                "{agent} started meeting '{name}' in {place} at {}",
                py::py_str(msg.get(&["start_time"])?)
            )),
            "meeting.complete" => {
                let mut attendees = String::new();
                for a in msg.get(&["attendees"])?.as_array()? {
                    attendees.push_str(&format!(
                        "* {}: {} lines said\n",
                        py::py_str(a.get("name")?),
                        py::py_str(a.get("lines_said")?)
                    ));
                }
                let mut logs = String::new();
                for l in msg.get(&["logs"])?.as_array()? {
                    logs.push_str(&format!(
                        "* [{}]({})\n",
                        py::py_str(l.get("log_type")?),
                        py::py_str(l.get("log_url")?)
                    ));
                }
                Some(format!(
                    "{agent} ended meeting '{name}' in {place} at {}\n\n# Attendees\n\n{attendees}\n# Logs\n\n{logs}",
                    py::py_str(msg.get(&["end_time"])?)
                ))
            }
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.str_at(&["url"]).map(str::to_owned);
        }
        match msg.subtopic() {
            "meeting.complete" => {
                let url = msg.str_at(&["url"])?;
                Some(format!("{}.html", url.replace("http://", "https://")))
            }
            "meeting.item.link" => first_link(msg.str_at(&["details", "line"])?),
            _ => None,
        }
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(MEETBOT_ICON.to_owned())
    }
}

/// The first link in a line, as fedmsg.meta found it: up to the next space or `$` (a link
/// that ends the line is none).
fn first_link(line: &str) -> Option<String> {
    // Compiled once, not on every message.
    static LINK: std::sync::OnceLock<Option<regex_lite::Regex>> = std::sync::OnceLock::new();
    let re = LINK
        .get_or_init(|| regex_lite::Regex::new(r"(https?://[a-z0-9.:].*?)[ $]").ok())
        .as_ref()?;
    Some(re.captures(line)?.get(1)?.as_str().to_owned())
}

/// What an `item.*` message says someone did.
fn item_action(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "agreed" => "noted agreement",
        "accepted" => "accepted an item",
        "rejected" => "rejected an item",
        "action" => "noted an action",
        "info" => "raised a point of information",
        "idea" => "proposed an idea",
        "help" => "called for help",
        "link" => "linked to more information",
        _ => return None,
    })
}

/// fedmsg.meta's subtitle: nicks marked as people (the worker names their accounts).
fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
    let titled = msg.get(&["meeting_topic"]).is_some_and(truthy);
    let name = py::py_str(msg.get(&["meeting_topic"])?);
    let owner = person(&py::py_str(msg.get(&["owner"])?));
    let channel = py::py_str(msg.get(&["channel"])?);
    let agent = match msg.get(&["details"]) {
        Some(d) => person(&py::py_str(d.get("nick")?)),
        None => "None".to_owned(),
    };
    let topic = msg
        .get(&["topic"])
        .map_or_else(|| "no topic".to_owned(), py::py_str);
    Some(match sub {
        "meeting.start" if titled => format!("{owner} started meeting \"{name}\" in {channel}"),
        "meeting.start" => format!("{owner} started a meeting in {channel}"),
        "meeting.complete" if titled => {
            format!("{owner}'s meeting titled \"{name}\" ended in {channel}")
        }
        "meeting.complete" => format!("{owner}'s meeting ended in {channel}"),
        "meeting.topic.update" if titled => {
            format!("The topic of {owner}'s \"{name}\" meeting changed to \"{topic}\" in {channel}")
        }
        "meeting.topic.update" => {
            format!("The topic of {owner}'s meeting changed to \"{topic}\" in {channel}")
        }
        _ => {
            let kind = sub.strip_prefix("meeting.item.")?;
            let action = item_action(kind.rsplit('.').next()?)?;
            let line = py::py_str(msg.get(&["details", "line"])?);
            if titled {
                format!("{agent} {action} in the \"{name}\" meeting in {channel}: \"{line}\"")
            } else {
                format!("{agent} {action} in a meeting in {channel}: \"{line}\"")
            }
        }
    })
}

use crate::meta::py::truthy;

// ---- karma cookies (IRC, then Matrix's maubot) -----------------------------------------

impl Family for Cookies {
    /// fedmsg.meta showed the giver's avatar on IRC karma.
    fn icon(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() || msg.subtopic() != "karma" {
            return None;
        }
        msg.str_at(&["agent"]).map(crate::meta::avatar::avatar_url)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["sender"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["recipient"]));
        out.extend(msg.str_at(&["sender"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() == "karma" {
            return karma_subtitle(msg);
        }
        Some(format!(
            "{} gave a cookie to {}",
            py::py_str(msg.get(&["sender"])?),
            py::py_str(msg.get(&["recipient"])?)
        ))
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        let release = msg.get(&["fedora_release"])?;
        let this_release = msg.get(&["count_by_release"])?.get(release.as_str()?)?;
        Some(format!(
            "{} gave a cookie to {}. They now have {} cookie(s), {} of which were obtained in the Fedora {} release cycle",
            py::py_str(msg.get(&["sender"])?),
            py::py_str(msg.get(&["recipient"])?),
            py::py_str(msg.get(&["total"])?),
            py::py_str(this_release),
            py::py_str(release)
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "https://badges.fedoraproject.org/user/{}",
            msg.str_at(&["recipient"])?
        ))
    }
}

/// fedmsg.meta's karma subtitle, which filled its template from the message itself.
fn karma_subtitle(msg: &Message) -> Option<String> {
    let field = |k: &str| msg.get(&[k]).map(py::py_str);
    let up = msg.get(&["vote"])?.as_f64() == Some(1.0);
    let what = if up {
        "a karma cookie"
    } else {
        "negative karma"
    };
    let mut out = format!(
        "{} gave {}({}) {what} in {}",
        field("agent")?,
        field("recipient")?,
        field("total")?,
        field("channel")?
    );
    if let Some(line) = field("line") {
        out.push_str(&format!(".  \"{line}\""));
    }
    Some(out)
}
