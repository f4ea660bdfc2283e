//! openQA, the automated installation and update tests (`openqa`), as fedmsg.meta's
//! `openqa.py` described its messages (no schema package describes the later ones).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_scalar_str as py_str, truthy_at as py_truthy};

pub(super) struct OpenQa;

const ICON: &str = "https://apps.fedoraproject.org/img/icons/openqa.png";

/// Whether a topic is about a job or a comment (`_msg_type`).
#[derive(PartialEq)]
enum Kind {
    Job,
    Comment,
}

fn kind(msg: &Message) -> Option<Kind> {
    let topic = msg.topic();
    if topic.contains(".job.") {
        Some(Kind::Job)
    } else if topic.contains(".comment.") {
        Some(Kind::Comment)
    } else {
        None
    }
}

fn staging(msg: &Message) -> bool {
    msg.topic().contains(".stg")
}

/// `msg.get(key, default)` rendered.
fn get_or(msg: &Message, key: &str, default: &str) -> Option<String> {
    msg.get(&[key]).map_or(Some(default.to_owned()), py_str)
}

/// The comment's user, when it is one (`if user:`).
fn user<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["user"]).filter(|u| py_truthy(Some(u)))
}

/// `(test T on MACHINE for iso I) `, when the job says its test.
fn test_part(msg: &Message) -> Option<String> {
    let test = msg.get(&["TEST"]).filter(|t| py_truthy(Some(t)));
    let Some(test) = test else {
        return Some(String::new());
    };
    let machine = get_or(msg, "MACHINE", "None")?;
    let on = if let Some(iso) = msg.get(&["ISO"]).filter(|v| py_truthy(Some(v))) {
        format!(" for iso {}) ", py_str(iso)?)
    } else if let Some(hdd) = msg.get(&["HDD_1"]).filter(|v| py_truthy(Some(v))) {
        format!(" for disk {}) ", py_str(hdd)?)
    } else {
        ") ".into()
    };
    Some(format!("(test {} on {machine}{on}", py_str(test)?))
}

fn job_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let build = match msg.get(&["BUILD"]) {
        Some(b) => py_str(b)?,
        None => get_or(msg, "build", "")?,
    };
    let result = msg.get(&["result"]);
    let mut out = String::new();
    if staging(msg) {
        out.push_str("staging ");
    }
    out.push_str(&format!("job {} ", get_or(msg, "id", "")?));
    out.push_str(&test_part(msg)?);
    let result_text = || get_or(msg, "result", "None");
    if topic.ends_with("job.duplicate") {
        let auto = match get_or(msg, "auto", "")?.as_str() {
            "0" => "manually ".to_owned(),
            "1" => "automatically ".to_owned(),
            other => other.to_owned(),
        };
        out.push_str(&format!(
            "{auto}duplicated as {} for {build}",
            result_text()?
        ));
    } else if topic.ends_with("job.restart") {
        out.push_str(&format!("restarted as {} for {build}", result_text()?));
    } else if topic.ends_with("job.done") {
        out.push_str("completed ");
        if py_truthy(result) {
            out.push_str(&format!("with result {} ", result_text()?));
        }
        out.push_str(&format!(
            "for {build}, {} remaining jobs",
            get_or(msg, "remaining", "")?
        ));
    } else if topic.ends_with("job.create") {
        out.push_str(&format!("created for {build}"));
    } else {
        return None;
    }
    Some(out)
}

fn comment_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let text = match msg.get(&["text"]) {
        None => "",
        Some(t) => t.as_str()?,
    };
    let extract = if text.chars().count() > 30 {
        format!("{}...", text.chars().take(30).collect::<String>())
    } else {
        text.to_owned()
    };
    let action = if topic.ends_with("comment.create") {
        "created"
    } else if topic.ends_with("comment.update") {
        "updated"
    } else if topic.ends_with("comment.delete") {
        "deleted"
    } else {
        "did something to"
    };
    let mut out = format!(
        "{} {action} comment #{} on openQA",
        get_or(msg, "user", "someone")?,
        get_or(msg, "id", "None")?
    );
    let (job, group) = (msg.get(&["job_id"]), msg.get(&["group_id"]));
    if py_truthy(job) {
        out.push_str(&format!(" job {}", py_str(job?)?));
    } else if py_truthy(group) {
        out.push_str(&format!(" group {}", py_str(group?)?));
    }
    if !extract.is_empty() {
        out.push_str(&format!(", text: {extract}"));
    }
    Some(out)
}

impl Family for OpenQa {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(user(msg));
    }

    /// fedmsg.meta took its one username (the comment's author) as the agent.
    fn agent(&self, msg: &Message) -> Option<String> {
        user(msg)?.as_str().map(str::to_owned)
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        match kind(msg)? {
            Kind::Job => job_subtitle(msg),
            Kind::Comment => comment_subtitle(msg),
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let base = if staging(msg) {
            "https://openqa.stg.fedoraproject.org"
        } else {
            "https://openqa.fedoraproject.org"
        };
        if kind(msg)? == Kind::Job {
            return Some(format!("{base}/tests/{}", get_or(msg, "id", "None")?));
        }
        let (job, group) = (msg.get(&["job_id"]), msg.get(&["group_id"]));
        Some(if py_truthy(job) {
            format!("{base}/tests/{}#comments", py_str(job?)?)
        } else if py_truthy(group) {
            format!("{base}/group_overview/{}", py_str(group?)?)
        } else {
            base.to_owned()
        })
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(ICON.to_owned())
    }
}
