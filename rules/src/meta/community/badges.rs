//! Fedora Badges (fedbadges in the fedmsg era, Tahrir's `badges` messages today).

use fmn_rules_sdk::{Keys, Message};

use crate::meta::Family;
use crate::meta::py;

pub(crate) struct Badges;

const ICON: &str = "https://apps.fedoraproject.org/img/icons/badges.png";

/// The person a message is about: `user` when it has one, else the ranked `person`.
fn badge_user<'m>(msg: &'m Message) -> Option<&'m str> {
    if msg.is_fedmsg() && msg.get(&["user"]).is_some() {
        return msg.str_at(&["user", "username"]);
    }
    if !msg.is_fedmsg() && msg.subtopic() == "person.rank.advance" {
        return msg.str_at(&["person", "nickname"]);
    }
    msg.str_at(&["user", "username"])
        .or_else(|| msg.str_at(&["person", "nickname"]))
}

impl Family for Badges {
    fn long_text(&self, msg: &Message) -> Option<String> {
        match (msg.subtopic(), msg.is_fedmsg()) {
            ("badge.award", _) => msg.str_at(&["badge", "description"]).map(str::to_owned),
            (_, true) => None,
            _ => self.summary(msg),
        }
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        // Tahrir names an agent only for a first login; fedmsg.meta its one person.
        if !msg.is_fedmsg() && msg.subtopic() != "person.login.first" {
            return None;
        }
        badge_user(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(badge_user(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let user = badge_user(msg)?;
        let badge = || msg.get(&["badge", "name"]).map(py::py_str);
        Some(match (msg.subtopic(), msg.is_fedmsg()) {
            ("badge.award", true) => format!("{user} has been awarded the \"{}\" badge", badge()?),
            ("badge.award", false) => format!("{user} was awarded the badge `{}`", badge()?),
            ("person.login.first", true) => {
                format!("{user} logged in to badges.fedoraproject.org for the first time")
            }
            ("person.login.first", false) => {
                format!("{user} logged into badges for the first time")
            }
            ("person.rank.advance", true) => format!(
                "{user} moved to position {} on the badges leaderboard",
                py::py_str(msg.get(&["person", "rank"])?)
            ),
            ("person.rank.advance", false) => format!(
                "{user}'s Badges rank changed from {} to {}",
                py::py_str(msg.get(&["old_rank"])?),
                py::py_str(msg.get(&["person", "rank"])?)
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "https://badges.fedoraproject.org/user/{}",
            badge_user(msg)?
        ))
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta showed an award's badge itself.
        if msg.is_fedmsg() && msg.subtopic() == "badge.award" {
            return msg.str_at(&["badge", "image_url"]).map(str::to_owned);
        }
        Some(ICON.to_owned())
    }
}
