//! Meetbot (zodbot), IRC meetings.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Meetbot: an IRC meeting ends.
        meetbot_meeting_complete => ["*meetbot.meeting.complete"],
        /// Meetbot: an IRC meeting starts.
        meetbot_meeting_start => ["*meetbot.meeting.start"],
        /// Meetbot: the chair changes a meeting's topic.
        meetbot_meeting_topic_update => ["*meetbot.meeting.topic.update"],
        /// Meetbot: an `#agreed` point.
        meetbot_meeting_agreed => ["*meetbot.meeting.agreed"],
        /// Meetbot: an `#accepted` point.
        meetbot_meeting_accepted => ["*meetbot.meeting.accepted"],
        /// Meetbot: a `#rejected` point.
        meetbot_meeting_rejected => ["*meetbot.meeting.rejected"],
        /// Meetbot: an `#action` item.
        meetbot_meeting_action => ["*meetbot.meeting.action"],
        /// Meetbot: an `#info` item.
        meetbot_meeting_info => ["*meetbot.meeting.info"],
        /// Meetbot: an `#idea`.
        meetbot_meeting_idea => ["*meetbot.meeting.idea"],
        /// Meetbot: a `#help` call.
        meetbot_meeting_help => ["*meetbot.meeting.help"],
        /// Meetbot: a `#link`.
        meetbot_meeting_link => ["*meetbot.meeting.link"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![meetbot_catchall];

/// Meetbot: every event of IRC meetings.
#[rule(topics = ["*meetbot.*"])]
pub fn meetbot_catchall(msg: &Message) -> bool {
    is(msg, "meetbot")
}
