//! Koji, the build system (`buildsys`), in both bus eras: fedmsg.meta's `KojiProcessor`
//! (buildsys.py) and koji-fedoramessaging-messages' classes.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{iso_date_text, list_to_series, percent_i, py_str, py_str_opt, truthy_at};

pub(super) struct Koji;

const ICON: &str = "https://apps.fedoraproject.org/img/icons/koji.png";

/// What a message is, from its topic as fedmsg.meta tests it (substrings, in this order).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tag,
    Untag,
    RepoInit,
    RepoDone,
    ListChange,
    Sign,
    Build,
    Task,
    Other,
}

fn kind(msg: &Message) -> Kind {
    let t = msg.topic();
    [
        ("buildsys.tag", Kind::Tag),
        ("buildsys.untag", Kind::Untag),
        ("buildsys.repo.init", Kind::RepoInit),
        ("buildsys.repo.done", Kind::RepoDone),
        ("buildsys.package.list.change", Kind::ListChange),
        ("buildsys.rpm.sign", Kind::Sign),
        ("buildsys.build.state.change", Kind::Build),
        ("buildsys.task.state.change", Kind::Task),
    ]
    .into_iter()
    .find(|(s, _)| t.contains(s))
    .map_or(Kind::Other, |(_, k)| k)
}

/// A field as Python's `str.format(**msg)` prints it; a missing one fails the template.
fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key).map(py_str)
}

/// A string field, as the schemas' `body.get(key)` gives it when it names someone.
fn name_at<'m>(msg: &'m Message, path: &[&str]) -> Option<&'m str> {
    msg.str_at(path)
}

impl Family for Koji {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // fedmsg.meta's default: a user the message names (any one of the set, so for a
            // tag, the tagger rather than the build's owner).
            let users = fedmsg_usernames(msg)?;
            if matches!(kind(msg), Kind::Tag | Kind::Untag) {
                return msg.str_at(&["user"]).map(str::to_owned);
            }
            return users.into_iter().next();
        }
        schema_agent(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(fedmsg_usernames(msg).unwrap_or_default());
            return;
        }
        match kind(msg) {
            Kind::Tag | Kind::Untag => {
                out.extend(name_at(msg, &["user"]));
                out.extend(name_at(msg, &["owner"]));
            }
            Kind::Build => out.extend(name_at(msg, &["owner"])),
            // The base class: the agent, when there is one.
            _ => out.extend(schema_agent(msg).filter(|a| !a.is_empty())),
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            let path: &[&str] = match kind(msg) {
                Kind::Tag | Kind::Untag | Kind::Build => &["name"],
                Kind::ListChange => &["package"],
                Kind::Sign if msg.get(&["info"]).is_some() => &["info", "name"],
                Kind::Sign => &["rpm", "name"],
                _ => return,
            };
            out.insert_value(msg.get(path));
            return;
        }
        let path: &[&str] = match kind(msg) {
            Kind::Tag | Kind::Untag | Kind::Build => &["name"],
            Kind::ListChange => &["package"],
            Kind::Sign => &["build", "name"],
            _ => return,
        };
        out.insert_value(msg.get(path));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_subtitle(msg)
        } else {
            schema_summary(msg)
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // The long form asks koji's hub, which the definition cannot reach: the subtitle.
            return fedmsg_subtitle(msg);
        }
        match kind(msg) {
            Kind::Build => build_text(msg),
            Kind::Task => task_text(msg.get(&["info"])?, &py_str(msg.get(&["files_base_url"])?)),
            _ => schema_summary(msg),
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_link(msg);
        }
        match kind(msg) {
            Kind::Build => msg.str_at(&["url"]).map(str::to_owned),
            Kind::Task => msg.str_at(&["info", "url"]).map(str::to_owned),
            _ => None,
        }
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| ICON.to_owned())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| "Koji".to_owned())
    }
}

// fedora-messaging era: koji-fedoramessaging-messages.

fn build_state(n: &Value) -> Option<&'static str> {
    Some(match n.as_i64()? {
        0 => "BUILDING",
        1 => "COMPLETE",
        2 => "DELETED",
        3 => "FAILED",
        4 => "CANCELED",
        _ => return None,
    })
}

