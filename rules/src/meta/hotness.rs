//! the-new-hotness, which files bugs and scratch builds when Anitya sees new upstream
//! versions (`hotness`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Hotness;

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

/// The package the message is about, from the message that triggered hotness: an Anitya
/// update (its Fedora packages) or a PkgDB package message.
fn packages<'m>(msg: &'m Message) -> Vec<&'m str> {
    let t = |p: &[&str]| {
        let mut path = vec!["trigger", "msg"];
        path.extend_from_slice(p);
        msg.get(&path)
    };
    let mut out = fedora_packages(t(&["message", "packages"]));
    if out.is_empty() {
        out.extend(
            t(&["package", "name"])
                .or_else(|| t(&["package_listing", "package", "name"]))
                .and_then(Value::as_str),
        );
    }
    out
}

fn package_info<'m>(msg: &'m Message, key: &str) -> Option<&'m str> {
    msg.get(&["trigger", "msg", "package", key])
        .or_else(|| msg.get(&["trigger", "msg", "package_listing", "package", key]))
        .and_then(Value::as_str)
}

impl Family for Hotness {
    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(packages(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let pkg = || packages(msg).first().map(|p| (*p).to_owned());
        Some(match msg.subtopic() {
            "update.bug.followup" => {
                let srpm = msg.str_at(&["trigger", "msg", "srpm"]).or_else(|| {
                    msg.get(&["trigger", "msg", "info", "request", "0"])?
                        .as_str()?
                        .rsplit('/')
                        .next()
                })?;
                let state = match msg.str_at(&["trigger", "msg", "new"]) {
                    Some("FAILED") => "failed",
                    Some("CANCELED") => "was cancelled",
                    _ => "completed",
                };
                format!(
                    "scratch build of {srpm} for RHBZ#{} {state}",
                    msg.get(&["bug", "bug_id"])?
                )
            }
            "update.drop" => match msg.str_at(&["reason"])? {
                "pkgdb" => format!(
                    "the-new-hotness saw an update for {}, but pkgdb says the maintainers are not interested in bugs being filed",
                    pkg()?
                ),
                "anitya" => format!(
                    "the-new-hotness saw an update for {}, but release-monitoring.org says it is not newer",
                    pkg()?
                ),
                other => format!(
                    "the-new-hotness saw an update for {}, but dropped it: {other}",
                    pkg()?
                ),
            },
            "update.bug.file" => format!(
                "the-new-hotness filed a bug on {}",
                pkg().or_else(|| msg
                    .str_at(&["trigger", "msg", "message", "new"])
                    .map(str::to_owned))?
            ),
            "project.map" => {
                let pkg = pkg()?;
                let ok = msg.get(&["success"]).and_then(Value::as_bool) == Some(true);
                if let Some(reason) = msg.str_at(&["reason"]) {
                    format!(
                        "hotness tried to map {pkg} to an upstream project, but failed:  \"{reason}\""
                    )
                } else {
                    let to = match msg.str_at(&["project", "name"]) {
                        Some(p) => format!("the pre-existing upstream project {p}"),
                        None => "a brand-new upstream project".to_owned(),
                    };
                    if ok {
                        format!("hotness mapped {pkg} to {to}")
                    } else {
                        format!(
                            "hotness tried to map {pkg} to {to}, but failed for unknown reasons"
                        )
                    }
                }
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if let Some(bug) = msg.get(&["bug", "bug_id"]).and_then(Value::as_i64) {
            if !msg.is_fedmsg() {
                return Some(format!("https://bugzilla.redhat.com/{bug}"));
            }
            let host = if msg.topic().contains(".stg.") {
                "partner-bugzilla.redhat.com"
            } else {
                "bugzilla.redhat.com"
            };
            return Some(format!("https://{host}/show_bug.cgi?id={bug}"));
        }
        let project = msg
            .get(&["project", "id"])
            .or_else(|| msg.get(&["trigger", "msg", "project", "id"]))
            .and_then(Value::as_i64);
        if let Some(id) = project {
            return Some(format!("https://release-monitoring.org/project/{id}/"));
        }
        if msg.str_at(&["reason"]).is_some() {
            return package_info(msg, "upstream_url").map(str::to_owned);
        }
        package_info(msg, "review_url").map(str::to_owned)
    }
}
