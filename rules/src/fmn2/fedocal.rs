//! Fedocal, the Fedora calendar.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Fedocal: an admin clears all meetings from a calendar.
        fedocal_calendar_clear => ["*fedocal.calendar.clear"],
        /// Fedocal: a calendar is created.
        fedocal_calendar_create => ["*fedocal.calendar.new"],
        /// Fedocal: a calendar is deleted.
        fedocal_calendar_delete => ["*fedocal.calendar.delete"],
        /// Fedocal: a calendar is updated.
        fedocal_calendar_update => ["*fedocal.calendar.update"],
        /// Fedocal: a meeting is scheduled.
        fedocal_meeting_create => ["*fedocal.meeting.new"],
        /// Fedocal: a meeting is updated.
        fedocal_meeting_update => ["*fedocal.meeting.update"],
        /// Fedocal: a meeting is deleted.
        fedocal_meeting_delete => ["*fedocal.meeting.delete"],
        /// Fedocal: a meeting is approaching (a scheduled reminder).
        fedocal_meeting_reminder => ["*fedocal.meeting.reminder"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![fedocal_catchall];

/// Fedocal: every event (calendars, meetings, reminders).
#[rule(topics = ["*fedocal.*"])]
pub fn fedocal_catchall(msg: &Message) -> bool {
    is(msg, "fedocal")
}
