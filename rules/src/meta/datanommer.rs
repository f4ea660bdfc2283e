//! datanommer, the bus's archive, telling of its own exceptional events (`datanommer`).

use fmn_rules_sdk::Message;

use super::Family;

pub(super) struct Datanommer;

impl Family for Datanommer {
    /// Nobody is involved in the archive's own troubles.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, _msg: &Message) -> Option<String> {
        // The only exceptional event datanommer ever announced.
        Some("datanommer encountered a duplicate uuid".to_owned())
    }

    fn link(&self, _msg: &Message) -> Option<String> {
        Some("https://www.destroyallsoftware.com/talks/wat".to_owned())
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some("https://i.imgur.com/4g9NZu1.png".to_owned())
    }
}
