//! Fedocal, the Fedora calendar (`fedocal`), in both bus eras.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Fedocal;

const FEDOCAL: &str = "https://apps.fedoraproject.org/calendar";

impl Family for Fedocal {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        // A fedmsg reminder came from no one in particular.
        if msg.is_fedmsg() && msg.subtopic() == "meeting.reminder" {
            return;
        }
        out.insert_value(msg.get(&["agent"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"]);
        let cal = msg.str_at(&["calendar", "calendar_name"]);
        let meeting = msg.str_at(&["meeting", "meeting_name"]);
        let sub = msg.subtopic();
        if !msg.is_fedmsg() {
            return Some(match sub {
                "calendar.clear" => format!("{} has cleared the calendar {}", agent?, cal?),
                "calendar.new" => format!("{} has created the calendar {}", agent?, cal?),
                "calendar.update" => format!("{} has updated the calendar {}", agent?, cal?),
                "calendar.delete" => format!("{} has deleted the calendar {}", agent?, cal?),
                "meeting.new" => format!(
                    "{} has created a new meeting {} in calendar {}",
                    agent?, meeting?, cal?
                ),
                "meeting.update" => format!(
                    "{} has updated meeting {} in calendar {}",
                    agent?, meeting?, cal?
                ),
                "meeting.delete" => format!(
                    "{} has deleted the meeting {} from the calendar {}",
                    agent?, meeting?, cal?
                ),
                _ => return None,
            });
        }
        Some(match sub {
            "calendar.clear" => format!(
                "{} cleared the \"{}\" calendar of all its meetings",
                agent?, cal?
            ),
            "calendar.new" => format!("{} created a whole new \"{}\" calendar", agent?, cal?),
            "calendar.update" => format!("{} updated the \"{}\" calendar", agent?, cal?),
            "calendar.delete" => format!("{} deleted the \"{}\" calendar", agent?, cal?),
            "calendar.upload" => format!(
                "{} uploaded an iCalendar file into the calendar \"{}\"",
                agent?, cal?
            ),
            "meeting.new" => format!(
                "{} created the \"{}\" meeting in the \"{}\" calendar",
                agent?, meeting?, cal?
            ),
            "meeting.update" => format!(
                "{} updated the \"{}\" meeting from the \"{}\" calendar",
                agent?, meeting?, cal?
            ),
            "meeting.delete" => format!(
                "{} deleted the \"{}\" meeting from the \"{}\" calendar",
                agent?, meeting?, cal?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        // The schemas give no link.
        if !msg.is_fedmsg() {
            return None;
        }
        if let Some(id) = msg.get(&["meeting", "meeting_id"]).and_then(Value::as_i64) {
            return Some(format!("{FEDOCAL}/meeting/{id}/"));
        }
        Some(format!(
            "{FEDOCAL}/{}/",
            msg.str_at(&["calendar", "calendar_name"])?
        ))
    }
}
