//! FreeIPA's audit log of the account system, relayed from the journal (`ipa`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Ipa;

/// The API call's parameters: JSON inside a journal field.
fn params(msg: &Message) -> Option<Value> {
    serde_json::from_str(msg.str_at(&["IPA_API_PARAMS"])?).ok()
}

fn actor<'m>(msg: &'m Message) -> Option<&'m str> {
    let a = msg.str_at(&["IPA_API_ACTOR"])?;
    Some(a.split_once('@').map_or(a, |(user, _realm)| user))
}

fn names(p: &Value, key: &str) -> Vec<String> {
    p.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `user a`, `users a, b`, `user a and group g`.
fn members(p: &Value) -> String {
    let mut parts = Vec::new();
    for (key, one, many) in [("user", "user", "users"), ("group", "group", "groups")] {
        let n = names(p, key);
        match n.len() {
            0 => {}
            1 => parts.push(format!("{one} {}", n[0])),
            _ => parts.push(format!("{many} {}", n.join(", "))),
        }
    }
    parts.join(" and ")
}

/// A block per kind of member the call names (users, then groups): `head(kind, plural)`, then
/// one `- name` line each.
fn member_lists(p: &Value, head: impl Fn(&str, bool) -> String) -> String {
    let mut out = String::new();
    for (key, one, many) in [("user", "user", "users"), ("group", "group", "groups")] {
        let n = names(p, key);
        if n.is_empty() {
            continue;
        }
        let plural = n.len() > 1;
        out.push_str(&head(if plural { many } else { one }, plural));
        for m in &n {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out
}

impl Family for Ipa {
    fn agent(&self, msg: &Message) -> Option<String> {
        actor(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(actor(msg));
        if let Some(p) = params(msg) {
            out.extend(names(&p, "user"));
            if msg.str_at(&["IPA_API_COMMAND"]) == Some("user_add") {
                out.insert_value(p.get("uid"));
            }
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if let Some(p) = params(msg)
            && msg
                .str_at(&["IPA_API_COMMAND"])
                .is_some_and(|c| c.starts_with("group_"))
        {
            out.insert_value(p.get("cn"));
            out.extend(names(&p, "group"));
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        let p = params(msg)?;
        let actor = actor(msg)?;
        let group = p.get("cn").and_then(Value::as_str);
        Some(match msg.str_at(&["IPA_API_COMMAND"])? {
            "user_add" => format!(
                "A new user has been created: {}\nBy: {actor}\n",
                p.get("uid")?.as_str()?
            ),
            "group_add_member" => {
                let group = group?;
                let lists = member_lists(&p, |kind, plural| {
                    let a = if plural { "" } else { "a " };
                    format!("Group {group} has {a}new {kind}:\n")
                });
                format!("{lists}\nAdded by: {actor}\n")
            }
            "group_remove_member" => {
                let group = group?;
                let lists = member_lists(&p, |kind, plural| {
                    let verb = if plural { "were" } else { "was" };
                    format!("The following {kind} {verb} removed from group {group}:\n")
                });
                format!("{lists}\nRemoved by: {actor}\n")
            }
            _ => return None,
        })
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let p = params(msg)?;
        let actor = actor(msg)?;
        let group = p.get("cn").and_then(Value::as_str);
        Some(match msg.str_at(&["IPA_API_COMMAND"])? {
            "user_add" => format!("{actor} created user \"{}\"", p.get("uid")?.as_str()?),
            "group_add_member" => format!(
                "User {actor} has added {} to group \"{}\"",
                members(&p),
                group?
            ),
            "group_remove_member" => format!(
                "User {actor} has removed {} from group \"{}\"",
                members(&p),
                group?
            ),
            _ => return None,
        })
    }
}
