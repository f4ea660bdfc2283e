//! Copr, the community build service: fedmsg.meta's `CoprsProcessor` (coprs.py) and
//! copr-messaging's classes, which also read the older STOMP messages (topics `build.start`,
//! `build.end`, `chroot.start`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, py_str_opt, truthy_at};

pub(super) struct Copr;

const ICON: &str = "https://apps.fedoraproject.org/img/icons/copr.png";

/// Which copr-messaging class reads the message.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// `copr.build.start`, `copr.chroot.start`.
    Started,
    Ended,
    /// The STOMP messages: their fields are named otherwise.
    StompStarted,
    StompEnded,
    /// `chroot.start` over STOMP, which says nothing but its chroot.
    StompChroot,
    Unknown,
}

fn class(msg: &Message) -> Class {
    match (msg.category(), msg.subtopic()) {
        ("copr", "build.start" | "chroot.start") => Class::Started,
        ("copr", "build.end") => Class::Ended,
        ("build", "start") => Class::StompStarted,
        ("build", "end") => Class::StompEnded,
        ("chroot", "start") => Class::StompChroot,
        _ => Class::Unknown,
    }
}

/// The body: copr-messaging reads a body that wraps the message in `msg` as the message.
fn body<'m>(msg: &'m Message) -> &'m Value {
    let b = msg.body();
    b.get("msg").unwrap_or(b)
}

impl Family for Copr {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            // fedmsg.meta's default, any one of the users: the submitter, when there is one.
            let b = msg.body();
            return [b.get("user"), b.get("owner")]
                .into_iter()
                .flatten()
                .find(|v| truthy_at(Some(v)))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        match class(msg) {
            Class::Started | Class::StompStarted => submitter(msg).map(str::to_owned),
            _ => None,
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        let b = if msg.is_fedmsg() {
            msg.body()
        } else {
            body(msg)
        };
        if msg.is_fedmsg() {
            out.insert_value(b.get("user"));
            out.insert_value(b.get("owner"));
            return;
        }
        if matches!(class(msg), Class::StompChroot | Class::Unknown) {
            return;
        }
        // A group (`@name`) owns a project but is nobody.
        let people = [submitter(msg), b.get("owner").and_then(Value::as_str)];
        out.extend(people.into_iter().flatten().filter(|u| !u.starts_with('@')));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_subtitle(msg);
        }
        let c = class(msg);
        if c == Class::StompChroot {
            return Some("Unspecified Copr message".to_owned());
        }
        let b = body(msg);
        let prefix = format!(
            "Copr Message in project \"{}/{}\": build {}",
            py_str(b.get("owner")?),
            py_str(b.get("copr")?),
            build_id(msg)?
        );
        let chroot = py_str(b.get("chroot")?);
        Some(match c {
            Class::Started | Class::StompStarted => {
                format!("{prefix}: chroot \"{chroot}\" started.")
            }
            Class::Ended | Class::StompEnded => {
                format!(
                    "{prefix}: chroot \"{chroot}\" ended as \"{}\".",
                    status(msg)?
                )
            }
            _ => return None,
        })
    }

    /// copr-messaging's classes define no `__str__`.
    fn default_str(&self, _msg: &Message) -> bool {
        true
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_long_form(msg).or_else(|| fedmsg_subtitle(msg));
        }
        None
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let b = msg.body();
        let user = match b.get("owner").or_else(|| b.get("user")) {
            Some(Value::String(u)) if u.starts_with('@') => u.replace('@', "g/"),
            other => py_str_opt(other),
        };
        let get = |k: &str| py_str_opt(b.get(k));
        let topic = msg.topic();
        Some(if topic.contains("chroot") {
            format!(
                "https://copr-be.cloud.fedoraproject.org/results/{user}/{}/{}/",
                get("copr"),
                get("chroot")
            )
        } else if topic.contains("build") {
            format!(
                "https://copr.fedoraproject.org/coprs/{user}/{}/build/{}/",
                get("copr"),
                get("build")
            )
        } else {
            "https://copr.fedoraproject.org".to_owned()
        })
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        msg.is_fedmsg().then(|| ICON.to_owned())
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("Copr".to_owned())
    }
}

// fedora-messaging era: copr-messaging.

/// Who submitted the build, when a Fedora account: Copr also names others (`github.com:NAME`).
fn submitter<'m>(msg: &'m Message) -> Option<&'m str> {
    let key = match class(msg) {
        Class::StompStarted | Class::StompEnded => "submitter",
        _ => "user",
    };
    body(msg)
        .get(key)
        .and_then(Value::as_str)
        .filter(|u| !u.contains(':'))
}

/// The build's number: as the message gives it, or read from the STOMP text as Python's int().
fn build_id(msg: &Message) -> Option<String> {
    let build = body(msg).get("build")?;
    match class(msg) {
        Class::StompStarted | Class::StompEnded => Some(py_int(build)?.to_string()),
        _ => Some(py_str(build)),
    }
}

