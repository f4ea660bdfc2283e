//! Trac instances on fedorahosted.org (`trac`): tickets, wiki pages, git pushes.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Trac;

fn project<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["instance", "project_name"])
}

fn on(msg: &Message) -> Option<String> {
    Some(format!("on the {} trac instance", project(msg)?))
}

impl Family for Trac {
    fn long_text(&self, msg: &Message) -> Option<String> {
        let summary = msg.str_at(&["ticket", "summary"])?;
        // An update with a comment shows the comment; any other ticket its description.
        Some(match msg.str_at(&["comment"]).filter(|c| !c.is_empty()) {
            Some(c) => format!("Summary: {summary}\nComment: {c}\n"),
            None => format!(
                "Summary: {summary}\nDescription: {}\n",
                msg.str_at(&["ticket", "description"])?
            ),
        })
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        for field in ["owner", "reporter"] {
            if let Some(u) = msg.str_at(&["ticket", field]).filter(|u| !u.is_empty()) {
                out.insert(u);
            }
        }
        out.insert_value(msg.get(&["commit", "username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"]);
        let page = msg.str_at(&["page", "name"]);
        Some(match msg.subtopic() {
            "ticket.new" => format!("{} opened a new ticket {}", agent?, on(msg)?),
            "ticket.update" => {
                let verb = match msg.str_at(&["ticket", "status"]) {
                    Some("reopened") => "reopened",
                    Some("closed") => "closed",
                    _ => "updated",
                };
                format!("{} {verb} a ticket {}", agent?, on(msg)?)
            }
            "ticket.delete" => format!("{} straight-up deleted a ticket {}", agent?, on(msg)?),
            "wiki.page.update" => {
                format!("{} updated the '{}' wiki page {}", agent?, page?, on(msg)?)
            }
            "wiki.page.delete" => {
                format!("{} deleted the '{}' wiki page {}", agent?, page?, on(msg)?)
            }
            "wiki.page.version.delete" => format!(
                "{} deleted a version of the '{}' wiki page {}",
                agent?,
                page?,
                on(msg)?
            ),
            "wiki.page.rename" => format!(
                "{} renamed the wiki page '{}' to '{}' {}",
                agent?,
                msg.str_at(&["old_name"])?,
                page?,
                on(msg)?
            ),
            "git.receive" => format!(
                "{} pushed some commits to the '{}' fedorahosted git repository",
                msg.str_at(&["commit", "username"])?,
                msg.str_at(&["commit", "repo"])?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if sub == "git.receive" {
            return Some(format!(
                "https://git.fedorahosted.org/cgit/{}.git/commit/?id={}",
                msg.str_at(&["commit", "repo"])?,
                msg.str_at(&["commit", "rev"])?
            ));
        }
        let base = msg.str_at(&["instance", "base_url"])?;
        if let Some(id) = msg.get(&["ticket", "id"]).and_then(Value::as_i64) {
            return Some(format!("{base}ticket/{id}"));
        }
        let page = msg.str_at(&["page", "name"])?;
        if sub == "wiki.page.rename" || sub == "wiki.page.delete" {
            return Some(format!("{base}wiki/{page}"));
        }
        let version = msg
            .get(&["version"])
            .or_else(|| msg.get(&["page", "version"]))
            .and_then(Value::as_i64)?;
        Some(format!("{base}wiki/{page}?action=diff&version={version}"))
    }
}
