//! Trac instances on fedorahosted.org (`trac`): tickets, wiki pages, git pushes.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub(super) struct Trac;

fn project<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["instance", "project_name"])
}

/// fedorahosted repositories whose cgit address has no `.git`.
const SHORT_REPOS: &[&str] = &[
    "389",
    "aeolus",
    "bluecurve",
    "bluecurve-classic-metacity-theme",
    "bluecurve-gdm-theme",
    "bluecurve-gnome-theme",
    "bluecurve-gtk-themes",
    "bluecurve-icon-theme",
    "bluecurve-kde-theme",
    "bluecurve-kdm-theme",
    "bluecurve-kwin-theme",
    "bluecurve-metacity-theme",
    "bluecurve-qt-engine",
    "bluecurve-xmms-skin",
    "cobbler",
    "deltacloud",
    "docs",
    "echo-icon-theme",
    "fedorabubbles-gdm-theme",
    "fedoradna-gdm-theme",
    "fedoradna-kdm-theme",
    "fedoraflyinghigh-gdm-theme",
    "fedoraflyinghigh-kdm-theme",
    "fedora-gnome-theme",
    "fedora-icon-theme",
    "fedorainfinity-gdm-theme",
    "fedorainfinity-screensaver-theme",
    "fedora-screensaver-theme",
    "freeotp",
    "grid",
    "koji",
    "l10n",
    "livecd",
    "mash",
    "mirrormanager",
    "mkinitrd",
    "nodoka",
    "opyum",
    "ovirt",
    "presto",
    "readahead",
    "redhat-rpm-config",
    "releng",
    "revisor",
    "rhq",
    "snake",
    "thetango",
    "thincrust",
    "umltester",
    "updatinator",
    "webauthinfra",
    "wevisor",
];

/// The pushed repository: from its path under `/srv/git/` in later messages, else `repo`.
fn repo_name(msg: &Message) -> Option<String> {
    if let Some(path) = msg.get(&["commit", "path"]) {
        let path = path.as_str()?;
        let before = path.split(".git").next().unwrap_or_default();
        return Some(before.chars().skip(9).collect());
    }
    msg.str_at(&["commit", "repo"]).map(str::to_owned)
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

    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta's one person of a push: its author.
        msg.str_at(&["commit", "username"])
            .map(|u| u.trim().to_owned())
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some("https://www.edgewall.org/gfx/trac_bullet.png".into())
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["page", "author"]).map(str::trim));
        if let Some(cc) = msg.str_at(&["ticket", "cc"]) {
            out.extend(cc.split(',').map(str::trim));
        }
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
                // A status change only counts when the old values say the status changed.
                let changed = msg.get(&["old_values", "status"]).is_some();
                match msg.str_at(&["ticket", "status"]) {
                    Some("reopened") if changed => {
                        format!("{} reopened a ticket {}", agent?, on(msg)?)
                    }
                    Some("closed") if changed => format!(
                        "{} closed a ticket {} as '{}'",
                        agent?,
                        on(msg)?,
                        super::py::py_str_opt(msg.get(&["ticket", "resolution"]))
                    ),
                    _ => format!("{} updated a ticket {}", agent?, on(msg)?),
                }
            }
            "ticket.delete" => format!("{} straight-up deleted a ticket {}", agent?, on(msg)?),
            "wiki.page.update" => {
                format!("{} updated the '{}' wiki page {}", agent?, page?, on(msg)?)
            }
            "wiki.page.delete" => format!(
                "{} straight-up deleted the '{}' wiki page {}",
                agent?,
                page?,
                on(msg)?
            ),
            "wiki.page.new" => format!(
                "{} created a new '{}' wiki page {}",
                agent?,
                page?,
                on(msg)?
            ),
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
                repo_name(msg)?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if sub == "git.receive" {
            let name = repo_name(msg)?;
            let suffix = if SHORT_REPOS.contains(&name.as_str()) {
                ""
            } else {
                ".git"
            };
            return Some(format!(
                "https://git.fedorahosted.org/cgit/{name}{suffix}/commit/?id={}",
                msg.str_at(&["commit", "rev"])?
            ));
        }
        let base = msg.str_at(&["instance", "base_url"])?;
        if let Some(id) = msg.get(&["ticket", "id"]).and_then(Value::as_i64) {
            return Some(format!("{base}ticket/{id}"));
        }
        let page = msg.str_at(&["page", "name"])?;
        if sub == "wiki.page.rename" || sub == "wiki.page.delete" || sub == "wiki.page.new" {
            return Some(format!("{base}wiki/{page}"));
        }
        let version = msg
            .get(&["version"])
            .or_else(|| msg.get(&["page", "version"]))
            .and_then(Value::as_i64)?;
        Some(format!("{base}wiki/{page}?action=diff&version={version}"))
    }
}
