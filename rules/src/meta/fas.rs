//! FAS, the Fedora account system of the fedmsg era (`fas`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py;

pub(super) struct Fas;

/// A user or group, written as a name or as `{"username"|"name": ...}`; fedora-messaging's
/// FAS messages keep them under `msg`.
fn name<'m>(msg: &'m Message, key: &str) -> Option<&'m str> {
    match msg.get(&[key]).or_else(|| msg.get(&["msg", key]))? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("username").or_else(|| o.get("name"))?.as_str(),
        _ => None,
    }
}

fn fields(msg: &Message) -> Option<String> {
    let f: Vec<&str> = msg
        .get(&["fields"])?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(f.join(", "))
}

impl Family for Fas {
    fn long_text(&self, msg: &Message) -> Option<String> {
        // An account edit lists the fields that changed under the summary.
        if msg.subtopic() != "user.update" || msg.is_fedmsg() {
            return None;
        }
        let fields: Vec<&str> = msg
            .get(&["msg", "fields"])
            .or_else(|| msg.get(&["fields"]))?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        Some(format!(
            "{}\n\nDetails changed: \n\n{} ",
            self.summary(msg)?,
            fields.join("\n")
        ))
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        name(msg, "agent").map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(name(msg, "agent"));
        out.extend(name(msg, "user"));
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            out.extend(name(msg, "group"));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return schema_summary(msg);
        }
        let agent = name(msg, "agent");
        let user = name(msg, "user");
        let group = name(msg, "group");
        Some(match msg.subtopic() {
            "user.create" => format!("New FAS account:  '{}'  (created by '{}')", user?, agent?),
            "user.update" => format!(
                "{} edited the following fields of {}'s FAS profile:  {}",
                agent?,
                user?,
                fields(msg)?
            ),
            "group.update" => format!(
                "{} edited the following fields of the {} FAS group:  {}",
                agent?,
                group?,
                fields(msg)?
            ),
            "group.create" => format!("{} created new FAS group {}", agent?, group?),
            "role.update" => {
                let mut out = format!(
                    "{} changed {}'s role in the {} group",
                    agent?, user?, group?
                );
                if let Some(s) = name(msg, "status") {
                    out.push_str(&format!(" to {s}"));
                }
                out
            }
            sub => {
                let action = sub.strip_prefix("group.member.")?;
                let verb = match action {
                    "apply" => "applied for",
                    "sponsor" => "sponsored",
                    "remove" => {
                        return Some(format!(
                            "{} removed {} from the {} group",
                            agent?, user?, group?
                        ));
                    }
                    _ => return Some("<unhandled action in fedmsg.meta.fas>".into()),
                };
                format!(
                    "{} {verb} {}'s membership in the {} group",
                    agent?, user?, group?
                )
            }
        })
    }
}

/// What noggin's schemas say of fedora-messaging-era messages; their fields sit under `msg`.
fn schema_summary(msg: &Message) -> Option<String> {
    let field = |k: &str| msg.get(&["msg", k]).map(py::py_str);
    let agent = field("agent")?;
    Some(match msg.subtopic() {
        "user.create" => {
            let user = field("user")?;
            if user == agent {
                format!("{agent} created a new Fedora Account")
            } else {
                format!("{agent} created a new Fedora Account for {user}")
            }
        }
        "user.update" => {
            let user = field("user")?;
            let n = msg.get(&["msg", "fields"])?.as_array()?.len();
            let whose = if agent == user {
                "their".to_owned()
            } else {
                format!("{user}'s")
            };
            format!("{agent} edited {n} details of {whose} Fedora Account")
        }
        "group.member.sponsor" => format!(
            "Sponsor {agent} added {} to the group{}",
            field("user")?,
            field("group")?
        ),
        "group.member.removed" => format!(
            "User {agent} removed user {} from the group{}",
            field("user")?,
            field("group")?
        ),
        _ => return None,
    })
}
