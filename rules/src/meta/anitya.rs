//! Anitya (release-monitoring.org): upstream projects, their versions and their packages, as
//! fedmsg.meta's `AnityaProcessor` (anitya.py) and anitya-schema's classes give them.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{list_to_series, py_str, truthy_at};

pub(super) struct Anitya;

const ANITYA: &str = "https://release-monitoring.org";

/// The names a project's mappings give its packages in Fedora (`distro` exactly `Fedora`, or
/// in any case where `any_case`). `None` where the definitions would fail on a mapping.
pub(super) fn fedora_packages(v: Option<&Value>, any_case: bool) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for p in v?.as_array()? {
        let distro = p.get("distro")?;
        let fedora = match distro.as_str() {
            Some(d) if any_case => d.to_lowercase() == "fedora",
            Some(d) => d == "Fedora",
            None if any_case => return None,
            None => false,
        };
        if fedora {
            out.push(py_str(p.get("package_name")?));
        }
    }
    Some(out)
}

impl Family for Anitya {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // fedmsg.meta's default: the one user the message names.
            return fedmsg_user(msg).filter(|u| !u.is_empty());
        }
        msg.str_at(&["message", "agent"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            // An address is kept for the worker to map to an account, as email2fas did.
            out.extend(fedmsg_user(msg));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(fedmsg_packages(msg).unwrap_or_default());
        } else {
            out.extend(schema_packages(msg).unwrap_or_default());
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_subtitle(msg)
        } else {
            schema_summary(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let project = msg.get(&["project"])?;
        if truthy_at(Some(project)) {
            return Some(format!("{ANITYA}/project/{}/", py_str(project.get("id")?)));
        }
        Some(if msg.topic().ends_with("project.flag.set") {
            format!("{ANITYA}/")
        } else {
            format!("{ANITYA}/distros")
        })
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("anitya".to_owned())
    }
}

// fedora-messaging era: anitya-schema.

fn text_at(msg: &Message, path: &[&str]) -> Option<String> {
    msg.get(path).map(py_str)
}

/// The items of a list, as Python iterates it: a text's characters, a list's texts.
fn texts(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(s.chars().map(String::from).collect()),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn schema_summary(msg: &Message) -> Option<String> {
    let project = || text_at(msg, &["project", "name"]);
    let distro = || text_at(msg, &["distro", "name"]);
    Some(match msg.subtopic() {
        "distro.add" => format!(
            "A new distribution, {}, was added to release-monitoring.",
            distro()?
        ),
        "distro.edit" => format!(
            "The name of the {} distribution changed to {}.",
            text_at(msg, &["message", "old"])?,
            text_at(msg, &["message", "new"])?
        ),
        "distro.remove" => format!(
            "The {} distribution was removed from release-monitoring.",
            distro()?
        ),
        "project.add" => format!(
            "A new project, {}, was added to release-monitoring.",
            project()?
        ),
        "project.edit" => format!(
            "A project, {}, was edited in release-monitoring.",
            project()?
        ),
        "project.remove" => format!(
            "A project, {}, was deleted in release-monitoring.",
            project()?
        ),
        "project.flag" => format!(
            "A flag was created on project {} in release-monitoring.",
            project()?
        ),
        "project.flag.set" => format!(
            "A flag '{}' was {} in release-monitoring.",
            text_at(msg, &["message", "flag"])?,
            text_at(msg, &["message", "state"])?
        ),
        "project.map.new" => format!(
            "A new mapping was created for project {} in release-monitoring.",
            project()?
        ),
        "project.map.update" => format!(
            "A mapping for project {} was edited in release-monitoring.",
            project()?
        ),
        "project.map.remove" => format!(
            "A mapping for project {} was deleted in release-monitoring.",
            project()?
        ),
        "project.version.update" => {
            let version = text_at(msg, &["message", "upstream_version"])?;
            format!(
                "A new version '{version}' was found for project {} in release-monitoring.",
                project()?
            )
        }
        "project.version.update.v2" => {
            let versions = texts(msg.get(&["message", "upstream_versions"])?)?;
            format!(
                "A new versions '{}' were found for project {} in release-monitoring.",
                versions.join(", "),
                project()?
            )
        }
        "project.version.remove" => {
            let version = text_at(msg, &["message", "version"])?;
            format!(
                "A version '{version}' was deleted in project {} in release-monitoring.",
                project()?
            )
        }
        "project.version.remove.v2" => version_removed(msg)?,
        _ => return None,
    })
}

/// One version, up to five, or how many versions were deleted.
fn version_removed(msg: &Message) -> Option<String> {
    let versions = msg.get(&["message", "versions"])?;
    let count = match versions {
        Value::Array(a) => a.len(),
        Value::String(s) => s.chars().count(),
        _ => return None,
    };
    let project = text_at(msg, &["project", "name"]);
    Some(match count {
        1 => {
            let first = match versions {
                Value::Array(a) => py_str(a.first()?),
                other => texts(other)?.into_iter().next()?,
            };
            format!(
                "A version '{first}' was deleted in project {} in release-monitoring.",
                project?
            )
        }
        0 | 2..=5 => format!(
            "A versions '{}' were deleted in project {} in release-monitoring.",
            texts(versions)?.join(", "),
            project?
        ),
        n => format!(
            "{n} versions entries were deleted in project {} in release-monitoring.",
            project?
        ),
    })
}

fn schema_packages(msg: &Message) -> Option<Vec<String>> {
    let in_fedora = || msg.str_at(&["distro", "name"]) == Some("Fedora");
    Some(match msg.subtopic() {
        "project.map.new" if in_fedora() => vec![text_at(msg, &["message", "new"])?],
        "project.map.update" if in_fedora() => vec![
            text_at(msg, &["message", "prev"])?,
            text_at(msg, &["message", "new"])?,
        ],
        "project.version.update.v2" => fedora_packages(msg.get(&["message", "packages"]), false)?,
        _ => Vec::new(),
    })
}

// fedmsg era: fedmsg.meta's AnityaProcessor.

/// Who acted: an OpenID URL's or a fedoraproject.org address's account, another address (for
/// the worker to map), a name; the sender's name when the message names nobody.
fn fedmsg_user(msg: &Message) -> Option<String> {
    let Some(agent) = msg
        .get(&["message"])
        .and_then(|m| m.as_object())
        .and_then(|m| m.get("agent"))
    else {
        return Some(
            msg.header("fedmsg_username")
                .and_then(Value::as_str)
                .unwrap_or("anitya")
                .to_owned(),
        );
    };
    let agent = agent.as_str()?;
    Some(if agent.contains("id.fedoraproject.org") {
        let head = agent
            .split_once(".id.fedoraproject.org")
            .map_or(agent, |(h, _)| h);
        head.split_once("//")
            .map_or("", |(_, rest)| rest)
            .to_owned()
    } else if let Some(name) = agent.strip_suffix("@fedoraproject.org") {
        name.split("@fedoraproject.org")
            .next()
            .unwrap_or(name)
            .to_owned()
    } else {
        agent.to_owned()
    })
}

fn fedmsg_packages(msg: &Message) -> Option<Vec<String>> {
    let topic = msg.topic();
    let fedora = || Some(msg.str_at(&["distro", "name"])?.to_lowercase() == "fedora");
    if topic.contains("project.map.update") {
        if fedora()? {
            return Some(vec![
                text_at(msg, &["message", "new"])?,
                text_at(msg, &["message", "prev"])?,
            ]);
        }
    } else if topic.contains("project.map.new") {
        if fedora()? {
            return Some(vec![text_at(msg, &["message", "new"])?]);
        }
    } else if topic.contains("project.version.update") {
        let packages = if msg.get(&["message"]).is_some() {
            msg.get(&["message", "packages"])
        } else {
            msg.get(&["packages"])
        };
        return fedora_packages(packages, true);
    } else if topic.ends_with("project.flag") {
        return match msg.get(&["packages"]) {
            None => Some(Vec::new()),
            packages => fedora_packages(packages, true),
        };
    }
    Some(Vec::new())
}

/// The topic fragments `AnityaProcessor.subtitle` tests, in its order: the first the topic
/// contains wins.
const SUBTITLE_BRANCHES: &[&str] = &[
    "project.map.new",
    "project.map.update",
    "distro.add",
    "distro.edit",
    "project.add.tried",
    "project.add",
    "project.edit",
    "project.remove",
    "project.map.remove",
    "project.version.update",
    "project.version.remove",
    "distro.remove",
];

fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let user = fedmsg_user(msg)?;
    if let Some(branch) = SUBTITLE_BRANCHES.iter().find(|t| topic.contains(*t)) {
        return if branch.starts_with("distro.") {
            distro_subtitle(msg, &user, branch)
        } else {
            project_subtitle(msg, &user, branch)
        };
    }
    if topic.ends_with("project.flag.set") {
        return Some(format!(
            "{user} {} flag \"{}\"",
            text_at(msg, &["message", "state"])?,
            text_at(msg, &["message", "flag"])?
        ));
    }
    if topic.ends_with("project.flag") {
        let project = text_at(msg, &["project", "name"])?;
        return Some(format!("{user} flagged the project \"{project}\""));
    }
    None
}

/// Distributions added, renamed, removed.
fn distro_subtitle(msg: &Message, user: &str, branch: &str) -> Option<String> {
    let at = |path: &[&str]| text_at(msg, path);
    Some(match branch {
        "distro.add" => format!(
            "{user} added the distro named \"{}\" to anitya",
            at(&["distro", "name"])?
        ),
        "distro.edit" => format!(
            "{user} changed a distro name from \"{}\" to \"{}\"",
            at(&["message", "old"])?,
            at(&["message", "new"])?
        ),
        "distro.remove" => format!("{user} deleted the distro \"{}\"", at(&["distro", "name"])?),
        _ => return None,
    })
}

/// Projects added, edited, removed, mapped to a distribution's name, and their versions.
fn project_subtitle(msg: &Message, user: &str, branch: &str) -> Option<String> {
    let at = |path: &[&str]| text_at(msg, path);
    let project = || at(&["project", "name"]);
    Some(match branch {
        "project.map.new" => format!(
            "{user} mapped the name of \"{}\" in {} to \"{}\"",
            project()?,
            at(&["distro", "name"])?,
            at(&["message", "new"])?
        ),
        "project.map.update" => format!(
            "{user} updated the name of \"{}\" in \"{}\" from \"{}\" to \"{}\"",
            project()?,
            at(&["distro", "name"])?,
            at(&["message", "prev"])?,
            at(&["message", "new"])?
        ),
        "project.map.remove" => format!(
            "{user} deleted the mapping of \"{}\" project on \"{}\"",
            project()?,
            at(&["message", "distro"])?
        ),
        "project.add.tried" => format!(
            "{user} tried to add the project \"{}\" to anitya (but it already exists there)",
            project()?
        ),
        "project.add" => format!("{user} added the project \"{}\" to anitya", project()?),
        "project.edit" => {
            let project = project()?;
            let fields = texts(msg.get(&["message", "fields"])?)?;
            format!(
                "{user} edited the following fields of the \"{project}\" project: {}",
                fields.join(", ")
            )
        }
        "project.remove" => format!("{user} deleted the \"{}\" project", project()?),
        "project.version.update" => return version_update(msg),
        "project.version.remove" => format!(
            "{user} deleted the version {} of \"{}\"",
            at(&["message", "version"])?,
            project()?
        ),
        _ => return None,
    })
}

/// A new upstream version, what it is newer than, and the Fedora packages it is mapped to.
fn version_update(msg: &Message) -> Option<String> {
    let project = text_at(msg, &["project", "name"])?;
    let body = msg.body();
    let message = body.get("message").unwrap_or(body);
    let packages = match message.get("packages") {
        None => Vec::new(),
        packages => fedora_packages(packages, false)?,
    };
    let packages = list_to_series(&packages, 3);
    let odd = message.get("odd_change");
    let old = message.get("old_version")?;
    let new = py_str(message.get("upstream_version")?);
    Some(if truthy_at(Some(old)) && !truthy_at(odd) {
        format!(
            "A new version of \"{project}\" has been detected:  \"{new}\" newer than \"{}\", packaged as \"{packages}\"",
            py_str(old)
        )
    } else {
        format!(
            "A new version of \"{project}\" has been detected:  \"{new}\", packaged as \"{packages}\""
        )
    })
}
