//! openQA, the automated installation and update tests (`openqa`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct OpenQa;

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn server(msg: &Message) -> &'static str {
    if msg.topic().contains(".stg.") {
        "https://openqa.stg.fedoraproject.org"
    } else {
        "https://openqa.fedoraproject.org"
    }
}

/// `(test T on MACHINE for iso|disk IMAGE)`, from what the job says of itself.
fn job_description(msg: &Message) -> Option<String> {
    let test = msg.str_at(&["TEST"])?;
    let machine = msg.str_at(&["MACHINE"])?;
    let image = match (msg.str_at(&["ISO"]), msg.str_at(&["HDD_1"])) {
        (Some(iso), _) => format!("iso {iso}"),
        (None, Some(disk)) => format!("disk {disk}"),
        (None, None) => return Some(format!(" (test {test} on {machine})")),
    };
    Some(format!(" (test {test} on {machine} for {image})"))
}

impl Family for OpenQa {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(msg.get(&["user"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if let Some(action) = sub.strip_prefix("comment.") {
            let verb = match action {
                "create" => "created",
                "update" => "updated",
                "delete" => "deleted",
                _ => return None,
            };
            let on = match (text(msg.get(&["job_id"])), text(msg.get(&["group_id"]))) {
                (Some(j), _) => format!("job {j}"),
                (None, Some(g)) => format!("group {g}"),
                (None, None) => return None,
            };
            let t = msg.str_at(&["text"])?;
            let t = if t.chars().count() > 30 {
                format!("{}...", t.chars().take(30).collect::<String>())
            } else {
                t.to_owned()
            };
            return Some(format!(
                "{} {verb} comment #{} on openQA {on}, text: {t}",
                msg.str_at(&["user"])?,
                text(msg.get(&["id"]))?
            ));
        }
        let staging = if msg.topic().contains(".stg.") {
            "staging "
        } else {
            ""
        };
        let id = text(msg.get(&["id"]))?;
        let desc = job_description(msg).unwrap_or_default();
        let build = msg.str_at(&["BUILD"]).or_else(|| msg.str_at(&["build"]))?;
        let result = text(msg.get(&["result"]));
        Some(match sub {
            "job.create" => format!("{staging}job {id}{desc} created for {build}"),
            "job.duplicate" => format!(
                "{staging}job {id}{desc} {} duplicated as {} for {build}",
                if msg.str_at(&["auto"]) == Some("1") {
                    "automatically"
                } else {
                    "manually"
                },
                result?
            ),
            "job.restart" => format!(
                "{staging}job {id}{desc} restarted as {} for {build}",
                result?
            ),
            "job.cancel" => format!("{staging}job {id}{desc} cancelled for {build}"),
            "job.done" => {
                let with = result
                    .map(|r| format!(" with result {r}"))
                    .unwrap_or_default();
                format!(
                    "{staging}job {id}{desc} completed{with} for {build}, {} remaining jobs",
                    text(msg.get(&["remaining"]))?
                )
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let base = server(msg);
        if msg.subtopic().starts_with("comment.") {
            return match (text(msg.get(&["job_id"])), text(msg.get(&["group_id"]))) {
                (Some(j), _) => Some(format!("{base}/tests/{j}#comments")),
                (None, Some(g)) => Some(format!("{base}/group_overview/{g}")),
                (None, None) => None,
            };
        }
        Some(format!("{base}/tests/{}", text(msg.get(&["id"]))?))
    }
}
