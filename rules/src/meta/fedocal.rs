//! Fedocal, the Fedora calendar (`fedocal`), in both bus eras.

use super::Family;
use super::py;
use fmn_rules_sdk::{Keys, Message};

pub(super) struct Fedocal;

const FEDOCAL: &str = "https://apps.fedoraproject.org/calendar";

/// A field as the definitions format it: Python's `str()`, `None` when missing.
fn field(msg: &Message, path: &[&str]) -> String {
    py::py_str_opt(msg.get(path))
}

impl Family for Fedocal {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(msg.get(&["agent"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_summary(msg);
        }
        if msg.subtopic() == "meeting.reminder" {
            return Some(format!(
                "Remember about the meeting '{}' from the '{}' calendar",
                py::py_str(msg.get(&["meeting", "meeting_name"])?),
                py::py_str(msg.get(&["calendar", "calendar_name"])?)
            ));
        }
        schema_text(msg)
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        // A reminder's text says how long until the meeting, which needs the clock.
        if msg.is_fedmsg() || msg.subtopic() == "meeting.reminder" {
            return None;
        }
        schema_text(msg)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        // The schemas give no link.
        if !msg.is_fedmsg() {
            return None;
        }
        let meeting = msg.get(&["meeting"]);
        if let Some(id) = meeting.and_then(|m| m.get("meeting_id")) {
            let id = id
                .as_i64()
                .or_else(|| id.as_f64().map(|f| f.trunc() as i64))?;
            return Some(format!("{FEDOCAL}/meeting/{id}/"));
        }
        Some(format!(
            "{FEDOCAL}/{}/",
            msg.str_at(&["calendar", "calendar_name"])?
        ))
    }
}

/// The schemas' `str()`, which their summaries repeat.
fn schema_text(msg: &Message) -> Option<String> {
    let agent = py::py_str(msg.get(&["agent"])?);
    let cal = py::py_str(msg.get(&["calendar", "calendar_name"])?);
    let meeting = || msg.get(&["meeting", "meeting_name"]).map(py::py_str);
    Some(match msg.subtopic() {
        "calendar.clear" => format!("{agent} has cleared the calendar {cal}"),
        "calendar.new" => format!("{agent} has created a new calendar {cal}"),
        "calendar.update" => format!("{agent} has updated a calendar {cal}"),
        "calendar.upload" => format!("{agent} has uploaded meetings in the calendar {cal}"),
        "calendar.delete" => format!("{agent} has deleted the calendar {cal}"),
        "meeting.new" => format!(
            "{agent} has created a new meeting {} in calendar {cal}",
            meeting()?
        ),
        "meeting.update" => format!(
            "{agent} has updated meeting {} in calendar {cal}",
            meeting()?
        ),
        "meeting.delete" => format!(
            "{agent} has deleted the meeting {} from the calendar {cal}",
            meeting()?
        ),
        _ => return None,
    })
}

/// fedmsg.meta's subtitle: a missing part reads `None`. A reminder's says how long until the
/// meeting, which needs the clock.
fn fedmsg_summary(msg: &Message) -> Option<String> {
    let user = field(msg, &["agent"]);
    let cal = field(msg, &["calendar", "calendar_name"]);
    let meeting = field(msg, &["meeting", "meeting_name"]);
    if msg.get(&["meeting"]).is_some_and(|m| !m.is_object()) {
        return None;
    }
    Some(match msg.subtopic() {
        "meeting.update" => {
            format!("{user} updated the \"{meeting}\" meeting from the \"{cal}\" calendar")
        }
        "meeting.delete" => {
            format!("{user} deleted the \"{meeting}\" meeting from the \"{cal}\" calendar")
        }
        "meeting.new" => {
            format!("{user} created a \"{meeting}\" meeting in the \"{cal}\" calendar")
        }
        "calendar.new" => format!("{user} created a whole new \"{cal}\" calendar"),
        "calendar.update" => format!("{user} updated the \"{cal}\" calendar"),
        "calendar.delete" => format!("{user} deleted the \"{cal}\" calendar"),
        "calendar.clear" => format!("{user} cleared the \"{cal}\" calendar of all its meetings"),
        "calendar.upload" => {
            format!("{user} uploaded an iCalendar file into the calendar \"{cal}\"")
        }
        _ => return None,
    })
}
