//! the-new-hotness, which files bugs and scratch builds when Anitya sees new upstream
//! versions (`hotness`): fedmsg.meta's `HotnessProcessor` (hotness.py) and
//! the-new-hotness-schema's classes.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::anitya::fedora_packages;
use super::py::{percent_i, py_str, truthy_at};

pub(super) struct Hotness;

/// The message that made hotness act, and its topic.
fn trigger<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["trigger", "msg"])
}

fn trigger_topic<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["trigger", "topic"])
}

/// Whether `key` is in a value, as Python's `in` tests a dict's keys or a text's substrings.
fn has(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(o) => o.contains_key(key),
        Value::String(s) => s.contains(key),
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(key)),
        _ => false,
    }
}

fn name_of(v: &Value, path: &[&str]) -> Option<String> {
    path.iter().try_fold(v, |v, k| v.get(k)).map(py_str)
}

impl Family for Hotness {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // fedmsg.meta's default: the one user the message names, a build's owner.
            return fedmsg_owner(msg);
        }
        (msg.subtopic() == "update.drop")
            .then(|| msg.str_at(&["agent_name"]).map(str::to_owned))
            .flatten()
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(fedmsg_owner(msg));
        } else if msg.subtopic() == "update.drop" {
            out.insert_value(msg.get(&["agent_name"]));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        let packages = if msg.is_fedmsg() {
            fedmsg_packages(msg)
        } else {
            match msg.subtopic() {
                "update.drop" => drop_packages(msg),
                "update.bug.file" => bug_file_packages(msg),
                _ => None,
            }
        };
        out.extend(packages.unwrap_or_default());
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_subtitle(msg);
        }
        match msg.subtopic() {
            "update.drop" => {
                let packages = drop_packages(msg)?.join(", ");
                let reason = msg.get(&["reason"])?;
                let why = match reason.as_str() {
                    Some("anitya") => "but release-monitoring.org doesn't know what that project is called in Fedora land".to_owned(),
                    Some("rawhide") => "but no rawhide version of the package could be found yet".to_owned(),
                    Some("pkgdb") => "but pkgdb says the maintainers are not interested in bugs being filed".to_owned(),
                    Some("bugzilla") => "but the bugzilla issue couldn't be updated".to_owned(),
                    _ => format!("but it got dropped for reason: '{}'", py_str(reason)),
                };
                Some(format!(
                    "the-new-hotness saw an update for '{packages}', {why}"
                ))
            }
            "update.bug.file" => Some(format!(
                "the-new-hotness filed a bug on '{}'",
                bug_file_packages(msg)?.join(", ")
            )),
            _ => None,
        }
    }

    /// `UpdateDrop` defines no `__str__`.
    fn default_str(&self, msg: &Message) -> bool {
        msg.subtopic() == "update.drop"
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() || msg.subtopic() != "update.bug.file" {
            return None;
        }
        Some(format!(
            "The New Hotness filed a bug on '{}'\n{}\n",
            bug_file_packages(msg)?.join(", "),
            self.link(msg)?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_link(msg);
        }
        (msg.subtopic() == "update.bug.file").then_some(())?;
        Some(format!(
            "https://bugzilla.redhat.com/{}",
            py_str(msg.get(&["bug"])?.get("bug_id")?)
        ))
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("The New Hotness".to_owned())
    }
}

// fedora-messaging era: the-new-hotness-schema.

/// The package a dropped update was about: from a PkgDB listing, a Koji build or a package
/// message; none when Anitya could not map the project.
fn drop_packages(msg: &Message) -> Option<Vec<String>> {
    if msg.get(&["reason"])? == "anitya" {
        return Some(Vec::new());
    }
    let original = msg.get(&["trigger"])?.get("msg")?;
    if has(original, "package_listing") {
        return Some(vec![name_of(
            original,
            &["package_listing", "package", "name"],
        )?]);
    }
    let topic = msg.get(&["trigger"])?.get("topic")?;
    if has(topic, "buildsys.build") {
        return Some(vec![name_of(original, &["name"])?]);
    }
    if has(original, "package") {
        return Some(vec![name_of(original, &["package", "name"])?]);
    }
    Some(Vec::new())
}

/// The packages a bug was filed on: the new mapping's name, or the project's Fedora packages.
fn bug_file_packages(msg: &Message) -> Option<Vec<String>> {
    let original = trigger(msg)?;
    if trigger_topic(msg)?.ends_with(".project.map.new") {
        return Some(vec![name_of(original, &["message", "new"])?]);
    }
    fedora_packages(original.get("message")?.get("packages"), false)
}

// fedmsg era: fedmsg.meta's HotnessProcessor.

fn fedmsg_owner(msg: &Message) -> Option<String> {
    trigger_topic(msg)?
        .contains("buildsys.build")
        .then(|| trigger(msg)?.get("owner")?.as_str().map(str::to_owned))
        .flatten()
}

fn fedmsg_packages(msg: &Message) -> Option<Vec<String>> {
    let topic = trigger_topic(msg)?;
    let original = trigger(msg)?;
    if topic.contains("anitya") {
        let message = original.get("message")?;
        let packages = if has(message, "packages") {
            message.get("packages")
        } else if has(original, "packages") {
            original.get("packages")
        } else {
            None
        };
        if truthy_at(packages) {
            return fedora_packages(packages, false);
        }
    }
    if has(original, "package_listing") {
        return Some(vec![name_of(
            original,
            &["package_listing", "package", "name"],
        )?]);
    }
    if topic.contains("buildsys.build") {
        return Some(vec![name_of(original, &["name"])?]);
    }
    if has(original, "package") {
        return Some(vec![name_of(original, &["package", "name"])?]);
    }
    Some(Vec::new())
}

fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let original = trigger(msg)?;
    if topic.contains("hotness.update.bug.file") {
        let packages = if trigger_topic(msg)?.ends_with(".project.map.new") {
            vec![name_of(original, &["message", "new"])?]
        } else {
            fedora_packages(original.get("message")?.get("packages"), false)?
        };
        return Some(format!(
            "the-new-hotness filed a bug on {}",
            packages.join(", ")
        ));
    }
    if topic.contains("hotness.update.bug.followup") {
        return followup(msg, original);
    }
    if topic.contains("hotness.update.drop") {
        let reason = msg.get(&["reason"])?;
        let mut packages = fedmsg_packages(msg)?;
        packages.sort();
        let thing = match packages.into_iter().next() {
            Some(p) => p,
            None => name_of(original, &["project", "name"])?,
        };
        let why = match reason.as_str() {
            Some("anitya") => {
                "release-monitoring.org doesn't know what that project is called in Fedora land"
            }
            Some("bugzilla") => "a bugzilla ticket had already been filed",
            Some("pkgdb") => "pkgdb says the maintainers are not interested in bugs being filed",
            Some("rawhide") => "no rawhide version of the package could be found yet",
            _ => ".... I dunno.  Whatever.",
        };
        return Some(format!(
            "the-new-hotness saw an update for {thing}, but {why}"
        ));
    }
    if topic.contains("hotness.project.map") {
        return project_map(msg, original);
    }
    None
}

/// A scratch build (a task) or a real build hotness started for a bug.
fn followup(msg: &Message, original: &Value) -> Option<String> {
    let bug_id = py_str(msg.get(&["bug"])?.get("bug_id")?);
    if has(original, "srpm") {
        let srpm = py_str(original.get("srpm")?);
        let status = match original.get("new")?.as_str() {
            Some("FAILED") => "failed",
            Some("FREE") => "submitted",
            Some("ASSIGNED") => "assigned",
            Some("CANCELLED") => "cancelled",
            Some("CLOSED") => "completed",
            Some("OPEN") => "started",
            _ => "unknown",
        };
        return Some(format!(
            "scratch build of {srpm} for RHBZ#{bug_id} {status}"
        ));
    }
    let user = py_str(original.get("owner")?);
    let parts: Option<Vec<&str>> = ["name", "version", "release"]
        .iter()
        .map(|k| original.get(k)?.as_str())
        .collect();
    let build = parts?.join("-");
    const STATES: [&str; 5] = ["started", "completed", "deleted", "cancelled", "failed"];
    let new = original.get("new")?.as_i64()?;
    // Python indexes the list, from its end for a negative state.
    let status = STATES.get(usize::try_from(if new < 0 { new + 5 } else { new }).ok()?)?;
    Some(format!(
        "{user}'s real build of {build} for RHBZ#{bug_id} {status}"
    ))
}

/// hotness mapping a new package to an upstream project, or failing to.
fn project_map(msg: &Message, original: &Value) -> Option<String> {
    let package = if has(original, "package_listing") {
        name_of(original, &["package_listing", "package", "name"])?
    } else {
        name_of(original, &["package", "name"])?
    };
    let body = msg.body();
    if let Some(reason) = body.get("reason") {
        return Some(format!(
            "hotness tried to map {package} to an upstream project, but failed:  \"{}\"",
            py_str(reason)
        ));
    }
    if let Some(total) = body.get("total") {
        return Some(format!(
            "hotness tried to map {package} to an upstream project, but failed due to ambiguity.  {} other projects share the same homepage",
            py_str(total)
        ));
    }
    let success = truthy_at(Some(body.get("success")?));
    let to = match body.get("project") {
        Some(p) => format!(
            "the pre-existing upstream project {}",
            name_of(p, &["name"])?
        ),
        None => "a brand-new upstream project".to_owned(),
    };
    Some(if success {
        format!("hotness mapped {package} to {to}")
    } else {
        format!("hotness tried to map {package} to {to}, but failed for unknown reasons")
    })
}

fn fedmsg_link(msg: &Message) -> Option<String> {
    let body = msg.body();
    if let Some(bug) = body.get("bug") {
        let host = if msg.topic().contains(".stg.") {
            "partner-bugzilla.redhat.com"
        } else {
            "bugzilla.redhat.com"
        };
        return Some(format!(
            "https://{host}/show_bug.cgi?id={}",
            percent_i(bug.get("bug_id"))?
        ));
    }
    body.get("trigger")?;
    let original = trigger(msg)?;
    let project_link = |p: &Value| {
        Some(format!(
            "https://release-monitoring.org/project/{}/",
            percent_i(p.get("id"))?
        ))
    };
    if has(original, "project") {
        return project_link(original.get("project")?);
    }
    if let Some(p) = body.get("project") {
        return project_link(p);
    }
    let url = if has(original, "package_listing") {
        original
            .get("package_listing")?
            .get("package")?
            .get("review_url")?
    } else if has(original, "package") {
        original.get("package")?.get("upstream_url")?
    } else {
        return None;
    };
    url.as_str().map(str::to_owned)
}
