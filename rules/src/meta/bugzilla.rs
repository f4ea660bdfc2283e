//! Red Hat Bugzilla's Fedora bugs, relayed to the bus (`bugzilla`). People are email addresses
//! here; the worker names them by account where its alias data knows them.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub(super) struct Bugzilla;

fn login(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("login")?.as_str(),
        _ => None,
    }
}

fn named(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("name")?.as_str(),
        _ => None,
    }
}

/// The bug's title, cut to 40 characters as both eras printed it.
fn title(msg: &Message) -> Option<String> {
    let t = msg.str_at(&["bug", "summary"])?;
    Some(if t.chars().count() > 40 {
        format!("{}...", t.chars().take(40).collect::<String>())
    } else {
        t.to_owned()
    })
}

/// `'a', 'b', and 'c'`: the fields an event changed, by the name each era gives them
/// (fedmsg.meta read `field_name`, the schema reads `field`).
fn changed(msg: &Message) -> Option<String> {
    let key = if msg.is_fedmsg() {
        "field_name"
    } else {
        "field"
    };
    let fields: Vec<String> = msg
        .get(&["event", "changes"])?
        .as_array()?
        .iter()
        .filter_map(|c| c.get(key)?.as_str())
        .map(|f| format!("'{f}'"))
        .collect();
    (!fields.is_empty()).then(|| crate::util::series(&fields))
}

/// Who acted: the schema's `agent_name or event.user.login`; fedmsg.meta's comment author,
/// else the event's `who`, else the bug's creator.
fn who<'m>(msg: &'m Message) -> Option<&'m str> {
    if !msg.is_fedmsg() {
        return msg
            .str_at(&["agent_name"])
            .filter(|a| !a.is_empty())
            .or_else(|| login(msg.get(&["event", "user"])));
    }
    login(msg.get(&["comment", "author"]))
        .or_else(|| msg.str_at(&["event", "who"]))
        .or_else(|| login(msg.get(&["event", "user"])))
        .or_else(|| login(msg.get(&["bug", "creator"])))
}

/// bugzilla2fedmsg-schema's `summary`: what the event did to its target, the changed fields
/// joined as its `comma_join` does (`something unknown` for none).
fn schema_summary(msg: &Message) -> Option<String> {
    let who = fmn_rules_sdk::people::person(who(msg)?);
    let on = format!(
        "RHBZ#{} '{}'",
        super::py::py_str(msg.get(&["bug", "id"])?),
        title(msg)?
    );
    let target = super::py::py_str(msg.get(&["event", "target"])?);
    let action = msg.get(&["event", "action"])?;
    if action == "create" {
        return Some(if target == "bug" {
            format!("{who} filed a new bug {on}")
        } else {
            format!("{who} added {target} on {on}")
        });
    }
    let fields = changed(msg).unwrap_or_else(|| "something unknown".into());
    Some(if target == "bug" {
        format!("{who} updated {fields} on {on}")
    } else {
        format!("{who} updated {fields} for {target} on {on}")
    })
}

impl Family for Bugzilla {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // Whoever made the change, by address; the worker names the account.
            return msg.str_at(&["event", "who"]).map(str::to_owned);
        }
        msg.str_at(&["agent_name"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            // The bridge names the people it could map to accounts.
            if let Some(users) = msg.get(&["usernames"]).and_then(Value::as_array) {
                out.extend(users.iter().filter_map(Value::as_str));
            }
            return;
        }
        let bug = msg.get(&["bug"]);
        out.extend(login(bug.and_then(|b| b.get("creator"))));
        out.extend(login(bug.and_then(|b| b.get("assigned_to"))));
        if let Some(cc) = bug.and_then(|b| b.get("cc")).and_then(Value::as_array) {
            out.extend(cc.iter().filter_map(|c| login(Some(c))));
        }
        if let Some(comments) = bug
            .and_then(|b| b.get("comments"))
            .and_then(Value::as_array)
        {
            out.extend(comments.iter().filter_map(|c| login(c.get("author"))));
        }
        out.extend(login(msg.get(&["comment", "author"])));
        out.extend(msg.str_at(&["event", "who"]));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        // Components that are no Fedora package: fedmsg.meta knew one, the schema more.
        let not_packages: &[&str] = if msg.is_fedmsg() {
            &["Package Review"]
        } else {
            &[
                "distribution",
                "LiveCD",
                "LiveCD - FEL",
                "LiveCD - Games",
                "LiveCD - KDE",
                "LiveCD - LXDE",
                "LiveCD - Xfce",
                "Package Review",
            ]
        };
        out.extend(named(msg.get(&["bug", "component"])).filter(|c| !not_packages.contains(c)));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return schema_summary(msg);
        }
        let who = fmn_rules_sdk::people::person(who(msg)?);
        let id = msg.get(&["bug", "id"])?;
        let on = format!("RHBZ#{id} '{}'", title(msg)?);
        let target = msg.str_at(&["event", "target"]).unwrap_or("bug");
        let action = msg.str_at(&["event", "action"]);
        let created = msg.subtopic() == "bug.new" || (target == "bug" && action == Some("create"));
        Some(match target {
            _ if created => format!("{who} filed a new bug {on}"),
            "comment" => format!("{who} added comment on {on}"),
            "attachment" if action == Some("create") => format!("{who} added attachment on {on}"),
            "attachment" => match changed(msg) {
                Some(f) => format!("{who} updated {f} for attachment on {on}"),
                None => format!("{who} updated something unknown for attachment on {on}"),
            },
            _ if msg.is_fedmsg() && msg.get(&["comment"]).is_some_and(|c| !c.is_null()) => {
                format!("{who} commented on {on}")
            }
            _ => match changed(msg) {
                Some(f) => format!("{who} updated {f} on {on}"),
                // fedmsg.meta's word for an event that changed nothing (RHBZ#1718045).
                None if msg.is_fedmsg() => format!(
                    "{who} updated nothing? (likely bugzilla sent us a buggy message) on {on}"
                ),
                None => format!("{who} updated something unknown on {on}"),
            },
        })
    }

    /// fedmsg.meta took the bug's `weburl` when it had one; the schema always builds it.
    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg()
            && let Some(url) = msg.str_at(&["bug", "weburl"]).filter(|u| !u.is_empty())
        {
            return Some(url.to_owned());
        }
        Some(format!(
            "https://bugzilla.redhat.com/show_bug.cgi?id={}",
            super::py::py_str(msg.get(&["bug", "id"])?)
        ))
    }
}
