//! FreeIPA's audit log of the account system, relayed from the journal (`ipa`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub(super) struct Ipa;

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

/// The members the call names, users then groups, each kind with its word (`user`, `users`,
/// `group`, `groups`) and whether there are several.
fn member_kinds(p: &Value) -> Vec<(&'static str, bool, Vec<String>)> {
    [("user", "user", "users"), ("group", "group", "groups")]
        .into_iter()
        .filter_map(|(key, one, many)| {
            let n = names(p, key);
            let plural = n.len() > 1;
            (!n.is_empty()).then_some((if plural { many } else { one }, plural, n))
        })
        .collect()
}

/// `user a`, `users a, b`, `user a and group g`.
fn members(p: &Value) -> String {
    member_kinds(p)
        .into_iter()
        .map(|(word, _, n)| format!("{word} {}", n.join(", ")))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A block per kind of member the call names: `head(word, plural)`, then one `- name` line
/// each.
fn member_lists(p: &Value, head: impl Fn(&str, bool) -> String) -> String {
    let mut out = String::new();
    for (word, plural, n) in member_kinds(p) {
        out.push_str(&head(word, plural));
        for m in &n {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out
}

/// The API command: the topic names it (`ipa.group_add_member.v1`), else the journal field.
fn command<'m>(msg: &'m Message) -> Option<&'m str> {
    let from_topic = msg.subtopic().split('.').next();
    match from_topic {
        Some(c @ ("user_add" | "group_add_member" | "group_remove_member")) => Some(c),
        _ => msg.str_at(&["IPA_API_COMMAND"]),
    }
}

impl Family for Ipa {
    fn agent(&self, msg: &Message) -> Option<String> {
        actor(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(actor(msg));
        if let Some(p) = params(msg) {
            out.extend(names(&p, "user"));
            if command(msg) == Some("user_add") {
                out.insert_value(p.get("uid"));
            }
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if let Some(p) = params(msg)
            && command(msg).is_some_and(|c| c.starts_with("group_"))
        {
            out.insert_value(p.get("cn"));
            out.extend(names(&p, "group"));
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        let p = params(msg)?;
        let actor = actor(msg)?;
        let group = p.get("cn").and_then(Value::as_str);
        Some(match command(msg)? {
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
        Some(match command(msg)? {
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
