//! Quality gates and their tools: Koschei, Taskotron, RATS, WaiverDB, mdapi, MBS.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::nvr_name;

pub struct Koschei;
pub struct Taskotron;
pub struct Rats;
pub struct WaiverDb;
pub struct Mdapi;
pub struct Mbs;
pub struct KernelTest;

// ---- koschei --------------------------------------------------------------------------

fn staging(msg: &Message) -> &'static str {
    if msg.str_at(&["koji_instance"]) == Some("staging") {
        " (staging)"
    } else {
        ""
    }
}

impl Family for Koschei {
    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.subtopic() == "package.state.change" {
            out.extend(msg.str_at(&["name"]));
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if let Some(g) = msg.get(&["groups"]).and_then(Value::as_array) {
            out.extend(g.iter().filter_map(Value::as_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let (old, new) = (msg.str_at(&["old"])?, msg.str_at(&["new"])?);
        let tail = staging(msg);
        match msg.subtopic() {
            "collection.state.change" => {
                let name = msg.str_at(&["collection_name"])?;
                Some(match (old, new) {
                    ("unknown", _) => format!("{name} added to Koschei{tail}"),
                    (_, "unresolved") => format!("{name} buildroot was broken{tail}"),
                    (_, "ok") => format!("{name} buildroot was fixed{tail}"),
                    _ => format!("{name} buildroot changed state to {new}{tail}"),
                })
            }
            "package.state.change" => {
                let name = msg.str_at(&["name"])?;
                let c = msg.str_at(&["collection"])?;
                Some(match (old, new) {
                    ("ignored", _) => format!("{name} added to Koschei in {c}{tail}"),
                    (_, "ok") => format!("{name}'s builds are back to normal in {c}{tail}"),
                    (_, "failing") => format!("{name}'s builds started to fail in {c}{tail}"),
                    (_, "ignored") => format!("{name} became retired or ignored in {c}{tail}"),
                    (_, "unresolved") => {
                        format!("{name}'s dependencies failed to resolve in {c}{tail}")
                    }
                    _ => format!("{name} changed state to {new} in {c}{tail}"),
                })
            }
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let base = if msg.is_fedmsg() {
            "https://apps.fedoraproject.org/koschei"
        } else {
            "https://koschei.fedoraproject.org"
        };
        let c = msg.str_at(&["collection"])?;
        match msg.subtopic() {
            "collection.state.change" => Some(format!("{base}/collection/{c}")),
            "package.state.change" => Some(format!(
                "{base}/package/{}?collection={c}",
                msg.str_at(&["name"])?
            )),
            _ => None,
        }
    }
}

// ---- taskotron ------------------------------------------------------------------------

impl Family for Taskotron {
    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.str_at(&["task", "type"]) == Some("koji_build") {
            out.extend(msg.str_at(&["task", "item"]).and_then(nvr_name));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "{} {} for {}",
            msg.str_at(&["task", "name"])?,
            msg.str_at(&["result", "outcome"])?,
            msg.str_at(&["task", "item"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["result", "log_url"]).map(str::to_owned)
    }
}

// ---- RATS, the test requests ----------------------------------------------------------

fn rats_pr(msg: &Message) -> Option<String> {
    let pr = msg.get(&["pull_request"])?;
    let project = pr.get("project")?;
    let full = project.get("fullname").and_then(Value::as_str)?;
    Some(format!("{full}/pull-request/{}", pr.get("id")?))
}

impl Family for Rats {
    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"])?;
        let kind = msg.subtopic().strip_prefix("test.")?;
        if kind == "taskotron" {
            return Some(format!(
                "{agent} requested a run of taskotron's {} on \"{}\"",
                msg.str_at(&["test"])?,
                msg.str_at(&["identifier"])?
            ));
        }
        if let Some(href) = msg.str_at(&["old_result", "href"]) {
            return Some(format!(
                "{agent} requested a run of {kind} on resultsdb's result id: \"{}\"",
                href.rsplit('/').next()?
            ));
        }
        Some(format!(
            "{agent} requested a run of {kind} on \"{}\"",
            rats_pr(msg)?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "test.simple-koji-ci" {
            return None;
        }
        Some(format!("https://src.fedoraproject.org/{}", rats_pr(msg)?))
    }
}

// ---- waiverdb -------------------------------------------------------------------------

impl Family for WaiverDb {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let waived = msg.get(&["waived"]).and_then(Value::as_bool) != Some(false);
        Some(format!(
            "{} {} result {} ({}): \"{}\"",
            msg.str_at(&["username"])?,
            if waived { "waived" } else { "unwaived" },
            msg.get(&["result_id"])?,
            msg.str_at(&["product_version"])?,
            msg.str_at(&["comment"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://waiverdb-web-waiverdb.app.os.fedoraproject.org/api/v1.0/waivers/{}",
            msg.get(&["id"])?
        ))
    }
}

// ---- mdapi ----------------------------------------------------------------------------

impl Family for Mdapi {
    fn packages(&self, msg: &Message, out: &mut Keys) {
        if let Some(p) = msg.get(&["packages"]).and_then(Value::as_array) {
            out.extend(p.iter().filter_map(Value::as_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let name = msg.str_at(&["name"])?;
        let what = if let Some(p) = msg.get(&["packages"]).and_then(Value::as_array) {
            let mut names: Vec<&str> = p.iter().filter_map(Value::as_str).collect();
            names.sort();
            match names.as_slice() {
                [] => "no packages".to_owned(),
                [a] => (*a).to_owned(),
                [a, b] => format!("{a} and {b}"),
                [a, b, rest @ ..] => format!("{a}, {b}, and {} others", rest.len()),
            }
        } else {
            let diffs = msg.get(&["differences"])?.as_object()?;
            let mut keys: Vec<&String> = diffs.keys().collect();
            keys.sort();
            let len =
                |d: &Value, side: &str| d.get(side).and_then(Value::as_array).map_or(0, Vec::len);
            keys.into_iter()
                .filter_map(|k| {
                    let d = &diffs[k.as_str()];
                    let (a, r) = (len(d, "added"), len(d, "removed"));
                    (a + r > 0).then(|| format!("{k}: +{a}/-{r}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(format!("mdapi noticed a {name} repomd change: {what}"))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://download.fedoraproject.org/pub/{}",
            msg.str_at(&["url"])?
        ))
    }
}

// ---- MBS, the module build service ----------------------------------------------------

impl Family for Mbs {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["owner"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "module.state.change" {
            return None;
        }
        Some(format!(
            "{}'s build of modules/{} entered the {} state.",
            msg.str_at(&["owner"])?,
            msg.str_at(&["name"])?,
            msg.str_at(&["state_name"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://mbs.fedoraproject.org{}",
            msg.str_at(&["state_url"])?
        ))
    }
}

// ---- kerneltest -----------------------------------------------------------------------

impl Family for KernelTest {
    /// Results come from testers' machines: the uploader is not what they are about.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "upload.new" {
            return None;
        }
        Some(format!(
            "{} uploaded new kernel test results for {}",
            msg.str_at(&["agent"])?,
            msg.str_at(&["test", "kernel_version"])?
        ))
    }
}
