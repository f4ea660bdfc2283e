//! Koji, the build system (`buildsys`).

use fmn_rules_sdk::{Keys, Message};

use super::Family;
use crate::util::user_name;

pub struct Koji;

const KOJI: &str = "https://koji.fedoraproject.org/koji";

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

impl Family for Koji {
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
        match msg.subtopic() {
            "build.state.change" => {
                let new = msg.get(&["new"])?.as_i64()?;
                Some(format!("{owner}'s {} {}", nvr(msg)?, state(new)))
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
            "task.state.change" => Some(format!(
                "{owner}'s scratch build of {} {}",
                msg.str_at(&["srpm"])?,
                match msg.str_at(&["new"])? {
                    "OPEN" => "started",
                    "CLOSED" => "completed",
                    "FAILED" => "failed",
                    "CANCELED" => "was cancelled",
                    _ => "changed state",
                }
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if let Some(id) = msg.get(&["build_id"]).and_then(|v| v.as_i64()) {
            return Some(format!("{KOJI}/buildinfo?buildID={id}"));
        }
        if let Some(id) = msg.get(&["info", "build_id"]).and_then(|v| v.as_i64()) {
            return Some(format!("{KOJI}/buildinfo?buildID={id}"));
        }
        if let Some(id) = msg.get(&["tag_id"]).and_then(|v| v.as_i64()) {
            return Some(format!("{KOJI}/taginfo?tagID={id}"));
        }
        let id = msg.get(&["id"]).and_then(|v| v.as_i64())?;
        Some(format!("{KOJI}/taskinfo?taskID={id}"))
    }
}