/// Python's `int()` of a JSON value: an integer, a float cut short, or a decimal text.
fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// copr-common's StatusEnum: the name of a build state's number.
fn status_name(n: i64) -> Option<&'static str> {
    Some(match n {
        0 => "failed",
        1 => "succeeded",
        2 => "canceled",
        3 => "running",
        4 => "pending",
        5 => "skipped",
        6 => "starting",
        7 => "importing",
        8 => "forked",
        9 => "waiting",
        1000 => "unknown",
        _ => return None,
    })
}

fn status(msg: &Message) -> Option<&'static str> {
    let b = body(msg);
    let n = match class(msg) {
        Class::StompEnded => py_int(b.get("status_int")?)?,
        // The enum looks an integer up by value; any other value by name, which fails.
        _ => match b.get("status")? {
            Value::Bool(x) => i64::from(*x),
            v => v.as_i64()?,
        },
    };
    status_name(n)
}

// fedmsg era: fedmsg.meta's CoprsProcessor.

/// The old build states fedmsg.meta names; Python's dict lookup finds 1.0 as 1.
fn fedmsg_status(v: Option<&Value>) -> &'static str {
    let n = match v {
        Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
        Some(v) => v.as_f64(),
        None => None,
    };
    match n {
        Some(0.0) => "failed",
        Some(1.0) => "success",
        Some(3.0) => "running",
        Some(5.0) => "skipped",
        _ => "unknown",
    }
}

/// The package with its version, as older messages gave them apart.
fn fedmsg_pkg(b: &Value) -> Option<String> {
    let pkg = b.get("pkg");
    let version = b.get("version");
    if truthy_at(pkg) && truthy_at(version) {
        let (Some(p), Some(v)) = (pkg?.as_str(), version?.as_str()) else {
            return None;
        };
        if !p.contains(v) {
            return Some(format!("{p}-{v}"));
        }
    }
    Some(py_str_opt(pkg))
}

fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let b = msg.body();
    let user = b.get("user");
    let (u, copr, chroot) = (
        py_str_opt(user),
        py_str_opt(b.get("copr")),
        py_str_opt(b.get("chroot")),
    );
    let topic = msg.topic();
    Some(if topic.contains("copr.build.start") {
        if truthy_at(user) {
            format!("{u} started a new build of the {copr} copr")
        } else {
            format!("Automated build of the {copr} copr has been started")
        }
    } else if topic.contains("copr.build.end") {
        let (pkg, status) = (fedmsg_pkg(b)?, fedmsg_status(b.get("status")));
        if truthy_at(user) {
            format!("{u}'s {copr} copr build of {pkg} for {chroot} finished with '{status}'")
        } else {
            format!("Automated {copr} copr build of {pkg} for {chroot} finished with '{status}'")
        }
    } else if topic.contains("copr.chroot.start") {
        format!("{u}'s {copr} copr started a new {chroot} chroot")
    } else if topic.contains("copr.worker.create") {
        "a new worker was created".to_owned()
    } else {
        return None;
    })
}

/// A finished build's page: its package, project, state and log links.
fn fedmsg_long_form(msg: &Message) -> Option<String> {
    if !msg.topic().contains("copr.build.end") {
        return None;
    }
    let b = msg.body();
    let pkg = fedmsg_pkg(b)?;
    let version = b.get("version")?.as_str()?;
    let owner = b.get("owner").or_else(|| b.get("user"))?;
    let build = match b.get("build")? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))?,
        Value::Bool(x) => i64::from(*x),
        _ => return None,
    };
    let build = format!("{build:08}");
    let name = if !version.contains('-') {
        "?? WHO KNOWS ??".to_owned()
    } else {
        let parts: Vec<&str> = pkg.rsplitn(3, '-').collect();
        match parts.as_slice() {
            [_, _, name] => (*name).to_owned(),
            _ => return None,
        }
    };
    let (owner, copr, chroot) = (
        py_str(owner),
        py_str(b.get("copr")?),
        py_str(b.get("chroot")?),
    );
    let user = py_str(b.get("user")?);
    let status = fedmsg_status(b.get("status"));
    let results =
        format!("https://copr-be.cloud.fedoraproject.org/results/{owner}/{copr}/{chroot}");
    Some(format!(
        "Package:  {pkg}\nCOPR:     {owner}/{copr}\nBuilt by: {user}\nStatus:   {status}\nID:       {build}\n\nLogs:\n  Build:     {results}/{build}-{name}/build.log.gz\n  Root:      {results}/{build}-{name}/root.log.gz\n  Copr:      {results}/build-{build}.log\n  Mockchain: {results}/{build}-{name}/mockchain.log.gz\nResults:     {results}/{build}-{name}/\nRepodata:    {results}/repodata/\n"
    ))
}
