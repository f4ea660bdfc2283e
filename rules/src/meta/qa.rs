//! Quality gates and their tools: Koschei, Taskotron, RATS, WaiverDB, mdapi, MBS and the
//! kernel tests.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{join, py_at, py_len, py_str, truthy_at};

pub(super) struct Koschei;
pub(super) struct Taskotron;
pub(super) struct Rats;
pub(super) struct WaiverDb;
pub(super) struct Mdapi;
pub(super) struct Mbs;
pub(super) struct KernelTest;

const IMG: &str = "https://apps.fedoraproject.org/img/icons/";
const PACKAGE_ICON: &str =
    "https://apps.fedoraproject.org/packages/images/icons/package_128x128.png";

// ---- koschei --------------------------------------------------------------------------

/// `" (staging)"` and the like: Koschei names its Koji instance unless it is the primary one.
fn instance(msg: &Message) -> Option<String> {
    let k = msg.get(&["koji_instance"])?;
    Some(if k.as_str() == Some("primary") {
        String::new()
    } else {
        format!(" ({})", py_str(k))
    })
}

fn koschei_collection_summary(msg: &Message) -> Option<String> {
    let (old, new) = (msg.get(&["old"])?, msg.get(&["new"])?.as_str()?);
    let tail = instance(msg)?;
    let name = py_str(msg.get(&["collection_name"])?);
    Some(match new {
        "ok" if old.as_str() == Some("unknown") => format!("{name} added to Koschei{tail}"),
        "ok" => format!("{name} buildroot was fixed{tail}"),
        "unresolved" => format!("{name} buildroot was broken{tail}"),
        _ => return None,
    })
}

fn koschei_package_summary(msg: &Message) -> Option<String> {
    let (old, new) = (msg.get(&["old"])?, msg.get(&["new"])?.as_str()?);
    let what = match new {
        "ok" if old.as_str() == Some("ignored") => "{name} added to Koschei",
        "failing" => "{name}'s builds started to fail",
        "ok" => "{name}'s builds are back to normal",
        "ignored" => "{name} became retired or ignored",
        "unresolved" => "{name}'s dependencies failed to resolve",
        _ => return None,
    };
    let tail = instance(msg)?;
    let name = py_str(msg.get(&["name"])?);
    // fedmsg-era messages named the collection for people (or its repo, earlier).
    let collection = if msg.is_fedmsg() {
        match msg.get(&["collection_name"]) {
            Some(c) => py_str(c),
            None => py_at(msg, &["repo"]),
        }
    } else {
        py_str(msg.get(&["collection"])?)
    };
    Some(format!(
        "{} in {collection}{tail}",
        what.replace("{name}", &name)
    ))
}