/// Who acted: the build's owner while it is being built or cancelled (or when it has no
/// previous state), the tagger, the signed build's owner, a task's or package list's owner.
fn schema_agent<'m>(msg: &'m Message) -> Option<&'m str> {
    match kind(msg) {
        Kind::Build => {
            let old = msg.get(&["old"])?;
            let done = matches!(msg.get(&["new"]).and_then(Value::as_i64), Some(1..=3));
            (old.is_null() || !done)
                .then(|| name_at(msg, &["owner"]))
                .flatten()
        }
        Kind::Tag | Kind::Untag => name_at(msg, &["user"]),
        Kind::Sign => name_at(msg, &["build", "owner_name"]),
        Kind::ListChange | Kind::Task => name_at(msg, &["owner"]),
        _ => None,
    }
}

fn schema_summary(msg: &Message) -> Option<String> {
    let b = msg.body();
    let get = |k: &str| py_str_opt(b.get(k));
    Some(match kind(msg) {
        Kind::Build => format!(
            "Build {}: {}'s {}-{}-{}",
            build_state(b.get("new")?)?,
            field(b, "owner")?,
            field(b, "name")?,
            field(b, "version")?,
            field(b, "release")?
        ),
        Kind::ListChange => format!(
            "Package list change for {}:  {}",
            get("package"),
            get("tag")
        ),
        Kind::Sign => {
            let rpm = b.get("rpm")?.as_object()?;
            let r = |k: &str| py_str_opt(rpm.get(k));
            format!(
                "rpm {}-{}-{} was signed",
                r("name"),
                r("version"),
                r("release")
            )
        }
        Kind::Tag | Kind::Untag => format!(
            "{}-{}-{} was {} {} by {}",
            get("name"),
            get("version"),
            get("release"),
            if kind(msg) == Kind::Tag {
                "tagged into"
            } else {
                "untagged from"
            },
            get("tag"),
            get("user")
        ),
        Kind::Task => {
            let or_empty = |v: Option<&Value>| {
                if truthy_at(v) {
                    py_str_opt(v)
                } else {
                    String::new()
                }
            };
            let arch = b.get("info")?.as_object()?.get("arch");
            format!(
                "Task {} -- {} ({} {})",
                field(b, "new")?,
                or_empty(Some(b.get("method")?)),
                or_empty(Some(b.get("srpm")?)),
                or_empty(Some(arch?))
            )
        }
        // The base class's summary: the topic.
        _ => msg.topic().to_owned(),
    })
}

/// The build's page of text: its NVR, state, owner, times and closed tasks.
fn build_text(msg: &Message) -> Option<String> {
    let b = msg.body();
    let date = |k: &str| match b.get(k)? {
        Value::String(s) => iso_date_text(s),
        // Python's fromisoformat refuses a non-string with TypeError, which reads as "".
        _ => Some(String::new()),
    };
    let started = date("creation_time")?;
    let finished = Some(date("completion_time")?)
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "(still running)".to_owned());
    let status = build_state(b.get("new")?)?.to_ascii_lowercase();
    let mut out = format!(
        "Package:    {}-{}-{}\nStatus:     {status}\nBuilt by:   {}\nID:         {}\nStarted:    {started}\nFinished:   {finished}\n\n",
        field(b, "name")?,
        field(b, "version")?,
        field(b, "release")?,
        field(b, "owner")?,
        field(b, "build_id")?,
    );
    match b.get("task")? {
        Value::Null => out.push_str("Build imported into koji\n"),
        task => {
            out.push_str("Closed tasks:\n-------------\n");
            out.push_str(&task_text(task, &py_str(b.get("files_base_url")?))?);
        }
    }
    Some(out)
}

