//! Koji, the build system (`buildsys`), in both bus eras.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::user_name;

pub struct Koji;

fn nvr(msg: &Message) -> Option<String> {
    let (n, v, r) = (
        msg.str_at(&["name"])?,
        msg.str_at(&["version"])?,
        msg.str_at(&["release"])?,
    );
    Some(format!("{n}-{v}-{r}"))
}

fn state(n: i64) -> &'static str {
    match n {
        0 => "started building",
        1 => "completed",
        2 => "was deleted",
        3 => "failed to build",
        4 => "was cancelled",
        _ => "changed state",
    }
}

fn schema_state(n: i64) -> &'static str {
    match n {
        0 => "BUILDING",
        1 => "COMPLETE",
        2 => "DELETED",
        3 => "FAILED",
        4 => "CANCELED",
        _ => "UNKNOWN",
    }
}

/// The Koji instance: `primary`, or a secondary architecture's (`arm`, `s390`, `ppc`).
fn instance<'m>(msg: &'m Message) -> &'m str {
    msg.str_at(&["instance"]).unwrap_or("primary")
}

/// The web interface of the instance that sent a fedmsg-era message.
fn web(msg: &Message) -> String {
    let host = if msg.topic().contains(".stg.") {
        "koji.stg.fedoraproject.org".to_owned()
    } else {
        match instance(msg) {
            "primary" => "koji.fedoraproject.org".to_owned(),
            other => format!("{other}.koji.fedoraproject.org"),
        }
    };
    format!("http://{host}/koji")
}

/// ` (s390)` for a secondary instance.
fn on_instance(msg: &Message) -> String {
    match instance(msg) {
        "primary" => String::new(),
        other => format!(" ({other})"),
    }
}

impl Family for Koji {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        // The schemas name the owner as the actor where the owner acted: starting or
        // cancelling a build, changing a package list.
        match msg.subtopic() {
            "build.state.change" => match msg.get(&["new"]).and_then(Value::as_i64) {
                Some(0 | 4) => user_name(msg.get(&["owner"])).map(str::to_owned),
                _ => None,
            },
            "package.list.change" => user_name(msg.get(&["owner"])).map(str::to_owned),
            _ => None,
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        for field in ["owner", "user"] {
            if let Some(u) = user_name(msg.get(&[field])) {
                out.insert(u);
            }
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(msg.get(&["name"]));
        out.insert_value(msg.get(&["info", "name"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let owner = user_name(msg.get(&["owner"])).unwrap_or("someone");
        let sub = msg.subtopic();
        if !msg.is_fedmsg() {
            return match sub {
                "build.state.change" => Some(format!(
                    "Build {}: {owner}'s {}",
                    schema_state(msg.get(&["new"])?.as_i64()?),
                    nvr(msg)?
                )),
                "package.list.change" => Some(format!(
                    "Package list change for {}:  {}",
                    msg.str_at(&["package"])?,
                    msg.str_at(&["tag"])?
                )),
                _ => None,
            };
        }
        match sub {
            "build.state.change" => {
                let new = msg.get(&["new"])?.as_i64()?;
                Some(format!(
                    "{owner}'s {} {}{}",
                    nvr(msg)?,
                    state(new),
                    on_instance(msg)
                ))
            }
            "tag" => Some(format!(
                "{owner}'s {} tagged into {} by {}",
                nvr(msg)?,
                msg.str_at(&["tag"])?,
                user_name(msg.get(&["user"])).unwrap_or("koji")
            )),
            "untag" => Some(format!(
                "{owner}'s {} untagged from {} by {}",
                nvr(msg)?,
                msg.str_at(&["tag"])?,
                user_name(msg.get(&["user"])).unwrap_or("koji")
            )),
            "task.state.change" => {
                let target = msg
                    .get(&["info", "request", "1"])
                    .and_then(Value::as_str)
                    .map(|t| format!(" for {t}"))
                    .unwrap_or_default();
                Some(format!(
                    "{owner}'s scratch build of {}{target} {}",
                    msg.str_at(&["srpm"])?,
                    match msg.str_at(&["new"])? {
                        "OPEN" => "started",
                        "CLOSED" => "completed",
                        "FAILED" => "failed",
                        "CANCELED" => "was cancelled",
                        _ => "changed state",
                    }
                ))
            }
            "repo.init" | "repo.done" => Some(format!(
                "Repo {}:  {}{}",
                if sub == "repo.init" {
                    "initialized"
                } else {
                    "done"
                },
                msg.str_at(&["tag"]).unwrap_or("unknown"),
                on_instance(msg)
            )),
            "rpm.sign" => Some(format!(
                "Koji build {}-{}-{}.{}.rpm signed with sigkey '{}'",
                msg.str_at(&["info", "name"])?,
                msg.str_at(&["info", "version"])?,
                msg.str_at(&["info", "release"])?,
                msg.str_at(&["info", "arch"])?,
                msg.str_at(&["info", "sigkey"])?
            )),
            "package.list.change" => Some(format!(
                "Package list change for {}:  {}",
                msg.str_at(&["package"])?,
                msg.str_at(&["tag"])?
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg()
            && let Some(url) = msg.str_at(&["url"])
        {
            return Some(url.to_owned());
        }
        let base = web(msg);
        let id = |path: &[&str]| msg.get(path).and_then(Value::as_i64);
        if let Some(b) = id(&["build_id"]).or_else(|| id(&["info", "build_id"])) {
            return Some(format!("{base}/buildinfo?buildID={b}"));
        }
        if let Some(t) = id(&["tag_id"]) {
            return Some(format!("{base}/taginfo?tagID={t}"));
        }
        match id(&["id"]) {
            Some(task) => Some(format!("{base}/taskinfo?taskID={task}")),
            None => Some(base),
        }
    }
}