impl Family for Koschei {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.subtopic() == "package.state.change" {
            out.extend(msg.get(&["name"]).map(py_str));
        }
    }

    fn groups(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() || msg.subtopic() != "package.state.change" {
            return;
        }
        if let Some(g) = msg.get(&["groups"]).and_then(Value::as_array) {
            out.extend(g.iter().map(py_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        match msg.subtopic() {
            "collection.state.change" => koschei_collection_summary(msg),
            "package.state.change" => koschei_package_summary(msg),
            _ => None,
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        self.summary(msg)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let c = || msg.get(&["collection"]).map(py_str);
        let name = || msg.get(&["name"]).map(py_str);
        if !msg.is_fedmsg() {
            let base = "https://koschei.fedoraproject.org";
            return match msg.subtopic() {
                "collection.state.change" => Some(format!("{base}/collection/{}", c()?)),
                "package.state.change" => {
                    Some(format!("{base}/package/{}?collection={}", name()?, c()?))
                }
                _ => None,
            };
        }
        let base = "https://apps.fedoraproject.org/koschei";
        match msg.subtopic() {
            "collection.state.change" => Some(format!("{base}/collection/{}", c()?)),
            "package.state.change" => {
                let mut url = format!("{base}/package/{}", name()?);
                if let Some(c) = msg.get(&["collection"]) {
                    url.push_str(&format!("?collection={}", c.as_str()?));
                }
                Some(url)
            }
            _ => None,
        }
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        Some(if msg.is_fedmsg() {
            "https://fedoraproject.org/w/uploads/e/e9/Koschei.png".to_owned()
        } else {
            format!("{IMG}koschei.png")
        })
    }
}

// ---- taskotron ------------------------------------------------------------------------

/// `task.get(key, '')` as Python prints it.
fn get_or_empty(msg: &Message, path: &[&str]) -> Option<String> {
    let (last, parent) = path.split_last()?;
    let obj = msg.get(parent)?.as_object()?;
    Some(obj.get(*last).map_or_else(String::new, py_str))
}

impl Family for Taskotron {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        // A bodhi update's packages need bodhi asked over the network: fmn cannot.
        if msg.str_at(&["task", "type"]) == Some("koji_build") {
            let item = msg.str_at(&["task", "item"]);
            out.extend(item.and_then(|nvr| nvr.rsplitn(3, '-').nth(2)));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.topic().ends_with("taskotron.result.new") {
            return None;
        }
        Some(format!(
            "{} {} for {}",
            get_or_empty(msg, &["task", "name"])?,
            get_or_empty(msg, &["result", "outcome"])?,
            get_or_empty(msg, &["task", "item"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.topic().ends_with("taskotron.result.new") {
            return None;
        }
        get_or_empty(msg, &["result", "log_url"]).filter(|l| !l.is_empty())
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(format!("{IMG}taskotron.png"))
    }
}

// ---- RATS, the test requests ----------------------------------------------------------

/// A pagure project as `ns/name`, or `fork/user/ns/name` for a fork.
fn pagure_project(p: &Value) -> Option<String> {
    let mut project = py_str(p.get("name")?);
    if let Some(ns) = p.get("namespace").filter(|ns| truthy_at(Some(ns))) {
        project = format!("{}/{project}", py_str(ns));
    }
    if truthy_at(Some(p.get("parent")?)) {
        let user = py_str(p.get("user")?.get("name")?);
        project = format!("fork/{user}/{project}");
    }
    Some(project)
}

/// A RATS request's sentence: on its identifier (`on`), or, without one, on a resultsdb
/// result (`what`).
fn rats_target(msg: &Message, on: &str, what: &str) -> Option<String> {
    let user = py_at(msg, &["agent"]);
    let target = msg.get(&["identifier"])?;
    let rdbid = py_str(msg.get(&["result_id"])?);
    Some(if truthy_at(Some(target)) {
        format!("{user} requested a run of {on} on \"{}\"", py_str(target))
    } else {
        format!("{user} requested a run of {what} on resultsdb's result id: \"{rdbid}\"")
    })
}

impl Family for Rats {
    fn summary(&self, msg: &Message) -> Option<String> {
        let topic = msg.topic();
        if topic.contains("test.simple-koji-ci") {
            let pr = msg.get(&["pull_request"])?;
            return Some(format!(
                "{} requested a run of simple-koji-ci on \"{}/pull-request/{}\"",
                py_at(msg, &["agent"]),
                pagure_project(pr.get("project")?)?,
                py_str(pr.get("id")?)
            ));
        }
        if topic.contains("test.taskotron") {
            let test = py_str(msg.get(&["test"])?);
            return rats_target(msg, &format!("taskotron's {test}"), "taskotron");
        }
        if topic.contains("test.atomic-ci") {
            msg.get(&["test"])?;
            return rats_target(msg, "atomic-ci", "atomic-ci");
        }
        None
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.topic().contains("test.simple-koji-ci") {
            return None;
        }
        // As pagure's processor links the pull request: the message's own project first.
        let pr = msg.get(&["pull_request"])?;
        let project = msg
            .get(&["project"])
            .and_then(pagure_project)
            .or_else(|| pagure_project(pr.get("project")?))
            .unwrap_or_else(|| "(unknown)".to_owned());
        Some(format!(
            "https://src.fedoraproject.org/{project}/pull-request/{}",
            py_str(pr.get("id")?)
        ))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(PACKAGE_ICON.to_owned())
    }
}

// ---- waiverdb -------------------------------------------------------------------------

impl Family for WaiverDb {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.get(&["username"]).map(py_str)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let at = |k: &str| msg.get(&[k]).map(py_str);
        // fedmsg.meta says "waived" whatever the message's `waived` says.
        Some(format!(
            "{} waived result {} ({}): \"{}\"",
            at("username")?,
            at("result_id")?,
            at("product_version")?,
            at("comment")?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://waiverdb-web-waiverdb.app.os.fedoraproject.org/api/v1.0/waivers/{}",
            py_str(msg.get(&["id"])?)
        ))
    }
}

// ---- mdapi ----------------------------------------------------------------------------

/// The package a line of mdapi's old `differences` names: its last field when the first
/// is a path, without a `(flags)` tail.
fn difference_package(details: &Value) -> Option<&str> {
    let details = details.as_array()?;
    let first = details.first()?.as_str()?;
    let name = if first.contains('/') {
        details.last()?.as_str()?
    } else {
        first
    };
    name.split('(').next()
}

fn mdapi_old_packages(diffs: &Value) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for actions in diffs.as_object()?.values() {
        for details in actions.as_object()?.values() {
            for d in details.as_array()? {
                out.push(difference_package(d)?);
            }
        }
    }
    Some(out)
}

/// `category: +added/-removed` for each category that changed, in order.
fn mdapi_old_summary(diffs: &Value) -> Option<String> {
    let mut parts = Vec::new();
    for (category, d) in diffs.as_object()? {
        let added = py_len(d.get("added")?)?;
        let removed = py_len(d.get("removed")?)?;
        if added + removed > 0 {
            parts.push(format!("{category}: +{added}/-{removed}"));
        }
    }
    Some(parts.join(", "))
}

/// fedmsg.meta's `list_to_series`: sorted and deduplicated, `a, b, and 2 others`.
fn list_to_series(items: &Value) -> Option<String> {
    let items = items.as_array()?;
    if items.is_empty() {
        return Some("(nothing)".to_owned());
    }
    let mut names: Vec<&str> = items.iter().map(Value::as_str).collect::<Option<_>>()?;
    names.sort_unstable();
    names.dedup();
    let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    if names.len() > 3 {
        let others = names.len() - 2;
        names.truncate(2);
        names.push(format!("{others} others"));
    }
    Some(crate::util::series(&names))
}

impl Family for Mdapi {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    /// The schema's class names no packages; fedmsg.meta names those that changed.
    fn packages(&self, msg: &Message, out: &mut Keys) {
        if !msg.is_fedmsg() {
            return;
        }
        match msg.get(&["differences"]) {
            Some(diffs) => out.extend(mdapi_old_packages(diffs).unwrap_or_default()),
            None => {
                if let Some(p) = msg.get(&["packages"]).and_then(Value::as_array) {
                    out.extend(p.iter().filter_map(Value::as_str));
                }
            }
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return Some(format!(
                "MDAPI updated repo {} with new details for {} packages",
                py_str(msg.get(&["name"])?),
                py_len(msg.get(&["packages"])?)?
            ));
        }
        if !msg.topic().contains("mdapi.repo.update") {
            return None;
        }
        let repo = py_str(msg.get(&["name"])?);
        let what = match msg.get(&["differences"]) {
            Some(diffs) => mdapi_old_summary(diffs)?,
            None => list_to_series(msg.get(&["packages"])?)?,
        };
        Some(format!("mdapi noticed a {repo} repomd change: {what}"))
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "MDAPI updated repo {} with new details for the packages: {}",
            py_str(msg.get(&["name"])?),
            join(msg.get(&["packages"])?, ", ")?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let url = msg.str_at(&["url"])?;
        Some(if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("https://download.fedoraproject.org/pub/{url}")
        })
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        Some(if msg.is_fedmsg() {
            PACKAGE_ICON.to_owned()
        } else {
            format!("{IMG}mdapi.png")
        })
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("mdapi".to_owned())
    }
}

// ---- MBS, the module build service ----------------------------------------------------

impl Family for Mbs {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.get(&["owner"]).map(py_str)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["owner"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let at = |k: &str| msg.get(&[k]).map(py_str);
        Some(format!(
            "{}'s build of modules/{} entered the {} state.",
            at("owner")?,
            at("name")?,
            at("state_name")?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://mbs.fedoraproject.org/module-build-service/1/module-builds/{}",
            py_str(msg.get(&["id"])?)
        ))
    }
}

// ---- kerneltest -----------------------------------------------------------------------

fn kerneltest_fedmsg_summary(msg: &Message) -> Option<String> {
    let user = py_str(msg.get(&["agent"])?);
    if let Some(test) = msg.get(&["test"]) {
        return Some(format!(
            "{user} ran a test of {} ({})",
            py_str(test.get("kernel_version")?),
            py_str(test.get("result")?)
        ));
    }
    let release = || -> Option<(String, String)> {
        let r = msg.get(&["release"])?;
        Some((py_str(r.get("releasenum")?), py_str(r.get("support")?)))
    };
    let topic = msg.topic();
    if topic.contains("release.edit") {
        let (num, support) = release()?;
        Some(format!(
            "{user} edited the {num}-{support} release for kerneltest"
        ))
    } else if topic.contains("release.new") {
        let (num, support) = release()?;
        Some(format!(
            "{user} added a new release for kerneltest: {num} {support}"
        ))
    } else {
        None
    }
}

fn kerneltest_schema_summary(msg: &Message) -> Option<String> {
    let agent = py_at(msg, &["agent"]);
    let release = |k: &str| msg.get(&["release", k]).map(py_str);
    Some(match msg.subtopic() {
        "upload.new" => format!(
            "{agent} uploaded new kernel test results for {}",
            py_str(msg.get(&["test", "kernel_version"])?)
        ),
        "release.new" => format!(
            "{agent} created a new release {} with status {}",
            release("releasenum")?,
            release("support")?
        ),
        "release.edit" => format!(
            "{agent} edited release {} with status {}",
            release("releasenum")?,
            release("support")?
        ),
        _ => return None,
    })
}

impl Family for KernelTest {
    /// fedmsg.meta named the tester (the message's `agent`); kerneltest-messages names nobody.
    fn agent_involved(&self, msg: &Message) -> bool {
        msg.is_fedmsg()
    }

    /// Every kernel test is about the kernel (fedmsg.meta); kerneltest-messages names no
    /// package.
    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.insert("kernel");
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            kerneltest_fedmsg_summary(msg)
        } else {
            kerneltest_schema_summary(msg)
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        self.summary(msg)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let base = "https://apps.fedoraproject.org/kerneltest";
        Some(match msg.get(&["test"]) {
            Some(test) => format!("{base}/kernel/{}", test.get("kernel_version")?.as_str()?),
            None => format!("{base}/stats"),
        })
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        Some(if msg.is_fedmsg() {
            format!("{IMG}tux.png")
        } else {
            format!("{IMG}kerneltest.png")
        })
    }
}
