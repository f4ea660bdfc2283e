//! Fedora Happiness Packets (`happinesspacket`): thanks sent from one contributor to another,
//! as happinesspacket-schema's `MessageV1` gives them.

use fmn_rules_sdk::{Keys, Message};

use super::Family;
use super::py::py_str;

pub(super) struct HappinessPacket;

const ICON: &str = "https://pagure.io/fedora-commops/fedora-happiness-packets/blob/master/f/assets/images/logo.png";

/// Who sent the packet and who received it, as the message names them.
fn parties(msg: &Message) -> Option<(String, String)> {
    Some((
        py_str(msg.get(&["sender"])?),
        py_str(msg.get(&["recipient"])?),
    ))
}

/// Whether the sender chose not to be named.
fn anonymous(sender: &str) -> bool {
    sender == "Anonymous"
}

impl Family for HappinessPacket {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        let Some((sender, recipient)) = parties(msg) else {
            return;
        };
        if !anonymous(&sender) {
            out.insert(sender);
        }
        out.insert(recipient);
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let (sender, recipient) = parties(msg)?;
        Some(if anonymous(&sender) {
            recipient
        } else {
            format!("{sender}, {recipient}")
        })
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        let (sender, recipient) = parties(msg)?;
        Some(format!("{sender} sent a happiness packet to {recipient}"))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(ICON.to_owned())
    }
}