/// A task's header, its result files and, by completion, its sub-tasks.
fn task_text(task: &Value, files: &str) -> Option<String> {
    let host = task.get("host_name")?;
    let host = if truthy_at(Some(host)) {
        py_str(host)
    } else {
        "(unscheduled)".to_owned()
    };
    let mut out = format!(
        "Task {} on {host}\nTask Type: {} ({})\nLink: {}\n",
        field(task, "id")?,
        field(task, "method")?,
        field(task, "arch")?,
        field(task, "url")?
    );
    let result = task.get("result")?;
    if let Value::String(text) = result {
        // Python tests `kind in result` on the text, and fails indexing it where it is found.
        if ["logs", "rpms", "srpm"].iter().any(|k| text.contains(k)) {
            return None;
        }
    } else if truthy_at(Some(result)) {
        let result = result.as_object()?;
        for kind in ["logs", "rpms", "srpms"] {
            let Some(items) = result.get(kind).filter(|v| truthy_at(Some(v))) else {
                continue;
            };
            out.push_str(&format!("{kind}:\n"));
            for item in items.as_array()? {
                out.push_str(&format!("  {files}/{}\n", py_str(item)));
            }
        }
        if let Some(srpm) = result.get("srpm") {
            out.push_str(&format!("srpm:\n  {files}/{}\n", py_str(srpm)));
        }
    }
    let children = task.get("children")?;
    if truthy_at(Some(children)) {
        out.push_str(&format!(
            "\nTask {} has the following sub-tasks:\n",
            field(task, "id")?
        ));
    }
    let mut children: Vec<&Value> = children.as_array()?.iter().collect();
    // Python sorts by completion time, a missing or null one first; the sort is stable.
    let when = |c: &Value| {
        c.get("completion_time")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    children.sort_by(|a, b| when(a).total_cmp(&when(b)));
    for child in children {
        out.push('\n');
        out.push_str(&task_text(child, files)?);
    }
    Some(out)
}

// fedmsg era: fedmsg.meta's KojiProcessor.

fn fedmsg_usernames(msg: &Message) -> Option<Vec<String>> {
    let b = msg.body();
    let mut out = Vec::new();
    let mut add = |v: &Value| {
        if let Value::String(s) = v
            && !out.contains(s)
        {
            out.push(s.clone());
        }
    };
    match kind(msg) {
        Kind::Tag | Kind::Untag => {
            add(b.get("owner")?);
            add(b.get("user")?);
        }
        Kind::Build | Kind::Task => {
            let owner = b.get("owner")?;
            if truthy_at(Some(owner)) {
                add(owner);
            }
        }
        _ => {}
    }
    Some(out)
}

/// ` (s390)` for a secondary instance.
fn on_instance(msg: &Message) -> String {
    match msg.get(&["instance"]) {
        None => String::new(),
        Some(Value::String(s)) if s == "primary" => String::new(),
        Some(other) => format!(" ({})", py_str(other)),
    }
}

fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let b = msg.body();
    let inst = on_instance(msg);
    match kind(msg) {
        k @ (Kind::Tag | Kind::Untag | Kind::RepoInit | Kind::RepoDone | Kind::ListChange) => {
            tag_subtitle(b, k, &inst)
        }
        Kind::Sign => sign_subtitle(b),
        Kind::Build => build_subtitle(b, &inst),
        Kind::Task => task_subtitle(b, &inst),
        Kind::Other => None,
    }
}

/// `NAME-VERSION-RELEASE` of a build.
fn nvr(b: &Value) -> Option<String> {
    Some(format!(
        "{}-{}-{}",
        field(b, "name")?,
        field(b, "version")?,
        field(b, "release")?
    ))
}

/// Builds tagged and untagged, repos initialised and done, package lists changed.
fn tag_subtitle(b: &Value, kind: Kind, inst: &str) -> Option<String> {
    let f = |k: &str| field(b, k);
    Some(match kind {
        Kind::Tag | Kind::Untag => format!(
            "{}'s {} {} {} by {}{inst}",
            f("owner")?,
            nvr(b)?,
            if kind == Kind::Tag {
                "tagged into"
            } else {
                "untagged from"
            },
            f("tag")?,
            f("user")?
        ),
        Kind::RepoInit | Kind::RepoDone => format!(
            "Repo {}:  {}{inst}",
            if kind == Kind::RepoInit {
                "initialized"
            } else {
                "done"
            },
            b.get("tag").map_or_else(|| "unknown".to_owned(), py_str)
        ),
        Kind::ListChange => format!(
            "Package list change for {}:  '{}'{inst}",
            f("package")?,
            f("tag")?
        ),
        _ => return None,
    })
}

