//! Anitya (release-monitoring.org): upstream projects, their versions and their packages.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Anitya;

const ANITYA: &str = "https://release-monitoring.org";

/// An account from what Anitya recorded: an OpenID URL, a fedoraproject.org address, or a name.
fn account(agent: &str) -> &str {
    if let Some(rest) = agent
        .strip_prefix("http://")
        .or_else(|| agent.strip_prefix("https://"))
        && let Some(name) = rest.strip_suffix(".id.fedoraproject.org/")
    {
        return name;
    }
    agent.strip_suffix("@fedoraproject.org").unwrap_or(agent)
}

fn agent<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["message", "agent"]).map(account)
}

fn project_name<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["project", "name"])
        .or_else(|| msg.str_at(&["message", "project", "name"]))
        .or_else(|| msg.str_at(&["message", "project"]))
}

/// Fedora's packages of a project, from the message's package list.
fn fedora_packages(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|p| p.get("distro").and_then(Value::as_str) == Some("Fedora"))
                .filter_map(|p| p.get("package_name")?.as_str())
                .collect()
        })
        .unwrap_or_default()
}

impl Family for Anitya {
    fn agent(&self, msg: &Message) -> Option<String> {
        agent(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(agent(msg));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(fedora_packages(msg.get(&["message", "packages"])));
        out.extend(fedora_packages(msg.get(&["packages"])));
        if msg.subtopic() == "project.map.update"
            && msg
                .str_at(&["distro", "name"])
                .or_else(|| msg.str_at(&["message", "distro"]))
                == Some("Fedora")
        {
            out.extend(msg.str_at(&["message", "new"]));
            out.extend(msg.str_at(&["message", "prev"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = agent(msg);
        let project = project_name(msg);
        let distro = msg
            .str_at(&["message", "distro"])
            .or_else(|| msg.str_at(&["distro", "name"]));
        Some(match msg.subtopic() {
            "distro.add" => format!(
                "{} added the distro named \"{}\" to anitya",
                agent?, distro?
            ),
            "distro.edit" => format!(
                "{} edited distro name from \"{}\" to \"{}\"",
                agent?,
                msg.str_at(&["message", "old"])?,
                msg.str_at(&["message", "new"])?
            ),
            "distro.remove" => format!("{} deleted the distro \"{}\"", agent?, distro?),
            "project.add" => format!("{} added the project \"{}\" to anitya", agent?, project?),
            "project.add.tried" => format!(
                "{} tried to add the project \"{}\" to anitya (but it already exists there)",
                agent?, project?
            ),
            "project.edit" => {
                let fields: Vec<&str> = msg
                    .get(&["message", "fields"])?
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "{} edited the following fields of the \"{}\" project: {}",
                    agent?,
                    project?,
                    fields.join(", ")
                )
            }
            "project.remove" => format!("{} deleted the \"{}\" project", agent?, project?),
            "project.map.new" => format!(
                "{} mapped the name of \"{}\" in \"{}\" as \"{}\"",
                agent?,
                project?,
                distro?,
                msg.str_at(&["message", "new"])?
            ),
            "project.map.update" => format!(
                "{} updated the name of \"{}\" in \"{}\" from \"{}\" to \"{}\"",
                agent?,
                project?,
                distro?,
                msg.str_at(&["message", "prev"])?,
                msg.str_at(&["message", "new"])?
            ),
            "project.map.remove" => format!(
                "{} deleted the mapping of \"{}\" project on \"{}\"",
                agent?, project?, distro?
            ),
            "project.version.update" | "project.version.update.v2" => {
                let new = msg.str_at(&["message", "upstream_version"])?;
                let mut out = format!(
                    "A new version of \"{}\" has been detected:  \"{new}\"",
                    project?
                );
                if let Some(old) = msg
                    .str_at(&["message", "old_version"])
                    .filter(|o| !o.is_empty())
                {
                    out.push_str(&format!(" newer than \"{old}\""));
                }
                let packages = fedora_packages(msg.get(&["message", "packages"]));
                if !packages.is_empty() {
                    out.push_str(&format!(
                        ", packaged as \"{}\"",
                        crate::util::series(&packages)
                    ));
                }
                out
            }
            "project.version.remove" => format!(
                "{} deleted the version {} of \"{}\"",
                agent?,
                msg.str_at(&["message", "version"])?,
                project?
            ),
            "project.flag" => format!("{} flagged the project \"{}\"", agent?, project?),
            "project.flag.set" => format!(
                "{} {} flag \"{}\"",
                agent?,
                msg.str_at(&["message", "state"])?,
                match msg.get(&["message", "flag"])? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if let Some(id) = msg
            .get(&["project", "id"])
            .or_else(|| msg.get(&["message", "project", "id"]))
            .and_then(Value::as_i64)
        {
            return Some(format!("{ANITYA}/project/{id}/"));
        }
        if msg.subtopic().starts_with("distro.") {
            return Some(format!("{ANITYA}/distros"));
        }
        Some(format!("{ANITYA}/"))
    }
}