/// An RPM signed.
fn sign_subtitle(b: &Value) -> Option<String> {
    let (info, sigkey) = match b.get("info") {
        Some(info) => (info, info.get("sigkey")?),
        None => (b.get("rpm")?, b.get("sigkey")?),
    };
    Some(format!(
        "Koji build {}-{}-{}.{}.rpm signed with sigkey '{}'",
        field(info, "name")?,
        field(info, "version")?,
        field(info, "release")?,
        field(info, "arch")?,
        py_str(sigkey)
    ))
}

/// A build's state changed.
fn build_subtitle(b: &Value, inst: &str) -> Option<String> {
    const DONE: [&str; 5] = [
        "started building",
        "completed",
        "was deleted",
        "failed to build",
        "was cancelled",
    ];
    let new = match b.get("new")? {
        Value::Bool(x) => i64::from(*x),
        n => n.as_i64()?,
    };
    // Python indexes its list of templates, from the end for a negative state.
    let idx = usize::try_from(if new < 0 { new + 5 } else { new }).ok()?;
    let what = DONE.get(idx)?;
    Some(format!("{}{} {what}{inst}", owner_prefix(b)?, nvr(b)?))
}

/// A scratch build's task changed state.
fn task_subtitle(b: &Value, inst: &str) -> Option<String> {
    let what = match b.get("new")? {
        Value::String(s) if s == "OPEN" => "started",
        Value::String(s) if s == "FAILED" => "failed",
        Value::String(s) if s == "CLOSED" => "completed",
        Value::String(s) if s == "CANCELED" => "was cancelled",
        _ => "changed",
    };
    Some(format!(
        "{}scratch build of {}{} {what}{inst}",
        owner_prefix(b)?,
        field(b, "srpm")?,
        task_target(b)?
    ))
}

/// `OWNER's `, or nothing when the message names no owner.
fn owner_prefix(b: &Value) -> Option<String> {
    let owner = b.get("owner")?;
    Some(if truthy_at(Some(owner)) {
        format!("{}'s ", py_str(owner))
    } else {
        String::new()
    })
}

/// ` for TARGET`: the build targets among a scratch build's request arguments.
fn task_target(b: &Value) -> Option<String> {
    let request = b.get("info").and_then(|i| i.get("request"));
    if !truthy_at(request) {
        return Some(String::new());
    }
    let mut targets = Vec::new();
    for item in request?.as_array()? {
        match item {
            Value::Array(_) | Value::Object(_) => {}
            Value::String(s) if s.ends_with(".rpm") => {}
            Value::String(s) => targets.push(s.clone()),
            // Python calls `endswith` on it, and fails.
            _ => return None,
        }
    }
    Some(if targets.is_empty() {
        String::new()
    } else {
        format!(" for {}", list_to_series(&targets, 3))
    })
}

fn fedmsg_link(msg: &Message) -> Option<String> {
    let b = msg.body();
    let mut base = match b.get("instance").map(|v| v.as_str()) {
        None | Some(Some("primary")) => "http://koji.fedoraproject.org/koji",
        Some(Some("ppc")) => "http://ppc.koji.fedoraproject.org/koji",
        Some(Some("s390")) => "http://s390.koji.fedoraproject.org/koji",
        Some(Some("arm")) => "http://arm.koji.fedoraproject.org/koji",
        _ => return None,
    };
    if msg.topic().contains(".stg.") {
        base = "http://koji.stg.fedoraproject.org/koji";
    }
    let has_tag = b.get("tag_id").is_some();
    Some(match kind(msg) {
        Kind::Tag | Kind::Untag | Kind::RepoInit | Kind::RepoDone if has_tag => {
            format!("{base}/taginfo?tagID={}", percent_i(b.get("tag_id"))?)
        }
        Kind::Build => format!("{base}/buildinfo?buildID={}", percent_i(b.get("build_id"))?),
        Kind::Task => format!("{base}/taskinfo?taskID={}", percent_i(b.get("id"))?),
        Kind::ListChange => return None,
        Kind::Sign => {
            let info = b.get("info").or_else(|| b.get("rpm"))?;
            format!(
                "{base}/buildinfo?buildID={}",
                percent_i(info.get("build_id"))?
            )
        }
        _ => base.to_owned(),
    })
}
